'use strict';
// Baseline for Koa: Koa 3, no authentication.
const Koa = require('koa');

function hello(ctx, next) {
  if (ctx.method === 'GET' && ctx.path === '/api/hello') ctx.body = { hello: 'world' };
  else return next();
}

module.exports = {
  name: 'bare koa',
  framework: 'koa',
  baseline: true,
  hello,
  create: () => new Koa().use(hello),
};
