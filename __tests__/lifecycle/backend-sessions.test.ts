import express from 'express';
import Fastify from 'fastify';
import Koa from 'koa';
import request from 'supertest';
import { createGuard, type Guard, type GuardOptions, type TokengateEvent } from 'tokengate';
import * as ex from 'tokengate/express';
import * as fa from 'tokengate/fastify';
import * as ko from 'tokengate/koa';
import { mockOkta, type MockOkta } from 'tokengate/testing';
import { fakeClock, fastifyServed, koaRoutes, type Served } from '../helpers';

let clock: ReturnType<typeof fakeClock>;
let okta: MockOkta;
let guard: Guard;
let events: TokengateEvent[];
const RECEIVER = 'https://api.example.com/global-token-revocation';

function makeGuard(extra: Partial<GuardOptions> = {}): Guard {
  guard = createGuard({
    issuer: okta.issuer,
    audience: okta.audience,
    clock: () => clock.now(),
    client: { clientId: okta.clientId, clientSecret: okta.clientSecret },
    sessions: { apiToken: okta.apiToken, cacheTtl: 30 },
    backendSessions: { lifetime: 3600 },
    onEvent: (e) => events.push(e),
    ...extra,
  });
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
      app.post('/api/orders', ex.protect(g), (_req, res) => res.status(201).json({ ok: true }));
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
        'POST /api/orders': [ko.protect(g), (ctx) => void ((ctx.status = 201), (ctx.body = { ok: true }))],
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
      app.post('/api/orders', { preHandler: fa.protect(g) }, async (_request, reply) => reply.code(201).send({ ok: true }));
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
  await guard.close();
  okta.close();
});

async function signIn(app: Served, expiresIn = 3600) {
  const tokens = okta.login({ expiresIn });
  const res = await request(app).post('/login').set('Authorization', `Bearer ${tokens.accessToken}`).send({ refresh_token: tokens.refreshToken, id_token: tokens.idToken }).expect(200);
  const setCookie = String(res.headers['set-cookie']);
  const cookie = setCookie.split(';')[0];
  return { ...tokens, cookie, setCookie };
}

describe.each(APPS)('%s: backend sessions bound to Okta', (_name, makeApp) => {
  test('login issues an opaque HttpOnly, Secure, SameSite=Lax cookie; the cookie then authenticates without a bearer', async () => {
    const app = makeApp(makeGuard());
    const { cookie, setCookie, accessToken, refreshToken } = await signIn(app);
    expect(setCookie).toMatch(/^tg_session=[A-Za-z0-9_-]{43}; Path=\/; Max-Age=3600; HttpOnly; SameSite=Lax; Secure$/);
    expect(setCookie).not.toContain(accessToken);
    expect(setCookie).not.toContain(refreshToken);
    await request(app).get('/api/me').set('Cookie', cookie).expect(200, { sub: 'alice@example.com' });
  });

  test('login answers when the session ends in seconds since the epoch, the unit of a token\'s exp', async () => {
    const app = makeApp(makeGuard());
    const tokens = okta.login();
    const res = await request(app).post('/login').set('Authorization', `Bearer ${tokens.accessToken}`).send({}).expect(200);
    expect(res.body).toEqual({ expiresAt: Math.floor(clock.now() / 1000) + 3600 });
  });

  test('the login route answers a rejection with the same status, headers and body as protect()', async () => {
    const app = makeApp(makeGuard());
    const expired = okta.token({}, { expiresIn: -120 });
    const login = await request(app).post('/login').set('Authorization', `Bearer ${expired}`).send({});
    const api = await request(app).get('/api/me').set('Authorization', `Bearer ${expired}`);
    expect(login.status).toBe(401);
    expect(login.body).toEqual({ error: 'invalid_token', code: 'ERR_TOKEN_EXPIRED', error_description: expect.stringMatching(/^The token expired \d+ seconds ago$/) });
    expect(login.body).toEqual(api.body);
    expect(login.headers['www-authenticate']).toBe(api.headers['www-authenticate']);
    // Upstream details stay out of 503 bodies on both.
    okta.fail('jwks', 'down');
    const unknownKey = okta.token({}, { header: { kid: 'rotated-in' } });
    const down = await request(app).post('/login').set('Authorization', `Bearer ${unknownKey}`).send({});
    expect(down.status).toBe(503);
    expect(down.body).toEqual({ code: expect.stringMatching(/^ERR_/) });
  });

  test('the access token is refreshed silently behind the cookie', async () => {
    const app = makeApp(makeGuard());
    const { cookie } = await signIn(app, 60);
    clock.advance(120);
    await request(app).get('/api/me').set('Cookie', cookie).expect(200);
    await request(app).get('/api/me').set('Cookie', cookie).expect(200);
    expect(okta.calls.token).toBe(1);
  });

  test('when the Okta session ends, the backend session ends within the session TTL: no session mismatch', async () => {
    const app = makeApp(makeGuard());
    const { cookie, session } = await signIn(app);
    await request(app).get('/api/me').set('Cookie', cookie).expect(200);
    okta.endSession(session!.id);
    clock.advance(31);
    const res = await request(app).get('/api/me').set('Cookie', cookie);
    expect(res.status).toBe(401);
    expect(String(res.headers['set-cookie'])).toMatch(/^tg_session=; Path=\/; Max-Age=0/);
    const again = await request(app).get('/api/me').set('Cookie', cookie);
    expect(again.headers['www-authenticate']).toMatch(/The session cookie names no live session/);
  });

  test('a stolen cookie is useless after logout', async () => {
    const app = makeApp(makeGuard());
    const { cookie, session } = await signIn(app);
    const out = await request(app).post('/logout').set('Cookie', cookie).set('Sec-Fetch-Site', 'same-origin').expect(200);
    expect(String(out.headers['set-cookie'])).toMatch(/Max-Age=0/);
    expect(okta.calls.revoke).toBe(2);
    expect(okta.hasSession(session!.id)).toBe(false);
    const res = await request(app).get('/api/me').set('Cookie', cookie);
    expect(res.status).toBe(401);
  });

  test('unsafe requests with the cookie are checked for CSRF; safe ones and bearer ones are not', async () => {
    const app = makeApp(makeGuard());
    const { cookie, accessToken } = await signIn(app);
    await request(app).post('/api/orders').set('Cookie', cookie).set('Sec-Fetch-Site', 'cross-site').expect(403);
    await request(app).post('/api/orders').set('Cookie', cookie).expect(403);
    await request(app).post('/api/orders').set('Cookie', cookie).set('Origin', 'https://evil.example.com').expect(403);
    await request(app).post('/api/orders').set('Cookie', cookie).set('Sec-Fetch-Site', 'same-origin').expect(201);
    const own = await request(app).post('/api/orders').set('Cookie', cookie).set('Host', 'api.example.com').set('Origin', 'https://api.example.com');
    expect(own.status).toBe(201);
    await request(app).post('/api/orders').set('Authorization', `Bearer ${accessToken}`).expect(201);
  });

  test('back-channel logout ends the session at once, on every route, and cannot be replayed', async () => {
    const app = makeApp(makeGuard());
    const { cookie, session, accessToken } = await signIn(app);
    const token = okta.logoutToken({ sid: session!.id });
    await request(app).post('/backchannel-logout').type('form').send({ logout_token: token }).expect(200);
    await request(app).get('/api/me').set('Cookie', cookie).expect(401);
    await request(app).get('/api/me').set('Authorization', `Bearer ${accessToken}`).expect(401);
    const replay = await request(app).post('/backchannel-logout').type('form').send({ logout_token: token });
    expect(replay.status).toBe(400);
    expect(replay.body.error_description).toMatch(/replayed/);
  });

  test.each([
    ['a wrong typ', () => okta.logoutToken({ sid: 'x' }, { typ: 'at+jwt' }), /"typ"/],
    ['a nonce', () => okta.logoutToken({ sid: 'x', nonce: 'n' }), /nonce/],
    ['no event', () => okta.logoutToken({ sid: 'x', events: undefined }), /event/],
    ['neither sid nor sub', () => okta.logoutToken({}), /neither sid nor sub/],
    ['another audience', () => okta.logoutToken({ sid: 'x', aud: 'someone-else' }), /audience/],
    ['a stale iat', () => okta.logoutToken({ sid: 'x', iat: Math.floor(clock.now() / 1000) - 3600, exp: undefined }), /iat/],
    ['a bad signature', () => okta.logoutToken({ sid: 'x' }).slice(0, -4) + 'AAAA', /signature/],
  ])('a logout token with %s is refused with 400', async (_what, make, message) => {
    const app = makeApp(makeGuard());
    const res = await request(app).post('/backchannel-logout').type('form').send({ logout_token: make() });
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('invalid_request');
    expect(res.body.error_description).toMatch(message);
  });

  test('Okta Universal Logout revokes every token of the user; a later sign-in works', async () => {
    const app = makeApp(makeGuard());
    const { accessToken } = okta.login();
    await request(app)
      .post('/global-token-revocation')
      .set('Authorization', `Bearer ${okta.globalLogoutToken(RECEIVER)}`)
      .send({ sub_id: { format: 'email', email: 'alice@example.com' } })
      .expect(204);
    await request(app).get('/api/me').set('Authorization', `Bearer ${accessToken}`).expect(401);
    // Tokens dated within clockTolerance (30 s) of the revocation are refused too: another clock may run ahead.
    clock.advance(31);
    await request(app).get('/api/me').set('Authorization', `Bearer ${okta.login().accessToken}`).expect(200);
  });

  test.each([
    ['no bearer', 401, undefined, { sub_id: { format: 'email', email: 'a@b' } }],
    ['a bearer for another receiver', 401, 'other', { sub_id: { format: 'email', email: 'a@b' } }],
    ['no sub_id', 400, RECEIVER, {}],
    ['an opaque id', 422, RECEIVER, { sub_id: { format: 'opaque', id: 'x' } }],
    ['a user of another issuer', 404, RECEIVER, { sub_id: { format: 'iss_sub', iss: 'https://other.example.com', sub: 'x' } }],
  ])('Universal Logout with %s answers %i', async (_what, status, audience, body) => {
    const app = makeApp(makeGuard());
    let req = request(app).post('/global-token-revocation');
    if (audience !== undefined) req = req.set('Authorization', `Bearer ${okta.globalLogoutToken(audience)}`);
    const res = await req.send(body);
    expect(res.status).toBe(status);
    if (status === 401) expect(res.headers['www-authenticate']).toBe('Bearer error="invalid_token"');
  });
});
