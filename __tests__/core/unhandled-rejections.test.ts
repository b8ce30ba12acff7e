import express from 'express';
import nock from 'nock';
import request from 'supertest';
import { createGuard, type Guard, type GuardOptions } from 'tokengate';
import * as ex from 'tokengate/express';
import { mockOkta, type MockOkta } from 'tokengate/testing';
import { ADAPTERS, fakeClock, settled } from '../helpers';

let clock: ReturnType<typeof fakeClock>;
let okta: MockOkta;
let guard: Guard;

beforeEach(() => {
  clock = fakeClock();
  okta = mockOkta({ clock: () => clock.now() });
});
afterEach(async () => {
  await guard?.close();
  okta.close();
  nock.cleanAll();
});

function makeGuard(extra: Partial<GuardOptions> = {}): Guard {
  guard = createGuard({ issuer: okta.issuer, audience: okta.audience, clock: () => clock.now(), ...extra });
  return guard;
}

describe.each(ADAPTERS)('%s: nothing a client sends can leave a rejection unhandled', (_name, makeApp) => {
  test('a token without a session claim on a route that introspects too, while introspection fails', async () => {
    makeGuard({ introspection: { client: { clientId: okta.clientId, clientSecret: okta.clientSecret }, timeout: 0.2 }, sessions: { apiToken: okta.apiToken } });
    const app = makeApp(guard, { '/both': { introspect: true, session: 'strict' } });
    okta.fail('introspect', 'down');
    await settled(async () => {
      const res = await request(app).get('/both').set('Authorization', `Bearer ${okta.token()}`);
      expect(res.status).toBe(401);
      expect(res.body.code).toBe('ERR_SESSION_CLAIM_MISSING');
    });
  });

  test('an async onEvent listener that rejects', async () => {
    makeGuard({ onEvent: async () => Promise.reject(new Error('log sink is down')) });
    const app = makeApp(guard);
    await settled(async () => {
      await request(app).get('/api/hello').set('Authorization', `Bearer ${okta.token()}`).expect(200);
      okta.fail('jwks', 'down');
      clock.advance(3600);
      await request(app).get('/api/hello').set('Authorization', `Bearer ${okta.token({}, { header: { kid: 'new' } })}`);
    });
  });
});

test('Express: a ready-made route whose request was already answered (a timeout middleware) does not crash', async () => {
  makeGuard({ client: { clientId: okta.clientId, clientSecret: okta.clientSecret } });
  okta.latency('revoke', 150);
  const app = express();
  app.use((_req, res, next) => {
    setTimeout(() => {
      if (!res.headersSent) res.status(503).json({ error: 'timeout' });
    }, 30);
    next();
  });
  app.post('/logout', express.json(), ex.logout(guard));
  await settled(async () => {
    const res = await request(app).post('/logout').set('Authorization', `Bearer ${okta.token()}`).send({ refresh_token: 'r' });
    expect(res.status).toBe(503);
    await new Promise((resolve) => setTimeout(resolve, 400));
  });
});
