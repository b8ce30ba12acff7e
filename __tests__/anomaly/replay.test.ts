import request from 'supertest';
import { createGuard, type Guard, type GuardOptions, type TokengateEvent } from 'tokengate';
import { mockOkta, type MockOkta } from 'tokengate/testing';
import { ADAPTERS, fakeClock, type Served } from '../helpers';

const ROUTES = {
  '/report': undefined,
  '/refuse': { onAnomaly: 'refuse' as const },
};
const CHALLENGE = /^Bearer realm="api", error="invalid_token", error_description="The token was presented by more than 2 different clients within 60 s and may have been copied; sign in again", DPoP algs="[^"]+"$/;

describe.each(ADAPTERS)('%s: one token presented by too many clients', (_name, makeApp) => {
  let clock: ReturnType<typeof fakeClock>;
  let okta: MockOkta;
  let guard: Guard;
  let app: Served;
  let events: TokengateEvent[];

  function setup(anomaly: GuardOptions['anomaly']): void {
    guard = createGuard({ issuer: okta.issuer, audience: okta.audience, clock: () => clock.now(), onEvent: (e) => events.push(e), anomaly });
    app = makeApp(guard, ROUTES);
  }
  const call = (path: string, token: string, from?: string, agent = 'test-agent') => {
    const pending = request(app).get(path).set('Authorization', `Bearer ${token}`).set('User-Agent', agent);
    return from === undefined ? pending : pending.set('X-Forwarded-For', from);
  };
  const anomalies = () => events.filter((e) => e.type === 'token.anomaly');

  beforeEach(() => {
    clock = fakeClock();
    events = [];
    okta = mockOkta({ clock: () => clock.now() });
  });
  afterEach(async () => {
    await guard.close();
    okta.close();
  });

  test('a third address within the window is reported once, and the request goes through', async () => {
    setup({ maxClients: 2, window: 60, trustProxy: 1 });
    const token = okta.token({ sub: 'carol@example.com', jti: 'AT.carol-1' });
    await call('/report', token, '203.0.113.1').expect(200);
    await call('/report', token, '10.0.0.1, 203.0.113.2').expect(200);
    await call('/report', token, '203.0.113.1').expect(200);
    expect(anomalies()).toEqual([]);
    await call('/report', token, '203.0.113.3').expect(200);
    await call('/report', token, '203.0.113.4').expect(200);
    expect(anomalies()).toEqual([
      { type: 'token.anomaly', by: 'address', clients: 3, window: 60, action: 'reported', client: '203.0.113.3', subject: 'carol@example.com', jti: 'AT.carol-1' },
    ]);
    expect(guard.stats().anomaly).toEqual({ detected: 1, evicted: 0 });
  });

  test("an onAnomaly 'refuse' route answers 401 ERR_TOKEN_ANOMALY with the RFC 6750 challenge while the token stays past the limit", async () => {
    setup({ maxClients: 2, window: 60, trustProxy: 1 });
    const token = okta.token();
    await call('/refuse', token, '203.0.113.1').expect(200);
    await call('/refuse', token, '203.0.113.2').expect(200);
    const refused = await call('/refuse', token, '203.0.113.3');
    expect(refused.status).toBe(401);
    expect(refused.headers['www-authenticate']).toMatch(CHALLENGE);
    expect(refused.body).toMatchObject({ error: 'invalid_token', code: 'ERR_TOKEN_ANOMALY' });
    // The first client too: nothing tells which of them holds a copy.
    await call('/refuse', token, '203.0.113.1').expect(401);
    expect(anomalies()).toMatchObject([{ action: 'refused', client: '203.0.113.3' }]);
    // Another token is not affected; the flagged one is let through on a reporting route.
    await call('/refuse', okta.token(), '203.0.113.3').expect(200);
    await call('/report', token, '203.0.113.1').expect(200);
    // The window slides: 61 s later only the address still in use counts.
    clock.advance(61);
    await call('/refuse', token, '203.0.113.1').expect(200);
    expect(guard.stats().decisions.refused).toEqual({ ERR_TOKEN_ANOMALY: 2 });
  });

  test('by default the socket address counts, and X-Forwarded-For (which any client can set) is not read', async () => {
    setup({ maxClients: 1 });
    const token = okta.token();
    for (const from of ['203.0.113.1', '203.0.113.2', '203.0.113.3']) await call('/refuse', token, from).expect(200);
    expect(anomalies()).toEqual([]);
  });

  test("by: 'userAgent' tells clients apart by their User-Agent", async () => {
    setup({ maxClients: 1, window: 30, by: 'userAgent' });
    const token = okta.token();
    await call('/refuse', token, undefined, 'app/1.0 (iPhone)').expect(200);
    await call('/refuse', token, undefined, 'app/1.0 (iPhone)').expect(200);
    const refused = await call('/refuse', token, undefined, 'curl/8.5.0');
    expect(refused.status).toBe(401);
    expect(refused.body.code).toBe('ERR_TOKEN_ANOMALY');
    expect(anomalies()).toMatchObject([{ by: 'userAgent', clients: 2, window: 30, client: 'curl/8.5.0' }]);
  });

  test('a clientAddress function of your own decides, and a request it cannot place is not counted', async () => {
    setup({ maxClients: 1, clientAddress: (req) => (req.headers['x-client'] as string | undefined) });
    const token = okta.token();
    await request(app).get('/refuse').set('Authorization', `Bearer ${token}`).set('X-Client', 'a').expect(200);
    await request(app).get('/refuse').set('Authorization', `Bearer ${token}`).expect(200);
    await request(app).get('/refuse').set('Authorization', `Bearer ${token}`).set('X-Client', 'b').expect(401);
  });
});

describe('the anomaly option and policy field', () => {
  let okta: MockOkta;
  beforeEach(() => {
    okta = mockOkta();
  });
  afterEach(() => okta.close());

  test("onAnomaly 'refuse' on a guard without the anomaly option throws when the route is mounted", () => {
    const guard = createGuard({ issuer: okta.issuer, audience: okta.audience });
    expect(() => ADAPTERS[0][1](guard, { '/x': { onAnomaly: 'refuse' } })).toThrow(/onAnomaly "refuse" but the guard has no "anomaly" option/);
    expect(() => guard.compile({ onAnomaly: 'block' as never })).toThrow(/policy "onAnomaly" must be "report" or "refuse"/);
  });

  test.each([
    [{ maxClients: 0 }, /anomaly\.maxClients" must be a whole number of at least 1/],
    [{ maxClients: 33 }, /anomaly\.maxClients" must be at most 32/],
    [{ window: 0.5 }, /anomaly\.window" must be a number of seconds from 1 to 86400/],
    [{ by: 'ip' }, /anomaly\.by" must be "address" or "userAgent"/],
    [{ trustProxy: 1, clientAddress: () => 'x' }, /exclude each other/],
    [{ by: 'userAgent', trustProxy: 1 }, /reads no address/],
    [{ clientAddres: () => 'x' }, /unknown option "anomaly\.clientAddres"; did you mean "anomaly\.clientAddress"/],
  ])('%j is a TypeError naming the option', (anomaly, message) => {
    expect(() => createGuard({ issuer: okta.issuer, audience: okta.audience, anomaly: anomaly as never })).toThrow(message);
  });

  test('verifyToken() has no request, so it is not counted; a token refused before its signature never enters the table', async () => {
    const events: TokengateEvent[] = [];
    const guard = createGuard({ issuer: okta.issuer, audience: okta.audience, anomaly: { maxClients: 1, trustProxy: 1 }, onEvent: (e) => events.push(e) });
    const token = okta.token();
    for (let i = 0; i < 3; i++) await guard.verifyToken(token, { onAnomaly: 'refuse' });
    const forged = `${token.slice(0, token.lastIndexOf('.'))}.${'A'.repeat(342)}`;
    for (const from of ['203.0.113.1', '203.0.113.2']) {
      await expect(guard.verify({ headers: { authorization: `Bearer ${forged}`, 'x-forwarded-for': from }, socket: { remoteAddress: '10.0.0.1' } })).rejects.toMatchObject({ code: 'ERR_SIGNATURE_INVALID' });
    }
    await guard.verify({ headers: { authorization: `Bearer ${token}`, 'x-forwarded-for': '203.0.113.1' }, socket: { remoteAddress: '10.0.0.1' } });
    expect(events.filter((e) => e.type === 'token.anomaly')).toEqual([]);
    await guard.close();
  });
});
