import { LRUCache } from 'lru-cache';
import { RevocationUnavailableError, TokenRevokedError } from '../errors';
import { emit, type TokengateEvent } from '../events';
import { Denylist, type RevocationEntry, type RevocationStore } from './denylist';
import { Outbox } from './outbox';
import { call, RETRY_FIRST, RETRY_MAX } from './store-calls';

/** How long the subscription may stay down without coming back on its own before a new one is made, ms. */
const RESUBSCRIBE_AFTER = 30_000;

/** What the shared denylist needs to know of the guard. */
export interface SharedDenylistContext {
  store: RevocationStore | undefined;
  /** Most entries in the mirror, and most entries waiting to be written. */
  max: number;
  /** Seconds the mirror keeps serving while the store is unreachable. */
  staleFor: number;
  /** The session claim, and the clock tolerance in seconds (see {@link Denylist}). */
  sessionClaim: string;
  clockTolerance: number;
  clock: () => number;
  onEvent: ((event: TokengateEvent) => void) | undefined;
}

/**
 * The denylist of one guard: the local {@link Denylist} mirror every request consults, kept in
 * step with the shared {@link RevocationStore} when there is one.
 *
 * - Start-up: subscribe, then load; each retried with backoff until it works. Nothing it starts
 *   can end in an unhandled rejection, whatever the store does.
 * - While the store is away (`downSince` set), the mirror serves for `staleFor`, then requests get
 *   503 `ERR_REVOCATION_UNAVAILABLE`; once the subscription is back, the mirror reloads.
 * - Every entry put here is written to the store, in order, by one writer that retries with
 *   backoff (250 ms doubling to 10 s) until the store takes it: no reconnect needed, and a write
 *   repeated after an unclear failure does no harm (entries are idempotent).
 */
export class SharedDenylist {
  readonly mirror: Denylist;
  /** Since when the store is unreachable (ms); undefined while it is live, or without a store. */
  downSince: number | undefined;
  /** Entries the store has not taken yet; undefined without a store. */
  private readonly outbox: Outbox | undefined;
  private syncing: Promise<void> | undefined;
  /** The subscription came back while a sync was running: its load may predate the gap, so another follows. */
  private resyncWanted = false;
  private syncTimer: NodeJS.Timeout | undefined;
  private resubscribeTimer: NodeJS.Timeout | undefined;
  /** One function for every subscription, so a store can tell a resubscription from another subscriber. */
  private readonly onEntry = (entry: RevocationEntry): void => this.mirror.put(entry);
  private syncDelay = RETRY_FIRST;
  private subscribed = false;
  /** What the subscription last said of itself. */
  private subscriptionLive = false;
  private lastError: Error | undefined;
  private seen: LRUCache<string, true> | undefined;
  /** Logout-token ids being claimed right now: a second delivery arriving meanwhile is a replay. */
  private readonly claiming = new Set<string>();
  /** Counts subscriptions: a superseded one's state reports are ignored. */
  private generation = 0;
  private closed = false;

  constructor(private readonly context: SharedDenylistContext) {
    this.mirror = new Denylist(context.max, context.clock, context.sessionClaim, context.clockTolerance * 1000);
    if (context.store !== undefined) {
      this.outbox = new Outbox(context.store, context.max, context.clock, (operation, error) => this.report(operation, error));
      this.downSince = context.clock();
      this.sync();
    }
  }

  get size(): number {
    return this.mirror.size;
  }

  /** Entries put here that the store has not taken yet. */
  get unwritten(): number {
    return this.outbox?.length ?? 0;
  }

  /** Throws when the token is on the denylist, or when the store has been out of reach too long to trust the mirror. */
  check(claims: Readonly<Record<string, unknown>>): void {
    const down = this.downSince;
    if (down !== undefined && this.context.clock() - down > this.context.staleFor * 1000) {
      throw new RevocationUnavailableError('The shared denylist has been unreachable for too long to trust; retry shortly', 1);
    }
    if (this.mirror.match(claims) !== undefined) throw new TokenRevokedError('The token was revoked: it, its session or its user was logged out');
  }

  /**
   * Puts an entry on the mirror at once and queues it for the store. Resolves once the store has
   * it; rejects when the first attempt fails (or the store is known to be failing), while the entry
   * stays queued and is written as soon as the store takes writes again.
   */
  put(entry: RevocationEntry): Promise<void> {
    this.mirror.put(entry);
    return this.outbox === undefined ? Promise.resolve() : this.outbox.put(entry);
  }

  /**
   * Records a logout token's `jti` until `until` (ms): `'new'` the first time, `'seen'` after, here
   * and, through {@link RevocationStore.claimOnce}, on every instance sharing the store;
   * `'local'` when a store is configured without `claimOnce` (only this process could check).
   * Rejects when the store cannot answer; the id is then not recorded, so a retry can succeed.
   * `localOnly` asks this process's record alone.
   */
  async claimOnce(id: string, until: number, localOnly = false): Promise<'new' | 'seen' | 'local'> {
    const seen = (this.seen ??= new LRUCache<string, true>({ max: 100_000 }));
    if (seen.has(id) || this.claiming.has(id)) return 'seen';
    const store = this.context.store;
    let outcome: 'new' | 'seen' | 'local' = 'new';
    if (store !== undefined && !localOnly) {
      // Not recorded: the caller decides whether this process's record may serve (claimOnce(..., true)).
      if (typeof store.claimOnce !== 'function') return 'local';
      this.claiming.add(id);
      try {
        if (!(await call(() => store.claimOnce!(id, until)))) outcome = 'seen';
      } finally {
        this.claiming.delete(id);
      }
    }
    seen.set(id, true, { ttl: Math.max(1, until - this.context.clock()) });
    return outcome;
  }

  /** Whether this process has recorded a one-time id (see {@link SharedDenylist.claimOnce}); asks no store. */
  claimedHere(id: string): boolean {
    return this.seen?.has(id) === true;
  }

  /**
   * Waits for the attempt to reach the store that is under way, then rejects with
   * {@link RevocationUnavailableError} unless the mirror is in step with the store. Never stops
   * the attempts.
   */
  async ready(): Promise<void> {
    if (this.context.store === undefined) return;
    await this.syncing;
    if (this.downSince !== undefined) {
      const why = this.lastError?.message ?? 'no answer yet';
      throw new RevocationUnavailableError(`The shared denylist store is unreachable: ${why}`, 1, { cause: this.lastError });
    }
  }

  /** Stops retrying, gives the unwritten entries one last chance (at most 2 s), and closes the store. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.syncTimer);
    clearTimeout(this.resubscribeTimer);
    const store = this.context.store;
    if (store === undefined) return;
    await this.outbox!.close();
    await call(() => store.close()).catch((error: unknown) => this.report('close', error));
  }

  /** One attempt to subscribe (once) and load the store's entries; on failure another is scheduled, with backoff. */
  private sync(): void {
    if (this.syncing !== undefined || this.closed) return;
    clearTimeout(this.syncTimer);
    this.syncTimer = undefined;
    const store = this.context.store!;
    this.syncing = (async () => {
      try {
        if (!this.subscribed) {
          const generation = ++this.generation;
          await call(() => store.subscribe(this.onEntry, (live) => generation === this.generation && this.onState(live)));
          this.subscribed = true;
          this.subscriptionLive = true;
          // Reports of the subscription this one replaced may have armed it.
          clearTimeout(this.resubscribeTimer);
          this.resubscribeTimer = undefined;
        }
        const entries = await call(() => store.load());
        if (this.closed) return;
        for (const entry of entries) this.mirror.put(entry);
        this.syncDelay = RETRY_FIRST;
        if (this.subscriptionLive) {
          this.downSince = undefined;
          emit(this.context.onEvent, { type: 'revocation.synced', entries: entries.length, unwritten: this.unwritten });
        }
        this.outbox!.resume();
      } catch (error) {
        this.report(this.subscribed ? 'load' : 'subscribe', error);
        if (!this.closed) {
          this.syncTimer = setTimeout(() => this.sync(), this.syncDelay);
          this.syncTimer.unref();
          this.syncDelay = Math.min(this.syncDelay * 2, RETRY_MAX);
        }
      } finally {
        this.syncing = undefined;
        if (this.resyncWanted && !this.closed) {
          this.resyncWanted = false;
          this.sync();
        }
      }
    })();
  }

  private onState(live: boolean): void {
    if (this.closed) return;
    this.subscriptionLive = live;
    if (!live) {
      this.downSince ??= this.context.clock();
      // A subscription that never comes back on its own (its client gave up) is replaced.
      if (this.resubscribeTimer === undefined) {
        this.resubscribeTimer = setTimeout(() => {
          this.resubscribeTimer = undefined;
          if (this.subscriptionLive || this.closed) return;
          this.subscribed = false;
          this.requestSync();
        }, RESUBSCRIBE_AFTER);
        this.resubscribeTimer.unref();
      }
      return;
    }
    clearTimeout(this.resubscribeTimer);
    this.resubscribeTimer = undefined;
    this.syncDelay = RETRY_FIRST;
    this.requestSync();
  }

  /** A sync now, or right after the one running (whose load may predate what changed). */
  private requestSync(): void {
    if (this.syncing !== undefined) this.resyncWanted = true;
    else this.sync();
  }

  private report(operation: 'subscribe' | 'load' | 'write' | 'close', error: unknown): void {
    this.lastError = error instanceof Error ? error : new Error(String(error));
    emit(this.context.onEvent, { type: 'revocation.error', operation, message: this.lastError.message, unwritten: this.unwritten });
  }
}
