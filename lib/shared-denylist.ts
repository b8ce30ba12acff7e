import { LRUCache } from 'lru-cache';
import { settleWithin } from './deadline';
import { RevocationUnavailableError, TokenRevokedError } from './errors';
import { emit, type TokengateEvent } from './events';
import { Denylist, type RevocationEntry, type RevocationStore } from './revocation';

/** First wait before a store operation is tried again, ms; it doubles on every failure up to {@link RETRY_MAX}. */
const RETRY_FIRST = 250;
/** Longest wait between two attempts, ms. */
const RETRY_MAX = 10_000;
/** How long `close()` waits for the last unwritten entries to reach the store, ms. */
const CLOSE_FLUSH = 2000;
/**
 * Longest a store operation may take before it counts as failed, ms: a store that never answers
 * must not stall the sync or the writer. Well above what a store's own deadlines allow (the Redis
 * store's load of a large keyspace takes several of its `timeout`s).
 */
const STORE_DEADLINE = 60_000;
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

/** Runs a store method so that a synchronous throw becomes a rejection, and one that never settles fails after {@link STORE_DEADLINE}. */
function call<T>(operation: () => Promise<T>): Promise<T> {
  return settleWithin(operation, STORE_DEADLINE, () => new Error(`the store did not answer within ${STORE_DEADLINE / 1000} s`));
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

interface Unwritten {
  entry: RevocationEntry;
  /** Tells the caller of {@link SharedDenylist.put} how the first attempt went; cleared once told. */
  settle: ((error?: Error) => void) | undefined;
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
  private readonly outbox: Unwritten[] = [];
  private writer: Promise<void> | undefined;
  private writeTimer: NodeJS.Timeout | undefined;
  private writeDelay = RETRY_FIRST;
  /** The last write failed and no write has worked since: new entries are reported unwritten at once. */
  private writeFailing = false;
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
      this.downSince = context.clock();
      this.sync();
    }
  }

  get size(): number {
    return this.mirror.size;
  }

  /** Entries put here that the store has not taken yet. */
  get unwritten(): number {
    return this.outbox.length;
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
    if (this.context.store === undefined) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const item: Unwritten = { entry, settle: (error) => (error === undefined ? resolve() : reject(error)) };
      this.outbox.push(item);
      this.bound();
      if (this.writeFailing || this.closed) this.tell(item, this.unwrittenError());
      // While writes fail, the writer's backoff decides when the next attempt goes.
      if (!this.writeFailing) void this.drain();
    });
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
    clearTimeout(this.writeTimer);
    clearTimeout(this.resubscribeTimer);
    const store = this.context.store;
    if (store === undefined) return;
    if (this.outbox.length > 0) {
      this.writeFailing = false;
      await Promise.race([this.drain(), delay(CLOSE_FLUSH)]);
    }
    if (this.outbox.length > 0) this.report('close', new Error(`closed with ${this.outbox.length} entries the store never took`));
    for (const item of this.outbox) this.tell(item, this.unwrittenError());
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
          emit(this.context.onEvent, { type: 'revocation.synced', entries: entries.length, unwritten: this.outbox.length });
        }
        // The store is back: what waits is written now, not after the writer's backoff.
        this.writeDelay = RETRY_FIRST;
        this.writeFailing = false;
        void this.drain();
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

  /** Writes the queued entries in order, one at a time; on a failure, tells every caller waiting and tries again after a backoff. */
  private drain(): Promise<void> {
    this.writer ??= this.write().finally(() => {
      this.writer = undefined;
    });
    return this.writer;
  }

  private async write(): Promise<void> {
    clearTimeout(this.writeTimer);
    this.writeTimer = undefined;
    const store = this.context.store!;
    while (this.outbox.length > 0) {
      const head = this.outbox[0];
      if (head.entry.until > this.context.clock()) {
        try {
          await call(() => store.add(head.entry));
        } catch (error) {
          this.writeFailing = true;
          this.report('write', error);
          for (const item of this.outbox) this.tell(item, this.unwrittenError());
          if (!this.closed) {
            this.writeTimer = setTimeout(() => void this.drain(), this.writeDelay);
            this.writeTimer.unref();
            this.writeDelay = Math.min(this.writeDelay * 2, RETRY_MAX);
          }
          return;
        }
      }
      // By identity: bound() may have reshaped the queue meanwhile.
      const at = this.outbox.indexOf(head);
      if (at >= 0) this.outbox.splice(at, 1);
      this.writeFailing = false;
      this.writeDelay = RETRY_FIRST;
      this.tell(head);
    }
  }

  /** Keeps the queue within `max`: entries that expired go first, then the oldest (reported). */
  private bound(): void {
    if (this.outbox.length <= this.context.max) return;
    const now = this.context.clock();
    let kept = 0;
    for (const item of this.outbox) {
      // An entry past its `until` affects no token any more: nothing is lost by not writing it.
      if (item.entry.until > now) this.outbox[kept++] = item;
      else this.tell(item);
    }
    this.outbox.length = kept;
    if (this.outbox.length <= this.context.max) return;
    const lost = this.outbox.splice(0, this.outbox.length - this.context.max);
    for (const item of lost) this.tell(item, this.unwrittenError());
    this.report('write', new Error(`${lost.length} unwritten entries dropped: more than revocation.max (${this.context.max}) waited for the store`));
  }

  private tell(item: Unwritten, error?: Error): void {
    const settle = item.settle;
    item.settle = undefined;
    settle?.(error);
  }

  private unwrittenError(): Error {
    return new Error('the shared denylist store did not take the entry; it holds here and is written as soon as the store takes writes again');
  }

  private report(operation: 'subscribe' | 'load' | 'write' | 'close', error: unknown): void {
    this.lastError = error instanceof Error ? error : new Error(String(error));
    emit(this.context.onEvent, { type: 'revocation.error', operation, message: this.lastError.message, unwritten: this.outbox.length });
  }
}
