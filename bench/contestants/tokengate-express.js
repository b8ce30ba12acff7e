'use strict';
// tokengate's Express adapter with default options (verified-token cache of 10 000).
const { protect } = require('../lib/tokengate').express();
const { expressApp } = require('../lib/express-app');

module.exports = {
  name: 'tokengate',
  framework: 'express',
  ours: true,
  create: ({ issuer, audience }) => expressApp(protect({ issuer, audience })),
};
