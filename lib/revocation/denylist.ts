import { LRUCache } from 'lru-cache';

/**
 * What a revocation names: one token (`jti`), every token of an Okta session (`sid`), or every token
 * of a user issued until the revocation (`sub`: tokens whose `sub`, or whose Okta user id `uid`, is
 * the value; Okta puts the login in `sub` and the user id in `uid`).
 */
export type RevocationKind = 'jti' | 'sid' | 'sub';

/** One entry of the denylist. Times are milliseconds since the epoch. */
export interface RevocationEntry {
  kind: RevocationKind;
  value: string;
  /** When it was revoked. For `sub`, tokens issued (`iat`) after this are not affected, so the user can sign in again. */
  at: number;
  /** When the entry can go: the longest-lived token it can affect has expired by then. */
  until: number;
}

/**
 * A denylist shared by every instance of a service. tokengate keeps a local mirror of it and never
 * asks the store on the request path; the store persists entries, tells every instance about new
 * ones, and hands them all over after a reconnect.
 *
 * The in-memory default needs no store; `tokengate/redis` provides one for Redis. Another engine
 * needs these four methods, and {@link RevocationStore.claimOnce} for Okta Universal Logout across
 * instances. Every method may reject (or throw): tokengate retries, and never lets a failure escape
 * unhandled.
 */
export interface RevocationStore {
  /** Persists an entry (until `entry.until`) and announces it to every subscriber, this one included. */
  add(entry: RevocationEntry): Promise<void>;
  /** Every live entry, for a resync. */
  load(): Promise<RevocationEntry[]>;
  /**
   * Subscribes to entries added anywhere. `onEntry` gets each one; `onState` reports whether the
   * subscription is live (`false` when the connection drops, `true` again once it is back, after
   * which the mirror resyncs with {@link RevocationStore.load}). Resolves once subscribed.
   */
  subscribe(onEntry: (entry: RevocationEntry) => void, onState: (live: boolean) => void): Promise<void>;
  /** Stops the subscription and releases what the store opened itself. */
  close(): Promise<void>;
  /**
   * Records a one-time id (a logout token's `jti`) until `until` (ms since the epoch), atomically
   * for every instance. Resolves `true` when the id was new, `false` when it had been recorded
   * before. Optional; without it, a shared store cannot stop a Universal Logout token being replayed
   * to another instance, so the Universal Logout receiver refuses every request (503).
   */
  claimOnce?(id: string, until: number): Promise<boolean>;
}

/** Options of the denylist (the `revocation` guard option). */
export interface RevocationOptions {
  /** A shared store. Default: none (the denylist lives in this process only). */
  store?: RevocationStore;
  /** Most entries kept in the local mirror. Default 100000. */
  max?: number;
  /** Lifetime of `sid` and `sub` entries, in seconds: the longest an access token can live. Default 86400 (Okta's maximum). */
  maxTokenLifetime?: number;
  /**
   * While the store is unreachable, how long the local mirror keeps serving, in seconds; after
   * that, requests get 503 `ERR_REVOCATION_UNAVAILABLE` until the store is back. Default 60.
   */
  staleFor?: number;
}

/** Validated options. Internal. */
export interface ResolvedRevocation {
  store: RevocationStore | undefined;
  max: number;
  maxTokenLifetime: number;
  staleFor: number;
}

/**
 * A checked entry for `revoke(kind, value, until)`: `until` (ms since the epoch) must be in the
 * future, and defaults to `at` plus `lifetime` seconds. `at`, when the revocation happened, is `now`
 * unless an event pushed by the issuer dates it (never later than `now`). Throws a `TypeError` for a mistake.
 */
export function revocationEntry(kind: RevocationKind, value: string, until: number | undefined, now: number, lifetime: number, at = now): RevocationEntry {
  if (kind !== 'jti' && kind !== 'sid' && kind !== 'sub') throw new TypeError('tokengate: revoke() kind must be "jti", "sid" or "sub"');
  if (typeof value !== 'string' || value === '') throw new TypeError('tokengate: revoke() value must be a non-empty string');
  if (until !== undefined && !(Number.isFinite(until) && until > now)) {
    throw new TypeError('tokengate: revoke() "until" must be a time in the future, in milliseconds since the epoch');
  }
  return { kind, value, at, until: until ?? at + lifetime * 1000 };
}

/**
 * The local mirror of the denylist: one bounded map, consulted synchronously on every request
 * (cache hits included). Empty, it costs one size check.
 */
export class Denylist {
  /** Created on the first entry: lru-cache allocates arrays of `max` slots up front, and a heap kept small keeps every request's GC cheap. */
  private entries: LRUCache<string, RevocationEntry> | undefined;
  /** Which claim each kind of entry is matched against, in the order they are looked up. */
  private readonly lookups: ReadonlyArray<readonly [RevocationKind, string]>;

  constructor(
    private readonly max: number,
    private readonly clock: () => number,
    /** The claim that carries the session id (`sessions.claim`, default `sid`): a `sid` entry matches tokens by it. */
    sessionClaim: string,
    /** The guard's `clockTolerance`, in ms: a `sub` entry also refuses tokens issued that much after it, as another clock may have dated them. */
    private readonly tolerance: number,
  ) {
    this.lookups = [['jti', 'jti'], ['sid', sessionClaim], ['sub', 'sub'], ['sub', 'uid']];
  }

  get size(): number {
    return this.entries?.size ?? 0;
  }

  /** Adds (or widens) an entry. One whose times are not finite numbers (a broken store) is ignored. */
  put(entry: RevocationEntry): void {
    if (!Number.isFinite(entry.at) || !Number.isFinite(entry.until) || entry.until <= this.clock()) return;
    const key = `${entry.kind}:${entry.value}`;
    const entries = (this.entries ??= new LRUCache({ max: this.max }));
    const known = entries.get(key);
    if (known !== undefined && known.at >= entry.at && known.until >= entry.until) return;
    entries.set(key, known === undefined ? entry : { ...entry, at: Math.max(known.at, entry.at), until: Math.max(known.until, entry.until) });
  }

  /**
   * The entry that revokes a token with these claims, if any: its `jti`, its session id (the
   * session claim), or its user (`sub`, or Okta's user id `uid`) when the token was issued (`iat`,
   * seconds) no later than the revocation plus the clock tolerance.
   */
  match(claims: Readonly<Record<string, unknown>>): RevocationEntry | undefined {
    const entries = this.entries;
    if (entries === undefined || entries.size === 0) return undefined;
    const now = this.clock();
    for (const [kind, name] of this.lookups) {
      const value = Object.hasOwn(claims, name) ? claims[name] : undefined;
      if (typeof value !== 'string') continue;
      const entry = entries.get(`${kind}:${value}`);
      if (entry === undefined || entry.until <= now) continue;
      if (kind === 'sub') {
        const iat = typeof claims.iat === 'number' ? claims.iat * 1000 : 0;
        if (iat > entry.at + this.tolerance) continue;
      }
      return entry;
    }
    return undefined;
  }
}
