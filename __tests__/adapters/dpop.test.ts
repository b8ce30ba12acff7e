import { createHmac, type KeyObject } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import request from 'supertest';
import { createGuard, memoryRevocationStore, type Guard, type GuardOptions, type RevocationStore } from 'tokengate';
import { createDpopProof, createKeyPair, mockOkta, publicJwk, type MockOkta } from 'tokengate/testing';
import { ADAPTERS, expressApp, type Served } from '../helpers';

// DPoP (RFC 9449) through every adapter: a bound token with its proof passes; every fault of the
// proof is a 401 with the RFC 9449 error, a stable code, and the challenges of the route.

const ORIGIN = 'https://api.example.com';
const ALGS = 'ES256 ES384 PS256 RS256 EdDSA';
const ROUTES = { '/api/hello': undefined, '/api/dpop': { dpop: 'required' as const }, '/api/bearer': { dpop: 'off' as const } };

interface Row {
  status: number;
  code?: string;
  /** The whole WWW-Authenticate value, or a pattern. */
  challenge: string | RegExp;
  authorization?: string;
  dpop?: string | string[];
  path?: string;
}

type Client = { privateKey: KeyObject; token: string };

const now = () => Math.floor(Date.now() / 1000);
const proof = (client: Client, extra: Partial<Parameters<typeof createDpopProof>[0]> = {}, path = '/api/hello') =>
  createDpopProof({ privateKey: client.privateKey, method: 'GET', url: `${ORIGIN}${path}`, accessToken: client.token, ...extra });
const proofError = (code: string, description: RegExp | string = '[^"]+'): [string, RegExp] => [
  code,
  new RegExp(`^Bearer realm="api", DPoP algs="${ALGS}", error="invalid_dpop_proof", error_description="${typeof description === 'string' ? description : description.source}"$`),
];

const rows: Array<[string, (o: MockOkta, c: Client) => Row]> = [
  ['a bound token with its proof', (_o, c) => ({ authorization: `DPoP ${c.token}`, dpop: proof(c), status: 200, challenge: '' })],
  ['the DPoP scheme in any case, with a required route', (_o, c) => ({ authorization: `dpop ${c.token}`, dpop: proof(c, {}, '/api/dpop'), path: '/api/dpop', status: 200, challenge: '' })],
  ['no proof', (_o, c) => ({ authorization: `DPoP ${c.token}`, status: 401, ...rowOf(proofError('ERR_DPOP_PROOF_MISSING')) })],
  ['two proofs', (_o, c) => ({ authorization: `DPoP ${c.token}`, dpop: [proof(c), proof(c)], status: 401, ...rowOf(proofError('ERR_DPOP_PROOF_MALFORMED', 'Send exactly one DPoP proof header')) })],
  ['a proof that is not a JWT', (_o, c) => ({ authorization: `DPoP ${c.token}`, dpop: 'not-a-jwt', status: 401, ...rowOf(proofError('ERR_DPOP_PROOF_MALFORMED')) })],
  ['an oversized proof', (_o, c) => ({ authorization: `DPoP ${c.token}`, dpop: proof(c, { claims: { pad: 'x'.repeat(5000) } }), status: 401, ...rowOf(proofError('ERR_DPOP_PROOF_MALFORMED', /The DPoP proof is \d+ characters long; at most 4096 are accepted/)) })],
  ['typ other than dpop+jwt', (_o, c) => ({ authorization: `DPoP ${c.token}`, dpop: proof(c, { header: { typ: 'JWT' } }), status: 401, ...rowOf(proofError('ERR_DPOP_PROOF_MALFORMED', 'The DPoP proof must have typ dpop\\+jwt')) })],
  ['no jti', (_o, c) => ({ authorization: `DPoP ${c.token}`, dpop: proof(c, { claims: { jti: undefined } }), status: 401, ...rowOf(proofError('ERR_DPOP_PROOF_MALFORMED')) })],
  ['wrong htm', (_o, c) => ({ authorization: `DPoP ${c.token}`, dpop: proof(c, { method: 'POST' }), status: 401, ...rowOf(proofError('ERR_DPOP_PROOF_MISMATCH', 'The DPoP proof is for POST, not GET')) })],
  ['wrong htu', (_o, c) => ({ authorization: `DPoP ${c.token}`, dpop: proof(c, { url: 'https://other.example.com/api/hello' }), status: 401, ...rowOf(proofError('ERR_DPOP_PROOF_MISMATCH')) })],
  ['htu of another path', (_o, c) => ({ authorization: `DPoP ${c.token}`, dpop: proof(c, {}, '/api/other'), status: 401, ...rowOf(proofError('ERR_DPOP_PROOF_MISMATCH')) })],
  ['stale iat', (_o, c) => ({ authorization: `DPoP ${c.token}`, dpop: proof(c, { iat: now() - 600 }), status: 401, ...rowOf(proofError('ERR_DPOP_PROOF_STALE')) })],
  ['iat in the future', (_o, c) => ({ authorization: `DPoP ${c.token}`, dpop: proof(c, { iat: now() + 600 }), status: 401, ...rowOf(proofError('ERR_DPOP_PROOF_STALE')) })],
  ['wrong ath (a proof for another token)', (o, c) => ({ authorization: `DPoP ${c.token}`, dpop: proof(c, { accessToken: o.token() }), status: 401, ...rowOf(proofError('ERR_DPOP_PROOF_MISMATCH', "The DPoP proof's ath is not the hash of this access token")) })],
  ['no ath', (_o, c) => ({ authorization: `DPoP ${c.token}`, dpop: proof(c, { claims: { ath: undefined } }), status: 401, ...rowOf(proofError('ERR_DPOP_PROOF_MISMATCH')) })],
  ['a jwk with the private key in it', (_o, c) => ({ authorization: `DPoP ${c.token}`, dpop: proof(c, { header: { jwk: c.privateKey.export({ format: 'jwk' }) } }), status: 401, ...rowOf(proofError('ERR_DPOP_PROOF_KEY')) })],
  ['no jwk', (_o, c) => ({ authorization: `DPoP ${c.token}`, dpop: proof(c, { header: { jwk: undefined } }), status: 401, ...rowOf(proofError('ERR_DPOP_PROOF_KEY')) })],
  // The key is imported once and kept by thumbprint: a jwk naming an alg is another entry, checked afresh.
  ['the same key with a fitting alg member', (_o, c) => ({ authorization: `DPoP ${c.token}`, dpop: proof(c, { header: { jwk: { ...publicJwk(c.privateKey), alg: 'ES256' } } }), status: 200, challenge: '' })],
  ['the same key with an alg member that does not fit it', (_o, c) => ({ authorization: `DPoP ${c.token}`, dpop: proof(c, { header: { jwk: { ...publicJwk(c.privateKey), alg: 'ES384' } } }), status: 401, ...rowOf(proofError('ERR_DPOP_PROOF_KEY')) })],
  ['the same key with an alg member that is not a string', (_o, c) => ({ authorization: `DPoP ${c.token}`, dpop: proof(c, { header: { jwk: { ...publicJwk(c.privateKey), alg: 7 } } }), status: 401, ...rowOf(proofError('ERR_DPOP_PROOF_KEY')) })],
  ['a symmetric alg (HS256)', (_o, c) => ({ authorization: `DPoP ${c.token}`, dpop: hmacProof(c), status: 401, ...rowOf(proofError('ERR_DPOP_PROOF_ALG')) })],
  ['alg none', (_o, c) => ({ authorization: `DPoP ${c.token}`, dpop: unsigned(proof(c)), status: 401, ...rowOf(proofError('ERR_DPOP_PROOF_ALG')) })],
  ['a bad signature', (_o, c) => ({ authorization: `DPoP ${c.token}`, dpop: tamper(proof(c)), status: 401, ...rowOf(proofError('ERR_DPOP_PROOF_SIGNATURE')) })],
  ['a proof signed with another key (thumbprint is not cnf.jkt)', (_o, c) => ({ authorization: `DPoP ${c.token}`, dpop: proof({ ...c, privateKey: createKeyPair('ES256').privateKey }), status: 401, code: 'ERR_DPOP_KEY_MISMATCH', challenge: new RegExp(`^Bearer realm="api", DPoP algs="${ALGS}", error="invalid_token", error_description="The DPoP proof is signed with another key than the one the token is bound to"$`) })],
  ['an unbound token with the DPoP scheme', (o, c) => {
    const token = o.token();
    return { authorization: `DPoP ${token}`, dpop: proof({ ...c, token }), status: 401, code: 'ERR_DPOP_KEY_MISMATCH', challenge: /DPoP algs="[^"]+", error="invalid_token"/ };
  }],
  ['a bound token sent as Bearer', (_o, c) => ({ authorization: `Bearer ${c.token}`, status: 401, code: 'ERR_DPOP_BOUND_TOKEN_AS_BEARER', challenge: new RegExp(`^Bearer realm="api", error="invalid_token", error_description="[^"]+", DPoP algs="${ALGS}"$`) })],
  ['a bound token sent as Bearer to a bearer-only route', (_o, c) => ({ authorization: `Bearer ${c.token}`, path: '/api/bearer', status: 401, code: 'ERR_DPOP_BOUND_TOKEN_AS_BEARER', challenge: /^Bearer realm="api", error="invalid_token", error_description="[^"]+"$/ })],
  ['a bearer token to a route that requires DPoP', (o) => ({ authorization: `Bearer ${o.token()}`, path: '/api/dpop', status: 401, code: 'ERR_DPOP_REQUIRED', challenge: new RegExp(`^DPoP algs="${ALGS}", error="invalid_token", error_description="This route requires a DPoP-bound token[^"]*"$`) })],
  ['no credentials on a route that requires DPoP', () => ({ path: '/api/dpop', status: 401, code: 'ERR_TOKEN_MISSING', challenge: `DPoP algs="${ALGS}"` })],
  ['the DPoP scheme on a bearer-only route', (_o, c) => ({ authorization: `DPoP ${c.token}`, dpop: proof(c, {}, '/api/bearer'), path: '/api/bearer', status: 401, code: 'ERR_TOKEN_MISSING', challenge: 'Bearer realm="api"' })],
  ['an unbound bearer token where DPoP is allowed', (o) => ({ authorization: `Bearer ${o.token()}`, status: 200, challenge: '' })],
];

function rowOf([code, challenge]: [string, RegExp]): { code: string; challenge: RegExp } {
  return { code, challenge };
}

function tamper(jws: string): string {
  const [h, p, s] = jws.split('.');
  return `${h}.${p}.${s.startsWith('A') ? 'B' : 'A'}${s.slice(1)}`;
}

function unsigned(jws: string): string {
  const [h, p] = jws.split('.');
  const header = { ...JSON.parse(Buffer.from(h, 'base64url').toString()), alg: 'none' };
  return `${Buffer.from(JSON.stringify(header)).toString('base64url')}.${p}.`;
}

function hmacProof(c: Client): string {
  const [, p] = proof(c).split('.');
  const h = Buffer.from(JSON.stringify({ typ: 'dpop+jwt', alg: 'HS256', jwk: publicJwk(c.privateKey) })).toString('base64url');
  return `${h}.${p}.${createHmac('sha256', JSON.stringify(publicJwk(c.privateKey))).update(`${h}.${p}`).digest('base64url')}`;
}

describe.each(ADAPTERS)('%s adapter, DPoP answers', (_name, makeApp) => {
  let okta: MockOkta;
  let guard: Guard;
  let app: Served;
  let client: Client;

  beforeAll(() => {
    okta = mockOkta();
    guard = createGuard({ issuer: okta.issuer, audience: okta.audience, dpop: { origins: ORIGIN } });
    app = makeApp(guard, ROUTES);
  });

  beforeEach(() => {
    const { privateKey } = createKeyPair('ES256');
    client = { privateKey, token: okta.token({}, { dpop: privateKey }) };
  });

  afterAll(async () => {
    await guard.close();
    okta.close();
  });

  test.each(rows)('%s', async (_row, make) => {
    const row = make(okta, client);
    let req = request(app).get(row.path ?? '/api/hello');
    if (row.authorization !== undefined) req = req.set('Authorization', row.authorization);
    if (row.dpop !== undefined) req = req.set('DPoP', row.dpop as string);
    const res = await req;
    expect(res.status).toBe(row.status);
    const challenge = res.headers['www-authenticate'];
    if (row.status === 200) {
      expect(challenge).toBeUndefined();
      expect(res.body.subject).toBe('alice@example.com');
      return;
    }
    expect(res.body.code).toBe(row.code);
    if (typeof row.challenge === 'string') expect(challenge).toBe(row.challenge);
    else expect(challenge).toMatch(row.challenge);
    // Nothing sent back contains the token or the proof.
    expect(res.text).not.toContain(client.token.split('.')[2]);
    expect(challenge).not.toContain(client.token.split('.')[1]);
  });

  test('a replayed proof is refused; the token verdict stays cached while every proof is checked', async () => {
    const first = proof(client);
    const send = (dpop: string) => request(app).get('/api/hello').set('Authorization', `DPoP ${client.token}`).set('DPoP', dpop);
    expect((await send(first)).status).toBe(200);
    const before = guard.stats().tokenCache;
    const replay = await send(first);
    expect(replay.status).toBe(401);
    expect(replay.body.code).toBe('ERR_DPOP_PROOF_REPLAYED');
    expect(replay.headers['www-authenticate']).toContain('error="invalid_dpop_proof"');
    expect((await send(proof(client))).status).toBe(200);
    const after = guard.stats().tokenCache;
    expect(after.misses).toBe(before.misses);
    expect(after.hits).toBe(before.hits + 2);
  });
});

describe('DPoP across a fleet, nonces, and the origin', () => {
  let okta: MockOkta;
  const guards: Guard[] = [];
  const make = (options: Partial<GuardOptions> = {}) => {
    const guard = createGuard({ issuer: okta.issuer, audience: okta.audience, dpop: { origins: ORIGIN }, ...options });
    guards.push(guard);
    return guard;
  };
  let client: Client;

  beforeEach(() => {
    okta = mockOkta();
    const { privateKey } = createKeyPair('ES256');
    client = { privateKey, token: okta.token({}, { dpop: privateKey }) };
  });

  afterEach(async () => {
    await Promise.all(guards.splice(0).map((guard) => guard.close()));
    okta.close();
  });

  test('a proof used at one instance is refused at another that shares the revocation store', async () => {
    const store = memoryRevocationStore();
    const a = expressApp(make({ revocation: { store } }));
    const b = expressApp(make({ revocation: { store } }));
    const shared = proof(client);
    expect((await request(a).get('/api/hello').set('Authorization', `DPoP ${client.token}`).set('DPoP', shared)).status).toBe(200);
    const replay = await request(b).get('/api/hello').set('Authorization', `DPoP ${client.token}`).set('DPoP', shared);
    expect(replay.status).toBe(401);
    expect(replay.body.code).toBe('ERR_DPOP_PROOF_REPLAYED');
  });

  test('a store that cannot record the proof is a 503 with Retry-After, never a pass', async () => {
    const base = memoryRevocationStore();
    const store: RevocationStore = { ...base, add: base.add, load: base.load, subscribe: base.subscribe, close: base.close, claimOnce: () => Promise.reject(new Error('down')) };
    const res = await request(expressApp(make({ revocation: { store } }))).get('/api/hello').set('Authorization', `DPoP ${client.token}`).set('DPoP', proof(client));
    expect(res.status).toBe(503);
    expect(res.headers['retry-after']).toBe('1');
    expect(res.body.code).toBe('ERR_REVOCATION_UNAVAILABLE');
  });

  test('with nonces on, a proof without the nonce gets use_dpop_nonce and DPoP-Nonce; one with it passes', async () => {
    const app = expressApp(make({ dpop: { origins: ORIGIN, nonces: true, nonceSecret: 'n'.repeat(32) } }));
    const first = await request(app).get('/api/hello').set('Authorization', `DPoP ${client.token}`).set('DPoP', proof(client));
    expect(first.status).toBe(401);
    expect(first.body.code).toBe('ERR_DPOP_NONCE');
    expect(first.headers['www-authenticate']).toMatch(/DPoP algs="[^"]+", error="use_dpop_nonce"/);
    const nonce = first.headers['dpop-nonce'];
    expect(nonce).toMatch(/^[\w-]{32}$/);
    const retry = await request(app).get('/api/hello').set('Authorization', `DPoP ${client.token}`).set('DPoP', proof(client, { nonce }));
    expect(retry.status).toBe(200);
    // Another instance with the same secret accepts the same nonce.
    const other = expressApp(make({ dpop: { origins: ORIGIN, nonces: true, nonceSecret: 'n'.repeat(32) } }));
    expect((await request(other).get('/api/hello').set('Authorization', `DPoP ${client.token}`).set('DPoP', proof(client, { nonce }))).status).toBe(200);
    const forged = await request(app).get('/api/hello').set('Authorization', `DPoP ${client.token}`).set('DPoP', proof(client, { nonce: 'x'.repeat(32) }));
    expect(forged.body.code).toBe('ERR_DPOP_NONCE');
  });

  test('without dpop.origins the htu is the Host the request came to, over plain HTTP; X-Forwarded-* is never read', async () => {
    const server: Server = createServer(expressApp(make({ dpop: {} })) as never);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const ok = await fetch(`${base}/api/hello?x=1`, { headers: { authorization: `DPoP ${client.token}`, dpop: createDpopProof({ privateKey: client.privateKey, method: 'GET', url: `${base}/api/hello`, accessToken: client.token }) } });
      expect(ok.status).toBe(200);
      const forwarded = await fetch(`${base}/api/hello`, {
        headers: { authorization: `DPoP ${client.token}`, 'x-forwarded-host': 'api.example.com', 'x-forwarded-proto': 'https', dpop: proof(client) },
      });
      expect(forwarded.status).toBe(401);
      expect(((await forwarded.json()) as { code: string }).code).toBe('ERR_DPOP_PROOF_MISMATCH');
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  test('verifyToken refuses a bound token (it has no request to prove possession with); bad dpop options are TypeErrors', async () => {
    await expect(make().verifyToken(client.token)).rejects.toMatchObject({ code: 'ERR_DPOP_BOUND_TOKEN_AS_BEARER' });
    const base = { issuer: okta.issuer, audience: okta.audience };
    expect(() => createGuard({ ...base, dpop: { origins: 'https://api.example.com/path' } })).toThrow(/dpop\.origins/);
    expect(() => createGuard({ ...base, dpop: { algorithms: ['HS256' as never] } })).toThrow(/dpop\.algorithms/);
    expect(() => createGuard({ ...base, dpop: { nonceSecret: 'short' } })).toThrow(/dpop\.nonceSecret/);
    expect(() => createGuard({ ...base, dpop: { proofMaxAge: 0 } })).toThrow(/dpop\.proofMaxAge/);
    expect(() => createGuard({ ...base, dpop: { nonce: true } as never })).toThrow(/unknown option "dpop\.nonce"/);
    expect(() => createGuard({ ...base, policy: { dpop: 'sometimes' as never } })).toThrow(/policy "dpop"/);
  });
});
