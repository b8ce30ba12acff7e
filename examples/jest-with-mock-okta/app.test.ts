import nock from 'nock';
import request from 'supertest';
import { mockOkta } from 'tokengate/testing';
import { createApp } from './app';

// Okta is mocked by nock: no test reaches the network; supertest's server is on 127.0.0.1.
nock.disableNetConnect();
nock.enableNetConnect('127.0.0.1');

const okta = mockOkta();
afterAll(() => okta.close());

const app = createApp({ issuer: okta.issuer, audience: okta.audience });

test('a token with orders:read gets the orders', async () => {
  const token = okta.token({ scp: ['orders:read'], sub: 'bob@example.com' });
  await request(app).get('/orders').set('Authorization', `Bearer ${token}`).expect(200, { user: 'bob@example.com', orders: [] });
});

test('no token is a 401 with a bare Bearer challenge', async () => {
  const res = await request(app).get('/orders');
  expect(res.status).toBe(401);
  expect(res.headers['www-authenticate']).toBe('Bearer realm="api", DPoP algs="ES256 ES384 PS256 RS256 EdDSA"');
});

test('a token without the scope is a 403 insufficient_scope', async () => {
  const res = await request(app).get('/orders').set('Authorization', `Bearer ${okta.token()}`);
  expect(res.status).toBe(403);
  expect(res.headers['www-authenticate']).toMatch(/error="insufficient_scope".*scope="orders:read"/);
});

test('an expired token, or one for another API, is a 401 invalid_token', async () => {
  for (const token of [okta.token({ scp: ['orders:read'] }, { expiresIn: -60 }), okta.token({ scp: ['orders:read'], aud: 'api://billing' })]) {
    const res = await request(app).get('/orders').set('Authorization', `Bearer ${token}`);
    expect(res.status).toBe(401);
    expect(res.headers['www-authenticate']).toMatch(/error="invalid_token"/);
  }
});

test('a token signed with a key Okta does not publish is refused', async () => {
  const forged = okta.token({ scp: ['orders:read'] }, { unpublishedKey: true });
  await request(app).get('/orders').set('Authorization', `Bearer ${forged}`).expect(401);
});

test('Okta being down is a 503 with Retry-After, not a 401', async () => {
  const down = mockOkta();
  down.fail('jwks', 'down');
  const res = await request(createApp({ issuer: down.issuer, audience: down.audience })).get('/orders').set('Authorization', `Bearer ${down.token()}`);
  expect(res.status).toBe(503);
  expect(res.headers['retry-after']).toBeDefined();
  down.close();
});
