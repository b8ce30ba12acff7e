import { extractBearer, isB64Token, type RequestLike } from './bearer';
import {
  AuthError,
  InvalidSignatureError,
  MalformedRequestError,
  OrgAuthorizationServerError,
  TokenExpiredError,
  TokenNotYetValidError,
  TokenTooLargeError,
  TokenTooOldError,
  UnknownKeyError,
} from './errors';
import { createHttpClient, type HttpClient } from './http';
import { KeySet } from './jwks';
import { checkClaims, checkHeader, decodeJwt, isOktaOrgIssuer, orgServerMessage, verifySignature } from './jwt';
import { resolveOptions, type GuardOptions, type ResolvedOptions } from './options';
import { checkPolicy, definePolicy, type Policy } from './policy';
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
 * Does NOT introspect tokens, check Okta sessions, or consult a revocation list.
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
  private closed = false;
  private hits = 0;
  private misses = 0;

  constructor(private readonly options: ResolvedOptions) {
    this.issuer = options.issuer;
    this.realm = options.realm;
    this.ownsHttp = options.http === undefined;
    this.http = options.http ?? createHttpClient();
    this.cache = options.cache === false ? undefined : new TokenCache(options.cache.max, options.cache.maxTokenLength);
    this.keys = new KeySet(options, this.http, (key) => this.cache?.evictKey(key));
    this.orgIssuer = isOktaOrgIssuer(options.issuer, options.issuer);
  }

  async verify(request: RequestLike, policy?: Policy): Promise<AuthResult> {
    try {
      const rules = definePolicy(policy);
      const result = await this.verifyJwt(extractBearer(request, this.options.maxTokenLength));
      if (rules !== undefined) checkPolicy(result, rules);
      return result;
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
      const rules = definePolicy(policy);
      const result = await this.verifyJwt(token);
      if (rules !== undefined) checkPolicy(result, rules);
      return result;
    } catch (error) {
      throw this.challenge(error);
    }
  }

  ready(): Promise<void> {
    return this.keys.ready().catch((error) => {
      throw this.challenge(error);
    });
  }

  stats(): GuardStats {
    return {
      tokenCache: { size: this.cache?.size ?? 0, hits: this.hits, misses: this.misses },
      keys: this.keys.stats(),
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.keys.close();
    this.cache?.clear();
    if (this.ownsHttp) await this.http.close?.();
  }

  private async verifyJwt(token: string): Promise<AuthResult> {
    if (this.closed) throw new Error('tokengate: this guard is closed');
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
    if (this.cache !== undefined && !key.removed) {
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
