import express, { type ErrorRequestHandler } from 'express';
import request from 'supertest';
import { AuthError, createGuard } from 'tokengate';
import { protect } from 'tokengate/express';
import { mockOkta, type MockOkta } from 'tokengate/testing';

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
  await request(app).get('/me').expect(401).expect('WWW-Authenticate', 'Bearer realm="api"');
  const token = okta.token({ scp: ['openid', 'orders:read'] });
  await request(app)
    .get('/me')
    .set('Authorization', `Bearer ${token}`)
    .expect(200, { sub: 'alice@example.com', uid: '00u1a2b3c4d5e6f7g8h9', scopes: ['openid', 'orders:read'] });
  await request(app).get('/other').set('Authorization', `Bearer ${token}`).expect(200, { client: okta.clientId });
  expect(okta.calls.jwks).toBe(1);
});

test("errors reach the app's own error handler as AuthErrors with code, status and headers", async () => {
  const guard = createGuard({ issuer: okta.issuer, audience: okta.audience });
  const app = express();
  let reachedHandler = false;
  app.get('/orders', protect(guard, { scopes: ['orders:read'] }), (_req, res) => {
    reachedHandler = true;
    res.end();
  });
  const onError: ErrorRequestHandler = (err, _req, res, _next) => {
    expect(err).toBeInstanceOf(AuthError);
    res.status(err.status).set(err.headers).json({ error: err.error, code: err.code, message: err.message });
  };
  app.use(onError);

  const res = await request(app).get('/orders').set('Authorization', `Bearer ${okta.token()}`);
  expect(res.status).toBe(403);
  expect(res.body).toEqual({ error: 'insufficient_scope', code: 'ERR_INSUFFICIENT_SCOPE', message: 'The token lacks the scope orders:read' });
  expect(res.headers['www-authenticate']).toBe(
    'Bearer realm="api", error="insufficient_scope", error_description="The token lacks the scope orders:read", scope="orders:read"',
  );
  expect(reachedHandler).toBe(false);
  await guard.close();
});

test("Express's default handler renders the status and challenge of a 503", async () => {
  okta.fail('jwks', 503);
  const app = express().use(protect({ issuer: okta.issuer, audience: okta.audience, keySet: { retryAfter: 12 } }));
  app.get('/', (_req, res) => res.end());
  const res = await request(app).get('/').set('Authorization', `Bearer ${okta.token()}`);
  expect(res.status).toBe(503);
  expect(res.headers['retry-after']).toBe('12');
});
