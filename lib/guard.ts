import { extractBearer, isB64Token, type RequestLike } from './bearer';
import { checkCsrf, newSessionId, readCookie, sessionCookie, type BackendSessionData } from './backend-session';
import { LRUCache } from 'lru-cache';
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
import { checkClaims, checkHeader, decodeJwt, isOktaOrgIssuer, orgServerMessage, ownClaim, verifySignature, type DecodedJwt, type JwtClaims, type JwtHeader } from './jwt';
import { SessionChecker, usableSessionId } from './okta-sessions';
import { normalizeTyp, resolveOptions, type GuardOptions, type ResolvedOptions } from './options';
import { checkPolicy, definePolicy, mergePolicies, type Policy } from './policy';
import { Refresher, type TokenSet } from './refresh';
import { buildResult, type AuthResult } from './result';
import { Denylist, type RevocationEntry, type RevocationKind } from './revocation';
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
   * Puts a `jti`, an Okta session id (`sid`) or a user (`sub`) on the denylist, on every instance
   * sharing the `revocation.store`. `until` (ms) defaults to the longest a token can still live.
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
  /** The live backend session named by the request's cookie (`{ id, data }`), or undefined. Used by the ready-made routes; exposed for custom flows. */
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
   */
  universalLogout(bearer: string, body: unknown, audience: string): Promise<{ subject: string }>;
  /** Loads the issuer's keys (discovery, JWKS), and syncs the denylist with its store. Await it in a readiness probe. */
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
/** Logout tokens older than this (seconds, from `iat`) are refused; Okta's global token revocation tokens live 5 minutes. */
const LOGOUT_TOKEN_MAX_AGE = 300;

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
  /** The refresh token to use when the access token has expired; `undefined` for none. */
  getRefreshToken?: () => string | undefined | Promise<string | undefined>;
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
  /** Denylist: entries in the local mirror; whether the shared store is live (always true without one). */
  revocation: { size: number; live: boolean };
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
  private readonly denylist: Denylist;
  private readonly refresher: Refresher;
  private readonly discovery: Discovery;
  private storeSync: Promise<void> | undefined;
  /** Denylist entries the store refused while it was away; written on the next resync. */
  private readonly unwritten: RevocationEntry[] = [];
  /** `jti`s of logout tokens already received; created on the first one (lru-cache allocates `max` slots up front). */
  private seenLogoutJtis: LRUCache<string, true> | undefined;
  private storeTimer: NodeJS.Timeout | undefined;
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
    this.denylist = new Denylist(options.revocation.max, options.clock);
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
    if (options.revocation.store !== undefined) {
      this.denylist.downSince = options.clock();
      this.storeSync = this.connectStore();
    }
  }

  /** Subscribes to the shared denylist and loads it; retried every second until it works. */
  private async connectStore(): Promise<void> {
    const store = this.options.revocation.store!;
    try {
      await store.subscribe(
        (entry) => this.denylist.put(entry),
        (live) => {
          if (!live) {
            this.denylist.downSince ??= this.options.clock();
          } else {
            this.resync().catch(() => undefined);
          }
        },
      );
      await this.resync();
    } catch (error) {
      if (!this.closed) {
        this.storeTimer = setTimeout(() => {
          this.storeSync = this.connectStore();
        }, 1000);
        this.storeTimer.unref();
      }
      throw error;
    }
  }

  /** Reloads the shared denylist, after first writing the entries this instance could not write while the store was away. */
  private async resync(): Promise<void> {
    const store = this.options.revocation.store!;
    for (const entry of this.unwritten.splice(0)) {
      await store.add(entry).catch((error: unknown) => {
        this.unwritten.push(entry);
        throw error;
      });
    }
    const entries = await store.load();
    for (const entry of entries) this.denylist.put(entry);
    this.denylist.downSince = undefined;
  }

  /** Throws when the token is on the denylist, or when the shared denylist has been out of reach too long to trust. */
  private checkRevoked(claims: Readonly<Record<string, unknown>>): void {
    const down = this.denylist.downSince;
    if (down !== undefined && this.options.clock() - down > this.options.revocation.staleFor * 1000) {
      throw new RevocationUnavailableError('The shared denylist has been unreachable for too long to trust; retry shortly', 1);
    }
    if (this.denylist.match(claims) !== undefined) throw new TokenRevokedError('The token was revoked: it, its session or its user was logged out');
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
    Introspector.requireActive(answer);
    const { active: _active, ...claims } = answer.response as Record<string, unknown>;
    if (claims.sub === undefined && typeof claims.username === 'string') claims.sub = claims.username;
    this.checkRevoked(claims);
    return buildResult(token, {} as JwtHeader, claims as JwtClaims);
  }

  /** The route's introspection and Okta-session checks, side by side; `failMode` decides upstream failures. */
  private async liveness(result: AuthResult, rules: Policy): Promise<void> {
    const checks: Promise<void>[] = [];
    if (rules.introspect) {
      checks.push(this.tolerate('introspection', rules, result, async () => Introspector.requireActive(await this.introspector!.introspect(result.token, result.expiresAt))));
    }
    if (rules.session === 'strict') {
      const sid = this.sessionIdOf(result);
      checks.push(this.tolerate('sessions', rules, result, () => this.sessions!.check(sid, result.expiresAt ?? 0)));
    }
    await Promise.all(checks);
  }

  /** The token's Okta session id, which strict session checking needs; throws when it has none. */
  private sessionIdOf(result: AuthResult): string {
    const claim = this.options.sessions!.claim;
    const sid = ownClaim(result.claims, claim);
    if (!usableSessionId(sid)) {
      throw new SessionClaimMissingError(
        claim,
        `The token carries no usable "${claim}" claim, which strict session checking needs to find its Okta session (add it with a Token Inline Hook from data.context.session.id)`,
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
      if (this.storeSync !== undefined) {
        await this.storeSync.catch((error: unknown) => {
          throw new RevocationUnavailableError(`The shared denylist could not be loaded: ${(error as Error).message}`, 1, { cause: error });
        });
      }
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
        const refreshToken = error instanceof TokenExpiredError ? await hooks?.getRefreshToken?.() : undefined;
        if (refreshToken === undefined) throw error;
        const tokens = await this.refresher.refresh(refreshToken);
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
    if (!isB64Token(token)) throw new MalformedRequestError('The bearer token contains characters outside the RFC 6750 b64token set');
    const decoded = decodeJwt(token);
    checkHeader(decoded.header, options);
    checkClaims(decoded.claims, options, Math.floor(nowMs / 1000));
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
    this.checkRevoked(cached.result.claims);
    this.hits++;
    return cached.result;
  }

  /** The signature check and everything after it, once the key is known. */
  private finish(token: string, decoded: DecodedJwt, key: VerificationKey): AuthResult {
    const { header, claims, signingInput, signature } = decoded;
    if (!verifySignature(header.alg, key.key, signingInput, signature)) {
      throw new InvalidSignatureError('The token signature is invalid');
    }
    this.checkRevoked(claims);
    const result = buildResult(token, header, claims);
    if (this.cache !== undefined && !key.removed && !this.closed) {
      this.cache.set(token, { result, exp: claims.exp, nbf: claims.nbf ?? -Infinity, iat: claims.iat, key });
    }
    return result;
  }

  /** A request authenticated by the backend-session cookie: refresh when needed, bound to the Okta session. */
  private async sessionRequest(request: RequestLike, policy: Policy | undefined): Promise<Handled> {
    const cookies = this.options.backendSessions!;
    const found = await this.sessionFor(request);
    const clear = { 'Set-Cookie': this.clearSessionCookie() };
    if (found === undefined) throw Object.assign(new BackendSessionInvalidError('The session cookie names no live session; sign in again'), { headers: clear });
    checkCsrf(request, cookies.allowedOrigins);
    const { id, data } = found;
    // Bound to Okta's session: when it ends, this one ends too.
    const rules = data.sid !== undefined && this.sessions !== undefined ? { ...(policy ?? {}), session: 'strict' as const } : policy;
    try {
      try {
        return { auth: await this.run(data.accessToken, rules), sessionId: id };
      } catch (error) {
        if (!(error instanceof TokenExpiredError) || data.refreshToken === undefined) throw error;
        const tokens = await this.refresher.refresh(data.refreshToken);
        await cookies.store.set(id, { ...data, accessToken: tokens.accessToken, refreshToken: tokens.refreshToken, idToken: tokens.idToken ?? data.idToken });
        return { auth: await this.run(tokens.accessToken, rules), tokens, sessionId: id };
      }
    } catch (error) {
      if (error instanceof SessionEndedError || error instanceof TokenRevokedError || error instanceof RefreshFailedError || error instanceof TokenExpiredError) {
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
    const data = await cookies.store.get(id);
    return data === undefined || data.expiresAt <= this.options.clock() ? undefined : { id, data };
  }

  async startSession(auth: AuthResult, tokens: { refreshToken?: string; idToken?: string } = {}): Promise<{ id: string; cookie: string; expiresAt: number }> {
    const cookies = this.options.backendSessions;
    if (cookies === undefined) throw new TypeError('tokengate: backend sessions need the "backendSessions" option');
    const now = this.options.clock();
    const id = newSessionId();
    const expiresAt = now + cookies.lifetime * 1000;
    const sid = ownClaim(auth.claims, this.options.sessions?.claim ?? 'sid');
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
    const entry: RevocationEntry = { kind, value, at: now, until: until ?? now + this.options.revocation.maxTokenLifetime * 1000 };
    this.denylist.put(entry);
    if (kind === 'sid') this.sessions?.forget(value);
    const store = this.options.revocation.store;
    if (store === undefined) return;
    if (this.denylist.downSince !== undefined) {
      this.unwritten.push(entry);
      throw new Error('the shared denylist store is unreachable; the entry holds here and is written when the store is back');
    }
    try {
      await store.add(entry);
    } catch (error) {
      this.unwritten.push(entry);
      throw error;
    }
  }

  async backchannelLogout(logoutToken: string): Promise<{ sid?: string; subject?: string }> {
    const audience = this.options.client?.clientId;
    if (audience === undefined) throw new TypeError('tokengate: back-channel logout needs the "client" option (its id is the logout token\'s audience)');
    const claims = await this.verifyIssuerJwt(logoutToken, ['logout+jwt', undefined], audience, 'logout token');
    const events = claims.events as Record<string, unknown> | undefined;
    const event = events !== null && typeof events === 'object' ? events[BACKCHANNEL_EVENT] : undefined;
    if (event === null || typeof event !== 'object') throw new LogoutTokenError(400, 'The logout token has no back-channel logout event');
    if (claims.nonce !== undefined) throw new LogoutTokenError(400, 'A logout token must not contain a nonce');
    const sid = typeof claims.sid === 'string' ? claims.sid : undefined;
    const subject = typeof claims.sub === 'string' ? claims.sub : undefined;
    if (sid === undefined && subject === undefined) throw new LogoutTokenError(400, 'The logout token names neither sid nor sub');
    if (sid !== undefined) await this.revoke('sid', sid);
    else await this.revoke('sub', subject!);
    const store = this.options.backendSessions?.store;
    if (store !== undefined) await store.deleteWhere(sid !== undefined ? { sid } : { subject });
    emit(this.options.onEvent, { type: 'session.ended', status: 'LOGGED_OUT' });
    return { sid, subject };
  }

  async universalLogout(bearer: string, body: unknown, audience: string): Promise<{ subject: string }> {
    await this.verifyIssuerJwt(bearer, ['global-token-revocation+jwt'], audience, 'global token revocation token', 401);
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
    await this.revoke('sub', subject);
    await this.options.backendSessions?.store.deleteWhere({ subject });
    return { subject };
  }

  /** Verifies a JWT the issuer sent to this service (logout tokens), with replay protection. */
  private async verifyIssuerJwt(token: string, typs: Array<string | undefined>, audience: string, what: string, status: 400 | 401 = 400): Promise<JwtClaims> {
    const fail = (message: string): never => {
      throw new LogoutTokenError(status, `Invalid ${what}: ${message}`);
    };
    let decoded;
    try {
      decoded = decodeJwt(token);
      checkHeader({ ...decoded.header, typ: undefined }, this.options);
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
    if (typeof claims.jti !== 'string' || claims.jti === '') fail('no "jti"');
    const seen = (this.seenLogoutJtis ??= new LRUCache<string, true>({ max: 100_000, ttl: (LOGOUT_TOKEN_MAX_AGE + 600) * 1000 }));
    if (seen.has(claims.jti!)) fail('replayed');
    seen.set(claims.jti!, true);
    return claims;
  }

  logout(request: LogoutRequest): Promise<LogoutResult> {
    return logout(request, {
      options: this.options,
      http: this.http,
      discovery: this.discovery,
      revoke: (kind, value, until) => this.revoke(kind, value, until),
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
      revocation: { size: this.denylist.size, live: this.denylist.downSince === undefined },
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
    clearTimeout(this.storeTimer);
    await this.options.revocation.store?.close().catch(() => undefined);
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
    if (!isB64Token(token)) throw new MalformedRequestError('The bearer token contains characters outside the RFC 6750 b64token set');
    const decoded = decodeJwt(token);
    checkHeader(decoded.header, options);
    checkClaims(decoded.claims, options, now);
    let key;
    try {
      key = await this.keys.keyFor(decoded.header);
    } catch (error) {
      if (error instanceof UnknownKeyError && this.orgIssuer) throw new OrgAuthorizationServerError(orgServerMessage(), { cause: error });
      throw error;
    }
    return this.finish(token, decoded, key);
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
