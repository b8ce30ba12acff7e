import express from 'express';
import Fastify from 'fastify';
import Koa from 'koa';
import request from 'supertest';
import {
  createGuard,
  memoryRevocationStore,
  MemorySessionStore,
  type BackendSessionStore,
  type Guard,
  type GuardOptions,
  type RevocationStore,
  type TokengateEvent,
} from 'tokengate';
import * as ex from 'tokengate/express';
import * as fa from 'tokengate/fastify';
import * as ko from 'tokengate/koa';
import { mockOkta, type MockOkta } from 'tokengate/testing';
import { fakeClock, fastifyServed, koaRoutes, type Served } from '../helpers';

let clock: ReturnType<typeof fakeClock>;
let okta: MockOkta;
let events: TokengateEvent[];
const guards: Guard[] = [];
const RECEIVER = 'https://api.example.com/global-token-revocation';
const APP_ORIGIN = 'https://app.example.com';

function makeGuard(extra: Partial<GuardOptions> = {}): Guard {
  const guard = createGuard({
    issuer: okta.issuer,
    audience: okta.audience,
    clock: () => clock.now(),
    client: { clientId: okta.clientId, clientSecret: okta.clientSecret },
    sessions: { apiToken: okta.apiToken },
    backendSessions: { lifetime: 3600, allowedOrigins: [APP_ORIGIN] },
    onEvent: (e) => events.push(e),
    ...extra,
  });
  guards.push(guard);
  return guard;
}

const APPS: Array<[string, (g: Guard) => Served]> = [
  [
    'express',
    (g) => {
      const app = express();
      app.post('/login', ex.sessionLogin(g));
      app.post('/logout', ex.logout(g));
      app.post('/backchannel-logout', ex.backchannelLogout(g));
      app.post('/global-token-revocation', express.json(), ex.universalLogout(g, { audience: RECEIVER }));
      app.get('/api/me', ex.protect(g), (req, res) => res.json({ sub: req.auth!.subject }));
      app.get('/api/strict', ex.protect(g, { session: 'strict' }), (req, res) => res.json({ sub: req.auth!.subject }));
      return app;
    },
  ],
  [
    'koa',
    (g) => {
      const routes: Record<string, Koa.Middleware[]> = {
        'POST /login': [ko.sessionLogin(g)],
        'POST /logout': [ko.logout(g)],
        'POST /backchannel-logout': [ko.backchannelLogout(g)],
        'POST /global-token-revocation': [ko.universalLogout(g, { audience: RECEIVER })],
        'GET /api/me': [ko.protect(g), (ctx) => void (ctx.body = { sub: ctx.state.auth!.subject })],
        'GET /api/strict': [ko.protect(g, { session: 'strict' }), (ctx) => void (ctx.body = { sub: ctx.state.auth!.subject })],
      };
      return koaRoutes(routes);
    },
  ],
  [
    'fastify',
    (g) => {
      const app = Fastify();
      app.register(fa.tokengate, { guard: g });
      app.post('/login', fa.sessionLogin(g));
      app.post('/logout', fa.logout(g));
      app.post('/backchannel-logout', fa.backchannelLogout(g));
      app.post('/global-token-revocation', fa.universalLogout(g, { audience: RECEIVER }));
      app.get('/api/me', { preHandler: fa.protect(g) }, async (request) => ({ sub: request.auth!.subject }));
      app.get('/api/strict', { preHandler: fa.protect(g, { session: 'strict' }) }, async (request) => ({ sub: request.auth!.subject }));
      return fastifyServed(app);
    },
  ],
];

beforeEach(() => {
  clock = fakeClock();
  events = [];
  okta = mockOkta({ clock: () => clock.now() });
});
afterEach(async () => {
  for (const guard of guards.splice(0)) await guard.close();
  okta.close();
});

const universal = (app: Served, bearer: string, email: string) =>
  request(app).post('/global-token-revocation').set('Authorization', `Bearer ${bearer}`).send({ sub_id: { format: 'email', email } });

describe.each(APPS)('%s: logout receivers', (_name, makeApp) => {
  test('with typ "at+jwt" required of access tokens, back-channel and Universal Logout tokens keep their own typ rules', async () => {
    const app = makeApp(makeGuard({ typ: 'at+jwt' }));
    const session = okta.session();
    await request(app).post('/backchannel-logout').type('form').send({ logout_token: okta.logoutToken({ sid: session.id }) }).expect(200);
    await universal(app, okta.globalLogoutToken(RECEIVER), 'alice@example.com').expect(204);
    // Their own rules still hold: a logout token with an access token's typ is refused.
    const wrong = await request(app).post('/backchannel-logout').type('form').send({ logout_token: okta.logoutToken({ sid: session.id }, { typ: 'at+jwt' }) });
    expect(wrong.status).toBe(400);
    expect(wrong.body.error_description).toMatch(/"typ" must be logout\+jwt/);
  });

  test('a Universal Logout bearer replayed to another instance with another user is refused, and that user keeps working', async () => {
    const store = memoryRevocationStore(() => clock.now());
    const a = makeApp(makeGuard({ revocation: { store } }));
    const b = makeApp(makeGuard({ revocation: { store } }));
    const bob = okta.token({ sub: 'bob@example.com' });
    const bearer = okta.globalLogoutToken(RECEIVER);
    await universal(a, bearer, 'alice@example.com').expect(204);
    const replay = await universal(b, bearer, 'bob@example.com');
    expect(replay.status).toBe(401);
    expect(replay.headers['www-authenticate']).toBe('Bearer error="invalid_token"');
    expect(replay.body.error_description).toMatch(/replayed/);
    await request(b).get('/api/me').set('Authorization', `Bearer ${bob}`).expect(200);
  });

  test('with a shared store that cannot share the replay cache, Universal Logout is refused with 503 rather than left replayable', async () => {
    const shared = memoryRevocationStore(() => clock.now());
    const { claimOnce: _claimOnce, ...noClaim } = shared;
    const app = makeApp(makeGuard({ revocation: { store: noClaim as RevocationStore } }));
    const res = await universal(app, okta.globalLogoutToken(RECEIVER), 'alice@example.com');
    expect(res.status).toBe(503);
    expect(res.headers['retry-after']).toBe('1');
    expect(res.body).toEqual({ code: 'ERR_REVOCATION_UNAVAILABLE' });
  });

  test('a Universal Logout request with a bad body does not use up its bearer', async () => {
    const app = makeApp(makeGuard());
    const bearer = okta.globalLogoutToken(RECEIVER);
    await request(app).post('/global-token-revocation').set('Authorization', `Bearer ${bearer}`).send({}).expect(400);
    await universal(app, bearer, 'alice@example.com').expect(204);
  });

  test('the logout route accepts a cookie request from an allowed origin, as protect() does', async () => {
    const app = makeApp(makeGuard());
    const tokens = okta.login();
    const login = await request(app).post('/login').set('Authorization', `Bearer ${tokens.accessToken}`).send({ refresh_token: tokens.refreshToken }).expect(200);
    const cookie = String(login.headers['set-cookie']).split(';')[0];
    const res = await request(app).post('/logout').set('Cookie', cookie).set('Origin', APP_ORIGIN).send({});
    expect(res.status).toBe(200);
    expect(res.body.loggedOut).toBe(true);
    // Another origin is still refused.
    const login2 = await request(app).post('/login').set('Authorization', `Bearer ${okta.login().accessToken}`).send({}).expect(200);
    const cookie2 = String(login2.headers['set-cookie']).split(';')[0];
    const evil = await request(app).post('/logout').set('Cookie', cookie2).set('Origin', 'https://evil.example.com').send({});
    expect(evil.status).toBe(403);
    expect(evil.body.code).toBe('ERR_CSRF_REJECTED');
  });

  test('a failing backend-session store is a 503 with Retry-After on protect() and the session routes, never a 500; logout receivers still log out', async () => {
    const working = new MemorySessionStore();
    let failing = false;
    const store: BackendSessionStore = {
      get: (id) => (failing ? Promise.reject(new Error('connect ECONNREFUSED 10.1.2.3:6379')) : working.get(id)),
      set: (id, data) => (failing ? Promise.reject(new Error('connect ECONNREFUSED 10.1.2.3:6379')) : working.set(id, data)),
      delete: (id) => working.delete(id),
      deleteWhere: (match) => (failing ? Promise.reject(new Error('connect ECONNREFUSED 10.1.2.3:6379')) : working.deleteWhere(match)),
    };
    const app = makeApp(makeGuard({ backendSessions: { store } }));
    const tokens = okta.login();
    const login = await request(app).post('/login').set('Authorization', `Bearer ${tokens.accessToken}`).send({}).expect(200);
    const cookie = String(login.headers['set-cookie']).split(';')[0];
    failing = true;
    for (const res of [
      await request(app).get('/api/me').set('Cookie', cookie),
      await request(app).post('/logout').set('Cookie', cookie).set('Sec-Fetch-Site', 'same-origin').send({}),
      await request(app).post('/login').set('Authorization', `Bearer ${okta.login().accessToken}`).send({}),
    ]) {
      expect(res.status).toBe(503);
      expect(res.headers['retry-after']).toBe('1');
      expect(res.body).toEqual({ code: 'ERR_SESSION_STORE_UNAVAILABLE' });
      expect(JSON.stringify(res.body)).not.toContain('10.1.2.3');
    }
    // The receivers answer the issuer: the denylist took the logout, and the failed clean-up is reported.
    await request(app).post('/backchannel-logout').type('form').send({ logout_token: okta.logoutToken({ sid: tokens.session!.id }) }).expect(200);
    await universal(app, okta.globalLogoutToken(RECEIVER), 'bob@example.com').expect(204);
    expect(events.filter((e) => e.type === 'logout.failed')).toEqual([
      { type: 'logout.failed', step: 'backend sessions', message: 'connect ECONNREFUSED 10.1.2.3:6379' },
      { type: 'logout.failed', step: 'backend sessions', message: 'connect ECONNREFUSED 10.1.2.3:6379' },
    ]);
    failing = false;
    await request(app).get('/api/me').set('Cookie', cookie).expect(401);
  });
});

describe.each(APPS)('%s: what clients are told', (_name, makeApp) => {
  test('the logout route names the steps that failed, never why; the reasons go to onEvent', async () => {
    const app = makeApp(makeGuard({ endpoints: { revocation: 'https://internal-revoker.corp.example:8443/v1/revoke' } }));
    const { accessToken, refreshToken } = okta.login();
    const res = await request(app).post('/logout').set('Authorization', `Bearer ${accessToken}`).send({ refresh_token: refreshToken }).expect(200);
    expect(res.body.failures).toEqual([{ step: 'revoke refresh_token' }, { step: 'revoke access_token' }]);
    expect(JSON.stringify(res.body)).not.toContain('internal-revoker');
    const failed = events.filter((e) => e.type === 'logout.failed');
    expect(failed.map((e) => (e as { step: string }).step)).toEqual(['revoke refresh_token', 'revoke access_token']);
    expect((failed[0] as { message: string }).message).toContain('internal-revoker.corp.example');
  });

  test('the Okta session id appears in no event and no 503 when the Sessions API is down', async () => {
    const app = makeApp(makeGuard());
    const { accessToken, session } = okta.login();
    okta.fail('sessions', 'down');
    const res = await request(app).get('/api/strict').set('Authorization', `Bearer ${accessToken}`);
    expect(res.status).toBe(503);
    expect(res.body).toEqual({ code: 'ERR_SESSIONS_UNAVAILABLE' });
    const upstream = events.filter((e) => e.type === 'upstream.error');
    expect(upstream.length).toBeGreaterThan(0);
    for (const event of upstream) expect(JSON.stringify(event)).not.toContain(session!.id);
    expect(JSON.stringify(upstream[0])).toContain('/api/v1/sessions/{id}');
    const error = await guards[0].verifyToken(accessToken, { session: 'strict' }).catch((e: Error) => e);
    expect((error as Error).message).not.toContain(session!.id);
  });

  test('a kid with control characters and thousands of characters is shortened and made printable in error_description', async () => {
    const app = makeApp(makeGuard());
    await request(app).get('/api/me').set('Authorization', `Bearer ${okta.token()}`).expect(200);
    clock.advance(31);
    const kid = `evil\u0000\u001b[31m${'x'.repeat(5000)}`;
    const res = await request(app).get('/api/me').set('Authorization', `Bearer ${okta.token({}, { header: { kid } })}`);
    expect(res.status).toBe(401);
    expect(res.body.code).toBe('ERR_KEY_UNKNOWN');
    expect(res.body.error_description.length).toBeLessThan(200);
    expect(res.body.error_description).not.toMatch(/[\u0000-\u001f]/);
    expect(res.headers['www-authenticate'].length).toBeLessThan(400);
  });
});
