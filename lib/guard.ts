import { extractBearer, isB64Token, type RequestLike } from './bearer';
import { Discovery } from './discovery';
import {
  AuthError,
  GuardClosedError,
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
import { KeySet } from './jwks';
import { checkClaims, checkHeader, decodeJwt, isOktaOrgIssuer, orgServerMessage, ownClaim, verifySignature, type JwtClaims, type JwtHeader } from './jwt';
import { SessionChecker } from './okta-sessions';
import { resolveOptions, type GuardOptions, type ResolvedOptions } from './options';
import { checkPolicy, definePolicy, mergePolicies, type Policy } from './policy';
import { buildResult, type AuthResult } from './result';
import { TokenCache } from './token-cache';

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
  /** Loads the issuer's keys (discovery, JWKS). Await it in a readiness probe; rejects with `KeysUnavailableError`. */
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
    return buildResult(token, {} as JwtHeader, claims as JwtClaims);
  }

  /** The route's introspection and Okta-session checks, side by side; `failMode` decides upstream failures. */
  private async liveness(result: AuthResult, rules: Policy): Promise<void> {
    const checks: Promise<void>[] = [];
    if (rules.introspect) {
      checks.push(this.tolerate('introspection', rules, result, async () => Introspector.requireActive(await this.introspector!.introspect(result.token, result.expiresAt))));
    }
    if (rules.session === 'strict') {
      const claim = this.options.sessions!.claim;
      const sid = ownClaim(result.claims, claim);
      if (typeof sid !== 'string' || sid.length === 0 || sid.length > 256) {
        throw new SessionClaimMissingError(
          claim,
          `The token carries no usable "${claim}" claim, which strict session checking needs to find its Okta session (add it with a Token Inline Hook from data.context.session.id)`,
        );
      }
      checks.push(this.tolerate('sessions', rules, result, () => this.sessions!.check(sid, result.expiresAt ?? 0)));
    }
    await Promise.all(checks);
  }

  private async tolerate(service: 'introspection' | 'sessions', rules: Policy, result: AuthResult, check: () => Promise<void>): Promise<void> {
    try {
      await check();
    } catch (error) {
      if (!(error instanceof UpstreamUnavailableError) || rules.failMode !== 'open') throw error;
      emit(this.options.onEvent, { type: 'fail-open', service, code: error.code, subject: result.subject });
    }
  }

  ready(): Promise<void> {
    return this.keys.ready().catch((error) => {
      throw this.challenge(error);
    });
  }

  stats(): GuardStats {
    const stats: GuardStats = {
      tokenCache: { size: this.cache?.size ?? 0, hits: this.hits, misses: this.misses },
      keys: this.keys.stats(),
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
    this.keys.close();
    this.cache?.clear();
    if (this.ownsHttp) await this.http.close?.();
  }

  private async verifyJwt(token: string): Promise<AuthResult> {
    if (this.closed) throw new GuardClosedError('This guard is closed: the service is shutting down', 1);
    const options = this.options;
    const nowMs = options.clock();
    const now = Math.floor(nowMs / 1000);
    const tolerance = options.clockTolerance;
    const cached = this.cache?.get(token);
    if (cached !== undefined) {
      // A hit must not keep a key alive: when the key set is due, refresh it (waiting only once it has expired).
      if (nowMs >= this.keys.refreshAt) await this.keys.current(nowMs);
      if (!cached.key.removed) {
        if (now >= cached.exp + tolerance) {
          this.cache!.delete(token);
          throw new TokenExpiredError(`The token expired ${now - cached.exp} seconds ago`);
        }
        if (cached.nbf > now + tolerance) throw new TokenNotYetValidError(`The token is not valid for another ${cached.nbf - now} seconds ("nbf")`);
        if (options.maxTokenAge !== undefined && now - cached.iat! > options.maxTokenAge + tolerance) {
          throw new TokenTooOldError(`The token was issued ${now - cached.iat!} seconds ago; at most ${options.maxTokenAge} are accepted`);
        }
        this.hits++;
        return cached.result;
      }
      this.cache!.delete(token);
    }
    this.misses++;
    if (!isB64Token(token)) throw new MalformedRequestError('The bearer token contains characters outside the RFC 6750 b64token set');
    const { header, claims, signingInput, signature } = decodeJwt(token);
    checkHeader(header, options);
    checkClaims(claims, options, now);
    let key;
    try {
      key = await this.keys.keyFor(header);
    } catch (error) {
      if (error instanceof UnknownKeyError && this.orgIssuer) throw new OrgAuthorizationServerError(orgServerMessage(), { cause: error });
      throw error;
    }
    if (!verifySignature(header.alg, key.key, signingInput, signature)) {
      throw new InvalidSignatureError('The token signature is invalid');
    }
    const result = buildResult(token, header, claims);
    if (this.cache !== undefined && !key.removed && !this.closed) {
      this.cache.set(token, { result, exp: claims.exp, nbf: claims.nbf ?? -Infinity, iat: claims.iat, key });
    }
    return result;
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
