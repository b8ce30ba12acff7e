import express from 'express';
import nock from 'nock';
import request from 'supertest';
import { protect } from 'tokengate/express';
import { mockOkta } from 'tokengate/testing';

nock.disableNetConnect();
nock.enableNetConnect('127.0.0.1');

const okta = mockOkta();
afterAll(() => okta.close());

const app = express();
app.get('/orders', protect({ issuer: okta.issuer, audience: okta.audience }, { scopes: ['orders:read'] }), (req, res) => {
  res.json({ user: req.auth!.subject });
});

test('a token with the scope gets in', async () => {
  const token = okta.token({ scp: ['orders:read'], sub: 'bob@example.com' });
  await request(app).get('/orders').set('Authorization', `Bearer ${token}`).expect(200, { user: 'bob@example.com' });
});

test('a token without it is refused with the RFC 6750 challenge', async () => {
  const res = await request(app).get('/orders').set('Authorization', `Bearer ${okta.token()}`);
  expect(res.status).toBe(403);
  expect(res.headers['www-authenticate']).toMatch(/error="insufficient_scope".*scope="orders:read"/);
});

test('an expired token is refused', async () => {
  const token = okta.token({ scp: ['orders:read'] }, { expiresIn: -60 });
  const res = await request(app).get('/orders').set('Authorization', `Bearer ${token}`);
  expect(res.status).toBe(401);
  expect(res.headers['www-authenticate']).toMatch(/error="invalid_token"/);
});

test('Okta being down is a 503, not a 401', async () => {
  const down = mockOkta();
  down.fail('jwks', 'down');
  const app = express().use(protect({ issuer: down.issuer, audience: down.audience }));
  await request(app).get('/').set('Authorization', `Bearer ${down.token()}`).expect(503);
  down.close();
});
