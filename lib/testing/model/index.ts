import { randomBytes, type KeyObject } from 'node:crypto';
import { ClientAuthenticator } from './clients';
import { discoveryDocument, endpointBase, introspectEndpoint, logoutEndpoint, revokeEndpoint, routeRequest, tokenEndpoint, type ServerContext } from './endpoints';
import { DpopServer } from './dpop';
import { Faults, type FailureMode } from './faults';
import { ENDPOINTS, json, oktaError, requestId, type MockEndpoint, type ModelRequest, type ModelResponse, type RecordedRequest } from './http';
import { KeyRing } from './keys';
import { SessionsApi, type MockSession } from './sessions';
import type { OktaModelOptions } from './options';
import { TokenLedger, type TokenOptions } from './tokens';
import { MockPush } from '../push';

export { createKeyPair, signCompact, type KeyPairOptions } from './keys';
export type { FailureMode } from './faults';
export type { MockEndpoint, ModelRequest, ModelResponse, RecordedRequest } from './http';
export type { MockSession } from './sessions';
export type { TokenOptions } from './tokens';
export type { OktaModelOptions } from './options';



/**
 * The state of a mocked Okta org with one custom authorization server: signing keys, minted and
 * revoked tokens, sessions, failures, latency, rate limits and call counts, and a pure `handle()`
 * that answers one HTTP request. Transports (nock in {@link mockOkta}) only carry requests to it.
 *
 * Endpoints: discovery, `{issuer}/v1/keys`, `{issuer}/v1/introspect`, `{issuer}/v1/revoke`,
 * `{issuer}/v1/token` (refresh, and client credentials for service apps), `{issuer}/v1/logout`
 * (RP-initiated logout), `{org}/oauth2/v1/token` (client credentials for the Okta API),
 * `{org}/api/v1/sessions/{id}` (GET, DELETE, POST `…/lifecycle/refresh`), and the SSF transmitter
 * (`{org}/.well-known/ssf-configuration`, its keys, `{org}/api/v1/ssf/stream`); pushes to receivers
 * go through {@link OktaModel.push}. The authorization endpoint is advertised (clients need it in
 * the metadata) but not served: sign users in with {@link OktaModel.login}.
 */
export class OktaModel {
  readonly issuer: string;
  readonly orgUrl: string;
  readonly audience: string;
  readonly clientId: string;
  readonly clientSecret: string;
  readonly apiToken: string;
  readonly jwksUri: string;
  readonly calls: Record<MockEndpoint, number> = { discovery: 0, jwks: 0, introspect: 0, sessions: 0, token: 0, revoke: 0, logout: 0, ssf: 0 };
  /** What Okta pushes to receivers: SSF streams and Event Hooks (see {@link MockPush}). */
  readonly push: MockPush;
  /** The last 1000 requests answered, oldest first. */
  readonly requests: RecordedRequest[] = [];
  /** Refresh tokens are rotated on use (Okta's default for SPAs). */
  rotateRefreshTokens = true;
  /** How long a rotated refresh token still works after its first use, in seconds; see {@link OktaModelOptions.refreshTokenGrace}. */
  refreshTokenGrace: number;
  private readonly keys: KeyRing;
  private readonly tokens: TokenLedger;
  private readonly sessions: SessionsApi;
  private readonly clients: ClientAuthenticator;
  private readonly faults: Faults;
  private readonly dpop: DpopServer;
  private readonly server: ServerContext;
  private readonly jwksMaxAge: number;

  constructor(options: OktaModelOptions = {}) {
    this.issuer = options.issuer ?? `https://dev-${100000 + Math.floor(Math.random() * 900000)}.okta.com/oauth2/default`;
    this.orgUrl = new URL(this.issuer).origin;
    this.audience = options.audience ?? 'api://default';
    this.clientId = options.clientId ?? `0oa${randomBytes(8).toString('hex')}`;
    this.clientSecret = options.clientSecret ?? randomBytes(24).toString('base64url');
    this.apiToken = options.apiToken ?? `00${randomBytes(20).toString('base64url')}`;
    this.jwksMaxAge = options.jwksMaxAge ?? 3600;
    const grace = options.refreshTokenGrace ?? 30;
    if (!(Number.isInteger(grace) && grace >= 0 && grace <= 60)) throw new TypeError('mockOkta: "refreshTokenGrace" must be a whole number of seconds from 0 to 60, as Okta allows');
    this.refreshTokenGrace = grace;
    const clock = options.clock ?? Date.now;
    const base = endpointBase(this.issuer);
    this.jwksUri = `${base}/v1/keys`;
    this.keys = new KeyRing(options.algorithms ?? ['RS256']);
    this.tokens = new TokenLedger({ issuer: this.issuer, audience: this.audience, clientId: this.clientId, keys: this.keys, clock, refreshGrace: () => this.refreshTokenGrace });
    this.dpop = new DpopServer(clock);
    this.sessions = new SessionsApi({ apiToken: this.apiToken, orgUrl: this.orgUrl, dpop: this.dpop, clock });
    this.clients = new ClientAuthenticator({ clientId: this.clientId, clientSecret: this.clientSecret, clock });
    this.faults = new Faults(clock);
    // The transmitter signs with the org authorization server's keys: the issuer's own, when the issuer is the org.
    this.push = new MockPush({ orgUrl: this.orgUrl, keys: base === `${this.orgUrl}/oauth2` ? this.keys : new KeyRing(['RS256']), apiToken: this.apiToken, clock });
    this.server = { issuer: this.issuer, base, orgUrl: this.orgUrl, jwksUri: this.jwksUri, keys: this.keys, tokens: this.tokens, clients: this.clients, sessions: this.sessions, dpop: this.dpop, endSession: (id) => this.endSession(id), postLogoutRedirectUris: options.postLogoutRedirectUris };
  }

  /** Key ids currently published, newest last. */
  get kids(): string[] {
    return this.keys.kids;
  }

  /** The JWK set as published (public keys only). */
  jwks(): { keys: Array<Record<string, unknown>> } {
    return this.keys.jwks();
  }

  /**
   * Mints a signed access token shaped like Okta's (`ver, jti, iss, aud, iat, exp, cid, uid, scp,
   * auth_time, sub`). `claims` override the defaults; a claim set to `undefined` is left out. Bind it
   * to a session with `{ sid: session.id }`.
   */
  token(claims: Record<string, unknown> = {}, options: TokenOptions = {}): string {
    return this.tokens.accessToken(claims, options);
  }

  /**
   * Mints an OIDC Back-Channel Logout token (`typ: logout+jwt`, `aud` the client id, the
   * back-channel `events` claim) for a `sid` and/or `sub`, signed with the issuer's key. `claims`
   * override or (with `undefined`) remove anything, `header` likewise.
   */
  logoutToken(claims: Record<string, unknown> = {}, header: Record<string, unknown> = {}): string {
    return this.tokens.logoutToken(claims, header);
  }

  /** Mints an Okta Universal Logout bearer (`typ: global-token-revocation+jwt`, 5-minute lifetime) for the receiver at `audience`. */
  globalLogoutToken(audience: string, claims: Record<string, unknown> = {}, header: Record<string, unknown> = {}): string {
    return this.tokens.globalLogoutToken(audience, claims, header);
  }

  /** Mints an opaque (non-JWT) access token, known to introspection only, as the org authorization server issues. */
  opaqueToken(claims: Record<string, unknown> = {}, options: { expiresIn?: number } = {}): string {
    return this.tokens.opaqueToken(claims, options.expiresIn);
  }

  /**
   * Revokes a token: an access token is reported inactive from now on; a refresh token stops
   * working, and so do the access tokens issued from its family.
   */
  revoke(token: string): void {
    this.tokens.revoke(token);
  }

  /**
   * Signs a user in, as the authorization-code flow would end: a session (unless `session: false`),
   * an access token bound to it (`sid`), a refresh token and an ID token. `claims` go into the
   * access token.
   */
  login(options: { claims?: Record<string, unknown>; expiresIn?: number; session?: boolean } = {}): {
    accessToken: string;
    refreshToken: string;
    idToken: string;
    session: MockSession | undefined;
  } {
    const session = options.session === false ? undefined : this.session({ login: typeof options.claims?.sub === 'string' ? options.claims.sub : undefined });
    const claims = { ...(session ? { sid: session.id } : {}), ...options.claims };
    const family = randomBytes(12).toString('base64url');
    return { ...this.tokens.issue(claims, family, options.expiresIn), session };
  }

  /** Creates an Okta session (status `ACTIVE` unless given), lasting `expiresIn` seconds (default 7200). */
  session(options: { login?: string; userId?: string; status?: MockSession['status']; expiresIn?: number } = {}): MockSession {
    const session = this.sessions.create(options);
    this.push.track(session);
    return session;
  }

  /**
   * Ends a session, as signing out of Okta does: the Sessions API answers 404 for it from now on, and
   * Okta pushes the end to the registered receivers (session-revoked on SSF streams, `user.session.end`
   * to Event Hooks; see {@link OktaModel.push}).
   */
  endSession(id: string): void {
    this.sessions.end(id);
    this.push.sessionEnded(id);
  }

  /** Changes a session's status (e.g. to `MFA_REQUIRED`). */
  setSessionStatus(id: string, status: MockSession['status']): void {
    this.sessions.setStatus(id, status);
  }

  /** Whether a session exists and has not expired. */
  hasSession(id: string): boolean {
    return this.sessions.has(id);
  }

  /**
   * Makes Okta API service apps use DPoP, as with "Require DPoP" on: `{org}/oauth2/v1/token` then
   * refuses a request without a proof (400 `invalid_dpop_proof`), and asks for its nonce first
   * (400 `use_dpop_nonce`, `DPoP-Nonce`). Token endpoints take proofs anyway and bind the tokens.
   */
  requireDpop(required = true): void {
    this.dpop.required = required;
  }

  /** Trusts a public key for `private_key_jwt` client assertions: from now on their signatures are verified. */
  trustClientKey(publicKey: KeyObject | Record<string, unknown>): void {
    this.clients.trust(publicKey);
  }

  /**
   * Publishes a new key for every algorithm and signs with it from now on. The old keys stay
   * published unless `removeOld` is set, as after Okta's own rotation.
   */
  rotateKeys(options: { removeOld?: boolean } = {}): void {
    this.keys.rotate(options.removeOld);
  }

  /** Makes an endpoint fail, for `times` requests (default: until {@link OktaModel.recover}). `delay` (ms) is how long `'slow'` waits; default 30000. */
  fail(endpoint: MockEndpoint, mode: FailureMode, options: { times?: number; delay?: number } = {}): void {
    this.faults.fail(endpoint, mode, options);
  }

  /** Ends the failure of one endpoint, or of all. */
  recover(endpoint?: MockEndpoint): void {
    this.faults.recover(endpoint);
  }

  /** Adds `ms` milliseconds before every answer of an endpoint (0 removes it). */
  latency(endpoint: MockEndpoint, ms: number): void {
    this.faults.latency(endpoint, ms);
  }

  /**
   * Rate-limits an endpoint as Okta does: `limit` calls per window of `resetIn` seconds, every
   * answer carrying `X-Rate-Limit-Limit/Remaining/Reset` (reset in epoch seconds), 429 with
   * `E0000047` past the limit. A `limit` of 0 answers 429 at once.
   */
  rateLimit(endpoint: MockEndpoint, options: { limit: number; resetIn: number }): void {
    this.faults.rateLimit(endpoint, options);
  }

  /** Sets every call counter back to zero and forgets the recorded requests. */
  resetCalls(): void {
    for (const name of ENDPOINTS) this.calls[name] = 0;
    this.requests.length = 0;
  }

  /** The discovery document, as Okta's custom authorization servers publish it. */
  metadata(): Record<string, unknown> {
    return discoveryDocument(this.server);
  }

  /** Answers one request. Input it cannot read (a malformed percent-encoding, a broken assertion) is a 400, as Okta answers it, never a throw. */
  handle(request: ModelRequest): ModelResponse {
    try {
      return this.handleRequest(request);
    } catch {
      return oktaError(400, 'E0000003', 'The request body was not well-formed.');
    }
  }

  /** Which endpoint of this model a request goes to, with its argument (session id, token audience); `undefined` when it is none of them. */
  route(method: string, path: string): [MockEndpoint, string] | undefined {
    const transmitter = this.push.route(method, path);
    return routeRequest(this.server, method, path) ?? (transmitter === undefined ? undefined : ['ssf', transmitter]);
  }

  /**
   * Counts and records a request to one of the endpoints, and answers it with the faults applied.
   * Every answer carries a fresh `X-Okta-Request-Id`, as Okta's do.
   */
  private handleRequest(request: ModelRequest): ModelResponse {
    const id = requestId();
    const route = this.route(request.method, request.path);
    const answer = route === undefined ? oktaError(404, 'E0000022', 'The endpoint does not exist.') : this.answerRoute(route, request, id);
    return { ...answer, headers: { ...answer.headers, 'x-okta-request-id': id } };
  }

  private answerRoute([endpoint, argument]: [MockEndpoint, string], request: ModelRequest, id: string): ModelResponse {
    this.calls[endpoint]++;
    this.requests.push({ ...request, endpoint, requestId: id });
    if (this.requests.length > 1000) this.requests.shift();
    return this.faults.respond(endpoint, () => this.answer(endpoint, argument, request));
  }

  /** The answer of an endpoint, without faults. */
  private answer(endpoint: MockEndpoint, argument: string, request: ModelRequest): ModelResponse {
    switch (endpoint) {
      case 'discovery':
        return json(200, this.metadata());
      case 'jwks':
        return json(200, this.jwks(), { 'cache-control': `max-age=${this.jwksMaxAge}, must-revalidate` });
      case 'introspect':
        return introspectEndpoint(this.server, request);
      case 'revoke':
        return revokeEndpoint(this.server, request);
      case 'token':
        return tokenEndpoint(this.server, request, argument, this.rotateRefreshTokens);
      case 'sessions': {
        const answer = this.sessions.answer(request, argument);
        if (request.method === 'DELETE' && answer.status === 204) this.push.sessionEnded(argument);
        return answer;
      }
      case 'logout':
        return logoutEndpoint(this.server, request);
      case 'ssf':
        return this.push.answer(request, argument);
    }
  }
}
