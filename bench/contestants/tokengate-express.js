'use strict';
// tokengate's Express adapter with default options: verified-token cache of 10 000, rejections
// answered by the middleware itself (errors: 'respond'), as a one-line adopter gets it.
const { protect } = require('../lib/tokengate').express();
const { expressApp } = require('../lib/express-app');

module.exports = {
  name: 'tokengate',
  framework: 'express',
  ours: true,
  create: ({ issuer, audience }) => expressApp(protect({ issuer, audience })),
};
