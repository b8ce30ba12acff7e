import nock from 'nock';
import { createGuard } from 'tokengate';
import { createKeyPair, mockOkta, OktaModel, signCompact } from 'tokengate/testing';
import { SUPPORTED_ALGORITHMS, type Algorithm } from 'tokengate';

const decode = (token: string) => JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString());
const header = (token: string) => JSON.parse(Buffer.from(token.split('.')[0], 'base64url').toString());

test('mints Okta-shaped access tokens; claims override and undefined removes', () => {
  const okta = mockOkta({ issuer: 'https://dev-1.okta.com/oauth2/aus123', audience: 'api://orders', clientId: '0oa-test' });
  const claims = decode(okta.token({ sub: 'bob@example.com', uid: undefined, groups: ['admins'] }, { expiresIn: 60 }));
  expect(claims).toMatchObject({ ver: 1, iss: 'https://dev-1.okta.com/oauth2/aus123', aud: 'api://orders', cid: '0oa-test', sub: 'bob@example.com', groups: ['admins'], scp: ['openid', 'profile'] });
  expect(claims.uid).toBeUndefined();
  expect(claims.exp - claims.iat).toBe(60);
  expect(claims.jti).toMatch(/^AT\./);
  expect(header(okta.token())).toEqual({ kid: okta.kids[0], alg: 'RS256' });
  okta.close();
});

test('serves discovery and keys, counts calls, and fails on demand for a number of requests', async () => {
  const okta = mockOkta();
  const guard = createGuard({ issuer: okta.issuer, audience: okta.audience, keySet: { retryAfter: 0 } });
  okta.fail('jwks', 500, { times: 1 });
  await expect(guard.verifyToken(okta.token())).rejects.toMatchObject({ status: 503 });
  await expect(guard.verifyToken(okta.token())).resolves.toBeDefined();
  expect(okta.calls).toMatchObject({ discovery: 1, jwks: 2 });
  okta.resetCalls();
  expect(okta.calls).toMatchObject({ discovery: 0, jwks: 0 });
  await guard.close();
  okta.close();
});

test('rotateKeys publishes a new key and signs with it; removeOld withdraws the others', () => {
  const okta = mockOkta();
  const first = okta.kids[0];
  okta.rotateKeys();
  expect(okta.kids).toHaveLength(2);
  expect(header(okta.token()).kid).toBe(okta.kids[1]);
  okta.rotateKeys({ removeOld: true });
  expect(okta.kids).toHaveLength(1);
  expect(okta.kids).not.toContain(first);
  expect(okta.jwks().keys[0]).not.toHaveProperty('d');
  okta.close();
});

test('two mocks side by side do not interfere, and close() takes a mock away', async () => {
  const a = mockOkta();
  const b = mockOkta();
  const guardA = createGuard({ issuer: a.issuer, audience: a.audience });
  const guardB = createGuard({ issuer: b.issuer, audience: b.audience });
  await expect(guardA.verifyToken(a.token())).resolves.toBeDefined();
  await expect(guardA.verifyToken(b.token())).rejects.toMatchObject({ code: 'ERR_ISSUER_INVALID' });
  b.close();
  // With nock.disableNetConnect() on, a closed mock is unreachable: an upstream failure, a 503.
  await expect(guardB.verifyToken(b.token())).rejects.toMatchObject({ code: 'ERR_KEYS_UNAVAILABLE', status: 503 });
  await guardA.close();
  await guardB.close();
  a.close();
});

test('signing with an algorithm the mock does not publish is a clear TypeError', () => {
  const okta = mockOkta();
  expect(() => okta.token({}, { alg: 'ES256' })).toThrow(/no published key for ES256/);
  okta.close();
});

test('createKeyPair: a pair for every supported algorithm that a guard verifies with; RSA size on request; bad input refused', async () => {
  const algorithms = SUPPORTED_ALGORITHMS;
  const curves: Record<string, string> = { ES256: 'prime256v1', ES384: 'secp384r1', ES512: 'secp521r1' };
  const expected = (alg: Algorithm) =>
    alg.startsWith('RS') || alg.startsWith('PS') ? { type: 'rsa', detail: { modulusLength: 2048 } } : alg.startsWith('ES') ? { type: 'ec', detail: { namedCurve: curves[alg] } } : { type: 'ed25519', detail: {} };
  const issuer = 'https://keys.example.com/oauth2/default';
  const keys = algorithms.map((alg) => ({ alg, kid: `k-${alg}`, ...createKeyPair(alg) }));
  nock(issuer).get('/v1/keys').reply(200, { keys: keys.map(({ alg, kid, publicKey }) => ({ ...publicKey.export({ format: 'jwk' }), alg, kid, use: 'sig' })) });
  const guard = createGuard({ issuer, audience: 'api://default', jwksUri: `${issuer}/v1/keys`, algorithms });
  const now = Math.floor(Date.now() / 1000);
  for (const { alg, kid, privateKey, publicKey } of keys) {
    expect(privateKey.type).toBe('private');
    expect(publicKey.asymmetricKeyType).toBe(expected(alg).type);
    expect(publicKey.asymmetricKeyDetails).toMatchObject(expected(alg).detail);
    const token = signCompact({ alg, kid, typ: 'application/at+jwt' }, { iss: issuer, aud: 'api://default', sub: alg, iat: now, exp: now + 60 }, alg, privateKey);
    await expect(guard.verifyToken(token)).resolves.toMatchObject({ subject: alg });
  }
  await guard.close();
  expect(createKeyPair().publicKey.asymmetricKeyDetails).toMatchObject({ modulusLength: 2048 });
  expect(createKeyPair('RS256', { modulusLength: 1024 }).publicKey.asymmetricKeyDetails).toMatchObject({ modulusLength: 1024 });
  expect(() => createKeyPair('ES256', { modulusLength: 2048 })).toThrow(new TypeError('tokengate/testing: createKeyPair() option "modulusLength" is for RSA algorithms (RS*, PS*), not "ES256"'));
  expect(() => createKeyPair('HS256' as Algorithm)).toThrow(new TypeError('tokengate/testing: createKeyPair() does not know the algorithm "HS256" (one of RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512, EdDSA, Ed25519)'));
});

test('unpublishedKey is never a published key, however many mocks came before', async () => {
  const mocks = Array.from({ length: 9 }, () => mockOkta());
  const okta = mockOkta();
  const guard = createGuard({ issuer: okta.issuer, audience: okta.audience, keySet: { cooldown: 0 } });
  for (let i = 0; i < 3; i++) {
    await expect(guard.verifyToken(okta.token({}, { unpublishedKey: true }))).rejects.toMatchObject({ code: 'ERR_SIGNATURE_INVALID' });
  }
  await guard.close();
  for (const m of [...mocks, okta]) m.close();
});

test('a mock answers only its own paths: two authorization servers of one org, and the user’s own mocks, coexist', async () => {
  const a = mockOkta({ issuer: 'https://dev-7.okta.com/oauth2/default' });
  const b = mockOkta({ issuer: 'https://dev-7.okta.com/oauth2/aus123' });
  nock('https://dev-7.okta.com').get('/api/v1/users/me').reply(200, { id: '00u-me' });
  const guardB = createGuard({ issuer: b.issuer, audience: b.audience });
  await expect(guardB.verifyToken(b.token())).resolves.toBeDefined();
  expect(b.calls).toMatchObject({ discovery: 1, jwks: 1 });
  const me = await fetch('https://dev-7.okta.com/api/v1/users/me').then((r) => r.json());
  expect(me).toEqual({ id: '00u-me' });
  await guardB.close();
  a.close();
  b.close();
});

test('fail(): times must be at least 1, and slow answers arrive late but intact', async () => {
  const okta = mockOkta();
  expect(() => okta.fail('jwks', 500, { times: 0 })).toThrow(/at least 1/);
  okta.fail('jwks', 'slow', { delay: 100 });
  const started = Date.now();
  const guard = createGuard({ issuer: okta.issuer, audience: okta.audience });
  await expect(guard.verifyToken(okta.token())).resolves.toBeDefined();
  expect(Date.now() - started).toBeGreaterThanOrEqual(90);
  await guard.close();
  okta.close();
});

test('expiresIn counts from iat when iat is given', () => {
  const okta = mockOkta();
  const claims = decode(okta.token({ iat: 1000 }, { expiresIn: 60 }));
  expect(claims.exp).toBe(1060);
  okta.close();
});

describe('stateful Okta endpoints', () => {
  test('sessions: GET while alive, 404 E0000007 once ended, DELETE closes one; SSWS required', async () => {
    const okta = mockOkta();
    const session = okta.session({ login: 'bob@example.com' });
    const url = `${new URL(okta.issuer).origin}/api/v1/sessions/${session.id}`;
    const auth = { authorization: `SSWS ${okta.apiToken}` };
    expect(await fetch(url).then((r) => r.status)).toBe(401);
    const alive = await fetch(url, { headers: auth }).then((r) => r.json());
    expect(alive).toMatchObject({ id: session.id, login: 'bob@example.com', status: 'ACTIVE' });
    expect(await fetch(url, { method: 'DELETE', headers: auth }).then((r) => r.status)).toBe(204);
    const gone = await fetch(url, { headers: auth });
    expect(gone.status).toBe(404);
    expect(await gone.json()).toMatchObject({ errorCode: 'E0000007' });
    okta.close();
  });

  test('rateLimit: X-Rate-Limit headers on every answer, 429 E0000047 past the limit', async () => {
    const okta = mockOkta();
    okta.rateLimit('sessions', { limit: 2, resetIn: 60 });
    const url = `${new URL(okta.issuer).origin}/api/v1/sessions/${okta.session().id}`;
    const auth = { authorization: `SSWS ${okta.apiToken}` };
    const answers = [];
    for (let i = 0; i < 3; i++) answers.push(await fetch(url, { headers: auth }));
    expect(answers.map((a) => a.status)).toEqual([200, 200, 429]);
    expect(answers.map((a) => a.headers.get('x-rate-limit-remaining'))).toEqual(['1', '0', '0']);
    expect(Number(answers[0].headers.get('x-rate-limit-reset'))).toBeGreaterThan(Date.now() / 1000);
    expect(await answers[2].json()).toMatchObject({ errorCode: 'E0000047' });
    okta.close();
  });

  test('introspection authenticates the client and reflects revocation; latency delays answers', async () => {
    const okta = mockOkta();
    const token = okta.token({ scp: ['a', 'b'] });
    const introspect = (authorization: string) =>
      fetch(`${okta.issuer}/v1/introspect`, { method: 'POST', headers: { authorization, 'content-type': 'application/x-www-form-urlencoded' }, body: `token=${token}` });
    const basic = `Basic ${Buffer.from(`${okta.clientId}:${okta.clientSecret}`).toString('base64')}`;
    expect((await introspect('Basic Zm9vOmJhcg==')).status).toBe(401);
    expect(await (await introspect(basic)).json()).toMatchObject({ active: true, scope: 'a b', client_id: okta.clientId, username: 'alice@example.com' });
    okta.revoke(token);
    okta.latency('introspect', 150);
    const started = Date.now();
    expect(await (await introspect(basic)).json()).toEqual({ active: false });
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
    expect(okta.requests.at(-1)).toMatchObject({ endpoint: 'introspect', method: 'POST' });
    okta.close();
  });
});

test('input the model cannot read is answered, never thrown (the dev issuer would crash)', () => {
  const model = new OktaModel();
  const introspect = model.handle({
    method: 'POST',
    path: new URL(`${model.issuer}/v1/introspect`).pathname,
    headers: { authorization: `Basic ${Buffer.from('%E0:x').toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
    body: 'token=abc',
  });
  // A client id that is not form-encoded authenticates no client (RFC 6749 §5.2: 401 invalid_client).
  expect(introspect.status).toBe(401);
  expect(JSON.parse(introspect.body)).toMatchObject({ error: 'invalid_client' });
  // A session id that is not percent-encoded names no session; route() must not throw either (nock calls it).
  expect(() => model.route('GET', '/api/v1/sessions/%E0')).not.toThrow();
  const session = model.handle({ method: 'GET', path: '/api/v1/sessions/%E0', headers: { authorization: `SSWS ${model.apiToken}` }, body: '' });
  expect(session.status).toBe(404);
  expect(JSON.parse(session.body)).toMatchObject({ errorCode: 'E0000007' });
  const broken = model.handle({
    method: 'POST',
    path: new URL(`${model.issuer}/v1/token`).pathname,
    headers: {},
    body: 'grant_type=client_credentials&scope=api&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion=bm90.anNvbg.x',
  });
  expect(broken.status).toBe(401);
});

describe('a suite that checks nock.isDone() after each test', () => {
  const okta = mockOkta();
  afterEach(() => expect(nock.isDone()).toBe(true));
  afterAll(() => okta.close());

  test('the kit’s interceptors are optional: done before use, and after', async () => {
    expect(nock.pendingMocks()).toEqual([]);
    const answer = await fetch(`${okta.issuer}/.well-known/openid-configuration`);
    expect(answer.status).toBe(200);
    expect(nock.pendingMocks()).toEqual([]);
    expect(nock.activeMocks().length).toBeGreaterThanOrEqual(3);
  });

  test('a mock of the suite’s own is still pending until it is used', async () => {
    nock('https://api.example.com').get('/x').reply(204);
    expect(nock.isDone()).toBe(false);
    expect(nock.pendingMocks()).toEqual(['GET https://api.example.com:443/x']);
    expect((await fetch('https://api.example.com/x')).status).toBe(204);
  });

  test('every answer carries X-Okta-Request-Id, recorded with the request; errors carry errorId too', async () => {
    const keys = await fetch(okta.jwksUri);
    const id = keys.headers.get('x-okta-request-id');
    expect(id).toMatch(/^[\w-]{27}$/);
    expect(okta.requests.at(-1)).toMatchObject({ endpoint: 'jwks', requestId: id });
    const missing = await fetch(`${okta.orgUrl}/api/v1/sessions/102nosuchsession`, { headers: { authorization: `SSWS ${okta.apiToken}` } });
    expect(missing.status).toBe(404);
    const second = missing.headers.get('x-okta-request-id');
    expect(second).toMatch(/^[\w-]{27}$/);
    expect(second).not.toBe(id);
    expect(await missing.json()).toEqual({ errorCode: 'E0000007', errorSummary: 'Not found: Resource not found: 102nosuchsession (Session)', errorLink: 'E0000007', errorId: expect.stringMatching(/^oae/), errorCauses: [] });
  });
});
