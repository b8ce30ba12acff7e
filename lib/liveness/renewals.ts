import type { UpstreamGate } from './gate';

/**
 * The calls in flight to an upstream, per key: one at a time, shared by every concurrent caller.
 * A key forgotten (logout) while its call is in flight is dropped: the call's answer, given before
 * the logout, is not cached after it (see {@link Calls.ticketed}), and the next request starts a
 * new call. Holds only keys with a call in flight.
 */
export class Calls<T> {
  private readonly pending = new Map<string, Promise<T>>();
  private readonly tickets = new Map<string, object>();

  /** The call in flight for `key`, or a new one from `start`; the entry goes when it settles (unless a newer call took its place). */
  share(key: string, start: () => Promise<T>): Promise<T> {
    let pending = this.pending.get(key);
    if (pending === undefined) {
      const own: Promise<T> = start().finally(() => {
        if (this.pending.get(key) === own) this.pending.delete(key);
      });
      pending = own;
      this.pending.set(key, own);
    }
    return pending;
  }

  /** Whether a call for `key` is in flight. */
  has(key: string): boolean {
    return this.pending.has(key);
  }

  /** Runs one call for `key`; `current` is false when the key was dropped while it ran (do not cache its answer). */
  async ticketed<R>(key: string, call: () => Promise<R>): Promise<{ value: R; current: boolean }> {
    const ticket = {};
    this.tickets.set(key, ticket);
    const settle = (): boolean => {
      const current = this.tickets.get(key) === ticket;
      if (current) this.tickets.delete(key);
      return current;
    };
    let value: R;
    try {
      value = await call();
    } catch (error) {
      settle();
      throw error;
    }
    return { value, current: settle() };
  }

  /** The key is forgotten: the call in flight must not cache its answer, and the next request starts a new one. */
  drop(key: string): void {
    this.tickets.delete(key);
    this.pending.delete(key);
  }
}

/** A cached upstream answer that can be renewed ahead of its expiry. Times in ms. */
export interface Renewable {
  /** Fresh until then. */
  until: number;
  /**
   * Past `until`, the answer may still serve until then, but only while its renewal is in flight
   * (`staleWhileRevalidate`); `until` when it may not.
   */
  serveUntil: number;
  /** Renewal may start then (see {@link renewalStart}). */
  refreshFrom: number;
  /** Last time a request was decided by this answer. */
  lastUsed: number;
}

/**
 * When an answer's renewal may start (its `refreshFrom`, ms): 1 ms past `cacheTtl` after `sent` (from
 * `sendTimed`), so calls for one key stay `cacheTtl` apart even as another millisecond clock
 * sees them; never after the last moment the answer may serve, `serveUntil`.
 */
export function renewalStart(sent: number, cacheTtlMs: number, serveUntil: number): number {
  return Math.min(sent + cacheTtlMs + 1, serveUntil);
}

/**
 * Renews cached answers that are still in use, in their last round trip: once an answer's
 * `refreshFrom` has passed, the next request for any key starts the call that replaces it. Requests
 * do not wait at the end of the TTL: a renewal slower than the previous call may still be on its way
 * when the TTL ends, and until `serveUntil` the old answer serves while it is (a request arriving
 * then starts the renewal if none has); past that, requests join the call. Calls per key stay
 * `cacheTtl` apart. An answer not used in the last half of its TTL is left to expire (no call for a
 * key nobody asks about). Answers are queued in `refreshFrom` order: they arrive nearly in that
 * order, so an insertion usually moves back a step or two (past every slower call at worst), and
 * checking the head costs one comparison. The queue holds at most about twice the cache's bound:
 * answers the cache has replaced or evicted are dropped when it grows past that.
 */
export class Renewals<E extends Renewable> {
  private items: Array<{ key: string; entry: E; renew: () => void } | undefined> = [];
  private head = 0;
  private stopped = false;

  constructor(
    /** Half the TTL, in ms: how recently an answer must have been used to be renewed. */
    private readonly recent: number,
    /** The cache's bound (entries). */
    private readonly max: number,
    /** The cache of answers: an answer it no longer holds is not renewed. */
    private readonly cache: { peek(key: string): E | undefined },
    /** The upstream's calls: a renewal is one of them, and none starts while another is in flight. */
    private readonly calls: Calls<E>,
    /** The upstream's gate: no renewal while calls are paused. */
    private readonly gate: UpstreamGate,
  ) {}

  /**
   * What every request does before it uses a cached answer for `key`: marks a fresh one as used
   * (first, so that a request in an answer's own renewal window renews it), then starts the
   * renewals due. Returns whether `cached` may decide the request at `now`: within its TTL, or past
   * it but before its `serveUntil` while a call that replaces it is in flight.
   */
  visit(key: string, cached: E | undefined, now: number): boolean {
    if (cached === undefined) {
      this.run(now);
      return false;
    }
    if (cached.until > now) {
      cached.lastUsed = now;
      this.run(now);
      return true;
    }
    if (!(cached.serveUntil > now)) {
      this.run(now);
      return false;
    }
    cached.lastUsed = now;
    this.run(now);
    return this.calls.has(key);
  }

  /**
   * Queues an answer just cached; `start` is the call that replaces it. Nobody waits on a renewal:
   * its failure is reported, and paces later calls, through the gate.
   */
  add(key: string, entry: E, start: () => Promise<E>): void {
    if (this.stopped || !(entry.refreshFrom < entry.serveUntil)) return;
    const renew = (): void => void this.calls.share(key, start).catch(() => undefined);
    const items = this.items;
    let at = items.length;
    while (at > this.head && items[at - 1]!.entry.refreshFrom > entry.refreshFrom) at--;
    items.splice(at, 0, { key, entry, renew });
    if (items.length - this.head > 2 * this.max + 64) this.compact();
  }

  /** Drops the answers the cache no longer holds. */
  private compact(): void {
    this.items = this.items.filter((item, i): item is NonNullable<typeof item> => i >= this.head && item !== undefined && this.cache.peek(item.key) === item.entry);
    this.head = 0;
  }

  /** Starts the renewals due at `now`. */
  private run(now: number): void {
    const items = this.items;
    if (this.head >= items.length || items[this.head]!.entry.refreshFrom > now) return;
    const due: Array<() => void> = [];
    while (this.head < items.length) {
      const item = items[this.head]!;
      if (item.entry.refreshFrom > now) break;
      items[this.head++] = undefined;
      const { key, entry } = item;
      const renewable = entry.serveUntil > now && now - entry.lastUsed <= this.recent && this.cache.peek(key) === entry;
      if (!this.stopped && renewable && !this.calls.has(key) && this.gate.wait() === 0) due.push(item.renew);
    }
    if (this.head > 1024 && this.head * 2 >= items.length) {
      items.splice(0, this.head);
      this.head = 0;
    }
    // Started once the queue is consistent again, whatever a renewal does synchronously.
    for (const renew of due) renew();
  }

  /** Drops every queued renewal and queues no more (the guard is closing). */
  stop(): void {
    this.stopped = true;
    this.items = [];
    this.head = 0;
  }
}
