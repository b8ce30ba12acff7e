import express, { type ErrorRequestHandler } from 'express';
import request from 'supertest';
import { AuthError, createGuard } from 'tokengate';
import { protect } from 'tokengate/express';
import { mockOkta, type MockOkta } from 'tokengate/testing';
import { expectMalformedAnswer } from '../helpers';

let okta: MockOkta;
beforeEach(() => {
  okta = mockOkta();
});
afterEach(() => okta.close());

test('one line protects every route behind it and sets req.auth', async () => {
  const app = express();
  app.get('/health', (_req, res) => res.send('ok'));
  app.use(protect({ issuer: okta.issuer, audience: okta.audience }));
  app.get('/me', (req, res) => res.json({ sub: req.auth?.subject, uid: req.auth?.claims.uid, scopes: req.auth?.scopes }));
  app.get('/other', (req, res) => res.json({ client: req.auth?.clientId }));

  await request(app).get('/health').expect(200, 'ok');
  await request(app).get('/me').expect(401).expect('WWW-Authenticate', 'Bearer realm="api", DPoP algs="ES256 ES384 PS256 RS256 EdDSA"');
  const token = okta.token({ scp: ['openid', 'orders:read'] });
  await request(app)
    .get('/me')
    .set('Authorization', `Bearer ${token}`)
    .expect(200, { sub: 'alice@example.com', uid: '00u1a2b3c4d5e6f7g8h9', scopes: ['openid', 'orders:read'] });
  await request(app).get('/other').set('Authorization', `Bearer ${token}`).expect(200, { client: okta.clientId });
  expect(okta.calls.jwks).toBe(1);
});

test("with errors: 'next', rejections reach the app's own error handler as AuthErrors", async () => {
  const guard = createGuard({ issuer: okta.issuer, audience: okta.audience });
  const app = express();
  let reachedHandler = false;
  let reachedErrorHandler = false;
  app.get('/orders', protect(guard, { scopes: ['orders:read'] }, { errors: 'next' }), (_req, res) => {
    reachedHandler = true;
    res.end();
  });
  const onError: ErrorRequestHandler = (err, _req, res, _next) => {
    reachedErrorHandler = err instanceof AuthError;
    res.status(err.status).set(err.headers).json({ mine: true, code: err.code, message: err.message });
  };
  app.use(onError);

  const res = await request(app).get('/orders').set('Authorization', `Bearer ${okta.token()}`);
  expect(res.status).toBe(403);
  expect(res.body).toEqual({ mine: true, code: 'ERR_INSUFFICIENT_SCOPE', message: 'The token lacks the scope orders:read' });
  expect(res.headers['www-authenticate']).toBe(
    'Bearer realm="api", error="insufficient_scope", error_description="The token lacks the scope orders:read", scope="orders:read", DPoP algs="ES256 ES384 PS256 RS256 EdDSA"',
  );
  expect(reachedErrorHandler).toBe(true);
  expect(reachedHandler).toBe(false);
  await guard.close();
});

test('by default a rejection is answered at once: status, challenge, JSON body, earlier headers kept', async () => {
  const app = express();
  let reached = 0;
  let reachedErrorHandler = 0;
  app.use((_req, res, next) => {
    res.setHeader('Access-Control-Allow-Origin', 'https://app.example.com');
    next();
  });
  app.use(protect({ issuer: okta.issuer, audience: okta.audience }));
  app.all('/orders', (_req, res) => {
    reached++;
    res.end();
  });
  const onError: ErrorRequestHandler = (_err, _req, res, _next) => {
    reachedErrorHandler++;
    res.status(500).end();
  };
  app.use(onError);

  const res = await request(app).get('/orders').set('Authorization', 'Bearer not-a-jwt');
  expectMalformedAnswer(res, { 'access-control-allow-origin': 'https://app.example.com' });

  const missing = await request(app).get('/orders');
  expect(missing.status).toBe(401);
  expect(missing.headers['www-authenticate']).toBe('Bearer realm="api", DPoP algs="ES256 ES384 PS256 RS256 EdDSA"');
  expect(missing.body).toEqual({ code: 'ERR_TOKEN_MISSING', error_description: 'No bearer token: send "Authorization: Bearer <token>"' });

  const head = await request(app).head('/orders').set('Authorization', 'Bearer not-a-jwt');
  expect(head.status).toBe(401);
  expect(head.text).toBeUndefined();

  const bad = await request(app).get('/orders').set('Authorization', 'Bearer a b');
  expect(bad.status).toBe(400);
  expect(bad.body.error).toBe('invalid_request');
  expect(reached).toBe(0);
  expect(reachedErrorHandler).toBe(0);
});

test('by default a 503 is answered with Retry-After, no challenge, and the upstream detail kept out of the body', async () => {
  okta.fail('jwks', 'garbage');
  const app = express().use(protect({ issuer: okta.issuer, audience: okta.audience, keySet: { retryAfter: 7 } }));
  app.get('/', (_req, res) => res.end());
  const res = await request(app).get('/').set('Authorization', `Bearer ${okta.token()}`);
  expect(res.status).toBe(503);
  expect(res.headers['retry-after']).toBe('7');
  expect(res.headers['www-authenticate']).toBeUndefined();
  expect(res.body).toEqual({ code: 'ERR_KEYS_UNAVAILABLE' });
});

test('errors that are not rejections (a hook that throws) go to next(err) even when answering', async () => {
  const app = express();
  app.use(
    protect({ issuer: okta.issuer, audience: okta.audience, client: { clientId: 'c', clientSecret: 's' } }, undefined, {
      getRefreshToken: () => {
        throw new Error('refresh store down');
      },
    }),
  );
  app.get('/', (_req, res) => res.end());
  const onError: ErrorRequestHandler = (err, _req, res, _next) => {
    res.status(500).json({ caught: (err as Error).message });
  };
  app.use(onError);
  const res = await request(app).get('/').set('Authorization', `Bearer ${okta.token({}, { expiresIn: -300 })}`);
  expect(res.status).toBe(500);
  expect(res.body).toEqual({ caught: 'refresh store down' });
});

test('a mistake in the third argument throws at mount', () => {
  const options = { issuer: okta.issuer, audience: okta.audience };
  expect(() => protect(options, undefined, { errors: 'throw' } as never)).toThrow('option "errors" must be "respond" or "next"');
  expect(() => protect(options, undefined, { onToken: () => undefined } as never)).toThrow('protect() has no option "onToken"');
  expect(() => protect(options, undefined, { getRefreshToken: 'rt' } as never)).toThrow('option "getRefreshToken" must be a function');
  expect(() => protect(options, undefined, 'respond' as never)).toThrow('the third argument of protect() must be an object');
});

test("with errors: 'next', Express's default handler renders the status and challenge of a 503", async () => {
  okta.fail('jwks', 503);
  const app = express().use(protect({ issuer: okta.issuer, audience: okta.audience, keySet: { retryAfter: 12 } }, undefined, { errors: 'next' }));
  app.get('/', (_req, res) => res.end());
  const res = await request(app).get('/').set('Authorization', `Bearer ${okta.token()}`);
  expect(res.status).toBe(503);
  expect(res.headers['retry-after']).toBe('12');
});

test('a guard without the synchronous path (a wrapper) still works: every request takes handle()', async () => {
  const guard = createGuard({ issuer: okta.issuer, audience: okta.audience });
  const wrapper = { verify: guard.verify.bind(guard), compile: guard.compile.bind(guard), handle: guard.handle.bind(guard) } as unknown as typeof guard;
  const app = express().use(protect(wrapper));
  app.get('/', (req, res) => res.json({ sub: req.auth?.subject }));
  await request(app).get('/').set('Authorization', `Bearer ${okta.token()}`).expect(200, { sub: 'alice@example.com' });
  await request(app).get('/').set('Authorization', 'Bearer not-a-jwt').expect(401);
  await guard.close();
});

test('req.auth belongs to its own request: later middleware sees it, also outside a mounted app; other requests never do', async () => {
  const guard = createGuard({ issuer: okta.issuer, audience: okta.audience });
  const api = express();
  api.get('/orders', protect(guard), (_req, _res, next) => next());
  const app = express();
  app.use('/api', api);
  // Reached after the mounted app has handed the request back (Express restores the parent's prototype).
  app.use((req, res) => res.json({ sub: req.auth?.subject ?? null }));
  const server = app.listen(0, '127.0.0.1');
  try {
    const alice = okta.token();
    const bob = okta.token({ sub: 'bob@example.com' });
    await request(server).get('/api/orders').set('Authorization', `Bearer ${alice}`).expect(200, { sub: 'alice@example.com' });
    await request(server).get('/elsewhere').set('Authorization', `Bearer ${alice}`).expect(200, { sub: null });
    await request(server).get('/api/orders').set('Authorization', `Bearer ${bob}`).expect(200, { sub: 'bob@example.com' });
    await request(server).get('/api/orders').set('Authorization', `Bearer ${alice}`).expect(200, { sub: 'alice@example.com' });
    await request(server).get('/api/orders').expect(401);
    await request(server).get('/elsewhere').expect(200, { sub: null });
  } finally {
    server.close();
    await guard.close();
  }
});
