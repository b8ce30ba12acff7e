'use strict';
// Auth0's express-oauth2-jwt-bearer (jose 4 underneath), discovery from the issuer URL.
const { auth } = require('express-oauth2-jwt-bearer');
const { expressApp } = require('../lib/express-app');

module.exports = {
  name: 'express-oauth2-jwt-bearer',
  framework: 'express',
  create: ({ issuer, audience }) => expressApp(auth({ issuerBaseURL: issuer, audience, tokenSigningAlg: 'RS256' })),
};
