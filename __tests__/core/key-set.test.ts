import nock from 'nock';
import { createGuard, KeysUnavailableError, type Guard, type GuardOptions, type TokengateEvent } from 'tokengate';
import { createKeyPair, mockOkta, type MockOkta } from 'tokengate/testing';
import { fakeClock } from '../helpers';

let clock: ReturnType<typeof fakeClock>;
let okta: MockOkta;
let events: TokengateEvent[];
const guards: Guard[] = [];

function guardFor(options: Partial<GuardOptions> = {}): Guard {
  const guard = createGuard({ issuer: okta.issuer, audience: okta.audience, clock: clock.now, onEvent: (e) => events.push(e), ...options });
  guards.push(guard);
  return guard;
}

/** Lets a background refresh run to completion. */
const settle = () => new Promise((resolve) => setTimeout(resolve, 20));

beforeEach(() => {
  clock = fakeClock();
  events = [];
  okta = mockOkta({ clock: () => clock.now() });
});
afterEach(async () => {
  await Promise.all(guards.splice(0).map((g) => g.close()));
  okta.close();
  nock.cleanAll();
});

describe('discovery', () => {
  test('reads jwks_uri from the OpenID configuration, once', async () => {
    const guard = guardFor();
    await guard.verifyToken(okta.token());
    await guard.verifyToken(okta.token());
    expect(okta.calls).toMatchObject({ discovery: 1, jwks: 1 });
  });

  test('falls back to the OAuth metadata document when openid-configuration is missing', async () => {
    okta.fail('discovery', 404, { times: 1 });
    const guard = guardFor();
    await expect(guard.verifyToken(okta.token())).resolves.toMatchObject({ subject: 'alice@example.com' });
    expect(okta.calls.discovery).toBe(2);
  });

  test('a document naming another issuer is an upstream failure that says so', async () => {
    const guard = guardFor({ issuer: `${okta.issuer}/` });
    const error = await guard.verifyToken(okta.token({ iss: `${okta.issuer}/` })).catch((e) => e);
    expect(error).toBeInstanceOf(KeysUnavailableError);
    expect(error.message).toMatch(/names issuer ".*", not ".*\/"/);
  });

  test('jwksUri skips discovery', async () => {
    const guard = guardFor({ jwksUri: okta.jwksUri });
    await guard.verifyToken(okta.token());
    expect(okta.calls).toMatchObject({ discovery: 0, jwks: 1 });
  });
});

describe('unknown kid', () => {
  test('50 concurrent tokens with an unknown kid cause one refetch, then none until the cooldown passes', async () => {
    const guard = guardFor({ keySet: { cooldown: 30 } });
    await guard.ready();
    clock.advance(31);
    const forged = () => okta.token({}, { header: { kid: 'not-a-real-kid' } });
    const results = await Promise.allSettled(Array.from({ length: 50 }, () => guard.verifyToken(forged())));
    expect(results.every((r) => r.status === 'rejected' && r.reason.code === 'ERR_KEY_UNKNOWN')).toBe(true);
    expect(okta.calls.jwks).toBe(2);
    await Promise.allSettled(Array.from({ length: 50 }, () => guard.verifyToken(forged())));
    expect(okta.calls.jwks).toBe(2);
    clock.advance(31);
    await guard.verifyToken(forged()).catch(() => undefined);
    expect(okta.calls.jwks).toBe(3);
  });

  test('a rotated key is picked up by one refetch', async () => {
    const guard = guardFor();
    await guard.verifyToken(okta.token());
    clock.advance(31);
    okta.rotateKeys();
    await expect(guard.verifyToken(okta.token())).resolves.toBeDefined();
    expect(okta.calls.jwks).toBe(2);
    expect(events.filter((e) => e.type === 'keys.refreshed').at(-1)).toMatchObject({ kids: okta.kids, removed: [] });
  });

  test('a key that leaves the set stops verifying, and its cached verdicts go', async () => {
    const guard = guardFor();
    const old = okta.token({}, { expiresIn: 7200 });
    await guard.verifyToken(old);
    expect(guard.stats().tokenCache.size).toBe(1);
    okta.rotateKeys({ removeOld: true });
    clock.advance(3601);
    await expect(guard.verifyToken(old)).rejects.toMatchObject({ code: 'ERR_KEY_UNKNOWN' });
    expect(guard.stats().tokenCache.size).toBe(0);
    expect(events.find((e) => e.type === 'keys.refreshed' && e.removed.length === 1)).toBeDefined();
    await expect(guard.verifyToken(okta.token())).resolves.toBeDefined();
  });
});

describe('cache age', () => {
  test('honours Cache-Control max-age, refreshing in the background after 80 % of it', async () => {
    okta.close();
    okta = mockOkta({ clock: () => clock.now(), jwksMaxAge: 200 });
    const guard = guardFor();
    await guard.verifyToken(okta.token());
    clock.advance(159);
    await guard.verifyToken(okta.token());
    expect(okta.calls.jwks).toBe(1);
    clock.advance(2);
    await guard.verifyToken(okta.token());
    await settle();
    expect(okta.calls.jwks).toBe(2);
  });

  test('clamps a tiny max-age to minCacheAge', async () => {
    okta.close();
    okta = mockOkta({ clock: () => clock.now(), jwksMaxAge: 1 });
    const guard = guardFor({ keySet: { minCacheAge: 60 } });
    await guard.verifyToken(okta.token());
    clock.advance(30);
    await guard.verifyToken(okta.token());
    await settle();
    expect(okta.calls.jwks).toBe(1);
  });
});

describe('issuer trouble', () => {
  test.each([
    ['down', 'down' as const],
    ['answering 500', 500],
    ['answering garbage', 'garbage' as const],
    ['too slow', 'slow' as const],
  ])('JWKS %s: 503 with Retry-After, never 401', async (_name, mode) => {
    okta.fail('jwks', mode, { delay: 2000 });
    const guard = guardFor({ keySet: { timeout: 0.2, retryAfter: 7 } });
    const started = Date.now();
    const error = await guard.verifyToken(okta.token()).catch((e) => e);
    expect(Date.now() - started).toBeLessThan(1500);
    expect(error).toMatchObject({ code: 'ERR_KEYS_UNAVAILABLE', status: 503, headers: { 'Retry-After': '7' } });
    expect(events).toContainEqual(expect.objectContaining({ type: 'keys.error', servingStale: false }));
  });

  test('discovery down: 503', async () => {
    okta.fail('discovery', 'down');
    await expect(guardFor().verifyToken(okta.token())).rejects.toMatchObject({ code: 'ERR_KEYS_UNAVAILABLE', status: 503 });
  });

  test('a JWKS larger than keySet.maxBytes is refused', async () => {
    okta.rotateKeys();
    okta.rotateKeys();
    okta.rotateKeys();
    await expect(guardFor({ keySet: { maxBytes: 1024 } }).verifyToken(okta.token())).rejects.toMatchObject({
      code: 'ERR_KEYS_UNAVAILABLE',
      message: expect.stringMatching(/more than 1024 bytes|over the limit of 1024/),
    });
  });

  test('held keys keep working past their age while the issuer is down, up to staleIfError', async () => {
    const guard = guardFor({ keySet: { staleIfError: 600, retryAfter: 5 } });
    await guard.verifyToken(okta.token());
    okta.fail('jwks', 'down');
    clock.advance(3600 + 10);
    await expect(guard.verifyToken(okta.token())).resolves.toBeDefined();
    expect(events).toContainEqual(expect.objectContaining({ type: 'keys.error', servingStale: true }));
    const calls = okta.calls.jwks;
    clock.advance(2);
    await guard.verifyToken(okta.token());
    expect(okta.calls.jwks).toBe(calls);
    clock.advance(600);
    await expect(guard.verifyToken(okta.token())).rejects.toMatchObject({ code: 'ERR_KEYS_UNAVAILABLE' });
    okta.recover();
    clock.advance(6);
    await expect(guard.verifyToken(okta.token())).resolves.toBeDefined();
  });

  test('a failed fetch is not retried before retryAfter', async () => {
    okta.fail('jwks', 500);
    const guard = guardFor({ keySet: { retryAfter: 10 } });
    await guard.verifyToken(okta.token()).catch(() => undefined);
    await guard.verifyToken(okta.token()).catch(() => undefined);
    expect(okta.calls.jwks).toBe(1);
    okta.recover();
    clock.advance(10);
    await expect(guard.verifyToken(okta.token())).resolves.toBeDefined();
    expect(okta.calls.jwks).toBe(2);
  });
});

describe('key set contents', () => {
  const host = 'https://keys.example.com';

  test('skips unusable entries and uses the rest', async () => {
    const published = okta.jwks().keys[0];
    const weak = createKeyPair('RS256', { modulusLength: 1024 }).publicKey.export({ format: 'jwk' });
    nock(host)
      .get('/jwks')
      .reply(200, {
        keys: [
          'garbage',
          { kty: 'oct', k: 'c2VjcmV0', kid: published.kid },
          { ...weak, kid: published.kid },
          { ...published, use: 'enc' },
          { ...published, alg: 'ES256' },
          { kty: 'RSA', kid: published.kid, n: 'AA', e: 'AQAB' },
          published,
        ],
      });
    const guard = guardFor({ jwksUri: `${host}/jwks` });
    await expect(guard.verifyToken(okta.token())).resolves.toBeDefined();
    expect(events).toContainEqual(expect.objectContaining({ type: 'keys.refreshed', skipped: 6, kids: [published.kid] }));
  });

  test('a document with no usable key is an upstream failure', async () => {
    nock(host).get('/jwks').reply(200, { keys: [{ kty: 'oct', k: 'c2VjcmV0' }] });
    await expect(guardFor({ jwksUri: `${host}/jwks` }).verifyToken(okta.token())).rejects.toMatchObject({ code: 'ERR_KEYS_UNAVAILABLE' });
    nock(host).get('/jwks').reply(200, { nokeys: true });
    clock.advance(10);
    await expect(guardFor({ jwksUri: `${host}/jwks` }).verifyToken(okta.token())).rejects.toMatchObject({ code: 'ERR_KEYS_UNAVAILABLE' });
  });

  test('a key whose JWK alg says RS256 does not verify PS256', async () => {
    okta.close();
    okta = mockOkta({ clock: () => clock.now(), algorithms: ['PS256'] });
    const jwk = { ...okta.jwks().keys[0], alg: 'RS256' };
    nock(host).get('/jwks').reply(200, { keys: [jwk] });
    const guard = guardFor({ jwksUri: `${host}/jwks`, algorithms: ['PS256'] });
    await expect(guard.verifyToken(okta.token())).rejects.toMatchObject({ code: 'ERR_KEYS_UNAVAILABLE' });
  });
});

describe('ready()', () => {
  test('loads the keys ahead of the first request', async () => {
    const guard = guardFor();
    await guard.ready();
    expect(okta.calls.jwks).toBe(1);
    expect(guard.stats().keys.kids).toEqual(okta.kids);
  });

  test('rejects with KeysUnavailableError when the issuer is down', async () => {
    okta.fail('jwks', 'down');
    await expect(guardFor().ready()).rejects.toBeInstanceOf(KeysUnavailableError);
  });
});

describe('hardening', () => {
  test('once a fetch has failed, held keys serve at once instead of waiting for the next attempt', async () => {
    const guard = guardFor({ keySet: { timeout: 0.3, retryAfter: 1 } });
    const token = okta.token();
    await guard.verifyToken(token);
    okta.fail('jwks', 'slow', { delay: 5000 });
    clock.advance(3601);
    await guard.verifyToken(token);
    const timings: number[] = [];
    for (let i = 0; i < 6; i++) {
      clock.advance(0.5);
      const started = Date.now();
      await guard.verifyToken(token);
      timings.push(Date.now() - started);
    }
    expect(Math.max(...timings)).toBeLessThan(100);
  });

  test('an injected HTTP client that never answers still gives a 503 by the deadline', async () => {
    const guard = guardFor({ http: { request: () => new Promise(() => undefined) }, keySet: { timeout: 0.2 } });
    const started = Date.now();
    await expect(guard.verifyToken(okta.token())).rejects.toMatchObject({ code: 'ERR_KEYS_UNAVAILABLE' });
    expect(Date.now() - started).toBeLessThan(1000);
  });

  test('a JWKS entry with an odd curve name is skipped, not fatal', async () => {
    const published = okta.jwks().keys[0];
    nock('https://keys.example.com').get('/jwks').reply(200, { keys: [{ kty: 'OKP', crv: 'constructor', x: 'AAAA' }, { kty: 'EC', crv: '__proto__', x: 'A', y: 'A' }, published] });
    await expect(guardFor({ jwksUri: 'https://keys.example.com/jwks' }).verifyToken(okta.token())).resolves.toBeDefined();
  });
});
