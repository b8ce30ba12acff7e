import { webcrypto } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import request from 'supertest';
import * as oidc from 'openid-client';
import okta from '@okta/okta-sdk-nodejs';
import { OktaAuth } from '@okta/okta-auth-js';
import { createGuard, type Guard } from 'tokengate';
import { protect } from 'tokengate/express';
import { createKeyPair, mockOkta, startDevIssuer, type DevIssuer } from 'tokengate/testing';

// The testing kit against the clients users' suites run: openid-client 6, Okta's Node SDK 8 and
// okta-auth-js 8, each over real HTTP to the dev issuer (the same model mockOkta() serves).

let dev: DevIssuer;
let guards: Guard[] = [];

beforeEach(async () => {
  dev = await startDevIssuer();
});

afterEach(async () => {
  await Promise.all(guards.map((guard) => guard.close()));
  guards = [];
  await dev.close();
});

function guard(options: Partial<Parameters<typeof createGuard>[0]> = {}): Guard {
  const made = createGuard({ issuer: dev.issuer, audience: dev.okta.audience, ...options });
  guards.push(made);
  return made;
}

/** openid-client's configuration for the dev issuer's client (plain HTTP on loopback allowed). */
async function discover(auth: oidc.ClientAuth = oidc.ClientSecretBasic(dev.okta.clientSecret), clientId = dev.okta.clientId): Promise<oidc.Configuration> {
  return oidc.discovery(new URL(dev.issuer), clientId, undefined, auth, { execute: [oidc.allowInsecureRequests] });
}

describe('client credentials at the custom authorization server (openid-client)', () => {
  test('a client secret (Basic) and a scope get a JWT access token for the API, which tokengate accepts with its scope', async () => {
    const tokens = await oidc.clientCredentialsGrant(await discover(), { scope: 'orders:read' });
    expect(tokens.token_type).toBe('bearer');
    expect(tokens.scope).toBe('orders:read');
    expect(tokens.access_token.split('.')).toHaveLength(3);
    const app = express().get('/orders', protect(guard(), { scopes: ['orders:read'] }), (req, res) => {
      res.json({ subject: req.auth!.subject, clientId: req.auth!.clientId, scopes: req.auth!.scopes, uid: req.auth!.claims.uid ?? null });
    });
    const answer = await request(app).get('/orders').set('authorization', `Bearer ${tokens.access_token}`);
    expect(answer.status).toBe(200);
    expect(answer.body).toEqual({ subject: dev.okta.clientId, clientId: dev.okta.clientId, scopes: ['orders:read'], uid: null });
  });

  test('a private_key_jwt service app gets a JWT too, and introspection calls it active', async () => {
    const { privateKey, publicKey } = createKeyPair('RS256');
    dev.okta.trustClientKey(publicKey);
    const key = await webcrypto.subtle.importKey('pkcs8', privateKey.export({ format: 'der', type: 'pkcs8' }), { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }, false, ['sign']);
    // openid-client addresses its assertion to the issuer; Okta wants the endpoint invoked, and so does the kit.
    const byDefault = await discover(oidc.PrivateKeyJwt(key), '0oaservice1234567890');
    await expect(oidc.clientCredentialsGrant(byDefault, { scope: 'orders:read' })).rejects.toMatchObject({
      error: 'invalid_client',
      error_description: 'The audience claim for client_assertion must be the endpoint invoked for the request.',
    });
    const toTokenEndpoint = oidc.PrivateKeyJwt(key, { [oidc.modifyAssertion]: (_header, payload) => void (payload.aud = `${dev.issuer}/v1/token`) });
    const config = await discover(toTokenEndpoint, '0oaservice1234567890');
    const tokens = await oidc.clientCredentialsGrant(config, { scope: 'orders:read orders:write' });
    const claims = JSON.parse(Buffer.from(tokens.access_token.split('.')[1], 'base64url').toString());
    expect(claims).toMatchObject({ sub: '0oaservice1234567890', cid: '0oaservice1234567890', scp: ['orders:read', 'orders:write'], iss: dev.issuer, aud: dev.okta.audience });
    const introspection = await oidc.tokenIntrospection(await discover(), tokens.access_token);
    expect(introspection).toMatchObject({ active: true, client_id: '0oaservice1234567890', scope: 'orders:read orders:write' });
    await expect(guard().verifyToken(tokens.access_token, { scopes: ['orders:write'] })).resolves.toMatchObject({ clientId: '0oaservice1234567890' });
  });

  test('the same through mockOkta (nock), over https as with Okta itself', async () => {
    const mocked = mockOkta();
    try {
      const config = await oidc.discovery(new URL(mocked.issuer), mocked.clientId, undefined, oidc.ClientSecretPost(mocked.clientSecret));
      const tokens = await oidc.clientCredentialsGrant(config, { scope: 'orders:read' });
      const made = createGuard({ issuer: mocked.issuer, audience: mocked.audience });
      guards.push(made);
      await expect(made.verifyToken(tokens.access_token, { scopes: ['orders:read'] })).resolves.toMatchObject({ subject: mocked.clientId });
    } finally {
      mocked.close();
    }
  });

  test('no scope, or a user scope, is invalid_scope; a wrong secret is invalid_client', async () => {
    await expect(oidc.clientCredentialsGrant(await discover())).rejects.toMatchObject({ error: 'invalid_scope' });
    await expect(oidc.clientCredentialsGrant(await discover(), { scope: 'openid orders:read' })).rejects.toMatchObject({ error: 'invalid_scope', error_description: expect.stringContaining('openid') });
    await expect(oidc.clientCredentialsGrant(await discover(oidc.ClientSecretBasic('wrong')), { scope: 'orders:read' })).rejects.toMatchObject({ error: 'invalid_client' });
  });
});

describe('DPoP at the dev issuer’s token endpoint (openid-client)', () => {
  test('a proof binds the service token after Okta’s use_dpop_nonce round; tokengate then wants the proof of that key', async () => {
    const keyPair = await oidc.randomDPoPKeyPair('ES256');
    const config = await discover();
    const DPoP = oidc.getDPoPHandle(config, keyPair);
    const tokens = await oidc.clientCredentialsGrant(config, { scope: 'orders:read' }, { DPoP });
    expect(tokens.token_type).toBe('dpop');
    const tokenCalls = dev.okta.requests.filter((r) => r.endpoint === 'token');
    expect(tokenCalls.map((r) => JSON.parse(Buffer.from(String(r.headers.dpop).split('.')[1], 'base64url').toString()).nonce === undefined)).toEqual([true, false]);
    const claims = JSON.parse(Buffer.from(tokens.access_token.split('.')[1], 'base64url').toString());
    expect(claims.cnf.jkt).toMatch(/^[\w-]{43}$/);
    const server = createServer(express().get('/orders', protect(guard(), { dpop: 'required', scopes: ['orders:read'] }), (req, res) => res.json({ clientId: req.auth!.clientId })));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const url = new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/orders`);
      const ok = await oidc.fetchProtectedResource(config, tokens.access_token, url, 'GET', null, undefined, { DPoP });
      expect(ok.status).toBe(200);
      const asBearer = await fetch(url, { headers: { authorization: `Bearer ${tokens.access_token}` } });
      expect(asBearer.status).toBe(401);
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

describe('RP-initiated logout at the end_session_endpoint (openid-client)', () => {
  test('the URL openid-client builds redirects (302) to post_logout_redirect_uri with state, and ends the Okta session', async () => {
    const signIn = dev.okta.login();
    const strict = express().get('/me', protect(guard({ sessions: { apiToken: dev.okta.apiToken } }), { session: 'strict' }), (_req, res) => res.json({ ok: true }));
    expect((await request(strict).get('/me').set('authorization', `Bearer ${signIn.accessToken}`)).status).toBe(200);
    const url = oidc.buildEndSessionUrl(await discover(), { id_token_hint: signIn.idToken, post_logout_redirect_uri: 'https://app.example.com/bye', state: 'xyz 1' });
    const answer = await fetch(url, { redirect: 'manual' });
    expect(answer.status).toBe(302);
    expect(answer.headers.get('location')).toBe('https://app.example.com/bye?state=xyz+1');
    expect(answer.headers.get('x-okta-request-id')).toMatch(/^[\w-]{27}$/);
    expect(dev.okta.hasSession(signIn.session!.id)).toBe(false);
    expect(dev.okta.calls.logout).toBe(1);
    // A fresh guard (no cached Sessions API answer): the ended session now refuses the token.
    const after = express().get('/me', protect(guard({ sessions: { apiToken: dev.okta.apiToken } }), { session: 'strict' }), (_req, res) => res.json({ ok: true }));
    const refused = await request(after).get('/me').set('authorization', `Bearer ${signIn.accessToken}`);
    expect(refused.status).toBe(401);
    expect(refused.headers['www-authenticate']).toContain('error="invalid_token"');
  });

  test('an expired ID token is still a valid hint; no redirect URI goes to the sign-in page; a forged hint or an unregistered URI is a 400', async () => {
    const registered = await startDevIssuer({ postLogoutRedirectUris: ['https://app.example.com/bye'] });
    try {
      const signIn = registered.okta.login();
      const endSession = (params: Record<string, string>) => fetch(`${registered.issuer}/v1/logout?${new URLSearchParams(params)}`, { redirect: 'manual' });
      expect((await endSession({})).status).toBe(400);
      expect((await endSession({ id_token_hint: dev.okta.login().idToken })).status).toBe(400);
      const unregistered = await endSession({ id_token_hint: signIn.idToken, post_logout_redirect_uri: 'https://evil.example/' });
      expect(unregistered.status).toBe(400);
      expect(await unregistered.json()).toMatchObject({ error: 'invalid_request' });
      expect(registered.okta.hasSession(signIn.session!.id)).toBe(true);
      const plain = await endSession({ id_token_hint: signIn.idToken });
      expect(plain.status).toBe(302);
      expect(plain.headers.get('location')).toBe(`${registered.okta.orgUrl}/login/default`);
      expect(registered.okta.hasSession(signIn.session!.id)).toBe(false);
    } finally {
      await registered.close();
    }
    let now = Date.now();
    const later = await startDevIssuer({ clock: () => now });
    try {
      const signIn = later.okta.login();
      now += 2 * 3600_000;
      const answer = await fetch(`${later.issuer}/v1/logout?${new URLSearchParams({ id_token_hint: signIn.idToken, post_logout_redirect_uri: 'http://localhost:8080/' })}`, { redirect: 'manual' });
      expect(answer.status).toBe(302);
    } finally {
      await later.close();
    }
  });
});

describe("Okta's Node SDK on the Sessions API", () => {
  function sdk(cache: boolean): InstanceType<typeof okta.Client> {
    return new okta.Client({ orgUrl: dev.okta.orgUrl, token: dev.okta.apiToken, ...(cache ? {} : { cacheMiddleware: null }) });
  }

  test('sessions carry _links, so the SDK caches them by _links.self.href: a stale answer after the session ended, as with real Okta', async () => {
    const session = dev.okta.session();
    const cached = sdk(true);
    const first = await cached.sessionApi.getSession({ sessionId: session.id });
    expect(first.status).toBe('ACTIVE');
    expect(first._links).toMatchObject({ self: { href: `${dev.okta.orgUrl}/api/v1/sessions/${session.id}` } });
    // The SDK's model keeps only `self`; the wire has Okta's three links.
    const wire = (await (await fetch(`${dev.okta.orgUrl}/api/v1/sessions/${session.id}`, { headers: { authorization: `SSWS ${dev.okta.apiToken}` } })).json()) as { _links: unknown };
    expect(wire._links).toEqual({
      self: { href: `${dev.okta.orgUrl}/api/v1/sessions/${session.id}`, hints: { allow: ['GET', 'DELETE'] } },
      refresh: { href: `${dev.okta.orgUrl}/api/v1/sessions/${session.id}/lifecycle/refresh`, hints: { allow: ['POST'] } },
      user: { name: session.login, href: `${dev.okta.orgUrl}/api/v1/users/${session.userId}`, hints: { allow: ['GET'] } },
    });
    dev.okta.resetCalls();
    dev.okta.endSession(session.id);
    // The SDK's default cache answers from memory: the ended session still looks ACTIVE.
    expect((await cached.sessionApi.getSession({ sessionId: session.id })).status).toBe('ACTIVE');
    expect(dev.okta.calls.sessions).toBe(0);
    // Without the cache the SDK asks, and gets Okta's 404 with errorId and the request id.
    const error = await sdk(false).sessionApi.getSession({ sessionId: session.id }).then(
      () => undefined,
      (caught: unknown) => caught as { status: number; errorCode: string; errorId: string; headers: { get(name: string): string | null } },
    );
    expect(error).toMatchObject({ status: 404, errorCode: 'E0000007', errorId: expect.stringMatching(/^oae/) });
    expect(error!.headers.get('x-okta-request-id')).toBe(dev.okta.requests.at(-1)!.requestId);
  });

  test('refreshSession extends the session by its lifetime; revokeSession ends it', async () => {
    let now = Date.parse('2026-12-03T10:00:00Z');
    const timed = await startDevIssuer({ clock: () => now });
    try {
      const client = new okta.Client({ orgUrl: timed.okta.orgUrl, token: timed.okta.apiToken, cacheMiddleware: null });
      const session = timed.okta.session({ expiresIn: 600 });
      now += 300_000;
      const refreshed = await client.sessionApi.refreshSession({ sessionId: session.id });
      expect(refreshed.expiresAt).toEqual(new Date(now + 600_000));
      await client.sessionApi.revokeSession({ sessionId: session.id });
      expect(timed.okta.hasSession(session.id)).toBe(false);
    } finally {
      await timed.close();
    }
  });
});

describe('okta-auth-js revoking as a public client', () => {
  test('Basic base64(client_id) with no secret is accepted at /v1/revoke, and the refresh token family stops working', async () => {
    const signIn = dev.okta.login({ session: false });
    const auth = new OktaAuth({ issuer: dev.issuer, clientId: dev.okta.clientId, redirectUri: 'http://localhost:8080/callback', tokenManager: { storage: 'memory' } });
    await auth.revokeRefreshToken({ refreshToken: signIn.refreshToken } as never);
    const revocation = dev.okta.requests.find((recorded) => recorded.endpoint === 'revoke')!;
    expect(revocation.headers.authorization).toBe(`Basic ${Buffer.from(dev.okta.clientId).toString('base64')}`);
    await expect(oidc.refreshTokenGrant(await discover(), signIn.refreshToken)).rejects.toMatchObject({ error: 'invalid_grant' });
    await expect(guard({ introspection: { client: { clientId: dev.okta.clientId, clientSecret: dev.okta.clientSecret } } }).verifyToken(signIn.accessToken, { introspect: true })).rejects.toMatchObject({ code: 'ERR_TOKEN_INACTIVE' });
  });

  test('Basic splits at the first colon and takes the form-encoded or the raw secret; a wrong client id alone does not authenticate', async () => {
    const special = await startDevIssuer({ clientSecret: 'se:cr et+x' });
    try {
      const form = 'token=abc';
      const post = (credentials: string) =>
        fetch(`${special.issuer}/v1/introspect`, { method: 'POST', headers: { authorization: `Basic ${Buffer.from(credentials).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' }, body: form });
      expect((await post(`${special.okta.clientId}:${encodeURIComponent('se:cr et+x').replace(/%20/g, '+')}`)).status).toBe(200);
      expect((await post(`${special.okta.clientId}:se:cr et+x`)).status).toBe(200);
      expect((await post('0oasomeoneelse')).status).toBe(401);
    } finally {
      await special.close();
    }
  });
});

describe('refresh token rotation, with Okta’s grace period (openid-client)', () => {
  test('a rotated refresh token still works for 30 s (fresh jti, the sign-in’s auth_time); after that its reuse revokes the family', async () => {
    let now = Date.now();
    const timed = await startDevIssuer({ clock: () => now });
    try {
      const config = await oidc.discovery(new URL(timed.issuer), timed.okta.clientId, undefined, oidc.ClientSecretBasic(timed.okta.clientSecret), { execute: [oidc.allowInsecureRequests] });
      const signIn = timed.okta.login({ claims: { jti: 'AT.fixed-by-the-test' } });
      const claimsOf = (token: string) => JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString());
      now += 5_000;
      const first = await oidc.refreshTokenGrant(config, signIn.refreshToken);
      expect(first.refresh_token).not.toBe(signIn.refreshToken);
      expect(claimsOf(first.access_token).jti).not.toBe('AT.fixed-by-the-test');
      expect(claimsOf(first.access_token).auth_time).toBe(claimsOf(signIn.accessToken).auth_time);
      now += 30_000;
      const again = await oidc.refreshTokenGrant(config, signIn.refreshToken);
      expect(claimsOf(again.access_token).jti).not.toBe(claimsOf(first.access_token).jti);
      now += 1_000;
      await expect(oidc.refreshTokenGrant(config, signIn.refreshToken)).rejects.toMatchObject({ error: 'invalid_grant' });
      await expect(oidc.refreshTokenGrant(config, first.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    } finally {
      await timed.close();
    }
  });

  test('refreshTokenGrace: 0 makes any reuse revoke the family; outside 0–60 whole seconds is a TypeError', async () => {
    const strict = await startDevIssuer({ refreshTokenGrace: 0 });
    try {
      const config = await oidc.discovery(new URL(strict.issuer), strict.okta.clientId, undefined, oidc.ClientSecretBasic(strict.okta.clientSecret), { execute: [oidc.allowInsecureRequests] });
      const signIn = strict.okta.login();
      const first = await oidc.refreshTokenGrant(config, signIn.refreshToken);
      await expect(oidc.refreshTokenGrant(config, signIn.refreshToken)).rejects.toMatchObject({ error: 'invalid_grant' });
      await expect(oidc.refreshTokenGrant(config, first.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    } finally {
      await strict.close();
    }
    for (const bad of [-1, 61, 1.5, Number.NaN]) await expect(startDevIssuer({ refreshTokenGrace: bad })).rejects.toThrow(/refreshTokenGrace/);
  });
});
