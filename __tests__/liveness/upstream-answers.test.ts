import nock from 'nock';
import request from 'supertest';
import { createGuard, createHttpClient, type Guard, type GuardOptions, type HttpClient, type HttpRequest, type TokengateEvent } from 'tokengate';
import { mockOkta, type MockOkta } from 'tokengate/testing';
import { ADAPTERS, fakeClock } from '../helpers';

let clock: ReturnType<typeof fakeClock>;
let okta: MockOkta;
let guard: Guard;
let events: TokengateEvent[];
const ENDPOINT = 'https://introspect.example.com/v1/introspect';

beforeEach(() => {
  clock = fakeClock();
  events = [];
  okta = mockOkta({ clock: () => clock.now() });
});
afterEach(async () => {
  await guard?.close();
  okta.close();
  nock.cleanAll();
});

function makeGuard(extra: Partial<GuardOptions> = {}): Guard {
  guard = createGuard({ issuer: okta.issuer, audience: okta.audience, clock: () => clock.now(), onEvent: (e) => events.push(e), ...extra });
  return guard;
}

/** The default client, recording every request the guard sends. */
function recordingClient(): { client: HttpClient; sent: HttpRequest[] } {
  const sent: HttpRequest[] = [];
  const inner = createHttpClient();
  return { client: { request: (req) => (sent.push(req), inner.request(req)) }, sent };
}

const introspection = (extra: Record<string, unknown> = {}) => ({ client: { clientId: 'c', clientSecret: 's' }, endpoint: ENDPOINT, cacheTtl: 30, retryAfter: 0, ...extra });
const activeAnswer = (extra: Record<string, unknown> = {}) => ({
  active: true,
  iss: okta.issuer,
  aud: okta.audience,
  sub: 'bob@example.com',
  exp: Math.floor(clock.now() / 1000) + 600,
  ...extra,
});

describe('introspection-only (opaque) tokens must show they are access tokens for this API', () => {
  test.each([
    ['names a refresh token', { token_type: 'refresh_token' }],
    ['names an ID token', { token_type: 'id_token' }],
    ['has a token_type that is not a string', { token_type: 7 }],
    ['has no aud', { aud: undefined }],
    ['names another API', { aud: 'api://other' }],
  ])('an active answer that %s is refused with 401', async (_what, change) => {
    makeGuard({ introspection: introspection({ opaque: true }) });
    nock('https://introspect.example.com').post('/v1/introspect').reply(200, activeAnswer(change));
    await expect(guard.verifyToken('an-opaque-refresh-token-from-okta')).rejects.toMatchObject({ code: 'ERR_TOKEN_INACTIVE', status: 401 });
  });

  test.each([['Bearer'], ['DPoP'], ['access_token'], [undefined]])('an access token answer (token_type %s) naming this API is accepted', async (tokenType) => {
    makeGuard({ introspection: introspection({ opaque: true }) });
    nock('https://introspect.example.com').post('/v1/introspect').reply(200, activeAnswer({ token_type: tokenType }));
    await expect(guard.verifyToken('an-opaque-access-token')).resolves.toMatchObject({ subject: 'bob@example.com' });
  });
});

describe.each(ADAPTERS)('%s: an introspection answer without a boolean "active"', (_name, makeApp) => {
  test('is a 401 on every route, fail-open included, and is not cached', async () => {
    makeGuard({ introspection: introspection() });
    const app = makeApp(guard, { '/checked': { introspect: true }, '/open': { introspect: true, failMode: 'open' } });
    const scope = nock('https://introspect.example.com').post('/v1/introspect').times(2).reply(200, { active: 'true' });
    const token = okta.token();
    for (const path of ['/checked', '/open']) {
      const res = await request(app).get(path).set('Authorization', `Bearer ${token}`);
      expect(res.status).toBe(401);
      expect(res.body.code).toBe('ERR_TOKEN_INACTIVE');
      expect(res.headers['www-authenticate']).toMatch(/error="invalid_token", error_description="The token is refused: the introspection answer has no boolean "?active/);
    }
    expect(scope.isDone()).toBe(true);
    expect(events.some((e) => e.type === 'fail-open')).toBe(false);
    expect(events.filter((e) => e.type === 'upstream.error')).toHaveLength(2);
    // Fixed at the issuer: the next request asks again and passes.
    nock('https://introspect.example.com').post('/v1/introspect').reply(200, activeAnswer());
    await request(app).get('/checked').set('Authorization', `Bearer ${token}`).expect(200);
  });
});

describe('Okta rate limits', () => {
  test('an X-Rate-Limit-Reset far in the future pauses the Sessions API calls for at most 120 s', async () => {
    const org = 'https://rate-limited.okta.com';
    makeGuard({ sessions: { orgUrl: org, apiToken: 'ssws', retryAfter: 1 } });
    const session = okta.session();
    const token = okta.token({ sid: session.id });
    nock(org).get(`/api/v1/sessions/${session.id}`).reply(429, { errorCode: 'E0000047' }, { 'x-rate-limit-limit': '600', 'x-rate-limit-remaining': '0', 'x-rate-limit-reset': '95617584000' });
    await expect(guard.verifyToken(token, { session: 'strict' })).rejects.toMatchObject({ code: 'ERR_SESSIONS_UNAVAILABLE' });
    const paused = guard.stats().sessions!.pausedFor;
    expect(paused).toBeGreaterThan(100_000);
    expect(paused).toBeLessThanOrEqual(120_000);
    const refused = await guard.verifyToken(token, { session: 'strict' }).catch((e) => e);
    expect(refused.retryAfter).toBeLessThanOrEqual(120);
    clock.advance(121);
    expect(guard.stats().sessions!.pausedFor).toBe(0);
    nock(org).get(`/api/v1/sessions/${session.id}`).reply(200, { id: session.id, status: 'ACTIVE', expiresAt: new Date(clock.now() + 3_600_000).toISOString() });
    await expect(guard.verifyToken(token, { session: 'strict' })).resolves.toBeDefined();
  });
});

describe.each(ADAPTERS)('%s: session ids that could leave the Sessions API path', (_name, makeApp) => {
  test.each([['.'], ['..'], ['a/b'], ['%2e%2e'], ['x?y=1']])('a token whose sid is %j is refused on a strict route, and nothing is sent to Okta', async (sid) => {
    const { client, sent } = recordingClient();
    makeGuard({ http: client, sessions: { apiToken: okta.apiToken } });
    const app = makeApp(guard, { '/strict': { session: 'strict' } });
    const res = await request(app).get('/strict').set('Authorization', `Bearer ${okta.token({ sid })}`);
    expect(res.status).toBe(401);
    expect(res.body.code).toBe('ERR_SESSION_CLAIM_MISSING');
    expect(res.body.error_description).toMatch(/letters, digits/);
    expect(sent.filter((req) => req.url.includes('/api/v1/'))).toEqual([]);
  });
});

test('logout never sends DELETE /api/v1/ with the API token for a session id of ".."', async () => {
  const { client, sent } = recordingClient();
  makeGuard({ http: client, sessions: { apiToken: okta.apiToken } });
  for (const sessionId of ['..', '.']) {
    const result = await guard.logout({ sessionId, accessToken: okta.token({ sid: sessionId }) });
    expect(result.oktaSessionClosed).toBe('failed');
  }
  expect(sent.filter((req) => req.url.includes('/api/v1/'))).toEqual([]);
});

describe('key rotation right after a fetch', () => {
  test('a key published just after the first fetch is found at once: the first unknown kid refetches despite the cooldown', async () => {
    makeGuard({ keySet: { cooldown: 30 } });
    await guard.ready();
    expect(okta.calls.jwks).toBe(1);
    okta.rotateKeys();
    await expect(guard.verifyToken(okta.token())).resolves.toBeDefined();
    expect(okta.calls.jwks).toBe(2);
    // The cooldown still paces refetches that unknown kids cause.
    const forged = () => okta.token({}, { header: { kid: 'never-published' } });
    await expect(guard.verifyToken(forged())).rejects.toMatchObject({ code: 'ERR_KEY_UNKNOWN' });
    await expect(guard.verifyToken(forged())).rejects.toMatchObject({ code: 'ERR_KEY_UNKNOWN' });
    expect(okta.calls.jwks).toBe(2);
  });
});

describe('tokens accepted on introspection alone pass the guard’s own claim rules', () => {
  test.each([
    ['another client than clientIds allows', { clientIds: ['0oaOnlyThisOne'] }, { client_id: '0oaSomeoneElse' }, 'ERR_CLIENT_NOT_ALLOWED'],
    ['no claim that requiredClaims names', { requiredClaims: ['tenant'] }, {}, 'ERR_CLAIM_INVALID'],
    ['an iat older than maxTokenAge', { maxTokenAge: 60 }, { iat: Math.floor(Date.UTC(2026, 10, 23, 12) / 1000) - 3000 }, 'ERR_TOKEN_TOO_OLD'],
    ['an nbf in the future', {}, { nbf: Math.floor(Date.UTC(2026, 10, 23, 12) / 1000) + 3600 }, 'ERR_TOKEN_NOT_YET_VALID'],
  ])('an answer with %s is refused', async (_what, options, change, code) => {
    makeGuard({ introspection: introspection({ opaque: true }), ...options });
    nock('https://introspect.example.com').post('/v1/introspect').reply(200, activeAnswer({ client_id: '0oaOnlyThisOne', ...change }));
    await expect(guard.verifyToken('an-opaque-access-token')).rejects.toMatchObject({ code, status: 401 });
  });
});
