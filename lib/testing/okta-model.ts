import { createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, randomUUID, sign, verify, constants, type KeyObject } from 'node:crypto';
import { SUPPORTED_ALGORITHMS, type Algorithm } from '../jose/algorithms';

/** The endpoints of the mocked Okta that can be made to fail, slowed down, rate-limited, and whose calls are counted. */
export type MockEndpoint = 'discovery' | 'jwks' | 'introspect' | 'sessions' | 'token' | 'revoke';

const ENDPOINTS: MockEndpoint[] = ['discovery', 'jwks', 'introspect', 'sessions', 'token', 'revoke'];

/** One request as the model received it. */
export interface ModelRequest {
  method: string;
  /** URL path, without the query. */
  path: string;
  /** Header names in lower case. */
  headers: Record<string, string | string[] | undefined>;
  /** The raw body (form-encoded for POSTs). */
  body: string;
}

/** A request the model answered, as kept in {@link OktaModel.requests}. */
export interface RecordedRequest extends ModelRequest {
  endpoint: MockEndpoint;
}

/** An Okta session, as `GET /api/v1/sessions/{id}` returns it. */
export interface MockSession {
  id: string;
  userId: string;
  login: string;
  status: 'ACTIVE' | 'MFA_REQUIRED' | 'MFA_ENROLL';
  createdAt: string;
  expiresAt: string;
  lastPasswordVerification: string;
  lastFactorVerification: string | null;
  amr: string[];
  idp: { id: string; type: string };
}

/** How an endpoint fails: connection refused, no answer in time, an HTTP status, or a body that is not JSON. */
export type FailureMode = 'down' | 'slow' | 'garbage' | number;

/** A response the model wants sent. `error` means the connection fails; `delay` is in milliseconds. */
export interface ModelResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
  delay?: number;
  error?: Error;
}

/** Options of the Okta model shared by {@link mockOkta} and later transports. */
export interface OktaModelOptions {
  /** Issuer URL. Default: a fresh `https://dev-NNNNNN.okta.com/oauth2/default`. */
  issuer?: string;
  /** Default `aud` of minted tokens. Default `'api://default'`. */
  audience?: string;
  /** Default `cid` of minted tokens. Default: a fresh `0oa...` id. */
  clientId?: string;
  /** One published signing key per algorithm. Default `['RS256']`. */
  algorithms?: readonly Algorithm[];
  /** `Cache-Control: max-age` of the JWKS response, in seconds. Default 3600. */
  jwksMaxAge?: number;
  /** Clock for minted `iat`/`exp`, sessions and rate-limit windows, milliseconds since the epoch. Default `Date.now`. */
  clock?: () => number;
  /** Secret of the client (`clientId`) for `client_secret_basic` / `client_secret_post`. Default: a fresh random one. */
  clientSecret?: string;
  /** The Okta API token the Sessions API accepts as `SSWS <token>`. Default: a fresh random one. */
  apiToken?: string;
}

/** Options of {@link OktaModel.token}. */
export interface TokenOptions {
  /** Sign with the newest published key of this algorithm. Default: the first configured algorithm. */
  alg?: Algorithm;
  /** Lifetime in seconds (sets `exp` = `iat` + this). Default 3600. */
  expiresIn?: number;
  /** Header fields to set or, with `undefined`, remove (`kid`, `typ`, even `alg`: the signature then uses the key's real algorithm). */
  header?: Record<string, unknown>;
  /** Sign with a fresh key that is not in the JWKS (same `kid` as the published one unless `header.kid` says otherwise). */
  unpublishedKey?: boolean;
}

interface SigningKey {
  kid: string;
  alg: Algorithm;
  privateKey: KeyObject;
  jwk: Record<string, unknown>;
}

/** A failure set on an endpoint, with how many more requests it affects. */
interface Failure {
  mode: FailureMode;
  remaining: number;
  delay: number;
}

/**
 * The state of a mocked Okta org with one custom authorization server: signing keys, minted and
 * revoked tokens, sessions, failures, latency, rate limits and call counts, and a pure `handle()`
 * that answers one HTTP request. Transports (nock in {@link mockOkta}) only carry requests to it.
 *
 * Endpoints: discovery, `{issuer}/v1/keys`, `{issuer}/v1/introspect`, `{issuer}/v1/revoke`,
 * `{issuer}/v1/token` and `{org}/oauth2/v1/token` (client credentials for the Okta API), and
 * `{org}/api/v1/sessions/{id}` (GET, DELETE).
 */
export class OktaModel {
  readonly issuer: string;
  readonly orgUrl: string;
  readonly audience: string;
  readonly clientId: string;
  readonly clientSecret: string;
  readonly apiToken: string;
  readonly jwksUri: string;
  readonly calls: Record<MockEndpoint, number> = { discovery: 0, jwks: 0, introspect: 0, sessions: 0, token: 0, revoke: 0 };
  /** The last 1000 requests answered, oldest first. */
  readonly requests: RecordedRequest[] = [];
  private keys: SigningKey[] = [];
  private readonly algorithms: readonly Algorithm[];
  private readonly failures = new Map<MockEndpoint, Failure>();
  private readonly latencies = new Map<MockEndpoint, number>();
  private readonly limits = new Map<MockEndpoint, { limit: number; window: number; remaining: number; resetAt: number }>();
  private readonly minted = new Map<string, Record<string, unknown>>();
  private readonly opaque = new Map<string, Record<string, unknown>>();
  private readonly revoked = new Set<string>();
  private readonly sessions = new Map<string, MockSession>();
  private readonly apiAccessTokens = new Map<string, number>();
  private readonly refreshTokens = new Map<string, { family: string; claims: Record<string, unknown>; usedAt?: number }>();
  private readonly revokedFamilies = new Set<string>();
  private readonly familyOf = new Map<string, string>();
  /** Refresh tokens are rotated on use (Okta's default for SPAs). */
  rotateRefreshTokens = true;
  private readonly clientKeys: KeyObject[] = [];
  private readonly everUsed = new Set<KeyObject>();
  private readonly jwksMaxAge: number;
  private readonly clock: () => number;

  constructor(options: OktaModelOptions = {}) {
    this.issuer = options.issuer ?? `https://dev-${100000 + Math.floor(Math.random() * 900000)}.okta.com/oauth2/default`;
    this.orgUrl = new URL(this.issuer).origin;
    this.audience = options.audience ?? 'api://default';
    this.clientId = options.clientId ?? `0oa${randomBytes(8).toString('hex')}`;
    this.clientSecret = options.clientSecret ?? randomBytes(24).toString('base64url');
    this.apiToken = options.apiToken ?? `00${randomBytes(20).toString('base64url')}`;
    this.algorithms = options.algorithms ?? ['RS256'];
    this.jwksMaxAge = options.jwksMaxAge ?? 3600;
    this.clock = options.clock ?? Date.now;
    this.jwksUri = `${this.base}/v1/keys`;
    for (const alg of this.algorithms) this.keys.push(this.freshKey(alg));
  }

  /**
   * Where the authorization server's endpoints live: under a custom server's issuer, or under
   * `{org}/oauth2` for the org authorization server (issuer without a path), as Okta lays them out.
   */
  private get base(): string {
    const issuer = this.issuer.replace(/\/$/, '');
    return new URL(this.issuer).pathname.replace(/\/$/, '') === '' ? `${issuer}/oauth2` : issuer;
  }

  /** Key ids currently published, newest last. */
  get kids(): string[] {
    return this.keys.map((k) => k.kid);
  }

  /** The JWK set as published (public keys only). */
  jwks(): { keys: Array<Record<string, unknown>> } {
    return { keys: this.keys.map((k) => ({ ...k.jwk })) };
  }

  /**
   * Mints a signed access token shaped like Okta's (`ver, jti, iss, aud, iat, exp, cid, uid, scp,
   * auth_time, sub`). `claims` override the defaults; a claim set to `undefined` is left out. Bind it
   * to a session with `{ sid: session.id }`.
   */
  token(claims: Record<string, unknown> = {}, options: TokenOptions = {}): string {
    const alg = options.alg ?? this.algorithms[0];
    const published = [...this.keys].reverse().find((k) => k.alg === alg);
    if (published === undefined) throw new TypeError(`mockOkta: no published key for ${alg}; pass it in "algorithms"`);
    const key = options.unpublishedKey ? { ...newKey(alg, true), kid: published.kid } : published;
    const payload = this.claimsFor(claims, options.expiresIn);
    if (typeof payload.jti === 'string') this.minted.set(payload.jti, payload);
    const header = strip({ kid: key.kid, alg: key.alg, ...options.header });
    return signCompact(header, payload, key.alg, key.privateKey);
  }

  /**
   * Mints an OIDC Back-Channel Logout token (`typ: logout+jwt`, `aud` the client id, the
   * back-channel `events` claim) for a `sid` and/or `sub`, signed with the issuer's key. `claims`
   * override or (with `undefined`) remove anything, `header` likewise.
   */
  logoutToken(claims: Record<string, unknown> = {}, header: Record<string, unknown> = {}): string {
    const now = Math.floor(this.clock() / 1000);
    const payload = strip({ iss: this.issuer, aud: this.clientId, iat: now, exp: now + 120, jti: randomUUID(), events: { 'http://schemas.openid.net/event/backchannel-logout': {} }, ...claims });
    const key = this.keys[this.keys.length - 1];
    return signCompact(strip({ kid: key.kid, alg: key.alg, typ: 'logout+jwt', ...header }), payload, key.alg, key.privateKey);
  }

  /** Mints an Okta Universal Logout bearer (`typ: global-token-revocation+jwt`, 5-minute lifetime) for the receiver at `audience`. */
  globalLogoutToken(audience: string, claims: Record<string, unknown> = {}, header: Record<string, unknown> = {}): string {
    const now = Math.floor(this.clock() / 1000);
    const payload = strip({ iss: this.issuer, aud: audience, iat: now, exp: now + 300, jti: randomUUID(), ...claims });
    const key = this.keys[this.keys.length - 1];
    return signCompact(strip({ kid: key.kid, alg: key.alg, typ: 'global-token-revocation+jwt', ...header }), payload, key.alg, key.privateKey);
  }

  /** Mints an opaque (non-JWT) access token, known to introspection only, as the org authorization server issues. */
  opaqueToken(claims: Record<string, unknown> = {}, options: { expiresIn?: number } = {}): string {
    const token = randomBytes(32).toString('base64url');
    this.opaque.set(token, this.claimsFor(claims, options.expiresIn));
    return token;
  }

  /**
   * Revokes a token: an access token is reported inactive from now on; a refresh token stops
   * working, and so do the access tokens issued from its family.
   */
  revoke(token: string): void {
    const refresh = this.refreshTokens.get(token);
    if (refresh !== undefined) {
      this.revokedFamilies.add(refresh.family);
      return;
    }
    const jti = this.lookup(token)?.jti;
    this.revoked.add(typeof jti === 'string' ? jti : token);
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
    return { ...this.issueTokens(claims, family, options.expiresIn), session };
  }

  private issueTokens(claims: Record<string, unknown>, family: string, expiresIn?: number): { accessToken: string; refreshToken: string; idToken: string } {
    const accessToken = this.token(claims, { expiresIn });
    const jti = this.lookup(accessToken)?.jti;
    if (typeof jti === 'string') this.familyOf.set(jti, family);
    const refreshToken = randomBytes(32).toString('base64url');
    this.refreshTokens.set(refreshToken, { family, claims });
    const now = Math.floor(this.clock() / 1000);
    const key = this.keys[this.keys.length - 1];
    const idToken = signCompact({ kid: key.kid, alg: key.alg }, { iss: this.issuer, aud: this.clientId, sub: typeof claims.uid === 'string' ? claims.uid : '00u1a2b3c4d5e6f7g8h9', iat: now, exp: now + 3600, ...(claims.sid ? { sid: claims.sid } : {}) }, key.alg, key.privateKey);
    return { accessToken, refreshToken, idToken };
  }

  /** Creates an Okta session (status `ACTIVE` unless given), lasting `expiresIn` seconds (default 7200). */
  session(options: { login?: string; userId?: string; status?: MockSession['status']; expiresIn?: number } = {}): MockSession {
    const now = this.clock();
    const session: MockSession = {
      id: `102${randomBytes(12).toString('base64url')}`,
      userId: options.userId ?? '00u1a2b3c4d5e6f7g8h9',
      login: options.login ?? 'alice@example.com',
      status: options.status ?? 'ACTIVE',
      createdAt: new Date(now).toISOString(),
      expiresAt: new Date(now + (options.expiresIn ?? 7200) * 1000).toISOString(),
      lastPasswordVerification: new Date(now).toISOString(),
      lastFactorVerification: null,
      amr: ['pwd'],
      idp: { id: '00o1a2b3c4d5e6f7g8h9', type: 'OKTA' },
    };
    this.sessions.set(session.id, session);
    return { ...session };
  }

  /** Ends a session, as signing out of Okta does: the Sessions API answers 404 for it from now on. */
  endSession(id: string): void {
    this.sessions.delete(id);
  }

  /** Changes a session's status (e.g. to `MFA_REQUIRED`). */
  setSessionStatus(id: string, status: MockSession['status']): void {
    const session = this.sessions.get(id);
    if (session === undefined) throw new TypeError(`mockOkta: no session ${id}`);
    session.status = status;
  }

  /** Whether a session exists and has not expired. */
  hasSession(id: string): boolean {
    const session = this.sessions.get(id);
    return session !== undefined && Date.parse(session.expiresAt) > this.clock();
  }

  /** Trusts a public key for `private_key_jwt` client assertions: from now on their signatures are verified. */
  trustClientKey(publicKey: KeyObject | Record<string, unknown>): void {
    this.clientKeys.push('asymmetricKeyType' in publicKey ? (publicKey as KeyObject) : createPublicKey({ key: publicKey as never, format: 'jwk' }));
  }

  /**
   * Publishes a new key for every algorithm and signs with it from now on. The old keys stay
   * published unless `removeOld` is set, as after Okta's own rotation.
   */
  rotateKeys(options: { removeOld?: boolean } = {}): void {
    const fresh = this.algorithms.map((alg) => this.freshKey(alg));
    this.keys = options.removeOld ? fresh : [...this.keys, ...fresh];
  }

  /** A key whose private material this model has never held, so that a retired kid cannot come back. */
  private freshKey(alg: Algorithm): SigningKey {
    for (let i = 0; i < POOL_SIZE; i++) {
      const key = newKey(alg);
      if (!this.everUsed.has(key.privateKey)) {
        this.everUsed.add(key.privateKey);
        return key;
      }
    }
    const key = newKey(alg, true);
    this.everUsed.add(key.privateKey);
    return key;
  }

  /** Makes an endpoint fail, for `times` requests (default: until {@link OktaModel.recover}). `delay` (ms) is how long `'slow'` waits; default 30000. */
  fail(endpoint: MockEndpoint, mode: FailureMode, options: { times?: number; delay?: number } = {}): void {
    if (options.times !== undefined && !(Number.isInteger(options.times) && options.times >= 1)) throw new TypeError('mockOkta: "times" must be a whole number of at least 1');
    this.failures.set(endpoint, { mode, remaining: options.times ?? Infinity, delay: options.delay ?? 30_000 });
  }

  /** Ends the failure of one endpoint, or of all. */
  recover(endpoint?: MockEndpoint): void {
    if (endpoint === undefined) this.failures.clear();
    else this.failures.delete(endpoint);
  }

  /** Adds `ms` milliseconds before every answer of an endpoint (0 removes it). */
  latency(endpoint: MockEndpoint, ms: number): void {
    this.latencies.set(endpoint, ms);
  }

  /**
   * Rate-limits an endpoint as Okta does: `limit` calls per window of `resetIn` seconds, every
   * answer carrying `X-Rate-Limit-Limit/Remaining/Reset` (reset in epoch seconds), 429 with
   * `E0000047` past the limit. A `limit` of 0 answers 429 at once.
   */
  rateLimit(endpoint: MockEndpoint, options: { limit: number; resetIn: number }): void {
    this.limits.set(endpoint, { limit: options.limit, window: options.resetIn, remaining: options.limit, resetAt: this.clock() + options.resetIn * 1000 });
  }

  /** Sets every call counter back to zero and forgets the recorded requests. */
  resetCalls(): void {
    for (const name of ENDPOINTS) this.calls[name] = 0;
    this.requests.length = 0;
  }

  /** The discovery document, as Okta's custom authorization servers publish it. */
  metadata(): Record<string, unknown> {
    return {
      issuer: this.issuer,
      authorization_endpoint: `${this.base}/v1/authorize`,
      token_endpoint: `${this.base}/v1/token`,
      jwks_uri: this.jwksUri,
      introspection_endpoint: `${this.base}/v1/introspect`,
      revocation_endpoint: `${this.base}/v1/revoke`,
      end_session_endpoint: `${this.base}/v1/logout`,
      response_types_supported: ['code'],
      grant_types_supported: ['authorization_code', 'refresh_token', 'client_credentials'],
      introspection_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'private_key_jwt', 'none'],
      id_token_signing_alg_values_supported: [...this.algorithms],
    };
  }

  /** Answers one request. Input it cannot read (a malformed percent-encoding, a broken assertion) is a 400, as Okta answers it, never a throw. */
  handle(request: ModelRequest): ModelResponse {
    try {
      return this.handleRequest(request);
    } catch {
      return json(400, { errorCode: 'E0000003', errorSummary: 'The request body was not well-formed.' });
    }
  }

  private handleRequest(request: ModelRequest): ModelResponse {
    const route = this.route(request.method, request.path);
    if (route === undefined) return json(404, { errorCode: 'E0000022', errorSummary: 'The endpoint does not exist.' });
    const [endpoint, argument] = route;
    this.calls[endpoint]++;
    this.requests.push({ ...request, endpoint });
    if (this.requests.length > 1000) this.requests.shift();
    const delay = this.latencies.get(endpoint) ?? 0;
    const failure = this.failures.get(endpoint);
    if (failure !== undefined) {
      if (--failure.remaining <= 0) this.failures.delete(endpoint);
      if (failure.mode === 'slow') return { ...this.answer(endpoint, argument, request), delay: failure.delay + delay };
      return { ...failed(failure.mode), delay: delay || undefined };
    }
    const limited = this.countRate(endpoint);
    const answer = limited.exceeded
      ? json(429, { errorCode: 'E0000047', errorSummary: 'API call exceeded rate limit due to too many requests.' })
      : this.answer(endpoint, argument, request);
    return { ...answer, headers: { ...answer.headers, ...limited.headers }, delay: delay || undefined };
  }

  private countRate(endpoint: MockEndpoint): { exceeded: boolean; headers: Record<string, string> } {
    const limit = this.limits.get(endpoint);
    if (limit === undefined) return { exceeded: false, headers: {} };
    const now = this.clock();
    if (now >= limit.resetAt) {
      limit.remaining = limit.limit;
      limit.resetAt = now + limit.window * 1000;
    }
    const exceeded = limit.remaining <= 0;
    if (!exceeded) limit.remaining--;
    return {
      exceeded,
      headers: {
        'x-rate-limit-limit': String(limit.limit),
        'x-rate-limit-remaining': String(limit.remaining),
        'x-rate-limit-reset': String(Math.ceil(limit.resetAt / 1000)),
      },
    };
  }

  private answer(endpoint: MockEndpoint, argument: string, request: ModelRequest): ModelResponse {
    switch (endpoint) {
      case 'discovery':
        return json(200, this.metadata());
      case 'jwks':
        return json(200, this.jwks(), { 'cache-control': `max-age=${this.jwksMaxAge}, must-revalidate` });
      case 'introspect':
        return this.introspect(request);
      case 'revoke':
        return this.revokeEndpoint(request);
      case 'token':
        return this.tokenEndpoint(request, argument);
      case 'sessions':
        return this.sessionsEndpoint(request, argument);
    }
  }

  private introspect(request: ModelRequest): ModelResponse {
    const form = new URLSearchParams(request.body);
    const failure = this.authenticateClient(request, form, `${this.base}/v1/introspect`);
    if (failure !== undefined) return failure;
    const token = form.get('token');
    if (token === null) return json(400, { error: 'invalid_request', error_description: 'token is required' });
    const claims = this.lookup(token);
    const now = Math.floor(this.clock() / 1000);
    const family = this.familyOf.get(String(claims?.jti));
    if (claims === undefined || this.revoked.has(String(claims.jti ?? token)) || this.revoked.has(token) || (claims.exp as number) <= now || (family !== undefined && this.revokedFamilies.has(family))) {
      return json(200, { active: false });
    }
    return json(200, {
      active: true,
      scope: Array.isArray(claims.scp) ? claims.scp.join(' ') : claims.scope,
      username: claims.sub,
      exp: claims.exp,
      iat: claims.iat,
      sub: claims.sub,
      aud: claims.aud,
      iss: claims.iss,
      jti: claims.jti,
      token_type: 'Bearer',
      client_id: claims.cid,
      uid: claims.uid,
    });
  }

  private revokeEndpoint(request: ModelRequest): ModelResponse {
    const form = new URLSearchParams(request.body);
    const failure = this.authenticateClient(request, form, `${this.base}/v1/revoke`);
    if (failure !== undefined) return failure;
    const token = form.get('token');
    if (token === null) return json(400, { error: 'invalid_request', error_description: 'token is required' });
    this.revoke(token);
    return { status: 200, headers: {}, body: '' };
  }

  private tokenEndpoint(request: ModelRequest, audience: string): ModelResponse {
    const form = new URLSearchParams(request.body);
    if (form.get('grant_type') === 'refresh_token' && audience === `${this.base}/v1/token`) return this.refreshGrant(request, form);
    if (form.get('grant_type') !== 'client_credentials') {
      return json(400, { error: 'unsupported_grant_type', error_description: 'The mock supports client_credentials here.' });
    }
    const assertion = form.get('client_assertion');
    if (assertion === null || form.get('client_assertion_type') !== 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer') {
      return json(401, { error: 'invalid_client', error_description: 'Okta API service apps authenticate with private_key_jwt.' });
    }
    const problem = this.checkAssertion(assertion, undefined, audience);
    if (problem !== undefined) return json(401, { error: 'invalid_client', error_description: problem });
    const accessToken = randomBytes(32).toString('base64url');
    this.apiAccessTokens.set(accessToken, this.clock() + 3600_000);
    return json(200, { token_type: 'Bearer', expires_in: 3600, access_token: accessToken, scope: form.get('scope') ?? '' });
  }

  /** `grant_type=refresh_token`, with rotation: reusing a rotated refresh token revokes its whole family, as Okta does past the grace period. */
  private refreshGrant(request: ModelRequest, form: URLSearchParams): ModelResponse {
    const failure = this.authenticateClient(request, form, `${this.base}/v1/token`);
    if (failure !== undefined) return failure;
    const presented = form.get('refresh_token') ?? '';
    const record = this.refreshTokens.get(presented);
    const invalid = (why: string) => json(400, { error: 'invalid_grant', error_description: why });
    if (record === undefined || this.revokedFamilies.has(record.family)) return invalid('The refresh token is invalid or expired.');
    if (record.usedAt !== undefined) {
      this.revokedFamilies.add(record.family);
      return invalid('The refresh token was already used; the token family is revoked.');
    }
    if (this.rotateRefreshTokens) record.usedAt = this.clock();
    const tokens = this.issueTokens(record.claims, record.family);
    if (!this.rotateRefreshTokens) this.refreshTokens.delete(tokens.refreshToken);
    return json(200, {
      token_type: 'Bearer',
      expires_in: 3600,
      access_token: tokens.accessToken,
      scope: Array.isArray(record.claims.scp) ? record.claims.scp.join(' ') : 'openid profile',
      refresh_token: this.rotateRefreshTokens ? tokens.refreshToken : presented,
      id_token: tokens.idToken,
    });
  }

  private sessionsEndpoint(request: ModelRequest, id: string): ModelResponse {
    const authorization = String(request.headers.authorization ?? '');
    const bearer = /^Bearer (.+)$/.exec(authorization)?.[1];
    const authorized = authorization === `SSWS ${this.apiToken}` || (bearer !== undefined && (this.apiAccessTokens.get(bearer) ?? 0) > this.clock());
    if (!authorized) return json(401, { errorCode: 'E0000011', errorSummary: 'Invalid token provided' });
    if (!this.hasSession(id)) {
      return json(404, { errorCode: 'E0000007', errorSummary: `Not found: Resource not found: ${id} (Session)` });
    }
    if (request.method === 'DELETE') {
      this.sessions.delete(id);
      return { status: 204, headers: {}, body: '' };
    }
    return json(200, { ...this.sessions.get(id) });
  }

  /** Checks client authentication on an endpoint of the authorization server; a 401 answer when it fails. */
  private authenticateClient(request: ModelRequest, form: URLSearchParams, endpoint: string): ModelResponse | undefined {
    const refuse = (why: string) => json(401, { error: 'invalid_client', error_description: why });
    const basic = /^Basic (.+)$/i.exec(String(request.headers.authorization ?? ''))?.[1];
    if (basic !== undefined) {
      const [id, secret] = Buffer.from(basic, 'base64').toString().split(':').map(decodeURIComponent);
      return id === this.clientId && secret === this.clientSecret ? undefined : refuse('Bad client credentials (basic).');
    }
    const assertion = form.get('client_assertion');
    if (assertion !== null) return this.checkAssertion(assertion, this.clientId, endpoint) === undefined ? undefined : refuse('Bad client assertion.');
    if (form.get('client_secret') !== null) {
      return form.get('client_id') === this.clientId && form.get('client_secret') === this.clientSecret ? undefined : refuse('Bad client credentials (post).');
    }
    return form.get('client_id') === this.clientId ? undefined : refuse('No client authentication.');
  }

  /** Checks a `private_key_jwt` assertion; returns what is wrong, or `undefined`. */
  private checkAssertion(assertion: string, clientId: string | undefined, audience: string): string | undefined {
    const [h, p, s] = assertion.split('.');
    let header: Record<string, unknown>;
    let claims: Record<string, unknown>;
    try {
      header = JSON.parse(Buffer.from(h, 'base64url').toString());
      claims = JSON.parse(Buffer.from(p, 'base64url').toString());
    } catch {
      return 'The client assertion is not a JWT.';
    }
    if (claims.iss !== claims.sub || (clientId !== undefined && claims.iss !== clientId)) return 'iss and sub must be the client id.';
    if (claims.aud !== audience) return `aud must be ${audience}.`;
    if (typeof claims.exp !== 'number' || claims.exp * 1000 <= this.clock() || typeof claims.jti !== 'string') return 'exp and jti are required.';
    if (this.clientKeys.length > 0) {
      const alg = String(header.alg);
      const hash = alg === 'EdDSA' ? null : `sha${alg.slice(2)}`;
      const input = Buffer.from(`${h}.${p}`);
      const signature = Buffer.from(s ?? '', 'base64url');
      const ok = this.clientKeys.some((key) =>
        alg.startsWith('ES') ? verify(hash, input, { key, dsaEncoding: 'ieee-p1363' }, signature) : verify(hash, input, key, signature),
      );
      if (!ok) return 'The client assertion signature does not verify.';
    }
    return undefined;
  }

  private lookup(token: string): Record<string, unknown> | undefined {
    const opaque = this.opaque.get(token);
    if (opaque !== undefined) return opaque;
    const parts = token.split('.');
    if (parts.length !== 3) return undefined;
    try {
      const jti = JSON.parse(Buffer.from(parts[1], 'base64url').toString()).jti;
      return typeof jti === 'string' ? this.minted.get(jti) : undefined;
    } catch {
      return undefined;
    }
  }

  private claimsFor(claims: Record<string, unknown>, expiresIn: number | undefined): Record<string, unknown> {
    const now = Math.floor(this.clock() / 1000);
    const iat = typeof claims.iat === 'number' ? claims.iat : now;
    return strip({
      ver: 1,
      jti: `AT.${randomUUID()}`,
      iss: this.issuer,
      aud: this.audience,
      iat: now,
      exp: iat + (expiresIn ?? 3600),
      cid: this.clientId,
      uid: '00u1a2b3c4d5e6f7g8h9',
      scp: ['openid', 'profile'],
      auth_time: now,
      sub: 'alice@example.com',
      ...claims,
    });
  }

  /** Which endpoint of this model a request goes to, with its argument (session id, token audience); `undefined` when it is none of them. */
  route(method: string, path: string): [MockEndpoint, string] | undefined {
    const issuerPath = new URL(this.issuer).pathname.replace(/\/$/, '');
    const basePath = new URL(this.base).pathname;
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
      if (path === `${basePath}/v1/token`) return ['token', `${this.base}/v1/token`];
      if (path === '/oauth2/v1/token') return ['token', `${this.orgUrl}/oauth2/v1/token`];
    }
    const session = /^\/api\/v1\/sessions\/([^/]+)$/.exec(path);
    if (session !== null && (method === 'GET' || method === 'DELETE')) return ['sessions', decodeURIComponent(session[1])];
    return undefined;
  }
}

function failed(mode: Exclude<FailureMode, 'slow'>): ModelResponse {
  switch (mode) {
    case 'down':
      return { status: 0, headers: {}, body: '', error: Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }) };
    case 'garbage':
      return { status: 200, headers: { 'content-type': 'application/json' }, body: '<html>Service Unavailable</html>' };
    default:
      return json(mode, { errorCode: 'E0000009', errorSummary: 'Internal Server Error' });
  }
}

function json(status: number, body: unknown, headers: Record<string, string> = {}): ModelResponse {
  return { status, headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) };
}

function strip(record: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(record).filter(([, value]) => value !== undefined));
}

const pool = new Map<Algorithm, KeyObject[]>();
const used = new Map<Algorithm, number>();

const POOL_SIZE = 8;

/**
 * A signing key with a fresh `kid`. Private keys come round-robin from a small pool generated once
 * per process, to keep test suites fast; `unique` generates one that is in no pool.
 */
function newKey(alg: Algorithm, unique = false): SigningKey {
  const keys = pool.get(alg) ?? [];
  pool.set(alg, keys);
  const index = used.get(alg) ?? 0;
  used.set(alg, index + 1);
  if (keys.length < POOL_SIZE && !unique) keys.push(createKeyPair(alg).privateKey);
  const privateKey = unique ? createKeyPair(alg).privateKey : keys[index % keys.length];
  const kid = randomBytes(16).toString('base64url');
  const { d: _d, p: _p, q: _q, dp: _dp, dq: _dq, qi: _qi, ...jwk } = privateKey.export({ format: 'jwk' });
  return { kid, alg, privateKey, jwk: { ...jwk, kid, alg, use: 'sig' } };
}

/** Options of {@link createKeyPair}. */
export interface KeyPairOptions {
  /** RSA modulus in bits, for `RS*` and `PS*` only (default 2048). Smaller keys are for tests of their refusal. */
  modulusLength?: number;
}

const CURVES: Partial<Record<Algorithm, string>> = { ES256: 'P-256', ES384: 'P-384', ES512: 'P-521' };

/**
 * A new key pair for an algorithm (default `RS256`): client keys for `private_key_jwt` (trust the
 * public one with `okta.trustClientKey()`), a service app's key for the Sessions API, an attacker's
 * key. Use it rather than `generateKeyPairSync` in tests on Node 20: the keys are generated as PEM
 * and parsed into KeyObjects of their own. A KeyObject straight from the generator shares its lock
 * with the generation job, and a garbage collection that finalizes the job while the key is being
 * exported as a JWK (which holds the lock and allocates) deadlocks the process; a child verifying
 * one token with keys made that way hung in 6 of 60 runs.
 *
 * Throws a `TypeError` for an algorithm tokengate does not support, and for `modulusLength` with a
 * non-RSA algorithm.
 */
export function createKeyPair(alg: Algorithm = 'RS256', options: KeyPairOptions = {}): { privateKey: KeyObject; publicKey: KeyObject } {
  const publicKeyEncoding = { type: 'spki', format: 'pem' } as const;
  const privateKeyEncoding = { type: 'pkcs8', format: 'pem' } as const;
  let pem: { privateKey: string; publicKey: string };
  const rsa = /^(RS|PS)(256|384|512)$/.test(alg);
  if (options.modulusLength !== undefined && !rsa) {
    throw new TypeError(`tokengate/testing: createKeyPair() option "modulusLength" is for RSA algorithms (RS*, PS*), not ${JSON.stringify(alg)}`);
  }
  if (rsa) {
    pem = generateKeyPairSync('rsa', { modulusLength: options.modulusLength ?? 2048, publicKeyEncoding, privateKeyEncoding });
  } else if (CURVES[alg] !== undefined) {
    pem = generateKeyPairSync('ec', { namedCurve: CURVES[alg], publicKeyEncoding, privateKeyEncoding });
  } else if (alg === 'EdDSA' || alg === 'Ed25519') {
    pem = generateKeyPairSync('ed25519', { publicKeyEncoding, privateKeyEncoding });
  } else {
    throw new TypeError(`tokengate/testing: createKeyPair() does not know the algorithm ${JSON.stringify(alg)} (one of ${SUPPORTED_ALGORITHMS.join(', ')})`);
  }
  return { privateKey: createPrivateKey(pem.privateKey), publicKey: createPublicKey(pem.publicKey) };
}

/** Signs a compact JWS with `node:crypto`. Exported for tests that craft tokens by hand. */
export function signCompact(header: Record<string, unknown>, payload: Record<string, unknown>, alg: Algorithm, privateKey: KeyObject | string): string {
  const key = typeof privateKey === 'string' ? createPrivateKey(privateKey) : privateKey;
  const input = `${b64(JSON.stringify(header))}.${b64(JSON.stringify(payload))}`;
  const hash = alg === 'EdDSA' || alg === 'Ed25519' ? null : `sha${alg.slice(2)}`;
  let signature: Buffer;
  if (alg.startsWith('ES')) signature = sign(hash, Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' });
  else if (alg.startsWith('PS')) signature = sign(hash, Buffer.from(input), { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST });
  else signature = sign(hash, Buffer.from(input), key);
  return `${input}.${signature.toString('base64url')}`;
}

function b64(text: string): string {
  return Buffer.from(text).toString('base64url');
}
