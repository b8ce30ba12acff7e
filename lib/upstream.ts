import type { UpstreamUnavailableError } from './errors';
import { emit, type TokengateEvent } from './events';
import type { HttpResponse } from './http';

/** What the `X-Rate-Limit-*` headers of an Okta response say. `reset` is in milliseconds since the epoch. */
export interface RateLimitHeaders {
  limit: number | undefined;
  remaining: number | undefined;
  reset: number | undefined;
}

/** Reads Okta's `X-Rate-Limit-Limit/Remaining/Reset` headers (reset in epoch seconds); absent ones are `undefined`. */
export function readRateLimit(headers: Record<string, string>): RateLimitHeaders {
  const read = (name: string) => {
    const value = Number(headers[name]);
    return headers[name] !== undefined && Number.isFinite(value) ? value : undefined;
  };
  const reset = read('x-rate-limit-reset');
  return { limit: read('x-rate-limit-limit'), remaining: read('x-rate-limit-remaining'), reset: reset === undefined ? undefined : reset * 1000 };
}

/**
 * Stops calls to an upstream while it cannot answer: until the rate-limit reset after a 429 (or a
 * response with no calls remaining), and for `retryAfter` seconds after a failure. One per
 * upstream, per guard.
 */
export class UpstreamGate {
  private blockedUntil = -Infinity;
  /** Why calls are stopped, for messages. */
  reason = '';

  constructor(
    private readonly retryAfter: number,
    private readonly clock: () => number,
  ) {}

  /** Milliseconds left before calls may resume; 0 when they may go now. */
  wait(): number {
    return Math.max(0, this.blockedUntil - this.clock());
  }

  /** Reads the rate-limit headers of an answer; blocks until the reset when none are left. */
  observe(response: HttpResponse): void {
    const limit = readRateLimit(response.headers);
    if (response.status === 429 || limit.remaining === 0) {
      const until = limit.reset !== undefined && limit.reset > this.clock() ? limit.reset : this.clock() + this.retryAfter * 1000;
      this.block(until, response.status === 429 ? 'rate-limited (429)' : 'rate limit exhausted');
    }
  }

  /** Blocks after a failure, for `retryAfter` seconds. */
  failed(reason: string): void {
    this.block(this.clock() + this.retryAfter * 1000, reason);
  }

  /**
   * Runs one call through the gate: refused at once while paused; on failure the gate pauses (unless
   * a rate limit already did), an `upstream.error` event goes out, and the failure is rethrown as
   * the service's 503 error, built by `unavailable(message, retryAfterSeconds, cause)`.
   */
  async run<T>(
    service: 'introspection' | 'sessions',
    onEvent: ((event: TokengateEvent) => void) | undefined,
    unavailable: (message: string, retryAfter: number, cause?: unknown) => UpstreamUnavailableError,
    call: () => Promise<T>,
  ): Promise<T> {
    const wait = this.wait();
    if (wait > 0) throw unavailable(`paused: it was ${this.reason}`, wait / 1000);
    try {
      return await call();
    } catch (error) {
      const message = (error as Error).message;
      if (this.wait() === 0) this.failed(message);
      emit(onEvent, { type: 'upstream.error', service, message });
      throw unavailable(`failed: ${message}`, this.wait() / 1000, error);
    }
  }

  private block(until: number, reason: string): void {
    if (until > this.blockedUntil) {
      this.blockedUntil = until;
      this.reason = reason;
    }
  }
}

/** Encodes form parameters (`application/x-www-form-urlencoded`). */
export function formBody(params: Record<string, string>): string {
  return new URLSearchParams(params).toString();
}

/** One call per key in flight, shared by every concurrent caller; the entry goes when it settles. */
export function shared<T>(inflight: Map<string, Promise<T>>, key: string, start: () => Promise<T>): Promise<T> {
  let pending = inflight.get(key);
  if (pending === undefined) {
    pending = start().finally(() => inflight.delete(key));
    inflight.set(key, pending);
  }
  return pending;
}

/** A cached upstream answer that can be renewed ahead of its expiry. Times in ms. */
export interface Renewable {
  /** Fresh until then. */
  until: number;
  /** Renewal may start then: `cacheTtl` after the request for this answer was sent. */
  refreshFrom: number;
  /** Last time a request was decided by this answer. */
  lastUsed: number;
}

/**
 * Renews cached answers that are still in use, in their last round trip: once an answer's
 * `refreshFrom` has passed, the next request for any key starts the call that replaces it, so that
 * nobody waits at the end of the TTL, while calls per key stay `cacheTtl` apart and no answer serves
 * past its TTL. An answer not used in the last half of its TTL is left to expire (no call for a key
 * nobody asks about). Answers are queued in the order they arrived, which is the order of their
 * `refreshFrom` (up to differences in round-trip time); checking the head costs one comparison.
 */
export class Renewals<E extends Renewable> {
  private items: Array<{ key: string; entry: E; renew: () => void } | undefined> = [];
  private head = 0;

  constructor(
    /** Half the TTL, in ms: how recently an answer must have been used to be renewed. */
    private readonly recent: number,
    /** Whether `entry` is still the one cached for `key` and no call for it is in flight, and calls may go. */
    private readonly renewable: (key: string, entry: E) => boolean,
  ) {}

  /** Queues an answer just cached; `renew` starts the call that replaces it (its failure is reported elsewhere). */
  add(key: string, entry: E, renew: () => void): void {
    if (entry.refreshFrom < entry.until) this.items.push({ key, entry, renew });
  }

  /** Starts the renewals due at `now`. Called on every request, before the cache is read. */
  run(now: number): void {
    const items = this.items;
    while (this.head < items.length) {
      const item = items[this.head]!;
      if (item.entry.refreshFrom > now) break;
      items[this.head++] = undefined;
      const { key, entry } = item;
      if (entry.until > now && now - entry.lastUsed <= this.recent && this.renewable(key, entry)) item.renew();
    }
    if (this.head > 1024 && this.head * 2 >= items.length) {
      items.splice(0, this.head);
      this.head = 0;
    }
  }

  /** Drops every queued renewal. */
  clear(): void {
    this.items = [];
    this.head = 0;
  }
}
