import type { ClientAuthenticator } from './clients';
import type { DpopServer } from './dpop';
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
  /** DPoP at the token endpoints and the Sessions API. */
  dpop: DpopServer;
  /** Ends an Okta session as signing out does (pushes included). */
  endSession: (id: string) => void;
  /** The client's registered sign-out redirect URIs; `undefined`: any absolute http(s) URI is accepted. */
  postLogoutRedirectUris: readonly string[] | undefined;
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
    if (path === `${basePath}/v1/logout`) return ['logout', ''];
  }
  if (method === 'POST') {
    if (path === `${basePath}/v1/introspect`) return ['introspect', ''];
    if (path === `${basePath}/v1/revoke`) return ['revoke', ''];
    if (path === `${basePath}/v1/token`) return ['token', `${server.base}/v1/token`];
    if (path === '/oauth2/v1/token') return ['token', `${server.orgUrl}/oauth2/v1/token`];
  }
  const session = /^\/api\/v1\/sessions\/([^/]+)$/.exec(path);
  if (session !== null && (method === 'GET' || method === 'DELETE')) return ['sessions', decodePath(session[1])];
  const refresh = /^\/api\/v1\/sessions\/([^/]+)\/lifecycle\/refresh$/.exec(path);
  if (refresh !== null && method === 'POST') return ['sessions', decodePath(refresh[1])];
  return undefined;
}

/** A percent-decoded path segment; a malformed encoding stays as sent (it then names no session), never a throw. */
function decodePath(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
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
    token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'private_key_jwt', 'none'],
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
 * is set) and `client_credentials`, the org's `/oauth2/v1/token` only `client_credentials`.
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-4.4
 */
export function tokenEndpoint(server: ServerContext, request: ModelRequest, tokenUrl: string, rotate: boolean): ModelResponse {
  const form = new URLSearchParams(request.body);
  const custom = tokenUrl === `${server.base}/v1/token`;
  const grant = form.get('grant_type');
  if (grant === 'refresh_token' && custom) return refreshGrant(server, request, form, rotate);
  if (grant !== 'client_credentials') {
    const supported = custom ? 'refresh_token and client_credentials' : 'client_credentials';
    return json(400, { error: 'unsupported_grant_type', error_description: `The mock supports ${supported} here.` });
  }
  return custom ? serviceGrant(server, request, form) : oktaApiGrant(server, request, form, tokenUrl);
}

/** Scopes a client credentials grant may not ask for: they are about a user. */
const USER_SCOPES = new Set(['openid', 'profile', 'email', 'address', 'phone', 'offline_access', 'device_sso']);

/**
 * `client_credentials` at the custom authorization server: a service app (this client with its
 * secret or assertion, or any client with a `private_key_jwt` assertion) gets a JWT access token
 * for the API. `scope` is required (the model's server has no default scopes), and user scopes are
 * refused, as Okta does.
 */
function serviceGrant(server: ServerContext, request: ModelRequest, form: URLSearchParams): ModelResponse {
  const client = server.clients.identify(request, form, `${server.base}/v1/token`, { anyServiceApp: true, publicAllowed: false });
  if ('failure' in client) return client.failure;
  const scopes = (form.get('scope') ?? '').split(' ').filter((scope) => scope !== '');
  if (scopes.length === 0) {
    return json(400, { error: 'invalid_scope', error_description: "The authorization server resource does not have any configured default scopes, 'scope' must be provided." });
  }
  const refused = scopes.filter((scope) => USER_SCOPES.has(scope));
  if (refused.length > 0) return json(400, { error: 'invalid_scope', error_description: `The following scopes are not allowed: ${refused.join(' ')}` });
  const dpop = server.dpop.atTokenEndpoint(request, `${server.base}/v1/token`, false);
  if ('failure' in dpop) return dpop.failure;
  const accessToken = server.tokens.serviceToken(client.clientId, scopes, dpop.jkt);
  return json(200, { token_type: dpop.jkt === undefined ? 'Bearer' : 'DPoP', expires_in: 3600, access_token: accessToken, scope: scopes.join(' ') });
}

/**
 * `client_credentials` at the org's `/oauth2/v1/token`: a `private_key_jwt` assertion gives an
 * access token for the Okta API, DPoP-bound when the request has a proof (required with
 * `okta.requireDpop`), after Okta's `use_dpop_nonce` round.
 */
function oktaApiGrant(server: ServerContext, request: ModelRequest, form: URLSearchParams, tokenUrl: string): ModelResponse {
  const assertion = form.get('client_assertion');
  if (assertion === null || form.get('client_assertion_type') !== 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer') {
    return json(401, { error: 'invalid_client', error_description: 'Okta API service apps authenticate with private_key_jwt.' });
  }
  const problem = server.clients.checkAssertion(assertion, undefined, tokenUrl);
  if (problem !== undefined) return json(401, { error: 'invalid_client', error_description: problem });
  const dpop = server.dpop.atTokenEndpoint(request, tokenUrl);
  if ('failure' in dpop) return dpop.failure;
  const accessToken = server.sessions.grantAccessToken(dpop.jkt);
  return json(200, { token_type: dpop.jkt === undefined ? 'Bearer' : 'DPoP', expires_in: 3600, access_token: accessToken, scope: form.get('scope') ?? '' });
}

/**
 * `GET {base}/v1/logout` (the `end_session_endpoint`): `id_token_hint` must be an ID token this
 * server signed for its client (expired ones are accepted: it is a hint), and ends the Okta
 * session its `sid` names. Redirects (302) to `post_logout_redirect_uri` with `state`, or to the
 * org's sign-in page when none is given. A `post_logout_redirect_uri` not registered is a 400.
 * @see https://openid.net/specs/openid-connect-rpinitiated-1_0.html
 */
export function logoutEndpoint(server: ServerContext, request: ModelRequest): ModelResponse {
  const query = new URLSearchParams(request.query ?? '');
  const hint = query.get('id_token_hint');
  if (hint === null) return json(400, { error: 'invalid_request', error_description: "The 'id_token_hint' parameter is required." });
  const claims = server.tokens.idTokenHint(hint);
  if (claims === undefined) return json(400, { error: 'invalid_request', error_description: "The 'id_token_hint' parameter is not a valid ID token of this client." });
  const redirect = query.get('post_logout_redirect_uri');
  if (redirect !== null && !registeredRedirect(server, redirect)) {
    return json(400, { error: 'invalid_request', error_description: "The 'post_logout_redirect_uri' parameter must be a sign-out redirect URI of the client." });
  }
  if (typeof claims.sid === 'string' && server.sessions.has(claims.sid)) server.endSession(claims.sid);
  if (redirect === null) return { status: 302, headers: { location: `${server.orgUrl}/login/default` }, body: '' };
  const target = new URL(redirect);
  const state = query.get('state');
  if (state !== null) target.searchParams.set('state', state);
  return { status: 302, headers: { location: target.href }, body: '' };
}

/** Whether a sign-out redirect URI is registered (any absolute http(s) URI when none are). */
function registeredRedirect(server: ServerContext, uri: string): boolean {
  if (server.postLogoutRedirectUris !== undefined) return server.postLogoutRedirectUris.includes(uri);
  try {
    return ['http:', 'https:'].includes(new URL(uri).protocol);
  } catch {
    return false;
  }
}

/**
 * `grant_type=refresh_token`, client authentication required; see {@link TokenLedger.redeem}.
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-6
 */
function refreshGrant(server: ServerContext, request: ModelRequest, form: URLSearchParams, rotate: boolean): ModelResponse {
  const failure = server.clients.authenticate(request, form, `${server.base}/v1/token`);
  if (failure !== undefined) return failure;
  const presented = form.get('refresh_token') ?? '';
  const dpop = server.dpop.atTokenEndpoint(request, `${server.base}/v1/token`, false);
  if ('failure' in dpop) return dpop.failure;
  const redeemed = server.tokens.redeem(presented, rotate, dpop.jkt);
  if ('invalid' in redeemed) return json(400, { error: 'invalid_grant', error_description: redeemed.invalid });
  const { tokens, claims } = redeemed;
  return json(200, {
    token_type: dpop.jkt === undefined ? 'Bearer' : 'DPoP',
    expires_in: 3600,
    access_token: tokens.accessToken,
    scope: Array.isArray(claims.scp) ? claims.scp.join(' ') : 'openid profile',
    refresh_token: rotate ? tokens.refreshToken : presented,
    id_token: tokens.idToken,
  });
}
