import { extractBearer, isB64Token, type RequestLike } from './bearer';
import { checkCsrf, newSessionId, readCookie, sessionCookie, type BackendSessionData } from './backend-session';
import { Discovery } from './discovery';
import {
  AuthError,
  BackendSessionInvalidError,
  GuardClosedError,
  RefreshFailedError,
  RevocationUnavailableError,
  SessionEndedError,
  TokenRevokedError,
  InvalidSignatureError,
  MalformedRequestError,
  MalformedTokenError,
  OrgAuthorizationServerError,
  SessionClaimMissingError,
  TokenExpiredError,
  TokenNotYetValidError,
  TokenTooLargeError,
  TokenTooOldError,
  UnknownKeyError,
  UpstreamUnavailableError,
} from './errors';
import { emit } from './events';
import { createHttpClient, withDeadline, type HttpClient } from './http';
import { Introspector } from './introspection';
import { KeySet, type VerificationKey } from './jwks';
import { checkClaims, checkHeader, checkOtherClaims, checkSignedHeader, clientIdOf, decodeJwt, isOktaOrgIssuer, orgServerMessage, ownClaim, verifySignature, type DecodedJwt, type JwtClaims, type JwtHeader } from './jwt';
import { SESSION_ID_SHAPE, SessionChecker, usableSessionId } from './okta-sessions';
import { normalizeTyp, resolveOptions, type GuardOptions, type ResolvedOptions } from './options';
import { checkPolicy, definePolicy, mergePolicies, type Policy } from './policy';
import { Refresher, type TokenSet } from './refresh';
import { buildResult, type AuthResult } from './result';
import type { RevocationEntry, RevocationKind } from './revocation';
import { SharedDenylist } from './shared-denylist';
import { logout, type LogoutRequest, type LogoutResult } from './logout';
import { TokenCache, type CachedVerdict } from './token-cache';

/**
 * Verifies bearer tokens for one issuer and audience. Holds every piece of state (key set,
 * verified-token cache, in-flight fetches); build one per service and share it between routes.
 */
export interface Guard {
  /**
   * Extracts the bearer token of a request (RFC 6750), verifies it, and applies the policy.
   * Resolves to the {@link AuthResult}; rejects with an {@link AuthError} whose `headers` carry
   * the `WWW-Authenticate` challenge (and `Retry-After` on 503).
   */
  verify(request: RequestLike, policy?: Policy): Promise<AuthResult>;
  /** Verifies a token you already extracted, then applies the policy. Same results as {@link Guard.verify}. */
  verifyToken(token: string, policy?: Policy): Promise<AuthResult>;
  /**
   * Validates a route policy against this guard, overlaid on the guard-wide `policy`, and returns
   * it compiled. Throws a `TypeError` for a mistake, or for a check the guard is not configured for
   * (`introspect` without `introspection`, `session: 'strict'` without `sessions`). Adapters call
   * it when a route is mounted.
   */
  compile(policy?: Policy): Policy | undefined;
  /**
   * What the adapters call: like {@link Guard.verify}, plus backend sessions (a request with the
   * session cookie and no Authorization header) and silent refresh of an expired access token when
   * `hooks.getRefreshToken` supplies a refresh token. `tokens` is set when a refresh happened.
   */
  handle(request: RequestLike, policy?: Policy, hooks?: RefreshHooks): Promise<Handled>;
  /**
   * The synchronous fast path of {@link Guard.handle}: resolves a request at once when nothing
   * needs waiting for (a cached token, or a new one whose key is held and fresh, on a route without
   * introspection; on a strict-session route, only with a fresh cached answer for the session).
   * Returns `undefined` when {@link Guard.handle} must be used;
   * throws the same {@link AuthError}s. Adapters try it first: no promise, no microtask hop.
   */
  handleSync(request: RequestLike, policy?: Policy): Handled | undefined;
  /** Exchanges a refresh token (one exchange in flight per refresh token) and verifies the new access token. Needs `client`. */
  refresh(refreshToken: string): Promise<TokenSet>;
  /**
   * Puts a `jti`, an Okta session id (`sid`: tokens whose session claim holds it) or a user (`sub`)
   * on the denylist, on every instance sharing the `revocation.store`. `until` (ms since the epoch,
   * in the future) defaults to the longest a token issued now can still be accepted
   * (`revocation.maxTokenLifetime`, plus twice `clockTolerance`, plus `refreshWindow` — or a backend
   * session's `lifetime` — with a `client`). Takes effect here at once; resolves
   * once the store has the entry, rejects when it could not take it then (the entry stays queued
   * and is written, in order, as soon as the store takes writes again).
   */
  revoke(kind: RevocationKind, value: string, until?: number): Promise<void>;
  /**
   * Logs out: denylists the token's `jti` and `sid` (and `subject` when given) everywhere, evicts
   * every cache that could still say yes, ends backend sessions, revokes the tokens at the issuer,
   * closes the Okta session (with the `sessions` option), and builds the end-session URL. Partial
   * failures are reported, never thrown: local invalidation always happens.
   *
   * Does NOT verify the tokens it is given: pass what your own verified request holds (`req.auth`).
   */
  logout(request: LogoutRequest): Promise<LogoutResult>;
  /**
   * Starts a backend session for a verified token: a 256-bit random id in an HttpOnly cookie, the
   * tokens kept server-side. Needs `backendSessions`. Returns the id and the `Set-Cookie` value.
   */
  startSession(auth: AuthResult, tokens?: { refreshToken?: string; idToken?: string }): Promise<{ id: string; cookie: string; expiresAt: number }>;
  /**
   * The live backend session named by the request's cookie (`{ id, data }`), or undefined. Used by
   * the ready-made routes; exposed for custom flows. An unsafe request (POST, PUT, PATCH, DELETE)
   * with the cookie must pass the same-site check first (`backendSessions.allowedOrigins`):
   * otherwise it rejects with {@link CsrfRejectedError}. A failing store rejects with 503
   * `ERR_SESSION_STORE_UNAVAILABLE`.
   */
  sessionFor(request: RequestLike): Promise<{ id: string; data: BackendSessionData } | undefined>;
  /** The `Set-Cookie` value that clears the session cookie. */
  clearSessionCookie(): string;
  /**
   * Receives an OIDC Back-Channel Logout `logout_token`: verifies it (issuer keys, `typ`
   * `logout+jwt`, `aud` = the `client` id, the back-channel `events` claim, `sid` and/or `sub`, no
   * `nonce`, fresh `iat`, `jti` not replayed) and revokes the session and/or subject on every
   * instance. Rejects with {@link LogoutTokenError} (answer 400) or a 503 {@link AuthError}.
   * @see https://openid.net/specs/openid-connect-backchannel-1_0.html
   */
  backchannelLogout(logoutToken: string): Promise<{ sid?: string; subject?: string }>;
  /**
   * Receives an Okta Universal Logout request: a `global-token-revocation+jwt` bearer from the
   * issuer whose `aud` is `audience` (this endpoint's URL), and a body naming the user
   * (`sub_id` of format `email` or `iss_sub`). Revokes the subject on every instance.
   * Rejects with {@link LogoutTokenError} whose `status` is the answer to give (400, 401, 404, 422).
   * The bearer is single-use across every instance sharing the `revocation.store` (its
   * `claimOnce`); with a store that has none, or one that cannot answer, rejects with 503
   * `ERR_REVOCATION_UNAVAILABLE`: a replay to another instance could name another user.
   */
  universalLogout(bearer: string, body: unknown, audience: string): Promise<{ subject: string }>;
  /**
   * Loads the issuer's keys (discovery, JWKS), and waits for the attempt under way to sync the
   * denylist with its store: rejects with 503 `ERR_REVOCATION_UNAVAILABLE` while the store is out
   * of reach (the guard keeps trying in the background, and serves as `revocation.staleFor` says).
   * Await it in a readiness probe.
   */
  ready(): Promise<void>;
  /** Stops fetching, drops caches, and closes the default HTTP client's pooled connections. */
  close(): Promise<void>;
  /** Counters for metrics: verified-token cache and key-set activity since creation. */
  stats(): GuardStats;
  /** The issuer this guard accepts tokens from. */
  readonly issuer: string;
  /** The realm of its `WWW-Authenticate` challenges. */
  readonly realm: string;
}

const BACKCHANNEL_EVENT = 'http://schemas.openid.net/event/backchannel-logout';
/** How long a logout token's `jti` is remembered past `iat` + {@link LOGOUT_TOKEN_MAX_AGE} + `clockTolerance`, seconds. */
const REPLAY_MARGIN = 600;
/** Logout tokens older than this (seconds, from `iat`) are refused; Okta's global token revocation tokens live 5 minutes. */
const LOGOUT_TOKEN_MAX_AGE = 300;

/** Whether a refresh may cure this failure: the token expired, or outlived `maxTokenAge` (an age-based expiry). */
function refreshable(error: unknown): error is TokenExpiredError | TokenTooOldError {
  return error instanceof TokenExpiredError || error instanceof TokenTooOldError;
}

/** A logout token or request the issuer sent was not acceptable. `status` is the answer to give. */
export class LogoutTokenError extends Error {
  readonly status: 400 | 401 | 404 | 422;
  constructor(status: 400 | 401 | 404 | 422, message: string) {
    super(message);
    this.name = 'LogoutTokenError';
    this.status = status;
  }
}

/** Hooks for silent refresh with bearer tokens (the backend-session mode needs none). */
export interface RefreshHooks {
  /**
   * The refresh token to use when the access token has expired; `undefined` for none. Asked only
   * once the expired token is verified; `expired` holds its claims: look the refresh token up by
   * `expired.sub`, never by something the client sends.
   */
  getRefreshToken?: (expired: Readonly<JwtClaims>) => string | undefined | Promise<string | undefined>;
}

/** What {@link Guard.handle} resolves to. */
export interface Handled {
  auth: AuthResult;
  /** Set when the access token was refreshed: hand them to your storage (`onTokens`). */
  tokens?: TokenSet;
  /** Set when the request came with a backend-session cookie. */
  sessionId?: string;
}

/** A snapshot of a guard's counters. */
export interface GuardStats {
  /** Verified-token cache: entries held, hits and misses (a miss is a full verification). */
  tokenCache: { size: number; hits: number; misses: number };
  /** Key set: JWKS fetches attempted and failed, key ids held. */
  keys: { fetches: number; failures: number; kids: string[] };
  /** Introspection: answers held, cache hits and misses, requests sent. Absent without the `introspection` option. */
  introspection?: { size: number; hits: number; misses: number; calls: number };
  /** Okta sessions: ids held, hits, misses, requests sent, stale answers served, ms until calls resume. Absent without the `sessions` option. */
  sessions?: { size: number; hits: number; misses: number; calls: number; staleServed: number; pausedFor: number };
  /** Denylist: entries in the local mirror; whether the shared store is live (always true without one); entries it has not taken yet. */
  revocation: { size: number; live: boolean; unwritten: number };
  /** Refresh-token exchanges sent to the issuer. */
  refreshes: number;
}

/**
 * Creates a {@link Guard}. Options are validated here, once: a mistake throws a `TypeError` naming
 * the option. No request is made until the first token (or {@link Guard.ready}).
 *
 * Checks, in order: one bearer credential; size; compact JWS syntax; `alg` in the allow-list;
 * no `crit`; `typ`; `iss`, `aud`, `exp`, `nbf`, `iat`, `maxTokenAge`, `requiredClaims`,
 * `clientIds`; the key by `kid` from the issuer's JWKS, bound to the `alg`; the signature; then
 * the route's policy. Verified tokens are cached until `exp`; a hit re-checks the clock.
 *
 * Then, only on routes whose policy asks: introspection (RFC 7662) and the Okta session check.
 *
 * @example
 * const guard = createGuard({ issuer: 'https://example.okta.com/oauth2/default', audience: 'api://default' });
 * const auth = await guard.verify(req, { scopes: ['orders:read'] });
 *
 * @see https://www.rfc-editor.org/rfc/rfc8725
 * @see https://www.rfc-editor.org/rfc/rfc9068
 */
export function createGuard(options: GuardOptions): Guard {
  return new TokenGuard(resolveOptions(options));
}

class TokenGuard implements Guard {
  readonly issuer: string;
  readonly realm: string;
  private readonly http: HttpClient;
  private readonly ownsHttp: boolean;
  private readonly keys: KeySet;
  private readonly cache: TokenCache | undefined;
  private readonly orgIssuer: boolean;
  private readonly introspector: Introspector | undefined;
  private readonly sessions: SessionChecker | undefined;
  private readonly compiled = new WeakMap<Policy, Policy>();
  private readonly defaultPolicy: Policy | undefined;
  private readonly denylist: SharedDenylist;
  private readonly refresher: Refresher;
  private readonly discovery: Discovery;
  private closed = false;
  private hits = 0;
  private misses = 0;

  constructor(private readonly options: ResolvedOptions) {
    this.issuer = options.issuer;
    this.realm = options.realm;
    this.ownsHttp = options.http === undefined;
    this.http = withDeadline(options.http ?? createHttpClient());
    this.cache = options.cache === false ? undefined : new TokenCache(options.cache.max, options.cache.maxTokenLength);
    const discovery = new Discovery(options.issuer, this.http, options.keySet);
    this.keys = new KeySet(options, this.http, discovery, (key) => this.cache?.evictKey(key));
    this.orgIssuer = isOktaOrgIssuer(options.issuer, options.issuer);
    const context = { issuer: options.issuer, audiences: options.audiences, clock: options.clock, onEvent: options.onEvent };
    this.introspector = options.introspection && new Introspector(options.introspection, context, this.http, discovery);
    this.sessions = options.sessions && new SessionChecker(options.sessions, context, this.http);
    this.defaultPolicy = options.policy === undefined ? undefined : this.compile(undefined);
    this.discovery = discovery;
    this.denylist = new SharedDenylist({
      store: options.revocation.store,
      max: options.revocation.max,
      staleFor: options.revocation.staleFor,
      sessionClaim: options.sessionClaim,
      clockTolerance: options.clockTolerance,
      clock: options.clock,
      onEvent: options.onEvent,
    });
    this.refresher = new Refresher({
      client: options.client,
      tokenEndpoint: options.endpoints.token,
      discovery,
      http: this.http,
      clock: options.clock,
      grace: options.refreshGrace,
      timeout: options.keySet.timeout,
      verify: (token) => this.verifyJwt(token),
    });
  }

  compile(policy?: Policy): Policy | undefined {
    if (policy === undefined && this.defaultPolicy !== undefined) return this.defaultPolicy;
    if (policy !== undefined) {
      const known = this.compiled.get(policy);
      if (known !== undefined) return known;
    }
    const merged = mergePolicies(this.options.policy, definePolicy(policy));
    if (merged?.introspect && this.introspector === undefined) {
      throw new TypeError('tokengate: a policy asks for "introspect" but the guard has no "introspection" option');
    }
    if (merged?.session === 'strict' && this.sessions === undefined) {
      throw new TypeError('tokengate: a policy asks for session "strict" but the guard has no "sessions" option');
    }
    if (policy !== undefined && merged !== undefined) this.compiled.set(policy, merged);
    return merged;
  }

  async verify(request: RequestLike, policy?: Policy): Promise<AuthResult> {
    try {
      return await this.run(extractBearer(request, this.options.maxTokenLength), policy);
    } catch (error) {
      throw this.challenge(error);
    }
  }

  async verifyToken(token: string, policy?: Policy): Promise<AuthResult> {
    try {
      if (typeof token !== 'string' || token.length === 0) throw new MalformedRequestError('No token was given');
      if (token.length > this.options.maxTokenLength) {
        throw new TokenTooLargeError(`The token is ${token.length} characters long; at most ${this.options.maxTokenLength} are accepted`);
      }
      return await this.run(token, policy);
    } catch (error) {
      throw this.challenge(error);
    }
  }

  private async run(token: string, policy: Policy | undefined): Promise<AuthResult> {
    const rules = this.compile(policy);
    const result = await this.authenticate(token);
    if (rules !== undefined) {
      checkPolicy(result, rules);
      if (rules.introspect || rules.session === 'strict') await this.liveness(result, rules);
    }
    return result;
  }

  /** A verified JWT; or, in introspection-only mode, a token the issuer says is active. */
  private async authenticate(token: string): Promise<AuthResult> {
    try {
      return await this.verifyJwt(token);
    } catch (error) {
      const notLocal = error instanceof MalformedTokenError || error instanceof OrgAuthorizationServerError;
      if (!notLocal || !this.introspector?.opaque) throw error;
    }
    const answer = await this.introspector.introspect(token, undefined);
    // Accepted on introspection alone: the answer must also show the token is for this API.
    Introspector.requireActive(answer, true);
    const { active: _active, ...claims } = answer.response as Record<string, unknown>;
    if (claims.sub === undefined && typeof claims.username === 'string') claims.sub = claims.username;
    // The guard's own claim rules hold for these tokens too: clientIds, requiredClaims, maxTokenAge, nbf, types.
    checkOtherClaims(claims as JwtClaims, this.options, Math.floor(this.options.clock() / 1000));
    this.denylist.check(claims);
    return buildResult(token, {} as JwtHeader, claims as JwtClaims);
  }

  /** The route's introspection and Okta-session checks, side by side; `failMode` decides upstream failures. */
  private async liveness(result: AuthResult, rules: Policy): Promise<void> {
    // The session id first: it may throw, and no check may be started that nobody then awaits.
    const sid = rules.session === 'strict' ? this.sessionIdOf(result) : undefined;
    const checks: Promise<void>[] = [];
    if (rules.introspect) {
      checks.push(this.tolerate('introspection', rules, result, async () => Introspector.requireActive(await this.introspector!.introspect(result.token, result.expiresAt))));
    }
    if (sid !== undefined) checks.push(this.tolerate('sessions', rules, result, () => this.sessions!.check(sid, result.expiresAt ?? 0)));
    await Promise.all(checks);
  }

  /** The token's Okta session id, which strict session checking needs; throws when it has none. */
  private sessionIdOf(result: AuthResult): string {
    const claim = this.options.sessionClaim;
    const sid = ownClaim(result.claims, claim);
    if (!usableSessionId(sid)) {
      throw new SessionClaimMissingError(
        claim,
        `The token carries no usable "${claim}" claim (${SESSION_ID_SHAPE}), which strict session checking needs to find its Okta session (add it with a Token Inline Hook from data.context.session.id)`,
      );
    }
    return sid;
  }

  private async tolerate(service: 'introspection' | 'sessions', rules: Policy, result: AuthResult, check: () => Promise<void>): Promise<void> {
    try {
      await check();
    } catch (error) {
      if (!(error instanceof UpstreamUnavailableError) || rules.failMode !== 'open') throw error;
      emit(this.options.onEvent, { type: 'fail-open', service, code: error.code, subject: result.subject });
    }
  }

  async ready(): Promise<void> {
    try {
      await this.keys.ready();
      await this.denylist.ready();
    } catch (error) {
      throw this.challenge(error);
    }
  }

  async handle(request: RequestLike, policy?: Policy, hooks?: RefreshHooks): Promise<Handled> {
    try {
      const cookies = this.options.backendSessions;
      if (cookies !== undefined && request.headers.authorization === undefined && readCookie(request, cookies.cookieName) !== undefined) {
        return await this.sessionRequest(request, policy);
      }
      const token = extractBearer(request, this.options.maxTokenLength);
      try {
        return { auth: await this.run(token, policy) };
      } catch (error) {
        if (!refreshable(error) || hooks?.getRefreshToken === undefined) throw error;
        // Only a genuine token whose only fault is expiry is refreshed, and before the hook is asked.
        const expired = await this.verifyExpired(token, this.options.refreshWindow);
        const refreshToken = await hooks.getRefreshToken(expired);
        if (refreshToken === undefined) throw error;
        const tokens = await this.refreshFor(expired, refreshToken);
        return { auth: await this.run(tokens.accessToken, policy), tokens };
      }
    } catch (error) {
      throw this.challenge(error);
    }
  }

  handleSync(request: RequestLike, policy?: Policy): Handled | undefined {
    try {
      const cookies = this.options.backendSessions;
      if (cookies !== undefined && request.headers.authorization === undefined && readCookie(request, cookies.cookieName) !== undefined) return undefined;
      const rules = this.compile(policy);
      if (rules?.introspect) return undefined;
      const token = extractBearer(request, this.options.maxTokenLength);
      let auth: AuthResult | undefined;
      try {
        // A strict route is decided here only for a token already verified: a new one goes to handle(),
        // which verifies it once while it asks Okta (never twice, and never admitted by a double count).
        auth = this.verifyJwtSync(token, rules?.session === 'strict');
      } catch (error) {
        const notLocal = error instanceof MalformedTokenError || error instanceof OrgAuthorizationServerError;
        if (notLocal && this.introspector?.opaque) return undefined;
        throw error;
      }
      if (auth === undefined) return undefined;
      if (rules !== undefined) {
        checkPolicy(auth, rules);
        // A strict route resolves here only on a fresh cached session answer; otherwise handle() asks Okta.
        if (rules.session === 'strict' && !this.sessions!.checkCached(this.sessionIdOf(auth))) return undefined;
      }
      return { auth };
    } catch (error) {
      throw this.challenge(error);
    }
  }

  /**
   * {@link TokenGuard.verifyJwt} without waiting: the verified result, a thrown AuthError, or
   * `undefined` when the key set is due for a refresh or the key is not held (the async path decides),
   * and, with `cachedOnly`, for a token the verified-token cache does not hold.
   */
  private verifyJwtSync(token: string, cachedOnly: boolean): AuthResult | undefined {
    if (this.closed) throw new GuardClosedError('This guard is closed: the service is shutting down', 1);
    const options = this.options;
    const nowMs = options.clock();
    const cached = this.cache?.get(token);
    if (cached !== undefined) {
      if (nowMs >= this.keys.refreshAt || cached.key.removed) return undefined;
      return this.fromCache(cached, Math.floor(nowMs / 1000), token);
    }
    if (cachedOnly) return undefined;
    const decoded = this.decodeChecked(token, Math.floor(nowMs / 1000));
    const key = this.keys.keyForFresh(decoded.header, nowMs);
    if (key === undefined) return undefined;
    this.misses++;
    return this.finish(token, decoded, key);
  }

  /** A cache hit, re-checked against the clock and the denylist. */
  private fromCache(cached: CachedVerdict, now: number, token: string): AuthResult {
    const options = this.options;
    const tolerance = options.clockTolerance;
    if (now >= cached.exp + tolerance) {
      this.cache!.delete(token);
      throw new TokenExpiredError(`The token expired ${now - cached.exp} seconds ago`);
    }
    if (cached.nbf > now + tolerance) throw new TokenNotYetValidError(`The token is not valid for another ${cached.nbf - now} seconds ("nbf")`);
    if (options.maxTokenAge !== undefined && now - cached.iat! > options.maxTokenAge + tolerance) {
      throw new TokenTooOldError(`The token was issued ${now - cached.iat!} seconds ago; at most ${options.maxTokenAge} are accepted`);
    }
    this.denylist.check(cached.result.claims);
    this.hits++;
    return cached.result;
  }

  /** The signature check and everything after it, once the key is known. */
  private finish(token: string, decoded: DecodedJwt, key: VerificationKey): AuthResult {
    this.checkSigned(decoded, key);
    const { header, claims } = decoded;
    const result = buildResult(token, header, claims);
    if (this.cache !== undefined && !key.removed && !this.closed) {
      this.cache.set(token, { result, exp: claims.exp, nbf: claims.nbf ?? -Infinity, iat: claims.iat, key });
    }
    return result;
  }

  /**
   * An expired access token that may be refreshed: its signature verifies with the issuer's key,
   * every other check passes, it is not on the denylist, and it expired at most `window` seconds
   * ago. Returns its claims; throws what is wrong otherwise (the expiry itself past the window).
   */
  private async verifyExpired(token: string, window: number): Promise<JwtClaims> {
    if (this.closed) throw new GuardClosedError('This guard is closed: the service is shutting down', 1);
    const decoded = this.decodeChecked(token, Math.floor(this.options.clock() / 1000), { window });
    this.checkSigned(decoded, await this.keyOf(decoded.header));
    return decoded.claims;
  }

  /** Refreshes for an expired token (see {@link TokenGuard.verifyExpired}); the new access token must name the same user and client. */
  private async refreshFor(expired: JwtClaims, refreshToken: string): Promise<TokenSet> {
    const tokens = await this.refresher.refresh(refreshToken);
    const fresh = tokens.auth.claims;
    if (fresh.sub !== expired.sub || clientIdOf(fresh) !== clientIdOf(expired)) {
      throw new RefreshFailedError('The refresh token belongs to another user or client than the expired access token; sign in again');
    }
    return tokens;
  }

  /** A request authenticated by the backend-session cookie: refresh when needed, bound to the Okta session. */
  private async sessionRequest(request: RequestLike, policy: Policy | undefined): Promise<Handled> {
    const cookies = this.options.backendSessions!;
    const found = await this.sessionFor(request);
    const clear = { 'Set-Cookie': this.clearSessionCookie() };
    if (found === undefined) throw Object.assign(new BackendSessionInvalidError('The session cookie names no live session; sign in again'), { headers: clear });
    const { id, data } = found;
    // Bound to Okta's session: when it ends, this one ends too.
    const rules = data.sid !== undefined && this.sessions !== undefined ? { ...(policy ?? {}), session: 'strict' as const } : policy;
    try {
      try {
        return { auth: await this.run(data.accessToken, rules), sessionId: id };
      } catch (error) {
        if (!refreshable(error) || data.refreshToken === undefined) throw error;
        // The session's own lifetime bounds how late a refresh may come.
        const expired = await this.verifyExpired(data.accessToken, cookies.lifetime);
        const tokens = await this.refreshFor(expired, data.refreshToken);
        await cookies.store.set(id, { ...data, accessToken: tokens.accessToken, refreshToken: tokens.refreshToken, idToken: tokens.idToken ?? data.idToken });
        return { auth: await this.run(tokens.accessToken, rules), tokens, sessionId: id };
      }
    } catch (error) {
      if (error instanceof SessionEndedError || error instanceof TokenRevokedError || error instanceof RefreshFailedError || refreshable(error)) {
        await cookies.store.delete(id).catch(() => undefined);
        error.headers = { ...error.headers, ...clear };
      }
      throw error;
    }
  }

  async sessionFor(request: RequestLike): Promise<{ id: string; data: BackendSessionData } | undefined> {
    const cookies = this.options.backendSessions;
    if (cookies === undefined) return undefined;
    const id = readCookie(request, cookies.cookieName);
    if (id === undefined || !/^[A-Za-z0-9_-]{43}$/.test(id)) return undefined;
    checkCsrf(request, cookies.allowedOrigins);
    const data = await cookies.store.get(id);
    return data === undefined || data.expiresAt <= this.options.clock() ? undefined : { id, data };
  }

  async startSession(auth: AuthResult, tokens: { refreshToken?: string; idToken?: string } = {}): Promise<{ id: string; cookie: string; expiresAt: number }> {
    const cookies = this.options.backendSessions;
    if (cookies === undefined) throw new TypeError('tokengate: backend sessions need the "backendSessions" option');
    const now = this.options.clock();
    const id = newSessionId();
    const expiresAt = now + cookies.lifetime * 1000;
    const sid = ownClaim(auth.claims, this.options.sessionClaim);
    await cookies.store.set(id, {
      accessToken: auth.token,
      refreshToken: tokens.refreshToken,
      idToken: tokens.idToken,
      sid: typeof sid === 'string' ? sid : undefined,
      subject: auth.subject,
      createdAt: now,
      expiresAt,
    });
    return { id, cookie: sessionCookie(cookies, id, cookies.lifetime), expiresAt };
  }

  clearSessionCookie(): string {
    const cookies = this.options.backendSessions;
    if (cookies === undefined) throw new TypeError('tokengate: backend sessions need the "backendSessions" option');
    return sessionCookie(cookies, '', 0);
  }

  refresh(refreshToken: string): Promise<TokenSet> {
    return this.refresher.refresh(refreshToken).catch((error) => {
      throw this.challenge(error);
    });
  }

  async revoke(kind: RevocationKind, value: string, until?: number): Promise<void> {
    const now = this.options.clock();
    if (kind !== 'jti' && kind !== 'sid' && kind !== 'sub') throw new TypeError('tokengate: revoke() kind must be "jti", "sid" or "sub"');
    if (typeof value !== 'string' || value === '') throw new TypeError('tokengate: revoke() value must be a non-empty string');
    if (until !== undefined && !(Number.isFinite(until) && until > now)) {
      throw new TypeError('tokengate: revoke() "until" must be a time in the future, in milliseconds since the epoch');
    }
    // A `sub` entry also refuses tokens dated up to clockTolerance after it, which live that much longer.
    const longest = this.options.revocation.maxTokenLifetime + this.options.lateness + this.options.clockTolerance;
    const entry: RevocationEntry = { kind, value, at: now, until: until ?? now + longest * 1000 };
    if (kind === 'sid') this.sessions?.forget(value);
    await this.denylist.put(entry);
  }

  /** Denylists for a logout: a `jti` until its token can no longer be accepted (`exp` plus `lateness`), the rest by default. */
  private async revokeFor(kind: RevocationKind, value: string, tokenExp: number | undefined): Promise<void> {
    if (kind !== 'jti' || tokenExp === undefined) return this.revoke(kind, value);
    const until = (tokenExp + this.options.lateness) * 1000;
    // A token that can no longer be accepted anywhere needs no entry.
    if (until > this.options.clock()) await this.revoke(kind, value, until);
  }

  async backchannelLogout(logoutToken: string): Promise<{ sid?: string; subject?: string }> {
    const audience = this.options.client?.clientId;
    if (audience === undefined) throw new TypeError('tokengate: back-channel logout needs the "client" option (its id is the logout token\'s audience)');
    const claims = await this.verifyIssuerJwt(logoutToken, ['logout+jwt', undefined], audience, 'logout token');
    const events = claims.events as Record<string, unknown> | undefined;
    const event = events !== null && typeof events === 'object' ? events[BACKCHANNEL_EVENT] : undefined;
    if (event === null || typeof event !== 'object') throw new LogoutTokenError(400, 'The logout token has no back-channel logout event');
    if (claims.nonce !== undefined) throw new LogoutTokenError(400, 'A logout token must not contain a nonce');
    const sid = typeof claims.sid === 'string' && claims.sid !== '' ? claims.sid : undefined;
    const subject = typeof claims.sub === 'string' && claims.sub !== '' ? claims.sub : undefined;
    if (sid === undefined && subject === undefined) throw new LogoutTokenError(400, 'The logout token names neither sid nor sub');
    // A replay names what the token names, so it can only repeat this logout: when the shared
    // replay cache cannot answer, this instance's own record decides.
    await this.claimLogoutToken(claims, 'logout token', false);
    await this.endEverywhere(sid !== undefined ? 'sid' : 'sub', sid ?? subject!);
    emit(this.options.onEvent, { type: 'session.ended', status: 'LOGGED_OUT' });
    return { sid, subject };
  }

  /**
   * What a logout receiver does once the token is accepted: denylist the session or user, and end
   * the backend sessions bound to it. Neither can fail the answer: the entry takes effect here at
   * once and is written to the store as soon as it takes writes (`revocation.error` says when it
   * does not), and the denylist already refuses a backend session's tokens; a store failure is
   * reported as `logout.failed`.
   */
  private async endEverywhere(kind: 'sid' | 'sub', value: string): Promise<void> {
    await this.revoke(kind, value).catch(() => undefined);
    const store = this.options.backendSessions?.store;
    if (store === undefined) return;
    await store.deleteWhere(kind === 'sid' ? { sid: value } : { subject: value }).catch((error: unknown) => {
      const cause = (error as Error).cause;
      emit(this.options.onEvent, { type: 'logout.failed', step: 'backend sessions', message: cause instanceof Error ? cause.message : (error as Error).message });
    });
  }

  async universalLogout(bearer: string, body: unknown, audience: string): Promise<{ subject: string }> {
    const claims = await this.verifyIssuerJwt(bearer, ['global-token-revocation+jwt'], audience, 'global token revocation token', 401);
    const subId = body !== null && typeof body === 'object' ? (body as { sub_id?: Record<string, unknown> }).sub_id : undefined;
    if (subId === null || typeof subId !== 'object') throw new LogoutTokenError(400, 'The body must name the user in "sub_id"');
    let subject: unknown;
    if (subId.format === 'email') subject = subId.email;
    else if (subId.format === 'iss_sub') {
      if (subId.iss !== this.issuer) throw new LogoutTokenError(404, 'The user is not one of this issuer\'s');
      subject = subId.sub;
    } else if (subId.format === 'opaque') {
      throw new LogoutTokenError(422, 'An opaque user id cannot be mapped to tokens here; use the email or iss_sub format');
    } else {
      throw new LogoutTokenError(400, 'Unknown "sub_id" format');
    }
    if (typeof subject !== 'string' || subject === '') throw new LogoutTokenError(400, 'The "sub_id" names no user');
    // The body is not bound to the bearer: replayed to another instance it could name anyone, so
    // it must be single-use for the whole fleet, or refused.
    await this.claimLogoutToken(claims, 'global token revocation token', true, 401);
    await this.endEverywhere('sub', subject);
    return { subject };
  }

  /**
   * Verifies a JWT the issuer sent to this service (logout tokens): signature with the issuer's
   * keys, its own `typ` rules (never the access-token `typ` option), `iss`, `aud`, a fresh `iat`,
   * `exp` when present, and a `jti`. Marks nothing: see {@link TokenGuard.claimLogoutToken}.
   */
  private async verifyIssuerJwt(token: string, typs: Array<string | undefined>, audience: string, what: string, status: 400 | 401 = 400): Promise<JwtClaims> {
    const fail = (message: string): never => {
      throw new LogoutTokenError(status, `Invalid ${what}: ${message}`);
    };
    let decoded;
    try {
      decoded = decodeJwt(token);
      checkSignedHeader(decoded.header, this.options.algorithms);
    } catch (error) {
      return fail((error as Error).message);
    }
    const { header, claims, signingInput, signature } = decoded;
    const typ = typeof header.typ === 'string' ? normalizeTyp(header.typ) : undefined;
    if (!typs.includes(typ)) fail(`"typ" must be ${typs.filter(Boolean).join(' or ')}`);
    let key;
    try {
      key = await this.keys.keyFor(header);
    } catch (error) {
      if (error instanceof UnknownKeyError) fail('signed with an unknown key');
      throw error;
    }
    if (!verifySignature(header.alg, key.key, signingInput, signature)) fail('bad signature');
    const now = this.options.clock() / 1000;
    const tolerance = this.options.clockTolerance;
    if (claims.iss !== this.issuer) fail('wrong issuer');
    const aud = claims.aud as unknown;
    if (!(aud === audience || (Array.isArray(aud) && aud.includes(audience)))) fail('wrong audience');
    if (typeof claims.iat !== 'number' || claims.iat > now + tolerance || now - claims.iat > LOGOUT_TOKEN_MAX_AGE + tolerance) fail('"iat" missing or not fresh');
    if (claims.exp !== undefined && (typeof claims.exp !== 'number' || now >= claims.exp + tolerance)) fail('expired');
    if (typeof claims.jti !== 'string' || claims.jti === '' || claims.jti.length > 256) fail('no usable "jti"');
    return claims;
  }

  /**
   * Records a verified logout token's `jti` as used, after every other check passed, here and in
   * the shared store (`claimOnce`). A replay is a {@link LogoutTokenError}. `shared`: the shared
   * record is required (503 {@link RevocationUnavailableError} when the store has none or cannot
   * answer); otherwise this process's record decides when the store cannot.
   */
  private async claimLogoutToken(claims: JwtClaims, what: string, shared: boolean, status: 400 | 401 = 400): Promise<void> {
    // Past iat + the maximum age the token is refused anyway: its exp (which may be anything, even
    // Infinity) does not make the record live longer.
    const until = ((claims.iat as number) + LOGOUT_TOKEN_MAX_AGE + this.options.clockTolerance + REPLAY_MARGIN) * 1000;
    let outcome: 'new' | 'seen' | 'local';
    try {
      outcome = await this.denylist.claimOnce(claims.jti!, until);
    } catch (error) {
      if (shared) throw new RevocationUnavailableError('The shared replay cache cannot answer; retry shortly', 1, { cause: error });
      outcome = 'local';
    }
    if (outcome === 'local') {
      if (shared) throw new RevocationUnavailableError('The revocation store has no claimOnce(), so a token used here could be replayed to another instance; refused', 1);
      outcome = await this.denylist.claimOnce(claims.jti!, until, true);
    }
    if (outcome === 'seen') throw new LogoutTokenError(status, `Invalid ${what}: replayed`);
  }

  logout(request: LogoutRequest): Promise<LogoutResult> {
    return logout(request, {
      options: this.options,
      http: this.http,
      discovery: this.discovery,
      revoke: (kind, value, tokenExp) => this.revokeFor(kind, value, tokenExp),
      forgetToken: (token) => {
        this.cache?.delete(token);
        this.introspector?.forget(token);
      },
      closeOktaSession: this.sessions === undefined ? undefined : (sid) => this.sessions!.close(sid),
    });
  }

  stats(): GuardStats {
    const stats: GuardStats = {
      tokenCache: { size: this.cache?.size ?? 0, hits: this.hits, misses: this.misses },
      keys: this.keys.stats(),
      revocation: { size: this.denylist.size, live: this.denylist.downSince === undefined, unwritten: this.denylist.unwritten },
      refreshes: this.refresher.calls,
    };
    const i = this.introspector;
    if (i !== undefined) stats.introspection = { size: i.size, hits: i.hits, misses: i.misses, calls: i.calls };
    const s = this.sessions;
    if (s !== undefined) stats.sessions = { size: s.size, hits: s.hits, misses: s.misses, calls: s.calls, staleServed: s.staleServed, pausedFor: s.pausedFor };
    return stats;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.sessions?.stop();
    this.introspector?.stop();
    await this.denylist.close();
    this.keys.close();
    this.cache?.clear();
    if (this.ownsHttp) await this.http.close?.();
  }

  private async verifyJwt(token: string): Promise<AuthResult> {
    if (this.closed) throw new GuardClosedError('This guard is closed: the service is shutting down', 1);
    const options = this.options;
    const nowMs = options.clock();
    const now = Math.floor(nowMs / 1000);
    const cached = this.cache?.get(token);
    if (cached !== undefined) {
      // A hit must not keep a key alive: when the key set is due, refresh it (waiting only once it has expired).
      if (nowMs >= this.keys.refreshAt) await this.keys.current(nowMs);
      if (!cached.key.removed) return this.fromCache(cached, now, token);
      this.cache!.delete(token);
    }
    this.misses++;
    const decoded = this.decodeChecked(token, now);
    return this.finish(token, decoded, await this.keyOf(decoded.header));
  }

  /**
   * Everything before the key: b64token syntax, compact JWS, the header, the claims (`refresh` as
   * {@link checkClaims} takes it). Shared by the synchronous, asynchronous and refresh paths.
   */
  private decodeChecked(token: string, now: number, refresh?: { window: number }): DecodedJwt {
    if (!isB64Token(token)) throw new MalformedRequestError('The bearer token contains characters outside the RFC 6750 b64token set');
    const decoded = decodeJwt(token);
    checkHeader(decoded.header, this.options);
    checkClaims(decoded.claims, this.options, now, refresh);
    return decoded;
  }

  /** The key for a header from the key set; an unknown key of an Okta org issuer is explained as such. */
  private async keyOf(header: JwtHeader): Promise<VerificationKey> {
    try {
      return await this.keys.keyFor(header);
    } catch (error) {
      if (error instanceof UnknownKeyError && this.orgIssuer) throw new OrgAuthorizationServerError(orgServerMessage(), { cause: error });
      throw error;
    }
  }

  /** The signature, then the denylist: what a decoded, checked token still needs once its key is known. */
  private checkSigned({ header, claims, signingInput, signature }: DecodedJwt, key: VerificationKey): void {
    if (!verifySignature(header.alg, key.key, signingInput, signature)) throw new InvalidSignatureError('The token signature is invalid');
    this.denylist.check(claims);
  }

  /** Adds the realm's `WWW-Authenticate` challenge to an {@link AuthError}; other errors pass unchanged. */
  private challenge(error: unknown): unknown {
    if (error instanceof AuthError) {
      const value = error.challenge(this.realm);
      if (value !== '') error.headers = { ...error.headers, 'WWW-Authenticate': value };
    }
    return error;
  }
}
