import nock from 'nock';
import { createGuard, AuthError, type Guard, type GuardOptions } from 'tokengate';
import { createKeyPair, mockOkta, signCompact, type MockOkta } from 'tokengate/testing';
import { fakeClock } from '../helpers';

const clock = fakeClock();
let okta: MockOkta;
const guards: Guard[] = [];

function guardFor(options: Partial<GuardOptions> = {}): Guard {
  const guard = createGuard({ issuer: okta.issuer, audience: okta.audience, clock: clock.now, ...options });
  guards.push(guard);
  return guard;
}

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(AuthError);
    return (error as AuthError).code;
  }
  return 'accepted';
}

beforeEach(() => {
  okta = mockOkta({ clock: clock.now, algorithms: ['RS256', 'PS256', 'ES256', 'ES384', 'ES512', 'EdDSA'] });
});
afterEach(async () => {
  await Promise.all(guards.splice(0).map((g) => g.close()));
  okta.close();
});

describe('time claims', () => {
  test('accepts a token that expired within clockTolerance, rejects one just past it', async () => {
    const guard = guardFor({ clockTolerance: 30, cache: false });
    expect(await codeOf(guard.verifyToken(okta.token({}, { expiresIn: -29 })))).toBe('accepted');
    expect(await codeOf(guard.verifyToken(okta.token({}, { expiresIn: -30 })))).toBe('ERR_TOKEN_EXPIRED');
  });

  test('requires exp, and requires it to be a number', async () => {
    const guard = guardFor();
    expect(await codeOf(guard.verifyToken(okta.token({ exp: undefined })))).toBe('ERR_CLAIM_INVALID');
    expect(await codeOf(guard.verifyToken(okta.token({ exp: String(Math.floor(clock.now() / 1000) + 60) })))).toBe('ERR_CLAIM_INVALID');
  });

  test('rejects nbf and iat in the future beyond the tolerance', async () => {
    const now = Math.floor(clock.now() / 1000);
    const guard = guardFor({ clockTolerance: 10 });
    expect(await codeOf(guard.verifyToken(okta.token({ nbf: now + 5 })))).toBe('accepted');
    expect(await codeOf(guard.verifyToken(okta.token({ nbf: now + 11 })))).toBe('ERR_TOKEN_NOT_YET_VALID');
    expect(await codeOf(guard.verifyToken(okta.token({ iat: now + 11 })))).toBe('ERR_TOKEN_NOT_YET_VALID');
  });

  test('maxTokenAge rejects old tokens and tokens without iat', async () => {
    const now = Math.floor(clock.now() / 1000);
    const guard = guardFor({ maxTokenAge: 600, clockTolerance: 0 });
    expect(await codeOf(guard.verifyToken(okta.token({ iat: now - 600 })))).toBe('accepted');
    expect(await codeOf(guard.verifyToken(okta.token({ iat: now - 601 })))).toBe('ERR_TOKEN_TOO_OLD');
    expect(await codeOf(guard.verifyToken(okta.token({ iat: undefined })))).toBe('ERR_CLAIM_INVALID');
  });
});

describe('issuer, audience, client', () => {
  test('iss must match exactly, trailing slash included', async () => {
    const guard = guardFor();
    expect(await codeOf(guard.verifyToken(okta.token({ iss: `${okta.issuer}/` })))).toBe('ERR_ISSUER_INVALID');
    expect(await codeOf(guard.verifyToken(okta.token({ iss: undefined })))).toBe('ERR_ISSUER_INVALID');
  });

  test('aud may be a list; one match among the configured audiences is enough', async () => {
    const guard = guardFor({ audience: ['api://orders', okta.audience] });
    expect(await codeOf(guard.verifyToken(okta.token({ aud: ['api://other', okta.audience] })))).toBe('accepted');
    expect(await codeOf(guard.verifyToken(okta.token({ aud: ['api://other'] })))).toBe('ERR_AUDIENCE_INVALID');
    expect(await codeOf(guard.verifyToken(okta.token({ aud: undefined })))).toBe('ERR_AUDIENCE_INVALID');
  });

  test('clientIds allow-lists Okta cid and RFC 9068 client_id', async () => {
    const guard = guardFor({ clientIds: ['0oa-allowed'] });
    expect(await codeOf(guard.verifyToken(okta.token({ cid: '0oa-allowed' })))).toBe('accepted');
    expect(await codeOf(guard.verifyToken(okta.token({ cid: undefined, client_id: '0oa-allowed' })))).toBe('accepted');
    expect(await codeOf(guard.verifyToken(okta.token({ cid: '0oa-other' })))).toBe('ERR_CLIENT_NOT_ALLOWED');
    expect(await codeOf(guard.verifyToken(okta.token({ cid: undefined })))).toBe('ERR_CLIENT_NOT_ALLOWED');
  });

  test('requiredClaims must be present', async () => {
    const guard = guardFor({ requiredClaims: ['uid', 'jti'] });
    expect(await codeOf(guard.verifyToken(okta.token()))).toBe('accepted');
    expect(await codeOf(guard.verifyToken(okta.token({ uid: undefined })))).toBe('ERR_CLAIM_INVALID');
  });

  test('claims of the wrong type are refused', async () => {
    const guard = guardFor();
    expect(await codeOf(guard.verifyToken(okta.token({ sub: 42 })))).toBe('ERR_CLAIM_INVALID');
    expect(await codeOf(guard.verifyToken(okta.token({ scp: [1, 2] })))).toBe('ERR_CLAIM_INVALID');
  });

  test('an Okta org-authorization-server token is explained, pointing to introspection', async () => {
    const guard = guardFor();
    const origin = new URL(okta.issuer).origin;
    const error = await guard.verifyToken(okta.token({ iss: origin })).catch((e: AuthError) => e);
    expect(error).toMatchObject({ code: 'ERR_ORG_AUTHORIZATION_SERVER', status: 401 });
    expect((error as Error).message).toMatch(/cannot be validated locally.*introspection/);
  });

  test('a guard configured with an Okta org issuer explains why its tokens fail', async () => {
    const org = mockOkta({ issuer: 'https://dev-424242.okta.com', clock: clock.now });
    const guard = createGuard({ issuer: org.issuer, audience: org.audience, clock: clock.now });
    guards.push(guard);
    const token = org.token({}, { header: { kid: 'org-signing-key-okta-does-not-publish' } });
    expect(await codeOf(guard.verifyToken(token))).toBe('ERR_ORG_AUTHORIZATION_SERVER');
    org.close();
  });
});

describe('header and algorithms (RFC 8725)', () => {
  test.each(['RS256', 'PS256', 'ES256', 'ES384', 'ES512', 'EdDSA'] as const)('verifies %s when allowed', async (alg) => {
    const guard = guardFor({ algorithms: [alg] });
    expect(await codeOf(guard.verifyToken(okta.token({}, { alg })))).toBe('accepted');
  });

  test('an algorithm outside the allow-list is refused before any key is fetched', async () => {
    const guard = guardFor({ algorithms: ['RS256'] });
    expect(await codeOf(guard.verifyToken(okta.token({}, { alg: 'ES256' })))).toBe('ERR_ALG_NOT_ALLOWED');
    expect(okta.calls.jwks).toBe(0);
  });

  test('alg must match the key type: an RS256 header over an EC key finds no key', async () => {
    const guard = guardFor({ algorithms: ['RS256', 'ES256'] });
    const ecKid = okta.jwks().keys.find((k) => k.crv === 'P-256')!.kid as string;
    expect(await codeOf(guard.verifyToken(okta.token({}, { alg: 'ES256', header: { alg: 'RS256', kid: ecKid } })))).toBe('ERR_KEY_UNKNOWN');
  });

  test('PS256 must not verify with an RS256 signature over the same key', async () => {
    const guard = guardFor({ algorithms: ['RS256', 'PS256'] });
    const token = okta.token({}, { alg: 'RS256', header: { alg: 'PS256' } });
    expect(await codeOf(guard.verifyToken(token))).toMatch(/ERR_SIGNATURE_INVALID|ERR_KEY_UNKNOWN/);
  });

  test('an embedded jwk in the header is never used', async () => {
    const guard = guardFor();
    const attacker = createKeyPair('RS256');
    const jwk = attacker.publicKey.export({ format: 'jwk' });
    const now = Math.floor(clock.now() / 1000);
    const token = signCompact(
      { alg: 'RS256', kid: okta.kids[0], jwk, jku: 'https://evil.example.com/keys', x5u: 'https://evil.example.com/cert' },
      { iss: okta.issuer, aud: okta.audience, exp: now + 60, sub: 'mallory' },
      'RS256',
      attacker.privateKey,
    );
    expect(await codeOf(guard.verifyToken(token))).toBe('ERR_SIGNATURE_INVALID');
    expect(nock.pendingMocks().some((m) => m.includes('evil'))).toBe(false);
  });

  test('crit extensions are refused', async () => {
    const guard = guardFor();
    expect(await codeOf(guard.verifyToken(okta.token({}, { header: { crit: ['exp'], exp: 1 } })))).toBe('ERR_CRIT_UNSUPPORTED');
  });

  test('typ: other kinds of JWT are refused by default; at+jwt is required when asked for', async () => {
    const lax = guardFor();
    expect(await codeOf(lax.verifyToken(okta.token()))).toBe('accepted');
    expect(await codeOf(lax.verifyToken(okta.token({}, { header: { typ: 'JWT' } })))).toBe('accepted');
    expect(await codeOf(lax.verifyToken(okta.token({}, { header: { typ: 'logout+jwt' } })))).toBe('ERR_TOKEN_TYPE_INVALID');
    const strict = guardFor({ typ: 'at+jwt' });
    expect(await codeOf(strict.verifyToken(okta.token({}, { header: { typ: 'application/AT+JWT' } })))).toBe('accepted');
    expect(await codeOf(strict.verifyToken(okta.token()))).toBe('ERR_TOKEN_TYPE_INVALID');
  });

  test('malformed tokens get ERR_TOKEN_MALFORMED', async () => {
    const guard = guardFor();
    const [h, p, s] = okta.token().split('.');
    for (const bad of [`${h}.${p}`, `${h}.${p}.${s}.x`, `${h}.!${p}.${s}`, `${Buffer.from('[1]').toString('base64url')}.${p}.${s}`, `${h}.${Buffer.from('{').toString('base64url')}.${s}`, `.${p}.${s}`]) {
      expect(await codeOf(guard.verifyToken(bad))).toMatch(/ERR_TOKEN_MALFORMED|ERR_REQUEST_MALFORMED/);
    }
  });
});

describe('results', () => {
  test('the result is frozen, reads scopes from scp and scope, and keeps the token out of JSON', async () => {
    const guard = guardFor();
    const token = okta.token({ scp: ['a', 'b'], scope: 'b c' });
    const auth = await guard.verifyToken(token);
    expect(auth.scopes).toEqual(['a', 'b', 'c']);
    expect(auth.subject).toBe('alice@example.com');
    expect(auth.clientId).toBe(okta.clientId);
    expect(auth.token).toBe(token);
    expect(JSON.stringify(auth)).not.toContain(token.split('.')[2]);
    expect(Object.isFrozen(auth) && Object.isFrozen(auth.claims) && Object.isFrozen(auth.scopes)).toBe(true);
  });

  test('every error message is free of the token', async () => {
    const guard = guardFor();
    const token = okta.token({ aud: 'nope' });
    const error = (await guard.verifyToken(token).catch((e) => e)) as AuthError;
    expect(error.message + JSON.stringify(error.headers)).not.toContain(token);
  });
});

describe('hardening', () => {
  test('requiredClaims and policy claims never see inherited properties such as constructor or valueOf', async () => {
    const guard = guardFor({ requiredClaims: ['constructor', 'toString', '__proto__'] });
    expect(await codeOf(guard.verifyToken(okta.token()))).toBe('ERR_CLAIM_INVALID');
    const lax = guardFor();
    expect(await codeOf(lax.verifyToken(okta.token(), { claims: { valueOf: (v: unknown) => v !== undefined } }))).toBe('ERR_CLAIM_CHECK_FAILED');
  });

  test('a signature has one spelling: unused trailing bits must be zero', async () => {
    const guard = guardFor({ cache: false });
    const token = okta.token();
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const last = token[token.length - 1];
    const sibling = alphabet[alphabet.indexOf(last) ^ 1];
    expect(await codeOf(guard.verifyToken(token))).toBe('accepted');
    expect(await codeOf(guard.verifyToken(token.slice(0, -1) + sibling))).toBe('ERR_TOKEN_MALFORMED');
  });

  test('error descriptions do not reveal the expected issuer or audiences', async () => {
    const guard = guardFor({ audience: ['api://secret-internal-name'] });
    const error = (await guard.verifyToken(okta.token({ iss: 'https://evil.example.com' })).catch((e) => e)) as AuthError;
    const other = (await guard.verifyToken(okta.token()).catch((e) => e)) as AuthError;
    expect(error.message + other.message).not.toMatch(new RegExp(`${okta.issuer}|secret-internal-name`));
  });

  test('a closed guard answers 503 ERR_GUARD_CLOSED, not a crash', async () => {
    const guard = guardFor();
    await guard.close();
    await expect(guard.verifyToken(okta.token())).rejects.toMatchObject({ code: 'ERR_GUARD_CLOSED', status: 503, headers: { 'Retry-After': '1' } });
  });

  test('a path that merely contains access_token is not a token in the query', async () => {
    const guard = guardFor();
    await expect(guard.verify({ url: '/files/a&access_token=1', headers: { authorization: `Bearer ${okta.token()}` } })).resolves.toBeDefined();
    await expect(guard.verify({ url: '/files?x=1&access_token=1', headers: { authorization: `Bearer ${okta.token()}` } })).rejects.toMatchObject({ code: 'ERR_MULTIPLE_TOKENS' });
  });
});
