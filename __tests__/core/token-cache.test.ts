import { createGuard, type Guard, type GuardOptions } from 'tokengate';
import { mockOkta, type MockOkta } from 'tokengate/testing';
import { fakeClock } from '../helpers';

let clock: ReturnType<typeof fakeClock>;
let okta: MockOkta;
const guards: Guard[] = [];

function guardFor(options: Partial<GuardOptions> = {}): Guard {
  const guard = createGuard({ issuer: okta.issuer, audience: okta.audience, clock: () => clock.now(), ...options });
  guards.push(guard);
  return guard;
}

beforeEach(() => {
  clock = fakeClock();
  okta = mockOkta({ clock: () => clock.now() });
});
afterEach(async () => {
  await Promise.all(guards.splice(0).map((g) => g.close()));
  okta.close();
});

test('a repeated token is served from the cache, with the same frozen result', async () => {
  const guard = guardFor();
  const token = okta.token();
  const first = await guard.verifyToken(token);
  const second = await guard.verifyToken(token);
  expect(second).toBe(first);
  expect(guard.stats().tokenCache).toEqual({ size: 1, hits: 1, misses: 1 });
});

test('a cache hit still expires with the token: the entry never outlives exp', async () => {
  const guard = guardFor({ clockTolerance: 0 });
  const token = okta.token({}, { expiresIn: 60 });
  await guard.verifyToken(token);
  clock.advance(59);
  await expect(guard.verifyToken(token)).resolves.toBeDefined();
  clock.advance(1);
  await expect(guard.verifyToken(token)).rejects.toMatchObject({ code: 'ERR_TOKEN_EXPIRED', status: 401 });
  expect(guard.stats().tokenCache.size).toBe(0);
});

test('a cache hit re-checks nbf against the clock (a clock stepped back)', async () => {
  const guard = guardFor({ clockTolerance: 0 });
  const now = Math.floor(clock.now() / 1000);
  const token = okta.token({ nbf: now });
  await guard.verifyToken(token);
  clock.advance(-10);
  await expect(guard.verifyToken(token)).rejects.toMatchObject({ code: 'ERR_TOKEN_NOT_YET_VALID' });
});

test('a cache hit re-checks maxTokenAge', async () => {
  const guard = guardFor({ clockTolerance: 0, maxTokenAge: 300 });
  const token = okta.token();
  await guard.verifyToken(token);
  clock.advance(301);
  await expect(guard.verifyToken(token)).rejects.toMatchObject({ code: 'ERR_TOKEN_TOO_OLD' });
});

test('the cache is bounded by cache.max; once full, a token gets in on its second verification, least recently used out', async () => {
  const guard = guardFor({ cache: { max: 2 } });
  const [a, b, c, d] = [okta.token(), okta.token(), okta.token(), okta.token()];
  for (const token of [a, b, a, c]) await guard.verifyToken(token);
  expect(guard.stats().tokenCache).toEqual({ size: 2, hits: 1, misses: 3 });
  // c was seen once while the cache was full: not cached yet; its second verification admits it, evicting b.
  await guard.verifyToken(c);
  expect(guard.stats().tokenCache).toEqual({ size: 2, hits: 1, misses: 4 });
  await guard.verifyToken(c);
  await guard.verifyToken(a);
  expect(guard.stats().tokenCache.hits).toBe(3);
  await guard.verifyToken(b);
  expect(guard.stats().tokenCache.misses).toBe(5);
  // A stream of tokens seen once leaves the cached ones alone.
  for (let i = 0; i < 20; i++) await guard.verifyToken(okta.token());
  await guard.verifyToken(a);
  expect(guard.stats().tokenCache.hits).toBe(4);
  await guard.verifyToken(d);
  await guard.verifyToken(d);
  await guard.verifyToken(d);
  expect(guard.stats().tokenCache.hits).toBe(5);
});

test('tokens longer than cache.maxTokenLength are verified every time, never cached', async () => {
  const guard = guardFor({ cache: { maxTokenLength: 900 } });
  const long = okta.token({ padding: 'x'.repeat(1000) });
  await guard.verifyToken(long);
  await guard.verifyToken(long);
  expect(guard.stats().tokenCache).toEqual({ size: 0, hits: 0, misses: 2 });
});

test('cache: false verifies every time', async () => {
  const guard = guardFor({ cache: false });
  const token = okta.token();
  await guard.verifyToken(token);
  await guard.verifyToken(token);
  expect(guard.stats().tokenCache).toEqual({ size: 0, hits: 0, misses: 2 });
});

test('failed verifications are never cached', async () => {
  const guard = guardFor();
  const token = okta.token({ aud: 'api://other' });
  await guard.verifyToken(token).catch(() => undefined);
  await guard.verifyToken(token).catch(() => undefined);
  expect(guard.stats().tokenCache).toEqual({ size: 0, hits: 0, misses: 2 });
});

test('policy checks run on every hit: a cached token still needs the route scopes', async () => {
  const guard = guardFor();
  const token = okta.token({ scp: ['orders:read'] });
  await guard.verifyToken(token, { scopes: ['orders:read'] });
  await expect(guard.verifyToken(token, { scopes: ['orders:write'] })).rejects.toMatchObject({ code: 'ERR_INSUFFICIENT_SCOPE', status: 403 });
});

test('a token that shares the signature of a cached token is a miss: verified in full, and the cached token stays', async () => {
  const guard = guardFor();
  const token = okta.token({ sub: 'alice@example.com' });
  const alice = await guard.verifyToken(token);
  // The cache is keyed by the end of the signature; a hit needs the whole token to match.
  const [header, payload, signature] = token.split('.');
  const claims = JSON.parse(Buffer.from(payload, 'base64url').toString());
  const forged = `${header}.${Buffer.from(JSON.stringify({ ...claims, sub: 'mallory@example.com' })).toString('base64url')}.${signature}`;
  await expect(guard.verifyToken(forged)).rejects.toMatchObject({ code: 'ERR_SIGNATURE_INVALID', status: 401 });
  await expect(guard.verifyToken(forged)).rejects.toMatchObject({ code: 'ERR_SIGNATURE_INVALID' });
  expect(await guard.verifyToken(token)).toBe(alice);
  expect(guard.stats().tokenCache).toMatchObject({ size: 1, hits: 1 });
  // Forgetting the forged token (a logout that names it) does not evict the genuine one.
  await guard.logout({ accessToken: forged });
  expect(guard.stats().tokenCache?.size).toBe(1);
});
