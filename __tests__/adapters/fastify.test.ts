import Fastify, { type FastifyError } from 'fastify';
import request from 'supertest';
import { AuthError, createGuard, type AuthResult, type Guard } from 'tokengate';
import { backchannelLogout, logout, protect, tokengate, universalLogout, type FastifyProtectOptions } from 'tokengate/fastify';
import { mockOkta, type MockOkta } from 'tokengate/testing';
import { expectMalformedAnswer, fastifyServed } from '../helpers';

let okta: MockOkta;
const guards: Guard[] = [];
beforeEach(() => {
  okta = mockOkta();
});
afterEach(async () => {
  for (const guard of guards.splice(0)) await guard.close();
  okta.close();
});

function makeGuard(extra: Partial<Parameters<typeof createGuard>[0]> = {}): Guard {
  const guard = createGuard({ issuer: okta.issuer, audience: okta.audience, ...extra });
  guards.push(guard);
  return guard;
}

test('the plugin decorates the instance with the guard; a preHandler hook protects every route of its scope and sets request.auth', async () => {
  const app = Fastify();
  await app.register(tokengate, { guard: { issuer: okta.issuer, audience: okta.audience } });
  app.get('/health', async () => 'ok');
  app.register(async (api) => {
    api.addHook('preHandler', protect(api.tokengate));
    api.get('/me', async (req) => ({ sub: req.auth?.subject, uid: req.auth?.claims.uid, scopes: req.auth?.scopes }));
  });
  const served = fastifyServed(app);
  await request(served).get('/health').expect(200, 'ok');
  await request(served).get('/me').expect(401).expect('WWW-Authenticate', 'Bearer realm="api", DPoP algs="ES256 ES384 PS256 RS256 EdDSA"');
  const token = okta.token({ scp: ['openid', 'orders:read'] });
  await request(served).get('/me').set('Authorization', `Bearer ${token}`).expect(200, { sub: 'alice@example.com', uid: '00u1a2b3c4d5e6f7g8h9', scopes: ['openid', 'orders:read'] });
  await request(served).get('/me').set('Authorization', `Bearer ${token}`).expect(200);
  expect(okta.calls.jwks).toBe(1);
  await app.close();
});

test('a guard built by the plugin is closed with the instance; a guard passed in is left to its owner', async () => {
  const built = Fastify();
  await built.register(tokengate, { guard: { issuer: okta.issuer, audience: okta.audience } });
  const own = makeGuard();
  const shared = Fastify();
  await shared.register(tokengate, { guard: own });
  expect(shared.tokengate).toBe(own);
  const closing = built.tokengate;
  await built.close();
  await shared.close();
  await expect(closing.verifyToken(okta.token())).rejects.toMatchObject({ code: 'ERR_GUARD_CLOSED' });
  await expect(own.verifyToken(okta.token())).resolves.toMatchObject({ subject: 'alice@example.com' });
});

test('a route-level preHandler applies its policy: 403 with the scope challenge, HEAD answered without a body', async () => {
  const guard = makeGuard();
  const app = Fastify();
  app.get('/orders', { preHandler: protect(guard, { scopes: ['orders:read'] }) }, async () => ({ orders: [] }));
  const served = fastifyServed(app);
  const res = await request(served).get('/orders').set('Authorization', `Bearer ${okta.token()}`);
  expect(res.status).toBe(403);
  expect(res.headers['www-authenticate']).toBe('Bearer realm="api", error="insufficient_scope", error_description="The token lacks the scope orders:read", scope="orders:read", DPoP algs="ES256 ES384 PS256 RS256 EdDSA"');
  expect(res.body).toEqual({ error: 'insufficient_scope', code: 'ERR_INSUFFICIENT_SCOPE', error_description: 'The token lacks the scope orders:read' });
  await request(served).get('/orders').set('Authorization', `Bearer ${okta.token({ scp: ['orders:read'] })}`).expect(200, { orders: [] });
  const head = await request(served).head('/orders').set('Authorization', 'Bearer not-a-jwt');
  expect(head.status).toBe(401);
  expect(head.text).toBeUndefined();
});

test('by default a rejection is answered at once: JSON body, earlier headers kept, a clearing Set-Cookie added to one set earlier', async () => {
  const guard = makeGuard({ backendSessions: { lifetime: 3600 } });
  const app = Fastify();
  let reached = 0;
  let errorHandled = 0;
  app.addHook('onRequest', async (_req, reply) => {
    reply.header('Access-Control-Allow-Origin', 'https://app.example.com').header('Set-Cookie', 'theme=dark; Path=/');
  });
  app.setErrorHandler(async (_error, _req, reply) => {
    errorHandled++;
    return reply.code(500).send();
  });
  app.get('/orders', { preHandler: protect(guard) }, async () => {
    reached++;
    return 'secret';
  });
  const served = fastifyServed(app);

  expectMalformedAnswer(await request(served).get('/orders').set('Authorization', 'Bearer not-a-jwt'), { 'access-control-allow-origin': 'https://app.example.com' });
  const dead = await request(served).get('/orders').set('Cookie', `tg_session=${'A'.repeat(43)}`);
  expect(dead.status).toBe(401);
  expect(dead.headers['set-cookie']).toEqual(['theme=dark; Path=/', expect.stringMatching(/^tg_session=; Path=\/; Max-Age=0/)]);
  expect(dead.body.code).toBe('ERR_BACKEND_SESSION_INVALID');
  expect(reached).toBe(0);
  expect(errorHandled).toBe(0);
});

test("with errors: 'throw', the AuthError reaches the app's error handler; downstream never runs", async () => {
  const guard = makeGuard();
  const app = Fastify();
  let reached = false;
  app.setErrorHandler(async (error: FastifyError, _req, reply) => {
    expect(error).toBeInstanceOf(AuthError);
    const e = error as unknown as AuthError;
    return reply.code(e.status).headers(e.headers).send({ mine: true, code: e.code });
  });
  app.get('/', { preHandler: protect(guard, { claims: { tenant: 'acme' } }, { errors: 'throw' }) }, async () => {
    reached = true;
    return 'ok';
  });
  const served = fastifyServed(app);
  const res = await request(served).get('/').set('Authorization', `Bearer ${okta.token({ tenant: 'other' })}`);
  expect(res.status).toBe(403);
  expect(res.body).toEqual({ mine: true, code: 'ERR_CLAIM_CHECK_FAILED' });
  expect(res.headers['www-authenticate']).toMatch(/error="insufficient_scope"/);
  expect(reached).toBe(false);
  await request(served).get('/').set('Authorization', `Bearer ${okta.token({ tenant: 'acme' })}`).expect(200, 'ok');
});

test("with errors: 'throw', Fastify's default error handler renders the status, challenge and Retry-After", async () => {
  const app = Fastify();
  app.get('/', { preHandler: protect({ issuer: okta.issuer, audience: okta.audience, keySet: { retryAfter: 9 } }, undefined, { errors: 'throw' }) }, async () => 'ok');
  const served = fastifyServed(app);
  const expired = await request(served).get('/').set('Authorization', `Bearer ${okta.token({}, { expiresIn: -300 })}`);
  expect(expired.status).toBe(401);
  expect(expired.headers['www-authenticate']).toMatch(/^Bearer realm="api", error="invalid_token"/);
  expect(expired.body).toMatchObject({ statusCode: 401, code: 'ERR_TOKEN_EXPIRED' });

  okta.fail('jwks', 503);
  const down = await request(served).get('/').set('Authorization', `Bearer ${okta.token({}, { header: { kid: 'rotated-in' } })}`);
  expect(down.status).toBe(503);
  expect(down.headers['retry-after']).toBe('9');
});

test('errors that are not rejections (a hook that throws) go to the error handler even when answering', async () => {
  const app = Fastify();
  app.setErrorHandler(async (error, _req, reply) => reply.code(500).send({ caught: (error as Error).message }));
  const guard = { issuer: okta.issuer, audience: okta.audience, client: { clientId: 'c', clientSecret: 's' } };
  const failing = () => {
    throw new Error('refresh store down');
  };
  app.get('/', { preHandler: protect(guard, undefined, { getRefreshToken: failing }) }, async () => 'ok');
  const res = await request(fastifyServed(app)).get('/').set('Authorization', `Bearer ${okta.token({}, { expiresIn: -300 })}`);
  expect(res.status).toBe(500);
  expect(res.body).toEqual({ caught: 'refresh store down' });
});

test('the refresh hooks get the request (and the reply for the new tokens); the request goes on with the new token', async () => {
  const guard = makeGuard({ client: { clientId: okta.clientId, clientSecret: okta.clientSecret } });
  const byUser = new Map<string, string>();
  const app = Fastify();
  await app.register(tokengate, { guard });
  const hooks: FastifyProtectOptions = {
    getRefreshToken: (_req, expired) => byUser.get(String(expired.sub)),
    onTokens: (req, reply, tokens) => {
      expect(req.auth?.subject).toBe('alice@example.com');
      reply.header('x-new-access-token', tokens.accessToken);
      byUser.set(tokens.auth.subject!, tokens.refreshToken);
    },
  };
  app.get('/me', { preHandler: protect(app.tokengate, undefined, hooks) }, async (req) => ({ sub: req.auth?.subject, jti: req.auth?.claims.jti }));
  const alice = okta.login({ expiresIn: -60 });
  byUser.set('alice@example.com', alice.refreshToken);
  const res = await request(fastifyServed(app)).get('/me').set('Authorization', `Bearer ${alice.accessToken}`).expect(200);
  expect(res.body.sub).toBe('alice@example.com');
  expect(res.headers['x-new-access-token']).toMatch(/^ey/);
  expect(byUser.get('alice@example.com')).not.toBe(alice.refreshToken);
  expect(okta.calls.token).toBe(1);
});

test('the logout route takes a JSON body and a form body alike; without a parser of its own, the plugin adds the form one', async () => {
  const guard = makeGuard({ client: { clientId: okta.clientId, clientSecret: okta.clientSecret } });
  const app = Fastify();
  await app.register(tokengate, { guard });
  app.post('/logout', logout(guard, { postLogoutRedirectUri: 'https://app.example.com/bye' }));
  const served = fastifyServed(app);

  const json = okta.login();
  const a = await request(served).post('/logout').set('Authorization', `Bearer ${json.accessToken}`).send({ refresh_token: json.refreshToken, id_token: json.idToken, state: 'j' }).expect(200);
  expect(a.headers['cache-control']).toBe('no-store');
  expect(new URL(a.body.endSessionUrl).searchParams.get('state')).toBe('j');
  expect(okta.calls.revoke).toBe(2);

  const form = okta.login();
  const b = await request(served).post('/logout').set('Authorization', `Bearer ${form.accessToken}`).type('form').send({ refresh_token: form.refreshToken, id_token: form.idToken, state: 'f' }).expect(200);
  expect(new URL(b.body.endSessionUrl).searchParams.get('id_token_hint')).toBe(form.idToken);
  expect(new URL(b.body.endSessionUrl).searchParams.get('state')).toBe('f');
  expect(okta.calls.revoke).toBe(4);

  const none = okta.login();
  await request(served).post('/logout').set('Authorization', `Bearer ${none.accessToken}`).expect(200);
  expect(okta.calls.revoke).toBe(5);
});

test('the receivers answer over a real server: back-channel logout (form) and Universal Logout (JSON)', async () => {
  const receiver = 'https://api.example.com/global-token-revocation';
  const guard = makeGuard({ client: { clientId: okta.clientId, clientSecret: okta.clientSecret } });
  const app = Fastify();
  await app.register(tokengate, { guard });
  app.post('/backchannel-logout', backchannelLogout(guard));
  app.post('/global-token-revocation', universalLogout(guard, { audience: receiver }));
  app.get('/me', { preHandler: protect(guard) }, async (req) => ({ sub: req.auth?.subject }));
  await app.listen({ port: 0, host: '127.0.0.1' });
  try {
    const { accessToken, session } = okta.login();
    await request(app.server).get('/me').set('Authorization', `Bearer ${accessToken}`).expect(200);
    const ok = await request(app.server).post('/backchannel-logout').type('form').send({ logout_token: okta.logoutToken({ sid: session!.id }) });
    expect(ok.status).toBe(200);
    expect(ok.headers['cache-control']).toBe('no-store');
    await request(app.server).get('/me').set('Authorization', `Bearer ${accessToken}`).expect(401);
    const empty = await request(app.server).post('/backchannel-logout').type('form').send('');
    expect(empty.status).toBe(400);
    expect(empty.body).toEqual({ error: 'invalid_request', error_description: 'The body has no logout_token' });

    const bob = okta.login({ claims: { sub: 'bob@example.com' } });
    await request(app.server).get('/me').set('Authorization', `Bearer ${bob.accessToken}`).expect(200, { sub: 'bob@example.com' });
    const revoked = await request(app.server)
      .post('/global-token-revocation')
      .set('Authorization', `Bearer ${okta.globalLogoutToken(receiver)}`)
      .send({ sub_id: { format: 'email', email: 'bob@example.com' } });
    expect(revoked.status).toBe(204);
    expect(revoked.text).toBe('');
    const unsigned = await request(app.server).post('/global-token-revocation').send({ sub_id: { format: 'email', email: 'bob@example.com' } });
    expect(unsigned.status).toBe(401);
    expect(unsigned.headers['www-authenticate']).toBe('Bearer error="invalid_token"');
    await request(app.server).get('/me').set('Authorization', `Bearer ${bob.accessToken}`).expect(401);
  } finally {
    await app.close();
  }
});

test("the plugin keeps a form parser the app registered first, and with formBody: false adds none (Fastify's 415)", async () => {
  const guard = makeGuard({ client: { clientId: okta.clientId, clientSecret: okta.clientSecret } });
  const mine = Fastify();
  mine.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, _body, done) => done(null, { mine: true }));
  await mine.register(tokengate, { guard });
  mine.post('/backchannel-logout', backchannelLogout(guard));
  // Its parser ran, not the plugin's: the logout_token sent never reached the route.
  const res = await request(fastifyServed(mine)).post('/backchannel-logout').type('form').send({ logout_token: okta.logoutToken({ sid: 'x' }) });
  expect(res.status).toBe(400);
  expect(res.body.error_description).toBe('The body has no logout_token');

  const bare = Fastify();
  await bare.register(tokengate, { guard, formBody: false });
  bare.post('/backchannel-logout', backchannelLogout(guard));
  await request(fastifyServed(bare)).post('/backchannel-logout').type('form').send({ logout_token: 'x' }).expect(415);
});

test('mistakes throw at start-up: the third argument and the policy at protect(), the plugin options at ready()', async () => {
  const options = { issuer: okta.issuer, audience: okta.audience };
  expect(() => protect(options, undefined, { errors: 'next' } as never)).toThrow('option "errors" must be "respond" or "throw"');
  expect(() => protect(options, undefined, { onToken: () => undefined } as never)).toThrow('protect() has no option "onToken"');
  expect(() => protect(options, { session: 'strict' })).toThrow(/no "sessions" option/);
  for (const [bad, message] of [
    [{ guard: options, formBodies: true }, 'the Fastify plugin has no option "formBodies" (known: guard, formBody)'],
    [{}, 'the Fastify plugin option "guard" must be a Guard or guard options'],
    [{ guard: options, formBody: 'yes' }, 'the Fastify plugin option "formBody" must be a boolean'],
    [{ guard: { issuer: okta.issuer } }, /"audience"/],
  ] as const) {
    const app = Fastify();
    app.register(tokengate, bad as never);
    await expect(app.ready()).rejects.toThrow(message);
  }
});

test('a guard without the synchronous path (a wrapper) still works: every request takes handle()', async () => {
  const guard = makeGuard();
  const wrapper = { verify: guard.verify.bind(guard), compile: guard.compile.bind(guard), handle: guard.handle.bind(guard) } as unknown as Guard;
  const app = Fastify();
  app.get('/', { preHandler: protect(wrapper) }, async (req) => ({ sub: req.auth?.subject }));
  const served = fastifyServed(app);
  await request(served).get('/').set('Authorization', `Bearer ${okta.token()}`).expect(200, { sub: 'alice@example.com' });
  await request(served).get('/').set('Authorization', 'Bearer not-a-jwt').expect(401);
});

test('request.auth, fastify.tokengate and the plugin options are typed (checked by tsc)', async () => {
  const app = Fastify();
  const guard = makeGuard();
  await app.register(tokengate, { guard });
  app.get('/', { preHandler: protect(app.tokengate) }, async (req) => {
    const auth: AuthResult | undefined = req.auth;
    // @ts-expect-error request.auth is an AuthResult, not any.
    void auth?.notAField;
    return { sub: auth?.subject ?? null };
  });
  const typo = Fastify();
  // @ts-expect-error the plugin's options are checked: "gaurd" is not one of them.
  typo.register(tokengate, { gaurd: guard });
  await expect(typo.ready()).rejects.toThrow(TypeError);
  const instanceGuard: Guard = app.tokengate;
  expect(instanceGuard).toBe(guard);
  await request(fastifyServed(app)).get('/').expect(401);
});
