import type { RevocationEntry, RevocationStore } from './denylist';
import { call, delay, RETRY_FIRST, RETRY_MAX } from './store-calls';

/** How long `close()` waits for the last unwritten entries to reach the store, ms. */
const CLOSE_FLUSH = 2000;

interface Unwritten {
  entry: RevocationEntry;
  /** Tells the caller of {@link Outbox.put} how the first attempt went; cleared once told. */
  settle: ((error?: Error) => void) | undefined;
}

/**
 * The entries put on the denylist that the shared store has not taken yet, and the one writer that
 * writes them in order: it retries with backoff (250 ms doubling to 10 s) until the store takes
 * them, with no reconnect needed (entries are idempotent, so a write repeated after an unclear
 * failure does no harm). Bounded by `max`: expired entries go first, any other loss is reported.
 */
export class Outbox {
  private readonly outbox: Unwritten[] = [];
  private writer: Promise<void> | undefined;
  private writeTimer: NodeJS.Timeout | undefined;
  private writeDelay = RETRY_FIRST;
  /** The last write failed and no write has worked since: new entries are reported unwritten at once. */
  private writeFailing = false;
  private closed = false;

  constructor(
    private readonly store: RevocationStore,
    private readonly max: number,
    private readonly clock: () => number,
    /** Reports a failure (`revocation.error`). */
    private readonly report: (operation: 'write' | 'close', error: unknown) => void,
  ) {}

  /** Entries waiting for the store. */
  get length(): number {
    return this.outbox.length;
  }

  /** Queues an entry; resolves once the store has it, rejects when the first attempt fails (it stays queued). */
  put(entry: RevocationEntry): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const item: Unwritten = { entry, settle: (error) => (error === undefined ? resolve() : reject(error)) };
      this.outbox.push(item);
      this.bound();
      if (this.writeFailing || this.closed) this.tell(item, this.unwrittenError());
      // While writes fail, the writer's backoff decides when the next attempt goes.
      if (!this.writeFailing) void this.drain();
    });
  }

  /** The store is back: what waits is written now, not after the writer's backoff. */
  resume(): void {
    this.writeDelay = RETRY_FIRST;
    this.writeFailing = false;
    void this.drain();
  }

  /** Stops retrying, gives the unwritten entries one last chance (at most 2 s), and tells every caller still waiting. */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.writeTimer);
    if (this.outbox.length > 0) {
      this.writeFailing = false;
      await Promise.race([this.drain(), delay(CLOSE_FLUSH)]);
    }
    if (this.outbox.length > 0) this.report('close', new Error(`closed with ${this.outbox.length} entries the store never took`));
    for (const item of this.outbox) this.tell(item, this.unwrittenError());
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
    const store = this.store;
    while (this.outbox.length > 0) {
      const head = this.outbox[0];
      if (head.entry.until > this.clock()) {
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
    if (this.outbox.length <= this.max) return;
    const now = this.clock();
    let kept = 0;
    for (const item of this.outbox) {
      // An entry past its `until` affects no token any more: nothing is lost by not writing it.
      if (item.entry.until > now) this.outbox[kept++] = item;
      else this.tell(item);
    }
    this.outbox.length = kept;
    if (this.outbox.length <= this.max) return;
    const lost = this.outbox.splice(0, this.outbox.length - this.max);
    for (const item of lost) this.tell(item, this.unwrittenError());
    this.report('write', new Error(`${lost.length} unwritten entries dropped: more than revocation.max (${this.max}) waited for the store`));
  }

  private tell(item: Unwritten, error?: Error): void {
    const settle = item.settle;
    item.settle = undefined;
    settle?.(error);
  }

  private unwrittenError(): Error {
    return new Error('the shared denylist store did not take the entry; it holds here and is written as soon as the store takes writes again');
  }
}
