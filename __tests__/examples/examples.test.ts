import { createServer, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mockOkta, type MockOkta } from 'tokengate/testing';
import { createApp as expressBasic } from '../../examples/express-basic/app';
import { createApp as jestWithMockOkta } from '../../examples/jest-with-mock-okta/app';
import { createApp as koaStrictSession } from '../../examples/koa-strict-session/app';
import { createApp as prometheusMetrics } from '../../examples/prometheus-metrics/app';

let okta: MockOkta;
let server: Server | undefined;
beforeEach(() => {
  okta = mockOkta();
});
afterEach(async () => {
  okta.close();
  await new Promise((resolve) => (server === undefined ? resolve(undefined) : server.close(resolve)));
  server = undefined;
});

/** Serves an example app on 127.0.0.1, as its server.ts would, and returns its base URL. */
async function serve(listener: RequestListener): Promise<string> {
  server = createServer(listener);
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function call(url: string, token?: string, method = 'GET'): Promise<{ status: number; body: unknown; challenge: string | null }> {
  const response = await fetch(url, { method, headers: token === undefined ? {} : { authorization: `Bearer ${token}` } });
  const text = await response.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // Koa's default error handler answers in plain text.
  }
  return { status: response.status, body, challenge: response.headers.get('www-authenticate') };
}

test('examples/express-basic: 200 with a token that has the scope, 401 JSON with the challenge for an expired one', async () => {
  const base = await serve(expressBasic({ issuer: okta.issuer, audience: okta.audience }));
  expect(await call(`${base}/health`)).toMatchObject({ status: 200, body: { ok: true } });
  const me = await call(`${base}/me`, okta.token({ sub: 'bob@example.com' }));
  expect(me).toMatchObject({ status: 200, body: { subject: 'bob@example.com', clientId: okta.clientId } });
  expect(await call(`${base}/orders`, okta.token({ scp: ['orders:read'] }))).toMatchObject({ status: 200 });

  const expired = await call(`${base}/me`, okta.token({}, { expiresIn: -120 }));
  expect(expired).toMatchObject({ status: 401, body: { error: 'invalid_token', code: 'ERR_TOKEN_EXPIRED' } });
  expect(expired.challenge).toMatch(/^Bearer realm="api", error="invalid_token"/);
  expect(await call(`${base}/orders`, okta.token())).toMatchObject({ status: 403, body: { error: 'insufficient_scope', code: 'ERR_INSUFFICIENT_SCOPE' } });
});

test('examples/koa-strict-session: both routes answer 200 while the session lives; after sign-out the strict one is 401', async () => {
  const app = koaStrictSession({ issuer: okta.issuer, audience: okta.audience, sessions: { apiToken: okta.apiToken, cacheTtl: 0 } });
  app.silent = true;
  const base = await serve(app.callback());
  const session = okta.session({ login: 'carol@example.com' });
  const token = okta.token({ sid: session.id, sub: 'carol@example.com' });

  expect(await call(`${base}/profile`, token)).toMatchObject({ status: 200, body: { subject: 'carol@example.com' } });
  expect(await call(`${base}/payments`, token, 'POST')).toMatchObject({ status: 200, body: { paid: true, by: 'carol@example.com' } });

  okta.endSession(session.id);
  expect(await call(`${base}/profile`, token)).toMatchObject({ status: 200 });
  const refused = await call(`${base}/payments`, token, 'POST');
  expect(refused.status).toBe(401);
  expect(refused.challenge).toMatch(/error="invalid_token", error_description="The Okta session of this token has ended/);
  expect(await call(`${base}/payments`, okta.token(), 'POST')).toMatchObject({ status: 401 });
});

test('examples/jest-with-mock-okta: 200 with orders:read, 401 without a token', async () => {
  const base = await serve(jestWithMockOkta({ issuer: okta.issuer, audience: okta.audience }));
  expect(await call(`${base}/orders`, okta.token({ scp: ['orders:read'], sub: 'dan@example.com' }))).toMatchObject({
    status: 200,
    body: { user: 'dan@example.com', orders: [] },
  });
  const missing = await call(`${base}/orders`);
  expect(missing.status).toBe(401);
  expect(missing.challenge).toBe('Bearer realm="api", DPoP algs="ES256 ES384 PS256 RS256 EdDSA"');
});

test("examples/prometheus-metrics: one scrape holds tokengate's decisions, upstream latency and the app's own prom-client metrics", async () => {
  const base = await serve(prometheusMetrics({ issuer: okta.issuer, audience: okta.audience }));
  expect(await call(`${base}/orders`, okta.token({ scp: ['orders:read'] }))).toMatchObject({ status: 200 });
  expect(await call(`${base}/orders`)).toMatchObject({ status: 401 });
  expect(await call(`${base}/orders`, okta.token())).toMatchObject({ status: 403 });

  const scrape = await fetch(`${base}/metrics`);
  expect(scrape.status).toBe(200);
  expect(scrape.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
  const text = await scrape.text();
  expect(text).toMatch(/^tokengate_decisions_total\{tokengate_decision="allow"[^}]*\} 1$/m);
  expect(text).toMatch(/^tokengate_decisions_total\{tokengate_decision="deny",error_type="ERR_TOKEN_MISSING"[^}]*\} 1$/m);
  expect(text).toMatch(/^tokengate_decisions_total\{tokengate_decision="deny",error_type="ERR_INSUFFICIENT_SCOPE"[^}]*\} 1$/m);
  expect(text).toMatch(/^tokengate_upstream_duration_count\{tokengate_upstream_service="jwks",tokengate_upstream_result="ok"[^}]*\} 1$/m);
  expect(text).toMatch(/^tokengate_cache_lookups_total\{tokengate_cache="token",tokengate_cache_result="miss"[^}]*\} 2$/m);
  expect(text).toMatch(/^tokengate_denylist_store_live\{[^}]*\} 1$/m);
  expect(text).toMatch(/^orders_listed_total 1$/m);
  expect(text).toMatch(/^process_cpu_user_seconds_total \d/m);
});
