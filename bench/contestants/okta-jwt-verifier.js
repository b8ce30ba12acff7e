'use strict';
// @okta/jwt-verifier (njwt + jwks-rsa), the way Okta's samples wrap it in Express middleware.
const OktaJwtVerifier = require('@okta/jwt-verifier');
const { expressApp, unauthorized, bearer } = require('../lib/express-app');

module.exports = {
  name: '@okta/jwt-verifier',
  framework: 'express',
  create: ({ issuer, audience }) => {
    const verifier = new OktaJwtVerifier({ issuer, testing: { disableHttpsCheck: true } });
    return expressApp((req, _res, next) => {
      const token = bearer(req);
      if (token === undefined) return next(unauthorized());
      verifier.verifyAccessToken(token, audience).then(
        (jwt) => {
          req.jwt = jwt;
          next();
        },
        (error) => next(unauthorized(error)),
      );
    });
  },
};
