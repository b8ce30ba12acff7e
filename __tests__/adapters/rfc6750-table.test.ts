import { createHmac, createPublicKey } from 'node:crypto';
import request from 'supertest';
import { createGuard, type Guard } from 'tokengate';
import { mockOkta, type MockOkta } from 'tokengate/testing';
import { ADAPTERS, type Served } from '../helpers';

/** One row: how the request is made, and the answer both adapters must give. */
interface Row {
  path?: string;
  authorization?: string | string[];
  query?: string;
  status: number;
  /** Expected `WWW-Authenticate`; a RegExp for those with a description. */
  challenge?: string | RegExp;
}

let okta: MockOkta;
const rows: Array<[string, (okta: MockOkta) => Row]> = [
  ['no Authorization header', () => ({ status: 401, challenge: 'Bearer realm="api", DPoP algs="ES256 ES384 PS256 RS256 EdDSA"' })],
  ['another scheme (Basic)', () => ({ authorization: 'Basic YWxpY2U6c2VjcmV0', status: 401, challenge: 'Bearer realm="api", DPoP algs="ES256 ES384 PS256 RS256 EdDSA"' })],
  ['Bearer with no token', () => ({ authorization: 'Bearer', status: 400, challenge: /^Bearer realm="api", error="invalid_request", error_description="[^"]+", DPoP algs="[^"]+"$/ })],
  ['two tokens in one header', (o) => ({ authorization: `Bearer ${o.token()}, Bearer ${o.token()}`, status: 400, challenge: /error="invalid_request"/ })],
  ['two Authorization headers', (o) => ({ authorization: [`Bearer ${o.token()}`, `Bearer ${o.token()}`], status: 400, challenge: /error="invalid_request"/ })],
  ['token in the query string', (o) => ({ query: `access_token=${o.token()}`, status: 400, challenge: /error="invalid_request"/ })],
  ['token in header and query', (o) => ({ authorization: `Bearer ${o.token()}`, query: `access_token=${o.token()}`, status: 400, challenge: /error="invalid_request"/ })],
  ['token with a space inside', () => ({ authorization: 'Bearer abc def', status: 400, challenge: /error="invalid_request"/ })],
  ['token with a quote inside', () => ({ authorization: 'Bearer abc"def', status: 400, challenge: /error="invalid_request"/ })],
  ['oversized token', () => ({ authorization: `Bearer ${'a'.repeat(9000)}`, status: 401, challenge: /error="invalid_token"/ })],
  ['not a JWT', () => ({ authorization: 'Bearer not-a-jwt', status: 401, challenge: /error="invalid_token"/ })],
  ['valid token', (o) => ({ authorization: `Bearer ${o.token()}`, status: 200 })],
  ['scheme in lower case', (o) => ({ authorization: `bearer ${o.token()}`, status: 200 })],
  ['scheme in mixed case', (o) => ({ authorization: `bEaReR ${o.token()}`, status: 200 })],
  ['a scheme one letter away from Bearer', (o) => ({ authorization: `Bearez ${o.token()}`, status: 401, challenge: 'Bearer realm="api", DPoP algs="ES256 ES384 PS256 RS256 EdDSA"' })],
  ['expired token', (o) => ({ authorization: `Bearer ${o.token({}, { expiresIn: -120 })}`, status: 401, challenge: /error="invalid_token", error_description="The token expired \d+ seconds ago"/ })],
  ['wrong audience', (o) => ({ authorization: `Bearer ${o.token({ aud: 'api://other' })}`, status: 401, challenge: /error="invalid_token"/ })],
  ['wrong issuer', (o) => ({ authorization: `Bearer ${o.token({ iss: 'https://evil.example.com/oauth2/default' })}`, status: 401, challenge: /error="invalid_token"/ })],
  ['alg none', (o) => ({ authorization: `Bearer ${unsigned(o.token())}`, status: 401, challenge: /error="invalid_token", error_description="The token is signed with none; allowed: RS256"/ })],
  ['HS256 signed with the public key (algorithm confusion)', (o) => ({ authorization: `Bearer ${hmacConfused(o)}`, status: 401, challenge: /error="invalid_token"/ })],
  ['tampered payload', (o) => ({ authorization: `Bearer ${tamper(o.token())}`, status: 401, challenge: /error="invalid_token", error_description="The token signature is invalid"/ })],
  ['signed by a key the issuer never published', (o) => ({ authorization: `Bearer ${o.token({}, { unpublishedKey: true })}`, status: 401, challenge: /error="invalid_token"/ })],
  ['unknown kid', (o) => ({ authorization: `Bearer ${o.token({}, { header: { kid: 'retired-key' } })}`, status: 401, challenge: /error="invalid_token"/ })],
  ['missing both required scopes', (o) => ({ path: '/api/orders', authorization: `Bearer ${o.token()}`, status: 403, challenge: /error="insufficient_scope", error_description="[^"]+", scope="orders:read orders:write", DPoP algs="[^"]+"$/ })],
  ['missing one required scope', (o) => ({ path: '/api/orders', authorization: `Bearer ${o.token({ scp: ['orders:read'] })}`, status: 403, challenge: /scope="orders:read orders:write"/ })],
  ['all required scopes (scp array)', (o) => ({ path: '/api/orders', authorization: `Bearer ${o.token({ scp: ['orders:read', 'orders:write'] })}`, status: 200 })],
  ['all required scopes (RFC 9068 scope string)', (o) => ({ path: '/api/orders', authorization: `Bearer ${o.token({ scp: undefined, scope: 'orders:write orders:read' })}`, status: 200 })],
  ['claim check failing', (o) => ({ path: '/api/admin', authorization: `Bearer ${o.token({ groups: ['users'] })}`, status: 403, challenge: /error="insufficient_scope"/ })],
  ['claim check passing', (o) => ({ path: '/api/admin', authorization: `Bearer ${o.token({ groups: ['users', 'admins'] })}`, status: 200 })],
];

function unsigned(token: string): string {
  const [, payload] = token.split('.');
  return `${Buffer.from(JSON.stringify({ alg: 'none' })).toString('base64url')}.${payload}.`;
}

function tamper(token: string): string {
  const [header, payload, signature] = token.split('.');
  const claims = JSON.parse(Buffer.from(payload, 'base64url').toString());
  claims.sub = 'mallory@example.com';
  return `${header}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${signature}`;
}

/** The classic attack: sign with HS256 using the RSA public key as the HMAC secret. */
function hmacConfused(o: MockOkta): string {
  const [, payload] = o.token().split('.');
  const header = Buffer.from(JSON.stringify({ alg: 'HS256', kid: o.kids[0] })).toString('base64url');
  const secret = createPublicKey({ key: o.jwks().keys[0] as never, format: 'jwk' }).export({ type: 'spki', format: 'pem' });
  const signature = createHmac('sha256', secret).update(`${header}.${payload}`).digest('base64url');
  return `${header}.${payload}.${signature}`;
}

describe.each(ADAPTERS)('%s adapter, RFC 6750 answers', (_name, makeApp) => {
  let guard: Guard;
  let app: Served;

  beforeAll(() => {
    okta = mockOkta();
    guard = createGuard({ issuer: okta.issuer, audience: okta.audience });
    app = makeApp(guard);
  });
  afterAll(async () => {
    await guard.close();
    okta.close();
  });

  test.each(rows)('%s', async (name, make) => {
    const row = make(okta);
    let req = request(app).get(`${row.path ?? '/api/hello'}${row.query ? `?${row.query}` : ''}`);
    if (row.authorization !== undefined) req = req.set('Authorization', row.authorization as string);
    const res = await req;
    expect({ name, status: res.status }).toEqual({ name, status: row.status });
    const challenge = res.headers['www-authenticate'];
    if (row.status === 200) {
      expect(challenge).toBeUndefined();
      expect(res.body.subject).toBe('alice@example.com');
    } else if (typeof row.challenge === 'string') {
      expect(challenge).toBe(row.challenge);
    } else {
      expect(challenge).toMatch(row.challenge!);
    }
    // Nothing sent back may contain a token, or even its signature.
    const sent = [row.authorization, row.query].flat().filter(Boolean).join(' ');
    for (const token of sent.match(/[\w-]+\.[\w-]+\.[\w-]+/g) ?? []) {
      expect(res.text).not.toContain(token.split('.')[2] || token);
      expect(challenge ?? '').not.toContain(token.split('.')[1]);
    }
  });

  test('an unreachable issuer is a 503 with Retry-After, never a 401', async () => {
    const down = mockOkta();
    down.fail('jwks', 'down');
    const downGuard = createGuard({ issuer: down.issuer, audience: down.audience });
    const res = await request(makeApp(downGuard)).get('/api/hello').set('Authorization', `Bearer ${down.token()}`);
    expect(res.status).toBe(503);
    expect(res.headers['retry-after']).toMatch(/^\d+$/);
    expect(res.headers['www-authenticate']).toBeUndefined();
    await downGuard.close();
    down.close();
  });
});
