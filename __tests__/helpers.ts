import type { RequestListener } from 'node:http';
import express from 'express';
import Fastify, { type FastifyInstance } from 'fastify';
import Koa from 'koa';
import { createHttpClient, type Guard, type GuardOptions, type HttpClient, type Policy } from 'tokengate';
import { protect as protectExpress } from 'tokengate/express';
import { protect as protectFastify, tokengate } from 'tokengate/fastify';
import { protect as protectKoa } from 'tokengate/koa';

/** A server a test can hand to supertest. */
export type Served = Parameters<typeof import('supertest')>[0];

/** Routes every adapter test app serves: `/api/hello` (any valid token), `/api/orders` (scope), `/api/admin` (claim). */
export const ROUTES: Record<string, Policy | undefined> = {
  '/api/hello': undefined,
  '/api/orders': { scopes: ['orders:read', 'orders:write'] },
  '/api/admin': { claims: { groups: 'admins' } },
};

/** An Express 5 app protected by tokengate, answering with what `req.auth` holds (subject, scopes, clientId, issuer). */
export function expressApp(guard: Guard | GuardOptions, routes: Record<string, Policy | undefined> = ROUTES): Served {
  const app = express();
  for (const [path, policy] of Object.entries(routes)) {
    app.get(path, protectExpress(guard, policy), (req, res) => {
      res.json({ subject: req.auth?.subject, scopes: req.auth?.scopes, clientId: req.auth?.clientId, issuer: req.auth?.issuer });
    });
  }
  return app;
}

/** A Koa 3 app with the same routes, answering with what `ctx.state.auth` holds. */
export function koaApp(guard: Guard | GuardOptions, routes: Record<string, Policy | undefined> = ROUTES): Served {
  const app = new Koa();
  app.silent = true;
  const mounted = Object.entries(routes).map(([path, policy]) => [path, protectKoa(guard, policy)] as const);
  app.use(async (ctx, next) => {
    const route = mounted.find(([path]) => path === ctx.path);
    if (route === undefined) return next();
    await route[1](ctx, async () => {
      const auth = ctx.state.auth;
      ctx.body = { subject: auth?.subject, scopes: auth?.scopes, clientId: auth?.clientId, issuer: auth?.issuer };
    });
  });
  return app.callback();
}

/** A Fastify 5 app with the same routes (the plugin registered, one preHandler per route), answering with what `request.auth` holds. */
export function fastifyApp(guard: Guard | GuardOptions, routes: Record<string, Policy | undefined> = ROUTES): Served {
  const app = Fastify();
  app.register(tokengate, { guard });
  app.register(async (scope) => {
    for (const [path, policy] of Object.entries(routes)) {
      scope.get(path, { preHandler: protectFastify(scope.tokengate, policy) }, async (request) => ({
        subject: request.auth?.subject,
        scopes: request.auth?.scopes,
        clientId: request.auth?.clientId,
        issuer: request.auth?.issuer,
      }));
    }
  });
  return fastifyServed(app);
}

/**
 * A Fastify app as a request listener for supertest, returned at once: each request waits for
 * `ready()` (plugins and routes load then), then goes to Fastify's router. A failed start answers 500
 * with the error's message, so a test sees it.
 */
export function fastifyServed(app: FastifyInstance): RequestListener {
  return (req, res) => {
    app.ready().then(
      () => app.routing(req, res),
      (error: Error) => {
        res.statusCode = 500;
        res.end(`fastify did not start: ${error.message}`);
      },
    );
  };
}

/** Every adapter, for `describe.each`. */
export const ADAPTERS: Array<[string, (guard: Guard | GuardOptions, routes?: Record<string, Policy | undefined>) => Served]> = [
  ['express', expressApp],
  ['koa', koaApp],
  ['fastify', fastifyApp],
];

/** A clock tests move by hand. Milliseconds since the epoch. */
export function fakeClock(start = Date.UTC(2026, 10, 23, 12, 0, 0)): { now: () => number; advance: (seconds: number) => void; set: (ms: number) => void } {
  let current = start;
  return {
    now: () => current,
    advance: (seconds) => {
      current += seconds * 1000;
    },
    set: (ms) => {
      current = ms;
    },
  };
}

/** A Koa app serving `'METHOD /path'` routes, each a chain of middleware (tests need no router package). */
export function koaRoutes(routes: Record<string, Koa.Middleware[]>): Served {
  const app = new Koa();
  app.silent = true;
  app.use(async (ctx, next) => {
    const chain = routes[`${ctx.method} ${ctx.path}`];
    if (chain === undefined) return next();
    const run = async (i: number): Promise<void> => {
      if (i < chain.length) await chain[i](ctx, () => run(i + 1));
    };
    await run(0);
  });
  return app.callback();
}

/** Asserts the answer an adapter gives by default to `Authorization: Bearer not-a-jwt`, plus headers set earlier that it must keep. */
export function expectMalformedAnswer(res: { status: number; headers: Record<string, string>; body: unknown }, kept: Record<string, string> = {}): void {
  const message = 'The token is not a JWT: it must have three dot-separated parts';
  expect(res.status).toBe(401);
  expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
  expect(res.headers['www-authenticate']).toBe(`Bearer realm="api", error="invalid_token", error_description="${message}", DPoP algs="ES256 ES384 PS256 RS256 EdDSA"`);
  expect(res.body).toEqual({ error: 'invalid_token', code: 'ERR_TOKEN_MALFORMED', error_description: message });
  for (const [name, value] of Object.entries(kept)) expect(res.headers[name]).toBe(value);
}

/** Resolves once `condition()` holds, checking every 5 ms; rejects after `timeoutMs` so a test fails instead of hanging. */
export async function waitFor(condition: () => boolean, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`waitFor: condition still false after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/**
 * Watches the mocked Okta's calls whose path matches `path`: records, in order, each call's first
 * capture group (or its path) and the time on `clock` when it arrived, and before it is answered
 * advances `clock` by `roundTrip(nthForThisPath, nthOverall)` seconds (both 1-based), so that the
 * guard sees the answer arrive that much later than it sent the call.
 */
export function watchOkta(
  okta: { handle: OktaHandle },
  path: RegExp,
  clock: { now(): number; advance(seconds: number): void },
  roundTrip: (nthForThisPath: number, nthOverall: number) => number = () => 0,
): Array<[string, number]> {
  const calls: Array<[string, number]> = [];
  const perPath = new Map<string, number>();
  const handle = okta.handle.bind(okta);
  okta.handle = (req) => {
    const match = path.exec(req.path);
    if (match) {
      calls.push([match[1] ?? req.path, clock.now()]);
      const nth = (perPath.get(req.path) ?? 0) + 1;
      perPath.set(req.path, nth);
      clock.advance(roundTrip(nth, calls.length));
    }
    return handle(req);
  };
  return calls;
}
type OktaHandle = import('tokengate/testing').MockOkta['handle'];

/**
 * tokengate's default HTTP client, noting on `clock` when each request whose path matches `path`
 * reaches it (`seen`); the first such request reaches it `firstPause` seconds of `clock` after the
 * guard handed it over, as after a GC pause between the two.
 */
export function pausingClient(clock: { now(): number; advance(seconds: number): void }, path: RegExp, firstPause: number): { client: HttpClient; seen: number[] } {
  const seen: number[] = [];
  const inner = createHttpClient();
  const client: HttpClient = {
    request(req) {
      if (path.test(new URL(req.url).pathname)) {
        if (seen.length === 0) clock.advance(firstPause);
        seen.push(clock.now());
      }
      return inner.request(req);
    },
  };
  return { client, seen };
}

/**
 * Runs `body`, then waits `settleMs` so that a rejection nobody handles lands while the test still
 * runs: Jest 30 fails the running test on an unhandled rejection (where Node 20 would end the
 * process). A listener of the test's own would not see it; Jest takes it first.
 */
export async function settled(body: () => Promise<void>, settleMs = 100): Promise<void> {
  await body();
  await new Promise((resolve) => setTimeout(resolve, settleMs));
}
