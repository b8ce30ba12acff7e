import { LRUCache } from 'lru-cache';
import type { AuthResult } from './result';
import type { VerificationKey } from './jwks';

/** What the verified-token cache keeps per token: the result and what must be re-checked on a hit. */
export interface CachedVerdict {
  result: AuthResult;
  /** `exp`, seconds. */
  exp: number;
  /** `nbf`, seconds, or -Infinity. */
  nbf: number;
  /** `iat`, seconds, or undefined. */
  iat: number | undefined;
  /** The key that verified the signature; a hit whose key has left the key set is a miss. */
  key: VerificationKey;
}

/**
 * Bounded LRU of verified tokens, keyed by the exact token string. It holds no timers: expiry is
 * re-checked against the guard's clock on every hit, so an entry can never outlive its token's `exp`.
 */
export class TokenCache {
  private readonly lru: LRUCache<string, CachedVerdict>;

  constructor(
    max: number,
    private readonly maxTokenLength: number,
  ) {
    this.lru = new LRUCache({ max });
  }

  get(token: string): CachedVerdict | undefined {
    return this.lru.get(token);
  }

  /** Stores a verdict, unless the token is longer than the cache's `maxTokenLength`. */
  set(token: string, verdict: CachedVerdict): void {
    if (token.length <= this.maxTokenLength) this.lru.set(token, verdict);
  }

  delete(token: string): void {
    this.lru.delete(token);
  }

  /** Drops every verdict a key produced (the key left the issuer's key set). */
  evictKey(key: VerificationKey): void {
    const doomed: string[] = [];
    for (const [token, verdict] of this.lru.entries()) {
      if (verdict.key === key) doomed.push(token);
    }
    for (const token of doomed) this.lru.delete(token);
  }

  get size(): number {
    return this.lru.size;
  }

  clear(): void {
    this.lru.clear();
  }
}
