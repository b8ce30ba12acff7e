'use strict';
// Baseline: Express 5, no authentication at all.
const { expressApp } = require('../lib/express-app');

module.exports = {
  name: 'bare express',
  framework: 'express',
  baseline: true,
  create: () => expressApp(),
};
