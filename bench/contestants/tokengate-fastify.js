'use strict';
// tokengate's Fastify adapter with default options, as the README shows it: the plugin builds the
// guard, one preHandler hook protects the routes, and the hook answers the 401 itself.
const Fastify = require('fastify');
const { protect, tokengate } = require('../lib/tokengate').fastify();
const { hello, listener } = require('./bare-fastify');

module.exports = {
  name: 'tokengate (fastify)',
  framework: 'fastify',
  ours: true,
  create: async ({ issuer, audience }) => {
    const app = Fastify();
    await app.register(tokengate, { guard: { issuer, audience } });
    app.addHook('preHandler', protect(app.tokengate));
    hello(app);
    return listener(app);
  },
};
