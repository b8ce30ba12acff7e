import { compactVerify } from 'jose';
import nock from 'nock';
import request from 'supertest';
import { createGuard, type ClientCredentials, type Guard, type GuardOptions, type TokengateEvent } from 'tokengate';
import { createKeyPair, mockOkta, type MockOkta } from 'tokengate/testing';
import { ADAPTERS, fakeClock, pausingClient, waitFor, watchOkta, type Served } from '../helpers';

const INTROSPECT_PATH = /\/v1\/introspect$/;

const ROUTES = {
  '/lax': undefined,
  '/checked': { introspect: true },
  '/checked-open': { introspect: true, failMode: 'open' as const },
  '/both': { introspect: true, session: 'strict' as const },
};

let clock: ReturnType<typeof fakeClock>;
let okta: MockOkta;
let guard: Guard;
let events: TokengateEvent[];

function makeGuard(options: Partial<GuardOptions> = {}, client?: ClientCredentials): Guard {
  guard = createGuard({
    issuer: okta.issuer,
    audience: okta.audience,
    clock: () => clock.now(),
    onEvent: (e) => events.push(e),
    introspection: { client: client ?? { clientId: okta.clientId, clientSecret: okta.clientSecret }, timeout: 0.3 },
    sessions: { apiToken: okta.apiToken },
    ...options,
  });
  return guard;
}

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

describe.each(ADAPTERS)('%s: introspection on the routes that ask for it', (_name, makeApp) => {
  let app: Served;
  const call = (path: string, token: string) => request(app).get(path).set('Authorization', `Bearer ${token}`);
  beforeEach(() => {
    app = makeApp(makeGuard(), ROUTES);
  });

  test('a revoked token is refused where introspection is asked for, and only there', async () => {
    const token = okta.token();
    await call('/checked', token).expect(200);
    okta.revoke(token);
    clock.advance(31);
    const res = await call('/checked', token);
    expect(res.status).toBe(401);
    expect(res.headers['www-authenticate']).toMatch(/error="invalid_token", error_description="The token is not active/);
    await call('/lax', token).expect(200);
  });

  test('50 concurrent requests with one token make exactly one introspection call', async () => {
    await guard.ready();
    const token = okta.token();
    const answers = await Promise.all(Array.from({ length: 50 }, () => call('/checked', token)));
    expect(answers.every((a) => a.status === 200)).toBe(true);
    expect(okta.calls.introspect).toBe(1);
  });

  test('introspection and the session check run together on one route', async () => {
    const session = okta.session();
    const token = okta.token({ sid: session.id });
    await call('/both', token).expect(200);
    expect(okta.calls).toMatchObject({ introspect: 1, sessions: 1 });
    okta.endSession(session.id);
    clock.advance(31);
    await call('/both', token).expect(401);
  });

  test.each([
    ['down', 'down' as const],
    ['slow', 'slow' as const],
    ['answering 503', 503],
    ['answering garbage', 'garbage' as const],
  ])('introspection %s: fail-closed is a 503 with Retry-After, fail-open lets the request through', async (_mode, mode) => {
    okta.fail('introspect', mode, { delay: 3000 });
    const started = Date.now();
    const closed = await call('/checked', okta.token());
    expect(closed.status).toBe(503);
    expect(closed.headers['retry-after']).toMatch(/^\d+$/);
    await call('/checked-open', okta.token()).expect(200);
    expect(Date.now() - started).toBeLessThan(2000);
    expect(events).toContainEqual(expect.objectContaining({ type: 'fail-open', service: 'introspection', code: 'ERR_INTROSPECTION_UNAVAILABLE' }));
  });
});

describe('caching', () => {
  test('an active answer is reused for cacheTtl, an inactive one until the token expires', async () => {
    makeGuard({ introspection: { client: { clientId: okta.clientId, clientSecret: okta.clientSecret }, cacheTtl: 20 } });
    const token = okta.token({}, { expiresIn: 600 });
    await guard.verifyToken(token, { introspect: true });
    clock.advance(19);
    await guard.verifyToken(token, { introspect: true });
    expect(okta.calls.introspect).toBe(1);
    okta.revoke(token);
    clock.advance(2);
    await expect(guard.verifyToken(token, { introspect: true })).rejects.toMatchObject({ code: 'ERR_TOKEN_INACTIVE', status: 401 });
    clock.advance(500);
    await expect(guard.verifyToken(token, { introspect: true })).rejects.toMatchObject({ code: 'ERR_TOKEN_INACTIVE' });
    expect(okta.calls.introspect).toBe(2);
    expect(guard.stats().introspection).toMatchObject({ calls: 2, hits: 2 });
  });

  test('a pause between the guard and the wire (a GC) never brings two calls for one token closer than cacheTtl, as the HTTP client sees them', async () => {
    const { client, seen } = pausingClient(clock, INTROSPECT_PATH, 0.05);
    makeGuard({ http: client, introspection: { client: { clientId: okta.clientId, clientSecret: okta.clientSecret }, cacheTtl: 20, timeout: 2 } });
    const token = okta.token({}, { expiresIn: 600 });
    await guard.verifyToken(token, { introspect: true });
    const first = seen[0];
    clock.set(first + 19_960);
    await guard.verifyToken(token, { introspect: true });
    expect(seen).toHaveLength(1);
    clock.set(first + 20_001);
    await guard.verifyToken(token, { introspect: true });
    await waitFor(() => seen.length === 2);
    expect(seen[1] - seen[0]).toBeGreaterThanOrEqual(20_000);
  });

  test('an active answer is asked again in its last round trip, without waiting; with staleWhileRevalidate 0 it is never used past its TTL', async () => {
    makeGuard({ introspection: { client: { clientId: okta.clientId, clientSecret: okta.clientSecret }, cacheTtl: 20, staleWhileRevalidate: 0, timeout: 2 } });
    // The first answer takes 300 ms of the guard's clock to arrive: fresh until 20.3 s.
    const calls = watchOkta(okta, INTROSPECT_PATH, clock, (nth) => (nth === 1 ? 0.3 : 0));
    const token = okta.token({}, { expiresIn: 600 });
    await guard.verifyToken(token, { introspect: true });
    const t0 = calls[0][1];
    clock.set(t0 + 19_900);
    await guard.verifyToken(token, { introspect: true });
    expect(okta.calls.introspect).toBe(1);

    okta.revoke(token);
    // The renewal's answer is held for 1.5 s: requests answered meanwhile did not wait for it.
    okta.fail('introspect', 'slow', { delay: 1500 });
    clock.set(t0 + 20_100);
    const started = Date.now();
    await guard.verifyToken(token, { introspect: true });
    await guard.verifyToken(token, { introspect: true });
    expect(Date.now() - started).toBeLessThan(1000);
    await waitFor(() => calls.length === 2);
    expect(calls.map(([, at]) => at)).toEqual([t0, t0 + 20_100]);

    clock.set(t0 + 20_400);
    await expect(guard.verifyToken(token, { introspect: true })).rejects.toMatchObject({ code: 'ERR_TOKEN_INACTIVE' });
    expect(okta.calls.introspect).toBe(2);
  });

  test('staleWhileRevalidate (default 1 s): past its TTL an active answer serves while its slower renewal is in flight, for that long at most', async () => {
    makeGuard({ introspection: { client: { clientId: okta.clientId, clientSecret: okta.clientSecret }, cacheTtl: 20, timeout: 5 } });
    // The first answer takes 300 ms of the guard's clock to arrive: fresh until 20.3 s, served while renewing until 21.3 s.
    const calls = watchOkta(okta, INTROSPECT_PATH, clock, (nth) => (nth === 1 ? 0.3 : 0));
    const token = okta.token({}, { expiresIn: 600 });
    await guard.verifyToken(token, { introspect: true });
    const t0 = calls[0][1];
    okta.revoke(token);
    okta.fail('introspect', 'slow', { delay: 1500 });
    clock.set(t0 + 20_100);
    await guard.verifyToken(token, { introspect: true });
    await waitFor(() => calls.length === 2);
    // Past the TTL, within a second of it: the old answer serves at once, as the renewal is on its way.
    clock.set(t0 + 21_200);
    const started = Date.now();
    await guard.verifyToken(token, { introspect: true });
    expect(Date.now() - started).toBeLessThan(500);
    expect(guard.stats().introspection).toMatchObject({ calls: 2, revalidating: 1 });
    // Past that second, the request waits for the renewal and gets its verdict.
    clock.set(t0 + 21_400);
    await expect(guard.verifyToken(token, { introspect: true })).rejects.toMatchObject({ code: 'ERR_TOKEN_INACTIVE' });
    expect(okta.calls.introspect).toBe(2);

  });

  test('a token logged out while its renewal is in flight is not cached again by that renewal', async () => {
    makeGuard({ client: { clientId: okta.clientId, clientSecret: okta.clientSecret }, introspection: { client: { clientId: okta.clientId, clientSecret: okta.clientSecret }, cacheTtl: 20, timeout: 2 } });
    watchOkta(okta, INTROSPECT_PATH, clock, (nth) => (nth === 1 ? 0.3 : 0));
    const token = okta.token({}, { expiresIn: 600 });
    const t0 = clock.now();
    await guard.verifyToken(token, { introspect: true });
    okta.fail('introspect', 'slow', { delay: 300 });
    clock.set(t0 + 20_100);
    await guard.verifyToken(token, { introspect: true });
    await waitFor(() => okta.calls.introspect === 2);
    await guard.logout({ accessToken: token });
    expect(guard.stats().introspection?.size).toBe(0);
    // The renewal answers active after the logout: it must not put the answer back.
    await new Promise((resolve) => setTimeout(resolve, 450));
    expect(guard.stats().introspection?.size).toBe(0);
  });
});

describe('client authentication', () => {
  const lastForm = () => new URLSearchParams(okta.requests.filter((r) => r.endpoint === 'introspect').at(-1)!.body);
  const lastHeaders = () => okta.requests.filter((r) => r.endpoint === 'introspect').at(-1)!.headers;

  test('client_secret_basic sends the credentials in a Basic header', async () => {
    makeGuard({}, { clientId: okta.clientId, clientSecret: okta.clientSecret });
    await guard.verifyToken(okta.token(), { introspect: true });
    expect(String(lastHeaders().authorization)).toMatch(/^Basic /);
    expect(lastForm().get('client_secret')).toBeNull();
    expect(lastForm().get('token_type_hint')).toBe('access_token');
  });

  test('client_secret_post sends them in the form', async () => {
    makeGuard({}, { clientId: okta.clientId, clientSecret: okta.clientSecret, method: 'client_secret_post' });
    await guard.verifyToken(okta.token(), { introspect: true });
    expect(lastHeaders().authorization).toBeUndefined();
    expect(lastForm().get('client_secret')).toBe(okta.clientSecret);
  });

  test('private_key_jwt sends a signed assertion for the endpoint, with a fresh jti each time', async () => {
    const key = createKeyPair('ES256');
    okta.trustClientKey(key.publicKey);
    makeGuard({}, { clientId: okta.clientId, privateKey: key.privateKey.export({ format: 'jwk' }) as never, keyId: 'k1' });
    await guard.verifyToken(okta.token(), { introspect: true });
    const first = lastForm();
    await guard.verifyToken(okta.token(), { introspect: true });
    const second = lastForm();
    const claims = (form: URLSearchParams) => JSON.parse(Buffer.from(form.get('client_assertion')!.split('.')[1], 'base64url').toString());
    const header = JSON.parse(Buffer.from(first.get('client_assertion')!.split('.')[0], 'base64url').toString());
    expect(header).toEqual({ alg: 'ES256', kid: 'k1' });
    expect(claims(first)).toMatchObject({ iss: okta.clientId, sub: okta.clientId, aud: `${okta.issuer}/v1/introspect` });
    expect(claims(first).exp - claims(first).iat).toBe(60);
    expect(claims(first).jti).not.toBe(claims(second).jti);
    expect(first.get('client_assertion_type')).toBe('urn:ietf:params:oauth:client-assertion-type:jwt-bearer');
  });

  test.each(['RS256', 'PS256', 'ES256', 'ES384', 'ES512', 'EdDSA'] as const)('a %s private_key_jwt assertion verifies with the client key, signed without loading jose', async (alg) => {
    const key = createKeyPair(alg);
    okta.trustClientKey(key.publicKey);
    let made: Guard | undefined;
    // With jose unloadable (as under Jest with no transform for an ESM-only package), the assertion is still signed.
    jest.isolateModules(() => {
      jest.doMock('jose', () => {
        throw new Error('jose is ESM-only here');
      });
      const { createGuard: isolated } = require('tokengate') as typeof import('tokengate');
      made = isolated({ issuer: okta.issuer, audience: okta.audience, clock: () => clock.now(), introspection: { client: { clientId: okta.clientId, privateKey: key.privateKey, signingAlgorithm: alg } } });
    });
    guard = made!;
    await expect(guard.verifyToken(okta.token(), { introspect: true })).resolves.toMatchObject({ subject: 'alice@example.com' });
    jest.dontMock('jose');
    const assertion = lastForm().get('client_assertion')!;
    const { protectedHeader, payload } = await compactVerify(assertion, key.publicKey);
    expect(protectedHeader).toEqual({ alg });
    expect(JSON.parse(Buffer.from(payload).toString())).toMatchObject({ iss: okta.clientId, sub: okta.clientId, aud: `${okta.issuer}/v1/introspect` });
  });

  test('a signingAlgorithm that does not fit the private key is refused when the guard is made', () => {
    const base = { issuer: 'https://example.okta.com/oauth2/default', audience: 'a' };
    const ec = createKeyPair('ES256').privateKey;
    expect(() => createGuard({ ...base, introspection: { client: { clientId: 'x', privateKey: ec, signingAlgorithm: 'RS256' } } })).toThrow(
      /"introspection.client.signingAlgorithm" "RS256" does not fit the private key; use one of ES256/,
    );
    expect(() => createGuard({ ...base, introspection: { client: { clientId: 'x', privateKey: ec, signingAlgorithm: 'HS256' } } })).toThrow(TypeError);
  });

  test('a public client sends its client_id only', async () => {
    makeGuard({}, { clientId: okta.clientId });
    await guard.verifyToken(okta.token(), { introspect: true });
    expect(lastForm().get('client_id')).toBe(okta.clientId);
    expect(lastHeaders().authorization).toBeUndefined();
  });

  test('credentials the issuer refuses are an upstream failure (503), not the caller’s 401', async () => {
    makeGuard({}, { clientId: okta.clientId, clientSecret: 'wrong' });
    await expect(guard.verifyToken(okta.token(), { introspect: true })).rejects.toMatchObject({
      code: 'ERR_INTROSPECTION_UNAVAILABLE',
      message: expect.stringMatching(/answered 401 \(check the introspection client credentials\)/),
    });
  });

  test('client options are validated: a method needs what it uses', () => {
    const base = { issuer: 'https://example.okta.com/oauth2/default', audience: 'a' };
    expect(() => createGuard({ ...base, introspection: { client: { clientId: 'x', method: 'client_secret_post' } } })).toThrow(/"introspection.client.clientSecret" is required/);
    expect(() => createGuard({ ...base, introspection: { client: { clientId: 'x', privateKey: 'not a key' } } })).toThrow(/"introspection.client.privateKey" is not a usable private key/);
    expect(() => createGuard({ ...base, introspection: { client: { clientId: 'x' }, cacheTtl: -1 } })).toThrow(/"introspection.cacheTtl"/);
  });
});

describe('strict answers (RFC 7662)', () => {
  const endpoint = 'https://introspect.example.com/v1/introspect';
  const guardWith = () =>
    makeGuard({ introspection: { client: { clientId: 'c', clientSecret: 's' }, endpoint, cacheTtl: 0, retryAfter: 0 } });

  test.each([
    ['"active" is not a boolean (a refusal, not an outage)', { active: 'true' }, 'ERR_TOKEN_INACTIVE'],
    ['an active answer whose exp has passed', { active: true, exp: 1 }, 'ERR_TOKEN_INACTIVE'],
    ['an active answer naming another issuer', { active: true, iss: 'https://evil.example.com' }, 'ERR_TOKEN_INACTIVE'],
    ['an active answer for another audience', { active: true, aud: 'api://other' }, 'ERR_TOKEN_INACTIVE'],
  ])('%s', async (_name, answer, code) => {
    guardWith();
    nock('https://introspect.example.com').post('/v1/introspect').reply(200, answer);
    await expect(guard.verifyToken(okta.token(), { introspect: true })).rejects.toMatchObject({ code });
  });

  test('an active answer consistent with the guard passes', async () => {
    guardWith();
    nock('https://introspect.example.com').post('/v1/introspect').reply(200, { active: true, iss: okta.issuer, aud: [okta.audience], exp: Math.floor(clock.now() / 1000) + 60 });
    await expect(guard.verifyToken(okta.token(), { introspect: true })).resolves.toBeDefined();
  });
});

describe('introspection-only mode for tokens that cannot be verified locally', () => {
  let org: MockOkta;
  beforeEach(() => {
    org = mockOkta({ issuer: 'https://dev-31337.okta.com', clock: () => clock.now() });
  });
  afterEach(() => org.close());

  const orgGuard = (opaque: boolean) =>
    createGuard({
      issuer: org.issuer,
      audience: org.audience,
      clock: () => clock.now(),
      introspection: { client: { clientId: org.clientId, clientSecret: org.clientSecret }, opaque },
    });

  test('an opaque token is accepted on introspection, the result built from the answer', async () => {
    guard = orgGuard(true);
    const auth = await guard.verifyToken(org.opaqueToken({ sub: 'bob@example.com', scp: ['orders:read'] }), { scopes: ['orders:read'] });
    expect(auth).toMatchObject({ subject: 'bob@example.com', scopes: ['orders:read'], clientId: org.clientId });
    expect(org.calls.introspect).toBe(1);
  });

  test('an org-authorization-server JWT (unpublished keys) is accepted on introspection too', async () => {
    guard = orgGuard(true);
    const token = org.token({}, { unpublishedKey: true, header: { kid: 'org-internal' } });
    await expect(guard.verifyToken(token)).resolves.toMatchObject({ subject: 'alice@example.com' });
  });

  test.each(ADAPTERS)('%s: an opaque token is one cache miss per request, on the synchronous and asynchronous paths together', async (_name, app) => {
    guard = orgGuard(true);
    const served = app(guard, { '/api/me': undefined });
    const token = org.opaqueToken({ sub: 'bob@example.com' });
    const answer = await request(served).get('/api/me').set('Authorization', `Bearer ${token}`);
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({ subject: 'bob@example.com' });
    expect(guard.stats().tokenCache).toMatchObject({ hits: 0, misses: 1 });
  });

  test('a revoked opaque token is refused', async () => {
    guard = orgGuard(true);
    const token = org.opaqueToken();
    org.revoke(token);
    await expect(guard.verifyToken(token)).rejects.toMatchObject({ code: 'ERR_TOKEN_INACTIVE' });
  });

  test('logout of an opaque token: a request answered while the issuer is revoking it leaves nothing cached', async () => {
    guard = createGuard({
      issuer: org.issuer,
      audience: org.audience,
      clock: () => clock.now(),
      client: { clientId: org.clientId, clientSecret: org.clientSecret },
      introspection: { opaque: true },
      endpoints: { revocation: 'https://revocation.example.test/revoke' },
    });
    const token = org.opaqueToken();
    // The issuer takes 300 ms to revoke the token: until then its introspection still says active.
    let revoking = false;
    nock('https://revocation.example.test')
      .post('/revoke')
      .reply(function (_uri, _body, callback) {
        revoking = true;
        setTimeout(() => {
          org.revoke(token);
          callback(null, [200, '']);
        }, 300);
      });
    await guard.verifyToken(token);
    const loggingOut = guard.logout({ accessToken: token });
    // Meanwhile a request introspects the token again, after logout forgot it: active, cached.
    await waitFor(() => revoking);
    await guard.verifyToken(token);
    expect(guard.stats().introspection?.size).toBe(1);
    const result = await loggingOut;
    expect(result.accessTokenRevoked).toBe('done');
    expect(guard.stats().introspection?.size).toBe(0);
    await expect(guard.verifyToken(token)).rejects.toMatchObject({ code: 'ERR_TOKEN_INACTIVE' });
  });

  test('without opaque mode, an opaque token is simply malformed, and introspection is never asked', async () => {
    guard = orgGuard(false);
    await expect(guard.verifyToken(org.opaqueToken())).rejects.toMatchObject({ code: 'ERR_TOKEN_MALFORMED', status: 401 });
    expect(org.calls.introspect).toBe(0);
  });

  test('an unreachable introspection endpoint is a 503 even on a fail-open route: nothing else vouches for an opaque token', async () => {
    guard = orgGuard(true);
    org.fail('introspect', 'down');
    await expect(guard.verifyToken(org.opaqueToken(), { failMode: 'open' })).rejects.toMatchObject({ code: 'ERR_INTROSPECTION_UNAVAILABLE', status: 503 });
  });
});
