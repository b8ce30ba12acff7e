'use strict';
// express-jwt 8 (jsonwebtoken) with jwks-rsa 4 for the keys.
const { expressjwt } = require('express-jwt');
const jwksRsa = require('jwks-rsa');
const { expressApp } = require('../lib/express-app');

module.exports = {
  name: 'express-jwt + jwks-rsa',
  framework: 'express',
  create: ({ issuer, audience, jwksUri }) =>
    expressApp(
      expressjwt({
        secret: jwksRsa.expressJwtSecret({ jwksUri, cache: true, rateLimit: true, jwksRequestsPerMinute: 10 }),
        audience,
        issuer,
        algorithms: ['RS256'],
      }),
    ),
};
