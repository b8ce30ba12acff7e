'use strict';
// tokengate's Koa adapter with default options; the middleware answers the 401 itself.
const Koa = require('koa');
const { protect } = require('../lib/tokengate').koa();
const { hello } = require('./bare-koa');

module.exports = {
  name: 'tokengate (koa)',
  framework: 'koa',
  ours: true,
  create: ({ issuer, audience }) => new Koa().use(protect({ issuer, audience })).use(hello),
};
