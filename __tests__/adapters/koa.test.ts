import Koa from 'koa';
import request from 'supertest';
import { AuthError, createGuard } from 'tokengate';
import { protect } from 'tokengate/koa';
import { mockOkta, type MockOkta } from 'tokengate/testing';

let okta: MockOkta;
beforeEach(() => {
  okta = mockOkta();
});
afterEach(() => okta.close());

test('one line protects the app and sets ctx.state.auth', async () => {
  const app = new Koa();
  app.use(protect({ issuer: okta.issuer, audience: okta.audience }));
  app.use((ctx) => {
    ctx.body = { sub: ctx.state.auth?.subject, scopes: ctx.state.auth?.scopes };
  });
  await request(app.callback()).get('/').expect(401).expect('WWW-Authenticate', 'Bearer realm="api"');
  await request(app.callback()).get('/').set('Authorization', `Bearer ${okta.token()}`).expect(200, { sub: 'alice@example.com', scopes: ['openid', 'profile'] });
});

test("Koa's default handler sends the message of a 401 and hides that of a 503", async () => {
  const app = new Koa();
  app.silent = true;
  app.use(protect({ issuer: okta.issuer, audience: okta.audience, keySet: { retryAfter: 9 } }));
  app.use((ctx) => {
    ctx.body = 'secret';
  });
  const expired = await request(app.callback()).get('/').set('Authorization', `Bearer ${okta.token({}, { expiresIn: -300 })}`);
  expect(expired.status).toBe(401);
  expect(expired.text).toMatch(/^The token expired \d+ seconds ago$/);
  expect(expired.headers['www-authenticate']).toMatch(/^Bearer realm="api", error="invalid_token"/);

  const fresh = mockOkta();
  fresh.fail('jwks', 'garbage');
  const down = new Koa();
  down.silent = true;
  down.use(protect({ issuer: fresh.issuer, audience: fresh.audience, keySet: { retryAfter: 9 } }));
  const res = await request(down.callback()).get('/').set('Authorization', `Bearer ${fresh.token()}`);
  expect(res.status).toBe(503);
  expect(res.text).toBe('Service Unavailable');
  expect(res.headers['retry-after']).toBe('9');
  fresh.close();
});

test('errors reach an error middleware as AuthErrors; downstream never runs', async () => {
  const guard = createGuard({ issuer: okta.issuer, audience: okta.audience });
  const app = new Koa();
  let reached = false;
  app.use(async (ctx, next) => {
    try {
      await next();
    } catch (err) {
      expect(err).toBeInstanceOf(AuthError);
      const e = err as AuthError;
      ctx.status = e.status;
      ctx.set(e.headers);
      ctx.body = { code: e.code };
    }
  });
  app.use(protect(guard, { claims: { tenant: 'acme' } }));
  app.use(() => {
    reached = true;
  });
  const res = await request(app.callback()).get('/').set('Authorization', `Bearer ${okta.token({ tenant: 'other' })}`);
  expect(res.status).toBe(403);
  expect(res.body).toEqual({ code: 'ERR_CLAIM_CHECK_FAILED' });
  expect(res.headers['www-authenticate']).toMatch(/error="insufficient_scope"/);
  expect(reached).toBe(false);
  await request(app.callback()).get('/').set('Authorization', `Bearer ${okta.token({ tenant: 'acme' })}`).expect(404);
  expect(reached).toBe(true);
  await guard.close();
});
