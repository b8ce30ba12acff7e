'use strict';
// Baseline for Fastify: Fastify 5, no authentication.
const Fastify = require('fastify');

/** Adds GET /api/hello → {"hello":"world"} to an instance (or a plugin's scope). */
function hello(app) {
  app.get('/api/hello', async () => ({ hello: 'world' }));
}

/** The instance's request handler once its plugins and routes have loaded; bench/lib/server.js serves it. */
async function listener(app) {
  await app.ready();
  return app.routing;
}

module.exports = {
  name: 'bare fastify',
  framework: 'fastify',
  baseline: true,
  hello,
  listener,
  create: () => {
    const app = Fastify();
    hello(app);
    return listener(app);
  },
};
