/**
 * Speed never buys a weaker check: tokengate verifies signatures with node:crypto, so every verdict
 * is compared with jose's `jwtVerify` on the same tokens, keys, options and clock.
 * - Anything tokengate accepts, jose must accept (tokengate is never weaker).
 * - On the structured corpus, anything jose accepts tokengate accepts too, except the cases where
 *   tokengate is stricter on purpose, which are listed (and asserted to be refused).
 */
import { randomUUID } from 'node:crypto';
import nock from 'nock';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { createGuard, type Algorithm, type Guard } from 'tokengate';
import { createKeyPair, signCompact } from 'tokengate/testing';

const ISSUER = 'https://diff.example.com/oauth2/default';
const AUDIENCE = 'api://default';
const NOW = 1_795_435_200;
const ALGS: Algorithm[] = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];

const keys = ALGS.map((alg) => ({ alg, kid: `k-${alg}`, ...createKeyPair(alg) }));
const foreign = ALGS.map((alg) => ({ alg, ...createKeyPair(alg) }));
const jwks = { keys: keys.map((k) => ({ ...k.publicKey.export({ format: 'jwk' }), kid: k.kid, alg: k.alg, use: 'sig' })) };
const joseKeys = createLocalJWKSet(jwks as never);
let guard: Guard;

beforeAll(() => {
  nock('https://diff.example.com').persist().get('/keys').reply(200, jwks);
  guard = createGuard({ issuer: ISSUER, audience: AUDIENCE, jwksUri: 'https://diff.example.com/keys', algorithms: ALGS, clockTolerance: 5, cache: false, clock: () => NOW * 1000 });
});
afterAll(async () => {
  await guard.close();
  nock.cleanAll();
});

async function ours(token: string): Promise<boolean> {
  return guard.verifyToken(token).then(() => true, () => false);
}
async function theirs(token: string): Promise<boolean> {
  return jwtVerify(token, joseKeys, { issuer: ISSUER, audience: AUDIENCE, algorithms: ALGS, clockTolerance: 5, currentDate: new Date(NOW * 1000) }).then(
    () => true,
    () => false,
  );
}

const b64 = (value: unknown) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');
const claims = (extra: Record<string, unknown> = {}) => ({ iss: ISSUER, aud: AUDIENCE, sub: 'alice', iat: NOW - 10, exp: NOW + 600, jti: randomUUID(), ...extra });

/** The structured corpus: [name, token, stricter-on-purpose]. */
function corpus(): Array<[string, string, boolean]> {
  const rows: Array<[string, string, boolean]> = [];
  keys.forEach((k, i) => {
    const sign = (payload: object, header: object = {}, key = k.privateKey, alg = k.alg) => signCompact({ alg: k.alg, kid: k.kid, ...header }, payload as never, alg, key);
    const valid = sign(claims());
    const [h, p, s] = valid.split('.');
    const other = ALGS.find((a) => a !== k.alg && a.slice(0, 2) === k.alg.slice(0, 2)) ?? 'RS256';
    rows.push(
      [`${k.alg} valid`, valid, false],
      [`${k.alg} aud in a list`, sign(claims({ aud: ['x', AUDIENCE] })), false],
      [`${k.alg} tampered payload`, `${h}.${b64(claims({ sub: 'mallory' }))}.${s}`, false],
      [`${k.alg} tampered signature`, `${h}.${p}.${s.slice(0, -4)}${s.slice(-4) === 'AAAA' ? 'BBBB' : 'AAAA'}`, false],
      [`${k.alg} truncated signature`, `${h}.${p}.${s.slice(0, 20)}`, false],
      [`${k.alg} empty signature`, `${h}.${p}.`, false],
      [`${k.alg} header says ${other}`, `${b64({ alg: other, kid: k.kid })}.${p}.${s}`, false],
      [`${k.alg} signed by a foreign key`, sign(claims(), {}, foreign[i].privateKey), false],
      [`${k.alg} unknown kid`, sign(claims(), { kid: 'nope' }), false],
      [`${k.alg} no kid`, sign(claims(), { kid: undefined }), false],
      [`${k.alg} expired`, sign(claims({ exp: NOW - 6 })), false],
      [`${k.alg} expired within tolerance`, sign(claims({ exp: NOW - 4 })), false],
      [`${k.alg} nbf in the future`, sign(claims({ nbf: NOW + 6 })), false],
      [`${k.alg} nbf within tolerance`, sign(claims({ nbf: NOW + 4 })), false],
      [`${k.alg} wrong issuer`, sign(claims({ iss: `${ISSUER}/` })), false],
      [`${k.alg} wrong audience`, sign(claims({ aud: 'api://other' })), false],
      [`${k.alg} exp as a string`, sign(claims({ exp: String(NOW + 600) })), false],
      [`${k.alg} alg none`, `${b64({ alg: 'none' })}.${p}.`, false],
      [`${k.alg} HS256`, `${b64({ alg: 'HS256', kid: k.kid })}.${p}.${s}`, false],
      [`${k.alg} padded signature`, `${h}.${p}.${s}=`, true],
      [`${k.alg} header not JSON`, `${b64('{alg')}.${p}.${s}`, false],
      [`${k.alg} payload an array`, sign([1, 2] as never), false],
      [`${k.alg} two parts`, `${h}.${p}`, false],
      [`${k.alg} iat in the future`, sign(claims({ iat: NOW + 60 })), true],
      [`${k.alg} typ of a logout token`, sign(claims(), { typ: 'logout+jwt' }), true],
      [`${k.alg} crit`, sign(claims(), { crit: ['exp'], exp: 1 }), false],
    );
  });
  return rows;
}

test('the structured corpus gets the same verdict from tokengate and jose', async () => {
  const disagreements: string[] = [];
  for (const [name, token, stricter] of corpus()) {
    const [a, b] = [await ours(token), await theirs(token)];
    if (stricter) {
      if (a) disagreements.push(`${name}: tokengate accepted a case it refuses on purpose`);
    } else if (a !== b) {
      disagreements.push(`${name}: tokengate ${a ? 'accepted' : 'refused'}, jose ${b ? 'accepted' : 'refused'}`);
    }
  }
  expect(disagreements).toEqual([]);
});

/** A small seeded PRNG (mulberry32), so a failure can be replayed. */
function prng(seed: number) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

test('3000 random mutations of valid tokens: tokengate never accepts what jose refuses', async () => {
  const random = prng(20261123);
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.= +/!';
  const valid = keys.map((k) => signCompact({ alg: k.alg, kid: k.kid }, claims(), k.alg, k.privateKey));
  let accepted = 0;
  const weaker: string[] = [];
  for (let i = 0; i < 3000; i++) {
    const base = valid[Math.floor(random() * valid.length)];
    const chars = base.split('');
    const edits = 1 + Math.floor(random() * 3);
    for (let e = 0; e < edits; e++) {
      const at = Math.floor(random() * chars.length);
      const kind = random();
      if (kind < 0.6) chars[at] = alphabet[Math.floor(random() * alphabet.length)];
      else if (kind < 0.8) chars.splice(at, 1);
      else chars.splice(at, 0, alphabet[Math.floor(random() * alphabet.length)]);
    }
    const token = chars.join('');
    const [a, b] = [await ours(token), await theirs(token)];
    if (a) accepted++;
    if (a && !b) weaker.push(`mutation ${i}`);
  }
  expect(weaker).toEqual([]);
  // Only edits that decode to the same bytes (unused trailing bits of the last base64url character) may survive.
  expect(accepted).toBeLessThan(300);
});
