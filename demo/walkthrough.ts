/**
 * The whole flow on this machine: an Okta-compatible dev issuer, an Express API and a Koa API
 * protected by tokengate, and a scripted walk-through of sign-in, refresh, sign-out and logout.
 * The Express API also serves both guards' metrics at `/metrics` (Prometheus text format).
 */
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import express from 'express';
import Koa from 'koa';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createGuard, memoryRevocationStore, type Guard } from '../lib';
import { instrument } from '../lib/otel';
import { startDevIssuer, type DevIssuer } from '../lib/testing';
import * as ex from '../adapters/express';
import * as ko from '../adapters/koa';

/** One row of the walk-through table. */
export interface Step {
  step: string;
  request: string;
  expected: number;
  got: number;
  why: string;
}

/** The running demo: issuer, two APIs, and a clock the walk-through can move forward. */
export interface Demo {
  dev: DevIssuer;
  expressUrl: string;
  koaUrl: string;
  guards: Guard[];
  /** Stores a user's refresh token in the APIs' token store, keyed by the user's `sub`, as an app does at sign-in. */
  remember(subject: string, refreshToken: string): void;
  advance(seconds: number): void;
  close(): Promise<void>;
}

/** Starts the dev issuer and both APIs on 127.0.0.1 (free ports unless given). */
export async function startDemo(ports: { issuer?: number; express?: number; koa?: number } = {}): Promise<Demo> {
  let offset = 0;
  const clock = () => Date.now() + offset * 1000;
  const dev = await startDevIssuer({ clock, port: ports.issuer });
  const refreshTokens = new Map<string, string>();
  // Both APIs share one denylist, as services sharing tokengate/redis do: a logout on one is enforced by both.
  const denylist = memoryRevocationStore(clock);
  const guardFor = () =>
    createGuard({
      issuer: dev.issuer,
      audience: dev.okta.audience,
      clock,
      client: { clientId: dev.okta.clientId, clientSecret: dev.okta.clientSecret },
      sessions: { apiToken: dev.okta.apiToken, cacheTtl: 30 },
      revocation: { store: denylist },
    });
  const [expressGuard, koaGuard] = [guardFor(), guardFor()];
  // Both guards' metrics on one meter, told apart by an attribute; read when /metrics is.
  const exporter = new PrometheusExporter({ preventServerStart: true });
  const meterProvider = new MeterProvider({ readers: [exporter] });
  const meter = meterProvider.getMeter('tokengate');
  instrument(expressGuard, { meter, attributes: { 'tokengate.guard': 'express' } });
  instrument(koaGuard, { meter, attributes: { 'tokengate.guard': 'koa' } });

  const api = express();
  // Keyed by the verified token's subject, never by anything the client sends.
  const hooks: ex.ExpressRefreshHooks = {
    getRefreshToken: (_req, expired) => (expired.sub === undefined ? undefined : refreshTokens.get(expired.sub)),
    onTokens: (_req, res, tokens) => {
      if (tokens.auth.subject !== undefined) refreshTokens.set(tokens.auth.subject, tokens.refreshToken);
      res.setHeader('x-new-access-token', tokens.accessToken);
    },
  };
  api.get('/api/profile', ex.protect(expressGuard, undefined, hooks), (req, res) => res.json({ user: req.auth!.subject, route: 'lax' }));
  api.get('/api/payments', ex.protect(expressGuard, { session: 'strict' }, hooks), (req, res) => res.json({ user: req.auth!.subject, route: 'strict' }));
  api.post('/logout', express.json(), ex.logout(expressGuard, { postLogoutRedirectUri: 'http://127.0.0.1/signed-out' }));
  api.get('/metrics', (req, res) => exporter.getMetricsRequestHandler(req, res));

  const koa = new Koa();
  koa.silent = true;
  const koaLax = ko.protect(koaGuard);
  const koaStrict = ko.protect(koaGuard, { session: 'strict' });
  koa.use(async (ctx, next) => {
    const chosen = ctx.path === '/api/profile' ? koaLax : ctx.path === '/api/payments' ? koaStrict : undefined;
    if (chosen === undefined) return next();
    await chosen(ctx, async () => {
      ctx.body = { user: ctx.state.auth!.subject, route: ctx.path === '/api/profile' ? 'lax' : 'strict' };
    });
  });

  await Promise.all([expressGuard.ready(), koaGuard.ready()]);
  const expressServer = await listen(createServer(api), ports.express);
  const koaServer = await listen(createServer(koa.callback()), ports.koa);
  return {
    dev,
    expressUrl: url(expressServer),
    koaUrl: url(koaServer),
    guards: [expressGuard, koaGuard],
    remember: (name, token) => refreshTokens.set(name, token),
    advance: (seconds) => {
      offset += seconds;
    },
    close: async () => {
      await Promise.all([expressGuard.close(), koaGuard.close()]);
      await meterProvider.shutdown();
      for (const server of [expressServer, koaServer]) {
        server.closeAllConnections();
        await new Promise((resolve) => server.close(resolve));
      }
      await dev.close();
    },
  };
}

function listen(server: Server, port = 0): Promise<Server> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

function url(server: Server): string {
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** Runs the scripted walk-through against a started demo; every step records what it expected and got. */
export async function walkThrough(demo: Demo): Promise<Step[]> {
  const steps: Step[] = [];
  const call = async (step: string, method: 'GET' | 'POST', base: string, path: string, token: string, expected: number, why: string, body?: unknown) => {
    const response = await fetch(`${base}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    const text = await response.text();
    steps.push({ step, request: `${method} ${base === demo.expressUrl ? 'express' : 'koa'}${path}`, expected, got: response.status, why });
    return { response, text };
  };
  const okta = demo.dev.okta;
  const { expressUrl: ex, koaUrl: ko } = demo;

  let { accessToken, refreshToken, idToken, session } = okta.login({ expiresIn: 300 });
  await call('1. sign in at Okta, call a lax route', 'GET', ex, '/api/profile', accessToken, 200, 'valid token');
  await call('1. sign in at Okta, call a strict route', 'GET', ex, '/api/payments', accessToken, 200, 'valid token, Okta session ACTIVE');
  await call('1. same on Koa (lax)', 'GET', ko, '/api/profile', accessToken, 200, 'valid token');
  await call('1. same on Koa (strict)', 'GET', ko, '/api/payments', accessToken, 200, 'Okta session ACTIVE');

  demo.advance(360);
  await call('2. the access token expires', 'GET', ko, '/api/profile', accessToken, 401, 'expired; this API has no refresh token for alice');
  demo.remember('alice@example.com', refreshToken);
  const before = okta.calls.token;
  const refreshed = await call('3. silent refresh', 'GET', ex, '/api/profile', accessToken, 200, 'expired token exchanged with the stored refresh token');
  accessToken = refreshed.response.headers.get('x-new-access-token') ?? accessToken;
  steps.push({ step: '3. one token-endpoint call', request: 'dev issuer /v1/token', expected: 1, got: okta.calls.token - before, why: 'one exchange; the rotated refresh token is stored' });

  okta.endSession(session!.id);
  demo.advance(31);
  await call('4. Okta session ended: lax route', 'GET', ex, '/api/profile', accessToken, 200, 'DANGER: the token is still valid until exp; lax routes cannot know');
  await call('4. Okta session ended: strict route', 'GET', ex, '/api/payments', accessToken, 401, 'Sessions API says 404: session ended');
  await call('4. Okta session ended: Koa strict route', 'GET', ko, '/api/payments', accessToken, 401, 'same check on Koa');

  ({ accessToken, refreshToken, idToken, session } = okta.login({ expiresIn: 300 }));
  await call('5. sign in again', 'GET', ex, '/api/payments', accessToken, 200, 'new session, new tokens');
  const logout = await call('5. log out', 'POST', ex, '/logout', accessToken, 200, 'revoke at Okta, close the session, denylist', { refresh_token: refreshToken, id_token: idToken });
  const endSessionUrl = (JSON.parse(logout.text) as { endSessionUrl?: string }).endSessionUrl ?? '';
  steps.push({ step: '5. end-session URL for the browser', request: endSessionUrl.replace(/id_token_hint=[^&]+/, 'id_token_hint=…').slice(0, 70), expected: 1, got: endSessionUrl.includes('/v1/logout?id_token_hint=') ? 1 : 0, why: 'the browser clears the Okta cookie there' });
  await call('6. after logout: lax route', 'GET', ex, '/api/profile', accessToken, 401, 'token denylisted (jti, sid)');
  await call('6. after logout: strict route', 'GET', ex, '/api/payments', accessToken, 401, 'token denylisted');
  await call('6. after logout: Koa lax route', 'GET', ko, '/api/profile', accessToken, 401, 'the other API shares the denylist');
  await call('6. after logout: Koa strict route', 'GET', ko, '/api/payments', accessToken, 401, 'denylisted, and the Okta session is closed');
  const reuse = await demo.guards[0].refresh(refreshToken).then(() => 200, (e: { status: number }) => e.status);
  steps.push({ step: '6. after logout: refresh', request: 'guard.refresh(old refresh token)', expected: 401, got: reuse, why: 'revoked at Okta' });
  return steps;
}
