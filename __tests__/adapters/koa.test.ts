import Koa from 'koa';
import request from 'supertest';
import { AuthError, createGuard } from 'tokengate';
import { protect } from 'tokengate/koa';
import { mockOkta, type MockOkta } from 'tokengate/testing';
import { expectMalformedAnswer } from '../helpers';

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
  await request(app.callback()).get('/').expect(401).expect('WWW-Authenticate', 'Bearer realm="api", DPoP algs="ES256 ES384 PS256 RS256 EdDSA"');
  await request(app.callback()).get('/').set('Authorization', `Bearer ${okta.token()}`).expect(200, { sub: 'alice@example.com', scopes: ['openid', 'profile'] });
});

test("with errors: 'throw', Koa's default handler sends the message of a 401 and hides that of a 503", async () => {
  const app = new Koa();
  app.silent = true;
  app.use(protect({ issuer: okta.issuer, audience: okta.audience, keySet: { retryAfter: 9 } }, undefined, { errors: 'throw' }));
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
  down.use(protect({ issuer: fresh.issuer, audience: fresh.audience, keySet: { retryAfter: 9 } }, undefined, { errors: 'throw' }));
  const res = await request(down.callback()).get('/').set('Authorization', `Bearer ${fresh.token()}`);
  expect(res.status).toBe(503);
  expect(res.text).toBe('Service Unavailable');
  expect(res.headers['retry-after']).toBe('9');
  fresh.close();
});

test("with errors: 'throw', rejections reach an error middleware as AuthErrors; downstream never runs", async () => {
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
  app.use(protect(guard, { claims: { tenant: 'acme' } }, { errors: 'throw' }));
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

test('by default a rejection is answered at once: status, challenge, JSON body, earlier headers kept', async () => {
  const app = new Koa();
  app.silent = true;
  let reached = 0;
  let thrown = 0;
  app.use(async (ctx, next) => {
    ctx.set('Access-Control-Allow-Origin', 'https://app.example.com');
    try {
      await next();
    } catch (error) {
      thrown++;
      throw error;
    }
  });
  app.use(protect({ issuer: okta.issuer, audience: okta.audience }));
  app.use((ctx) => {
    reached++;
    ctx.body = 'secret';
  });

  const res = await request(app.callback()).get('/').set('Authorization', 'Bearer not-a-jwt');
  expectMalformedAnswer(res, { 'access-control-allow-origin': 'https://app.example.com' });

  const expired = await request(app.callback()).get('/').set('Authorization', `Bearer ${okta.token({}, { expiresIn: -300 })}`);
  expect(expired.status).toBe(401);
  expect(expired.body.code).toBe('ERR_TOKEN_EXPIRED');

  const head = await request(app.callback()).head('/').set('Authorization', 'Bearer not-a-jwt');
  expect(head.status).toBe(401);
  expect(head.text).toBeUndefined();
  expect(reached).toBe(0);
  expect(thrown).toBe(0);
});

test('by default a 503 is answered with Retry-After, no challenge, and the upstream detail kept out of the body', async () => {
  okta.fail('jwks', 'garbage');
  const app = new Koa();
  app.silent = true;
  app.use(protect({ issuer: okta.issuer, audience: okta.audience, keySet: { retryAfter: 7 } }));
  const res = await request(app.callback()).get('/').set('Authorization', `Bearer ${okta.token()}`);
  expect(res.status).toBe(503);
  expect(res.headers['retry-after']).toBe('7');
  expect(res.headers['www-authenticate']).toBeUndefined();
  expect(res.body).toEqual({ code: 'ERR_KEYS_UNAVAILABLE' });
});

test('errors that are not rejections (a hook that throws) are thrown even when answering', async () => {
  const app = new Koa();
  app.silent = true;
  app.use(async (ctx, next) => {
    try {
      await next();
    } catch (error) {
      ctx.status = 500;
      ctx.body = { caught: (error as Error).message };
    }
  });
  app.use(
    protect({ issuer: okta.issuer, audience: okta.audience, client: { clientId: 'c', clientSecret: 's' } }, undefined, {
      getRefreshToken: () => {
        throw new Error('refresh store down');
      },
    }),
  );
  const res = await request(app.callback()).get('/').set('Authorization', `Bearer ${okta.token({}, { expiresIn: -300 })}`);
  expect(res.status).toBe(500);
  expect(res.body).toEqual({ caught: 'refresh store down' });
});

test('a mistake in the third argument throws at mount', () => {
  const options = { issuer: okta.issuer, audience: okta.audience };
  expect(() => protect(options, undefined, { errors: 'next' } as never)).toThrow('option "errors" must be "respond" or "throw"');
  expect(() => protect(options, undefined, { errors: 'respond', onToken: () => undefined } as never)).toThrow('protect() has no option "onToken"');
});
