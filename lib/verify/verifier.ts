import { GuardClosedError, InvalidSignatureError, IssuerMismatchError, MalformedRequestError, OrgAuthorizationServerError, TokenExpiredError, UnknownKeyError } from '../errors';
import { emit, type TokengateEvent } from '../events';
import { checkClaims, checkTimes, type ClaimRules } from '../jose/claims';
import { decodeJwt, type DecodedJwt, type JwtClaims, type JwtHeader } from '../jose/compact';
import { checkHeader, type HeaderRules } from '../jose/header';
import type { VerificationKey } from '../jose/jwk';
import { verifySignature } from '../jose/signature';
import type { KeySet } from '../issuer/key-set';
import type { SharedDenylist } from '../revocation/shared';
import { printable } from '../util/claims';
import { ORG_SERVER_MESSAGE } from '../util/urls';
import { isB64Token } from './bearer';
import { buildResult, type AuthResult } from './result';
import type { CachedVerdict, TokenCache } from './token-cache';

/** The access-token rules (the `token` slice of the options). */
export interface TokenRules extends ClaimRules, HeaderRules {
  /** Longest token accepted, characters. */
  maxTokenLength: number;
}

/** What the verifier is made of. */
export interface VerifierParts {
  rules: TokenRules;
  clock: () => number;
  keys: KeySet;
  /** The verified-token cache; undefined with `cache: false`. */
  cache: TokenCache | undefined;
  denylist: SharedDenylist;
  /** Whether the issuer is an Okta org authorization server (an unknown key is then explained as such). */
  orgIssuer: boolean;
  onEvent: ((event: TokengateEvent) => void) | undefined;
}

/**
 * Verifies access tokens (JWTs) locally, in one pipeline: cache lookup, then for a token the cache
 * does not hold, b64token syntax, compact JWS, the header checks, the claim checks, the key, the
 * signature, the denylist; a verified token is cached until `exp`. A cache hit re-runs the time
 * checks and the denylist, and is a miss once its key left the key set.
 *
 * {@link Verifier.verifySync} is the same steps without waiting: it answers `undefined` where
 * {@link Verifier.verify} would wait (the key set is due for a refresh, the key is not held).
 */
export class Verifier {
  hits = 0;
  misses = 0;
  private shut = false;
  /** Whether the trailing-slash hint was sent (once per guard). */
  private slashHinted = false;

  constructor(private readonly parts: VerifierParts) {}

  /** Verdicts held by the cache. */
  get size(): number {
    return this.parts.cache?.size ?? 0;
  }

  /** Whether {@link Verifier.close} was called. */
  get closed(): boolean {
    return this.shut;
  }

  /** Verifies a token; rejects with the {@link AuthError} of the first check that fails. */
  async verify(token: string): Promise<AuthResult> {
    const nowMs = this.open();
    const cached = this.parts.cache?.get(token);
    if (cached !== undefined) {
      // A hit must not keep a key alive: when the key set is due, refresh it (waiting only once it has expired).
      const keys = this.parts.keys;
      if (nowMs >= keys.refreshAt) await keys.current(nowMs);
      if (!cached.key.removed) return this.fromCache(cached, token, nowMs);
      this.parts.cache!.delete(token);
    }
    this.misses++;
    const decoded = this.decode(token, nowMs);
    return this.finish(token, decoded, await this.keyOf(decoded.header));
  }

  /**
   * {@link Verifier.verify} without waiting: the result, a thrown AuthError, or `undefined` when the
   * async path must decide. With `cachedOnly`, `undefined` for a token the cache does not hold;
   * `undefined` too for a token refused before its key when `defer` says the async path may still
   * accept it (introspection alone), and then it is not counted: that path counts it.
   */
  verifySync(token: string, cachedOnly: boolean, defer?: (error: unknown) => boolean): AuthResult | undefined {
    const nowMs = this.open();
    const cached = this.parts.cache?.get(token);
    if (cached !== undefined) {
      if (nowMs >= this.parts.keys.refreshAt || cached.key.removed) return undefined;
      return this.fromCache(cached, token, nowMs);
    }
    if (cachedOnly) return undefined;
    let decoded: DecodedJwt;
    try {
      decoded = this.decode(token, nowMs);
    } catch (error) {
      if (defer?.(error)) return undefined;
      this.misses++;
      throw error;
    }
    const key = this.parts.keys.keyForFresh(decoded.header, nowMs);
    if (key === undefined) return undefined;
    this.misses++;
    return this.finish(token, decoded, key);
  }

  /**
   * An expired access token that may be refreshed: its signature verifies with the issuer's key,
   * every other check passes, it is not on the denylist, and it expired at most `window` seconds
   * ago. Returns its claims; throws what is wrong otherwise (the expiry itself past the window).
   */
  async verifyExpired(token: string, window: number): Promise<JwtClaims> {
    const decoded = this.decode(token, this.open(), window);
    this.checkSigned(decoded, await this.keyOf(decoded.header));
    return decoded.claims;
  }

  /** Forgets a token's verdict (logout). */
  forget(token: string): void {
    this.parts.cache?.delete(token);
  }

  /** Refuses every later call, and drops the cache. */
  close(): void {
    this.shut = true;
    this.parts.cache?.clear();
  }

  /** The clock, ms; throws once the guard is closed. */
  private open(): number {
    if (this.shut) throw new GuardClosedError('This guard is closed: the service is shutting down', 1);
    return this.parts.clock();
  }

  /** A cache hit: the time checks again, and the denylist. An expired token leaves the cache. */
  private fromCache(cached: CachedVerdict, token: string, nowMs: number): AuthResult {
    try {
      checkTimes(cached.exp, cached.nbf, cached.iat, this.parts.rules, Math.floor(nowMs / 1000));
    } catch (error) {
      if (error instanceof TokenExpiredError) this.parts.cache!.delete(token);
      throw error;
    }
    this.parts.denylist.check(cached.result.claims);
    this.hits++;
    return cached.result;
  }

  /** Everything before the key: b64token syntax, compact JWS, the header, the claims (`window`: see {@link checkClaims}). */
  private decode(token: string, nowMs: number, window?: number): DecodedJwt {
    if (!isB64Token(token)) throw new MalformedRequestError('The bearer token contains characters outside the RFC 6750 b64token set');
    const decoded = decodeJwt(token);
    checkHeader(decoded.header, this.parts.rules);
    try {
      checkClaims(decoded.claims, this.parts.rules, Math.floor(nowMs / 1000), window);
    } catch (error) {
      if (error instanceof IssuerMismatchError) this.hintSlash(decoded.claims.iss);
      throw error;
    }
    return decoded;
  }

  /** Tells the operator, once, when a refused `iss` differs from the option only by a trailing slash. */
  private hintSlash(iss: unknown): void {
    const configured = this.parts.rules.issuer;
    if (this.slashHinted || typeof iss !== 'string' || iss === configured || iss.replace(/\/$/, '') !== configured.replace(/\/$/, '')) return;
    this.slashHinted = true;
    emit(this.parts.onEvent, { type: 'issuer.mismatch', received: printable(iss), configured });
  }

  /** The key for a header from the key set; an unknown key of an Okta org issuer is explained as such. */
  private async keyOf(header: JwtHeader): Promise<VerificationKey> {
    try {
      return await this.parts.keys.keyFor(header);
    } catch (error) {
      if (error instanceof UnknownKeyError && this.parts.orgIssuer) throw new OrgAuthorizationServerError(ORG_SERVER_MESSAGE, { cause: error });
      throw error;
    }
  }

  /** The signature, then the denylist. */
  private checkSigned({ header, claims, signingInput, signature }: DecodedJwt, key: VerificationKey): void {
    if (!verifySignature(header.alg, key.key, signingInput, signature)) throw new InvalidSignatureError('The token signature is invalid');
    this.parts.denylist.check(claims);
  }

  /** The signature check and everything after it, once the key is known; a verified token is cached. */
  private finish(token: string, decoded: DecodedJwt, key: VerificationKey): AuthResult {
    this.checkSigned(decoded, key);
    const result = buildResult(token, decoded.header, decoded.claims, this.parts.rules.issuer);
    const cache = this.parts.cache;
    if (cache !== undefined && !key.removed && !this.shut) {
      const { exp, nbf, iat } = decoded.claims;
      cache.set(token, { result, exp, nbf, iat, key });
    }
    return result;
  }
}
