'use strict';
// "Just jose": createRemoteJWKSet + jwtVerify in a ten-line middleware.
const { createRemoteJWKSet, jwtVerify } = require('jose');
const { expressApp, unauthorized, bearer } = require('../lib/express-app');

module.exports = {
  name: 'just jose',
  framework: 'express',
  create: ({ issuer, audience, jwksUri }) => {
    const jwks = createRemoteJWKSet(new URL(jwksUri));
    return expressApp((req, _res, next) => {
      const token = bearer(req);
      if (token === undefined) return next(unauthorized());
      jwtVerify(token, jwks, { issuer, audience, algorithms: ['RS256'] }).then(
        ({ payload }) => {
          req.auth = payload;
          next();
        },
        (error) => next(unauthorized(error)),
      );
    });
  },
};
