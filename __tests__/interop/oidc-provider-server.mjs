// An OpenID Provider nobody here wrote (panva's certified oidc-provider), on 127.0.0.1, for the
// interop test. It runs in its own Node process because oidc-provider is ESM-only, which Jest on
// Node 20 cannot load. Prints one JSON line, {"issuer": ...}, once it is listening.
//
// Clients (client_secret_basic, client credentials grant, resource indicators):
//   jwt-client     gets RFC 9068 JWT access tokens (typ at+jwt), aud = the requested resource
//   opaque-client  gets opaque access tokens, which only introspection can validate
//   orders-api     the protected API itself, which authenticates to the introspection endpoint
//   dpop-client    like jwt-client; with a DPoP proof at the token endpoint, its tokens are DPoP-bound (cnf.jkt)
// Resources: api://orders (scopes orders:read orders:write) and api://billing (billing:read).
import { createPrivateKey, generateKeyPairSync } from 'node:crypto';
import { createServer } from 'node:http';
import Provider, { errors } from 'oidc-provider';

const secrets = JSON.parse(process.argv[2]);
const RESOURCES = {
  'api://orders': 'orders:read orders:write',
  'api://billing': 'billing:read',
};

// Parsed from PEM, as createKeyPair() in lib/testing/model/keys.ts does (this file does not load the built package): a KeyObject straight from the generator can deadlock Node 20 when exported.
const pem = generateKeyPairSync('rsa', { modulusLength: 2048, publicKeyEncoding: { type: 'spki', format: 'pem' }, privateKeyEncoding: { type: 'pkcs8', format: 'pem' } });
const signingKey = { ...createPrivateKey(pem.privateKey).export({ format: 'jwk' }), kid: 'interop-rs256', alg: 'RS256', use: 'sig' };
const client = (clientId) => ({
  client_id: clientId,
  client_secret: secrets[clientId],
  grant_types: ['client_credentials'],
  response_types: [],
  redirect_uris: [],
  token_endpoint_auth_method: 'client_secret_basic',
});

const server = createServer();
server.listen(0, '127.0.0.1', () => {
  const issuer = `http://127.0.0.1:${server.address().port}`;
  const provider = new Provider(issuer, {
    clients: [client('jwt-client'), client('opaque-client'), client('orders-api'), client('dpop-client')],
    jwks: { keys: [signingKey] },
    cookies: { keys: [secrets.cookies] },
    ttl: { ClientCredentials: 300 },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      dPoP: { enabled: true },
      introspection: { enabled: true },
      revocation: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => undefined,
        useGrantedResource: () => true,
        getResourceServerInfo(ctx, resource, requester) {
          if (!(resource in RESOURCES)) throw new errors.InvalidTarget();
          return {
            audience: resource,
            scope: RESOURCES[resource],
            accessTokenTTL: 300,
            accessTokenFormat: requester.clientId === 'opaque-client' ? 'opaque' : 'jwt',
            jwt: { sign: { alg: 'RS256' } },
          };
        },
      },
    },
  });
  server.on('request', provider.callback());
  process.stdout.write(`${JSON.stringify({ issuer })}\n`);
});

process.on('SIGTERM', () => server.close(() => process.exit(0)));
