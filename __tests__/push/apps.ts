import { createServer, type RequestListener } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import Fastify from 'fastify';
import type Koa from 'koa';
import type { Guard, OktaEventHookOptions, SsfReceiverOptions } from 'tokengate';
import * as ex from 'tokengate/express';
import * as fa from 'tokengate/fastify';
import * as ko from 'tokengate/koa';
import { fastifyServed, koaRoutes, type Served } from '../helpers';

/** What a push test app mounts: the receivers, a lax route and a strict one. */
export interface PushRoutes {
  ssf?: SsfReceiverOptions;
  hook?: OktaEventHookOptions;
}

/** Every adapter, serving `POST /ssf`, `GET|POST /okta/events`, `GET /api/me` and `GET /api/strict` (when the guard has `sessions`). */
export const PUSH_APPS: Array<[string, (guard: Guard, routes: PushRoutes, strict?: boolean) => Served]> = [
  [
    'express',
    (g, { ssf, hook }, strict) => {
      const app = express();
      if (ssf) app.post('/ssf', ex.ssfReceiver(g, ssf));
      if (hook) app.all('/okta/events', ex.oktaEventHook(g, hook));
      app.get('/api/me', ex.protect(g), (req, res) => res.json({ sub: req.auth!.subject }));
      if (strict) app.get('/api/strict', ex.protect(g, { session: 'strict' }), (req, res) => res.json({ sub: req.auth!.subject }));
      return app;
    },
  ],
  [
    'koa',
    (g, { ssf, hook }, strict) => {
      const routes: Record<string, Koa.Middleware[]> = { 'GET /api/me': [ko.protect(g), (ctx) => void (ctx.body = { sub: ctx.state.auth!.subject })] };
      if (ssf) routes['POST /ssf'] = [ko.ssfReceiver(g, ssf)];
      if (hook) {
        const receive = ko.oktaEventHook(g, hook);
        for (const method of ['GET', 'POST', 'PUT']) routes[`${method} /okta/events`] = [receive];
      }
      if (strict) routes['GET /api/strict'] = [ko.protect(g, { session: 'strict' }), (ctx) => void (ctx.body = { sub: ctx.state.auth!.subject })];
      return koaRoutes(routes);
    },
  ],
  [
    'fastify',
    (g, { ssf, hook }, strict) => {
      const app = Fastify();
      app.register(fa.tokengate, { guard: g });
      app.register(async (scope) => {
        if (ssf) scope.post('/ssf', fa.ssfReceiver(g, ssf));
        if (hook) scope.route({ method: ['GET', 'POST', 'PUT'], url: '/okta/events', handler: fa.oktaEventHook(g, hook) });
        scope.get('/api/me', { preHandler: fa.protect(g) }, async (request) => ({ sub: request.auth!.subject }));
        if (strict) scope.get('/api/strict', { preHandler: fa.protect(g, { session: 'strict' }) }, async (request) => ({ sub: request.auth!.subject }));
      });
      return fastifyServed(app);
    },
  ],
];

/** Serves an app on 127.0.0.1, so that the mocked Okta can push to it over real HTTP. */
export async function listen(app: Served): Promise<{ url: string; close: () => Promise<void> }> {
  const server = createServer(app as RequestListener);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
