import { LRUCache } from 'lru-cache';
import type { AuthResult } from './result';
import type { VerificationKey } from '../jose/jwk';

/** What the verified-token cache keeps per token: the result, and what a hit re-checks (in a shape every entry shares). */
export interface CachedVerdict {
  result: AuthResult;
  /** `exp`, `nbf` and `iat` of the token, seconds; `nbf` and `iat` undefined when it has none. */
  exp: number;
  nbf: number | undefined;
  iat: number | undefined;
  /** The key that verified the signature; a hit whose key has left the key set is a miss. */
  key: VerificationKey;
}

/** Bounds of the admission filter's size: the power of two at or above `max`, 4 bytes a slot, off the JS heap. */
const MIN_SEEN_SLOTS = 1024;
const MAX_SEEN_SLOTS = 1 << 20;
/** How many characters of a token's end are fingerprinted: the signature, whose bytes are random. */
const FINGERPRINT_CHARS = 24;
/**
 * How many characters of a token's end key the cache (43 base64url characters: 256 bits of the
 * signature): hashing the whole token, a new string with every request, would cost most of a hit.
 * A hit still requires the whole token to be equal to the cached one's.
 */
const KEY_CHARS = 43;

/** The cache key of a token: the end of its signature. */
function keyOf(token: string): string {
  return token.length > KEY_CHARS ? token.slice(token.length - KEY_CHARS) : token;
}

/**
 * Bounded LRU of verified tokens. It is keyed by the end of the token's signature and a hit
 * requires the exact token string (a token made to share another's key is a miss, verified as any
 * other; neither can displace a cached token without first being verified). It holds no timers: expiry is
 * re-checked against the guard's clock on every hit, so an entry can never outlive its token's `exp`.
 *
 * Admission: while there is room every verified token goes in; once the cache is full, a token goes
 * in on its second verification among roughly the last `max` new tokens, so a stream of tokens seen
 * once (each request a new token) cannot churn out the tokens that are reused, nor fill the old
 * generation with entries to collect; the filter only decides what is cached,
 * never a verdict. Expired tokens are no longer sent, so they drift to the least-recently-used end
 * and are the first evicted when a token is admitted.
 */
export class TokenCache {
  private readonly lru: LRUCache<string, CachedVerdict>;
  private readonly seen: Int32Array;

  constructor(
    private readonly max: number,
    private readonly maxTokenLength: number,
  ) {
    this.lru = new LRUCache({ max });
    this.seen = new Int32Array(Math.min(MAX_SEEN_SLOTS, Math.max(MIN_SEEN_SLOTS, 2 ** Math.ceil(Math.log2(max)))));
  }

  /** The verdict for exactly this token, or undefined. */
  get(token: string): CachedVerdict | undefined {
    const cached = this.lru.get(keyOf(token));
    return cached !== undefined && cached.result.token === token ? cached : undefined;
  }

  /** Stores a verdict, unless the token is longer than the cache's `maxTokenLength` or not admitted (see the class). */
  set(token: string, verdict: CachedVerdict): void {
    if (token.length > this.maxTokenLength) return;
    if (this.lru.size >= this.max && !this.secondSighting(token)) return;
    this.lru.set(keyOf(token), verdict);
  }

  /** True when the token's fingerprint is in its slot (seen recently); otherwise records it. */
  private secondSighting(token: string): boolean {
    let hash = 0x811c9dc5;
    for (let i = Math.max(0, token.length - FINGERPRINT_CHARS); i < token.length; i++) {
      hash = Math.imul(hash ^ token.charCodeAt(i), 0x01000193);
    }
    hash |= 1;
    const slot = (hash >>> 7) & (this.seen.length - 1);
    if (this.seen[slot] === hash) return true;
    this.seen[slot] = hash;
    return false;
  }

  delete(token: string): void {
    const key = keyOf(token);
    if (this.lru.peek(key)?.result.token === token) this.lru.delete(key);
  }

  /** Drops every verdict a key produced (the key left the issuer's key set). */
  evictKey(key: VerificationKey): void {
    const doomed: string[] = [];
    for (const [cacheKey, verdict] of this.lru.entries()) {
      if (verdict.key === key) doomed.push(cacheKey);
    }
    for (const cacheKey of doomed) this.lru.delete(cacheKey);
  }

  get size(): number {
    return this.lru.size;
  }

  clear(): void {
    this.lru.clear();
    this.seen.fill(0);
  }
}
