/**
 * Where the instances of a fleet share liveness answers (the `store` of the `sessions` and
 * `introspection` options; `redisAnswerStore()` in `tokengate/redis` is one). Keys are opaque
 * strings made of the service and a SHA-256 (never a token or a session id); values are strings.
 * Every method may reject: the instance then asks the upstream itself.
 */
export interface AnswerStore {
  /** The value stored under `key`, or `undefined`. */
  get(key: string): Promise<string | undefined>;
  /** Takes the lease on `key` for `ms` milliseconds, atomically for every instance (`SET NX PX`): `true` for the one that got it. */
  lease(key: string, ms: number): Promise<boolean>;
  /**
   * Stores `value` under `key` until `until` (ms since the epoch; nothing is stored when that has
   * passed), releases `key`'s lease, and announces `(key, value)` to every subscriber, this one included.
   */
  put(key: string, value: string, until: number): Promise<void>;
  /** Removes what is stored under `key`. */
  delete(key: string): Promise<void>;
  /** Subscribes to announcements; `onState` says whether the subscription is live. Resolves once subscribed. */
  subscribe(onAnswer: (key: string, value: string) => void, onState: (live: boolean) => void): Promise<void>;
  /** Ends the subscriptions. */
  close(): Promise<void>;
}

/** How one service's answers are written to the store and read back (times stay in ms since the epoch). */
export interface AnswerCodec<E> {
  encode(entry: E): unknown;
  /** The answer, or `undefined` for a value that is not one; `lastUsed` is `now`. */
  decode(value: unknown, now: number): E | undefined;
}
