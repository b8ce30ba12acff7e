import express from 'express';
import Fastify from 'fastify';
import Koa from 'koa';
import request from 'supertest';
import { createGuard, type Guard, type GuardOptions, type TokenSet } from 'tokengate';
import * as ex from 'tokengate/express';
import * as fa from 'tokengate/fastify';
import * as ko from 'tokengate/koa';
import { mockOkta, type MockOkta } from 'tokengate/testing';
import { fakeClock, fastifyServed, koaRoutes, type Served } from '../helpers';

let clock: ReturnType<typeof fakeClock>;
let okta: MockOkta;
let guard: Guard;

function makeGuard(extra: Partial<GuardOptions> = {}): Guard {
  guard = createGuard({
    issuer: okta.issuer,
    audience: okta.audience,
    clock: () => clock.now(),
    client: { clientId: okta.clientId, clientSecret: okta.clientSecret },
    sessions: { apiToken: okta.apiToken },
    ...extra,
  });
  return guard;
}

/** Both adapters with the same routes: a protected /api/me, a strict /api/strict, POST /logout, and a refreshing /api/refreshing. */
const APPS: Array<[string, (g: Guard, refreshStore: Map<string, string>, seen: TokenSet[]) => Served]> = [
  [
    'express',
    (g, refreshStore, seen) => {
      const app = express();
      const hooks: ex.ExpressRefreshHooks = {
        getRefreshToken: (req) => refreshStore.get(String(req.headers['x-user'])),
        onTokens: (req, _res, tokens) => {
          seen.push(tokens);
          refreshStore.set(String(req.headers['x-user']), tokens.refreshToken);
        },
      };
      app.get('/api/me', ex.protect(g), (req, res) => res.json({ sub: req.auth!.subject }));
      app.get('/api/strict', ex.protect(g, { session: 'strict' }), (req, res) => res.json({ sub: req.auth!.subject }));
      app.get('/api/refreshing', ex.protect(g, undefined, hooks), (req, res) => res.json({ jti: req.auth!.claims.jti }));
      app.post('/logout', express.json(), ex.logout(g, { postLogoutRedirectUri: 'https://app.example.com/bye' }));
      return app;
    },
  ],
  [
    'koa',
    (g, refreshStore, seen) => {
      const hooks: ko.KoaRefreshHooks = {
        getRefreshToken: (ctx) => refreshStore.get(String(ctx.headers['x-user'])),
        onTokens: (ctx, tokens) => {
          seen.push(tokens);
          refreshStore.set(String(ctx.headers['x-user']), tokens.refreshToken);
        },
      };
      const routes: Record<string, Koa.Middleware[]> = {
        'GET /api/me': [ko.protect(g), (ctx) => void (ctx.body = { sub: ctx.state.auth!.subject })],
        'GET /api/strict': [ko.protect(g, { session: 'strict' }), (ctx) => void (ctx.body = { sub: ctx.state.auth!.subject })],
        'GET /api/refreshing': [ko.protect(g, undefined, hooks), (ctx) => void (ctx.body = { jti: ctx.state.auth!.claims.jti })],
        'POST /logout': [ko.logout(g, { postLogoutRedirectUri: 'https://app.example.com/bye' })],
      };
      return koaRoutes(routes);
    },
  ],
  [
    'fastify',
    (g, refreshStore, seen) => {
      const hooks: fa.FastifyRefreshHooks = {
        getRefreshToken: (request) => refreshStore.get(String(request.headers['x-user'])),
        onTokens: (request, _reply, tokens) => {
          seen.push(tokens);
          refreshStore.set(String(request.headers['x-user']), tokens.refreshToken);
        },
      };
      const app = Fastify();
      app.register(fa.tokengate, { guard: g });
      app.get('/api/me', { preHandler: fa.protect(g) }, async (request) => ({ sub: request.auth!.subject }));
      app.get('/api/strict', { preHandler: fa.protect(g, { session: 'strict' }) }, async (request) => ({ sub: request.auth!.subject }));
      app.get('/api/refreshing', { preHandler: fa.protect(g, undefined, hooks) }, async (request) => ({ jti: request.auth!.claims.jti }));
      app.post('/logout', fa.logout(g, { postLogoutRedirectUri: 'https://app.example.com/bye' }));
      return fastifyServed(app);
    },
  ],
];

beforeEach(() => {
  clock = fakeClock();
  okta = mockOkta({ clock: () => clock.now() });
});
afterEach(async () => {
  await guard.close();
  okta.close();
});

describe.each(APPS)('%s: logout', (_name, makeApp) => {
  test('logout revokes at the issuer, closes the Okta session, denylists the token, and returns the end-session URL', async () => {
    const app = makeApp(makeGuard(), new Map(), []);
    const { accessToken, refreshToken, idToken, session } = okta.login();
    await request(app).get('/api/me').set('Authorization', `Bearer ${accessToken}`).expect(200);
    const res = await request(app)
      .post('/logout')
      .set('Authorization', `Bearer ${accessToken}`)
      .send({ refresh_token: refreshToken, id_token: idToken, state: 'xyz' })
      .expect(200);
    const url = new URL(res.body.endSessionUrl);
    expect(`${url.origin}${url.pathname}`).toBe(`${okta.issuer}/v1/logout`);
    expect(Object.fromEntries(url.searchParams)).toEqual({ id_token_hint: idToken, post_logout_redirect_uri: 'https://app.example.com/bye', state: 'xyz' });
    expect(res.body.failures).toEqual([]);
    expect(okta.calls.revoke).toBe(2);
    expect(okta.hasSession(session!.id)).toBe(false);
    const after = await request(app).get('/api/me').set('Authorization', `Bearer ${accessToken}`);
    expect(after.status).toBe(401);
    expect(after.headers['www-authenticate']).toMatch(/error="invalid_token", error_description="The token was revoked/);
  });

  test('a revoke endpoint that is down still logs out locally, and says what failed', async () => {
    const app = makeApp(makeGuard(), new Map(), []);
    const { accessToken, refreshToken } = okta.login();
    okta.fail('revoke', 'down');
    const res = await request(app).post('/logout').set('Authorization', `Bearer ${accessToken}`).send({ refresh_token: refreshToken }).expect(200);
    expect(res.body.failures.map((f: { step: string }) => f.step)).toEqual(['revoke refresh_token', 'revoke access_token']);
    await request(app).get('/api/me').set('Authorization', `Bearer ${accessToken}`).expect(401);
  });

  test('after logout, another token of the same Okta session is refused too (sid denylisted)', async () => {
    const app = makeApp(makeGuard(), new Map(), []);
    const session = okta.session();
    const first = okta.token({ sid: session.id });
    const second = okta.token({ sid: session.id });
    await request(app).post('/logout').set('Authorization', `Bearer ${first}`).expect(200);
    await request(app).get('/api/me').set('Authorization', `Bearer ${second}`).expect(401);
  });
});

describe.each(APPS)('%s: silent refresh', (_name, makeApp) => {
  test('20 parallel requests with the same expired token make exactly one call to the token endpoint', async () => {
    const store = new Map<string, string>();
    const seen: TokenSet[] = [];
    const app = makeApp(makeGuard(), store, seen);
    const { accessToken, refreshToken } = okta.login({ expiresIn: 60 });
    store.set('alice', refreshToken);
    await guard.ready();
    clock.advance(120);
    const answers = await Promise.all(
      Array.from({ length: 20 }, () => request(app).get('/api/refreshing').set('Authorization', `Bearer ${accessToken}`).set('x-user', 'alice')),
    );
    expect(answers.map((a) => a.status)).toEqual(Array(20).fill(200));
    expect(okta.calls.token).toBe(1);
    expect(new Set(answers.map((a) => a.body.jti)).size).toBe(1);
    expect(seen[0].refreshToken).not.toBe(refreshToken);
    expect(store.get('alice')).toBe(seen[0].refreshToken);
  });

  test('without a refresh token an expired token is simply refused', async () => {
    const app = makeApp(makeGuard(), new Map(), []);
    const { accessToken } = okta.login({ expiresIn: 60 });
    clock.advance(120);
    const res = await request(app).get('/api/refreshing').set('Authorization', `Bearer ${accessToken}`).set('x-user', 'nobody');
    expect(res.status).toBe(401);
    expect(res.headers['www-authenticate']).toMatch(/expired/);
  });
});

describe('refresh tokens', () => {
  test('reusing a rotated refresh token is refused (and Okta revokes the family)', async () => {
    makeGuard();
    const { refreshToken } = okta.login();
    const first = await guard.refresh(refreshToken);
    expect(first.refreshToken).not.toBe(refreshToken);
    // Within the grace period the same outcome is handed out again, without a second exchange.
    await expect(guard.refresh(refreshToken)).resolves.toBe(first);
    expect(okta.calls.token).toBe(1);
    clock.advance(31);
    await expect(guard.refresh(refreshToken)).rejects.toMatchObject({ code: 'ERR_REFRESH_FAILED', status: 401 });
    await expect(guard.refresh(first.refreshToken)).rejects.toMatchObject({ code: 'ERR_REFRESH_FAILED' });
  });

  test('a token endpoint that is down is a 503, not the caller’s fault', async () => {
    makeGuard();
    const { refreshToken } = okta.login();
    okta.fail('token', 'down');
    await expect(guard.refresh(refreshToken)).rejects.toMatchObject({ code: 'ERR_REFRESH_UNAVAILABLE', status: 503 });
    okta.recover();
    await expect(guard.refresh(refreshToken)).resolves.toBeDefined();
  });

  test('refresh and revocation calls have their own deadline (endpoints.timeout), not the key set\'s', async () => {
    makeGuard({ endpoints: { timeout: 0.2 }, keySet: { timeout: 30 } });
    const { refreshToken } = okta.login();
    okta.fail('token', 'slow', { delay: 5000 });
    const started = Date.now();
    await expect(guard.refresh(refreshToken)).rejects.toMatchObject({ code: 'ERR_REFRESH_UNAVAILABLE', status: 503, headers: { 'Retry-After': '5' } });
    expect(Date.now() - started).toBeLessThan(2000);
    okta.recover();
    okta.fail('revoke', 'slow', { delay: 5000 });
    const result = await guard.logout({ refreshToken });
    expect(result.refreshTokenRevoked).toBe('failed');
    expect(result.failures).toEqual([{ step: 'revoke refresh_token', message: expect.stringContaining('did not answer in time') }]);
    expect(Date.now() - started).toBeLessThan(4000);
  });

  test('the refreshed access token is fully verified', async () => {
    makeGuard({ audience: 'api://not-what-okta-issues' });
    const { refreshToken } = okta.login();
    await expect(guard.refresh(refreshToken)).rejects.toMatchObject({ code: 'ERR_AUDIENCE_INVALID' });
  });
});
