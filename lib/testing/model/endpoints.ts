import type { ClientAuthenticator } from './clients';
import { json, type MockEndpoint, type ModelRequest, type ModelResponse } from './http';
import type { KeyRing } from './keys';
import type { SessionsApi } from './sessions';
import type { TokenLedger } from './tokens';

/** What the authorization server's endpoints need of the model. */
export interface ServerContext {
  issuer: string;
  /** Where the endpoints live; see {@link endpointBase}. */
  base: string;
  orgUrl: string;
  jwksUri: string;
  keys: KeyRing;
  tokens: TokenLedger;
  clients: ClientAuthenticator;
  sessions: SessionsApi;
}

/**
 * Where the authorization server's endpoints live: under a custom server's issuer, or under
 * `{org}/oauth2` for the org authorization server (issuer without a path), as Okta lays them out.
 */
export function endpointBase(issuer: string): string {
  const trimmed = issuer.replace(/\/$/, '');
  return new URL(issuer).pathname.replace(/\/$/, '') === '' ? `${trimmed}/oauth2` : trimmed;
}

/** {@link OktaModel.route}: which endpoint a request goes to, with its argument (session id, token endpoint URL). */
export function routeRequest(server: ServerContext, method: string, path: string): [MockEndpoint, string] | undefined {
  const issuerPath = new URL(server.issuer).pathname.replace(/\/$/, '');
  const basePath = new URL(server.base).pathname;
  if (method === 'GET') {
    if (
      path === `${issuerPath}/.well-known/openid-configuration` ||
      path === `${issuerPath}/.well-known/oauth-authorization-server` ||
      path === `/.well-known/oauth-authorization-server${issuerPath}`
    ) {
      return ['discovery', ''];
    }
    if (path === `${basePath}/v1/keys`) return ['jwks', ''];
  }
  if (method === 'POST') {
    if (path === `${basePath}/v1/introspect`) return ['introspect', ''];
    if (path === `${basePath}/v1/revoke`) return ['revoke', ''];
    if (path === `${basePath}/v1/token`) return ['token', `${server.base}/v1/token`];
    if (path === '/oauth2/v1/token') return ['token', `${server.orgUrl}/oauth2/v1/token`];
  }
  const session = /^\/api\/v1\/sessions\/([^/]+)$/.exec(path);
  if (session !== null && (method === 'GET' || method === 'DELETE')) return ['sessions', decodeURIComponent(session[1])];
  return undefined;
}

/**
 * The discovery document, as Okta's custom authorization servers publish it.
 * @see https://www.rfc-editor.org/rfc/rfc8414#section-2
 */
export function discoveryDocument(server: ServerContext): Record<string, unknown> {
  return {
    issuer: server.issuer,
    authorization_endpoint: `${server.base}/v1/authorize`,
    token_endpoint: `${server.base}/v1/token`,
    jwks_uri: server.jwksUri,
    introspection_endpoint: `${server.base}/v1/introspect`,
    revocation_endpoint: `${server.base}/v1/revoke`,
    end_session_endpoint: `${server.base}/v1/logout`,
    response_types_supported: ['code'],
    grant_types_supported: ['authorization_code', 'refresh_token', 'client_credentials'],
    introspection_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'private_key_jwt', 'none'],
    id_token_signing_alg_values_supported: [...server.keys.algorithms],
  };
}

/**
 * `POST {base}/v1/introspect`, client authentication required.
 * @see https://www.rfc-editor.org/rfc/rfc7662#section-2
 */
export function introspectEndpoint(server: ServerContext, request: ModelRequest): ModelResponse {
  const form = new URLSearchParams(request.body);
  const failure = server.clients.authenticate(request, form, `${server.base}/v1/introspect`);
  if (failure !== undefined) return failure;
  const token = form.get('token');
  if (token === null) return json(400, { error: 'invalid_request', error_description: 'token is required' });
  return json(200, server.tokens.introspect(token));
}

/**
 * `POST {base}/v1/revoke`, client authentication required; an empty 200 for any token.
 * @see https://www.rfc-editor.org/rfc/rfc7009#section-2
 */
export function revokeEndpoint(server: ServerContext, request: ModelRequest): ModelResponse {
  const form = new URLSearchParams(request.body);
  const failure = server.clients.authenticate(request, form, `${server.base}/v1/revoke`);
  if (failure !== undefined) return failure;
  const token = form.get('token');
  if (token === null) return json(400, { error: 'invalid_request', error_description: 'token is required' });
  server.tokens.revoke(token);
  return { status: 200, headers: {}, body: '' };
}

/**
 * The token endpoint at `tokenUrl`: `{base}/v1/token` takes `refresh_token` (rotated when `rotate`
 * is set) and `client_credentials`, the org's `/oauth2/v1/token` only `client_credentials`. Client
 * credentials need a `private_key_jwt` assertion and give an access token for the Okta API.
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-4.4
 */
export function tokenEndpoint(server: ServerContext, request: ModelRequest, tokenUrl: string, rotate: boolean): ModelResponse {
  const form = new URLSearchParams(request.body);
  if (form.get('grant_type') === 'refresh_token' && tokenUrl === `${server.base}/v1/token`) return refreshGrant(server, request, form, rotate);
  if (form.get('grant_type') !== 'client_credentials') {
    return json(400, { error: 'unsupported_grant_type', error_description: 'The mock supports client_credentials here.' });
  }
  const assertion = form.get('client_assertion');
  if (assertion === null || form.get('client_assertion_type') !== 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer') {
    return json(401, { error: 'invalid_client', error_description: 'Okta API service apps authenticate with private_key_jwt.' });
  }
  const problem = server.clients.checkAssertion(assertion, undefined, tokenUrl);
  if (problem !== undefined) return json(401, { error: 'invalid_client', error_description: problem });
  const accessToken = server.sessions.grantAccessToken();
  return json(200, { token_type: 'Bearer', expires_in: 3600, access_token: accessToken, scope: form.get('scope') ?? '' });
}

/**
 * `grant_type=refresh_token`, client authentication required; see {@link TokenLedger.redeem}.
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-6
 */
function refreshGrant(server: ServerContext, request: ModelRequest, form: URLSearchParams, rotate: boolean): ModelResponse {
  const failure = server.clients.authenticate(request, form, `${server.base}/v1/token`);
  if (failure !== undefined) return failure;
  const presented = form.get('refresh_token') ?? '';
  const redeemed = server.tokens.redeem(presented, rotate);
  if ('invalid' in redeemed) return json(400, { error: 'invalid_grant', error_description: redeemed.invalid });
  const { tokens, claims } = redeemed;
  return json(200, {
    token_type: 'Bearer',
    expires_in: 3600,
    access_token: tokens.accessToken,
    scope: Array.isArray(claims.scp) ? claims.scp.join(' ') : 'openid profile',
    refresh_token: rotate ? tokens.refreshToken : presented,
    id_token: tokens.idToken,
  });
}
