import express from 'express';
import Fastify from 'fastify';
import Koa from 'koa';
import request from 'supertest';
import { protect as protectExpress } from 'tokengate/express';
import { protect as protectFastify, tokengate } from 'tokengate/fastify';
import { protect as protectKoa } from 'tokengate/koa';
import { mockOkta, type MockOkta } from 'tokengate/testing';
import { fastifyServed, type Served } from '../helpers';

let okta: MockOkta;
beforeEach(() => {
  okta = mockOkta();
});
afterEach(() => okta.close());

/** Asserts which paths answer 200 without a token and which 401 (and then 200 with a valid token). */
async function expectReach(served: Served, open: string[], guarded: string[]): Promise<void> {
  const token = okta.token();
  for (const path of open) expect({ path, status: (await request(served).get(path)).status }).toEqual({ path, status: 200 });
  for (const path of guarded) {
    expect({ path, status: (await request(served).get(path)).status }).toEqual({ path, status: 401 });
    expect({ path, status: (await request(served).get(path).set('Authorization', `Bearer ${token}`)).status }).toEqual({ path, status: 200 });
  }
}

test('Express: a route mounted before app.use(protect()) is public; the ones after it need a token', async () => {
  const app = express();
  app.get('/before', (_req, res) => res.send('no token needed'));
  app.use(protectExpress({ issuer: okta.issuer, audience: okta.audience }));
  app.get('/after', (_req, res) => res.send('token checked'));
  await expectReach(app, ['/before'], ['/after']);
});

test('Koa: a middleware that answers before protect() runs leaves its path public; the ones after it need a token', async () => {
  const app = new Koa();
  app.use(async (ctx, next) => {
    if (ctx.path === '/before') ctx.body = 'no token needed';
    else await next();
  });
  app.use(protectKoa({ issuer: okta.issuer, audience: okta.audience }));
  app.use((ctx) => {
    ctx.body = 'token checked';
  });
  await expectReach(app.callback(), ['/before'], ['/after']);
});

test('Fastify: a preHandler hook protects every route of its scope, declared before or after it, and no route outside that scope', async () => {
  const app = Fastify();
  await app.register(tokengate, { guard: { issuer: okta.issuer, audience: okta.audience } });
  app.get('/outside', async () => 'no token needed');
  app.register(async (api) => {
    api.get('/api/before', async () => 'token checked');
    api.addHook('preHandler', protectFastify(api.tokengate));
    api.get('/api/after', async () => 'token checked');
    api.register(async (nested) => {
      nested.get('/api/nested', async () => 'token checked');
    });
  });
  app.register(async (sibling) => {
    sibling.get('/sibling', async () => 'no token needed');
  });
  await expectReach(fastifyServed(app), ['/outside', '/sibling'], ['/api/before', '/api/after', '/api/nested']);
  await app.close();
});
