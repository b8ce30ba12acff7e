import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import * as oidc from 'openid-client';
import request from 'supertest';
import { createGuard, type Guard } from 'tokengate';
import { protect } from 'tokengate/express';

/**
 * Interop with an OpenID Provider nobody here wrote: oidc-provider (OpenID Certified), on
 * 127.0.0.1 in a child process (see oidc-provider-server.mjs). Tokens come from its token endpoint
 * (client credentials with an RFC 8707 resource indicator); tokengate finds its keys by discovery.
 */
const secrets = {
  'jwt-client': randomBytes(24).toString('base64url'),
  'opaque-client': randomBytes(24).toString('base64url'),
  // Characters that RFC 6749 section 2.3.1 makes both sides form-encode in the Basic header.
  'orders-api': `orders api: ${randomBytes(12).toString('base64')}/+&%`,
  'dpop-client': randomBytes(24).toString('base64url'),
  cookies: randomBytes(24).toString('base64url'),
};

let provider: ChildProcess;
let issuer: string;
let metadata: { token_endpoint: string; revocation_endpoint: string; introspection_endpoint: string };
let jwtGuard: Guard;
let introspectionGuard: Guard;
let app: express.Express;

beforeAll(async () => {
  provider = spawn(process.execPath, [join(__dirname, 'oidc-provider-server.mjs'), JSON.stringify(secrets)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  provider.stderr!.on('data', (chunk: Buffer) => (stderr += chunk));
  const exited = once(provider, 'exit').then(() => {
    throw new Error(`oidc-provider did not start:\n${stderr}`);
  });
  const [line] = (await Promise.race([once(createInterface({ input: provider.stdout! }), 'line'), exited])) as [string];
  exited.catch(() => undefined);
  issuer = JSON.parse(line).issuer;
  metadata = (await (await fetch(`${issuer}/.well-known/openid-configuration`)).json()) as typeof metadata;

  jwtGuard = createGuard({ issuer, audience: 'api://orders', typ: 'at+jwt', clientIds: ['jwt-client', 'dpop-client'] });
  introspectionGuard = createGuard({
    issuer,
    audience: 'api://orders',
    // cacheTtl 0: every request asks the provider, so a revocation shows at once (default: within 30 s).
    introspection: { client: { clientId: 'orders-api', clientSecret: secrets['orders-api'] }, opaque: true, cacheTtl: 0 },
  });
  app = express();
  app.get('/orders', protect(jwtGuard, { scopes: ['orders:read'] }), (req, res) => {
    res.json({ client: req.auth!.clientId, scopes: req.auth!.scopes });
  });
  app.get('/orders/bound', protect(jwtGuard, { dpop: 'required', scopes: ['orders:read'] }), (req, res) => {
    res.json({ client: req.auth!.clientId, jkt: (req.auth!.claims.cnf as { jkt: string }).jkt });
  });
  app.get('/orders/live', protect(introspectionGuard, { introspect: true, scopes: ['orders:read'] }), (req, res) => {
    res.json({ client: req.auth!.clientId, scopes: req.auth!.scopes });
  });
}, 30_000);

afterAll(async () => {
  await jwtGuard?.close();
  await introspectionGuard?.close();
  if (provider?.exitCode === null) {
    provider.kill('SIGTERM');
    await once(provider, 'exit');
  }
});

function basic(clientId: keyof typeof secrets): string {
  return `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(secrets[clientId])}`).toString('base64')}`;
}

/** Client credentials grant with a resource indicator, at the provider's token endpoint. */
async function accessToken(clientId: 'jwt-client' | 'opaque-client', resource: string): Promise<string> {
  const response = await fetch(metadata.token_endpoint, {
    method: 'POST',
    headers: { authorization: basic(clientId), 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', resource, scope: resource === 'api://orders' ? 'orders:read' : 'billing:read' }),
  });
  const body = (await response.json()) as { access_token: string };
  expect(response.status).toBe(200);
  return body.access_token;
}

test('a JWT access token for the API (client credentials + resource indicator) gets a 200', async () => {
  const token = await accessToken('jwt-client', 'api://orders');
  const [header, claims] = token.split('.').slice(0, 2).map((part) => JSON.parse(Buffer.from(part, 'base64url').toString()));
  expect(header).toMatchObject({ typ: 'at+jwt', alg: 'RS256', kid: 'interop-rs256' });
  expect(claims).toMatchObject({ iss: issuer, aud: 'api://orders', client_id: 'jwt-client', scope: 'orders:read' });

  const res = await request(app).get('/orders').set('Authorization', `Bearer ${token}`);
  expect(res.status).toBe(200);
  expect(res.body).toEqual({ client: 'jwt-client', scopes: ['orders:read'] });
});

test('a JWT access token for another resource (wrong audience) gets a 401', async () => {
  const token = await accessToken('jwt-client', 'api://billing');
  const res = await request(app).get('/orders').set('Authorization', `Bearer ${token}`);
  expect(res.status).toBe(401);
  expect(res.headers['www-authenticate']).toMatch(/^Bearer realm="api", error="invalid_token", error_description="The token is not meant for this API/);
});

test('introspection mode: an opaque token is accepted on the provider\'s introspection answer', async () => {
  const token = await accessToken('opaque-client', 'api://orders');
  expect(token.split('.')).toHaveLength(1);
  const res = await request(app).get('/orders/live').set('Authorization', `Bearer ${token}`);
  expect(res.status).toBe(200);
  expect(res.body).toEqual({ client: 'opaque-client', scopes: ['orders:read'] });
  expect(introspectionGuard.stats().introspection!.calls).toBeGreaterThanOrEqual(1);
});

test('introspection mode: a token revoked at the provider\'s revocation endpoint is refused with ERR_TOKEN_INACTIVE', async () => {
  const token = await accessToken('opaque-client', 'api://orders');
  await request(app).get('/orders/live').set('Authorization', `Bearer ${token}`).expect(200);

  const revoked = await fetch(metadata.revocation_endpoint, {
    method: 'POST',
    headers: { authorization: basic('opaque-client'), 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ token, token_type_hint: 'access_token' }),
  });
  expect(revoked.status).toBe(200);

  const res = await request(app).get('/orders/live').set('Authorization', `Bearer ${token}`);
  expect(res.status).toBe(401);
  expect(res.headers['www-authenticate']).toMatch(/error="invalid_token", error_description="The token is not active/);
  await expect(introspectionGuard.verifyToken(token, { introspect: true })).rejects.toMatchObject({ code: 'ERR_TOKEN_INACTIVE', status: 401 });
});

test('oidc-provider does not introspect its own JWT access tokens, so an introspect route fails closed with 503', async () => {
  // The provider answers 400 unsupported_token_type ("Structured JWT Tokens cannot be introspected"):
  // with this provider, introspection mode needs opaque access tokens.
  const token = await accessToken('jwt-client', 'api://orders');
  const guard = createGuard({ issuer, audience: 'api://orders', introspection: { client: { clientId: 'orders-api', clientSecret: secrets['orders-api'] } } });
  try {
    await expect(guard.verifyToken(token, { introspect: true })).rejects.toMatchObject({
      code: 'ERR_INTROSPECTION_UNAVAILABLE',
      status: 503,
      message: expect.stringMatching(/answered 400/),
    });
  } finally {
    await guard.close();
  }
});

describe('DPoP: a bound token from oidc-provider, proofs from openid-client', () => {
  let server: Server;
  let base: string;
  let config: oidc.Configuration;

  beforeAll(async () => {
    server = createServer(app);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    config = await oidc.discovery(new URL(issuer), 'dpop-client', secrets['dpop-client'], undefined, { execute: [oidc.allowInsecureRequests] });
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  test('openid-client gets a DPoP-bound token and calls a route that requires DPoP: 200; the proof cannot be replayed, nor the token sent as Bearer', async () => {
    const keyPair = await oidc.randomDPoPKeyPair('ES256');
    const DPoP = oidc.getDPoPHandle(config, keyPair);
    const tokens = await oidc.clientCredentialsGrant(config, { scope: 'orders:read', resource: 'api://orders' }, { DPoP });
    expect(tokens.token_type).toBe('dpop');
    const claims = JSON.parse(Buffer.from(tokens.access_token.split('.')[1], 'base64url').toString());
    expect(claims.cnf.jkt).toMatch(/^[\w-]{43}$/);

    const proofs: string[] = [];
    const seen: oidc.CustomFetch = async (url, init) => {
      proofs.push(new Headers(init.headers).get('dpop')!);
      return fetch(url, init as RequestInit);
    };
    config[oidc.customFetch] = seen;
    const response = await oidc.fetchProtectedResource(config, tokens.access_token, new URL(`${base}/orders/bound?page=2`), 'GET', null, undefined, { DPoP });
    delete config[oidc.customFetch];
    expect(proofs).toHaveLength(1);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ client: 'dpop-client', jkt: claims.cnf.jkt });

    const replay = await fetch(`${base}/orders/bound`, { headers: { authorization: `DPoP ${tokens.access_token}`, dpop: proofs[0] } });
    expect(replay.status).toBe(401);
    expect(((await replay.json()) as { code: string }).code).toBe('ERR_DPOP_PROOF_REPLAYED');
    const asBearer = await fetch(`${base}/orders`, { headers: { authorization: `Bearer ${tokens.access_token}` } });
    expect(asBearer.status).toBe(401);
    expect(((await asBearer.json()) as { code: string }).code).toBe('ERR_DPOP_BOUND_TOKEN_AS_BEARER');
  });

  test('a proof from another openid-client key pair is refused as a key mismatch', async () => {
    const DPoP = oidc.getDPoPHandle(config, await oidc.randomDPoPKeyPair('ES256'));
    const tokens = await oidc.clientCredentialsGrant(config, { scope: 'orders:read', resource: 'api://orders' }, { DPoP });
    const thief = oidc.getDPoPHandle(config, await oidc.randomDPoPKeyPair('ES256'));
    const response = await oidc.fetchProtectedResource(config, tokens.access_token, new URL(`${base}/orders/bound`), 'GET', null, undefined, { DPoP: thief }).catch((error: { response?: Response }) => error.response!);
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toMatch(/^DPoP algs="[^"]+", error="invalid_token"/);
  });
});
