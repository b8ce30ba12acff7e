import type { UpstreamUnavailableError } from '../errors';
import { emit, type TokengateEvent } from '../events';
import type { HttpResponse } from '../issuer/http';

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
 * The longest pause a rate-limit answer can cause, in ms: twice Okta's one-minute window. A reset
 * further away (a clock gone wrong, a hostile proxy) must not stop every call for ever.
 */
export const MAX_RATE_LIMIT_PAUSE = 120_000;

/**
 * Stops calls to an upstream while it cannot answer: until the rate-limit reset after a 429 (or a
 * response with no calls remaining; at most {@link MAX_RATE_LIMIT_PAUSE}), and for `retryAfter`
 * seconds after a failure. One per upstream, per guard.
 */
export class UpstreamGate {
  private blockedUntil = -Infinity;
  /** Why calls are stopped, for messages. */
  reason = '';
  /**
   * Told of every pause this gate starts from a rate-limit answer (not of pauses after failures):
   * how the instances sharing an answer store pause together.
   */
  onRateLimit: ((until: number, reason: string) => void) | undefined;

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
      const now = this.clock();
      const until = limit.reset !== undefined && limit.reset > now ? Math.min(limit.reset, now + MAX_RATE_LIMIT_PAUSE) : now + this.retryAfter * 1000;
      const reason = response.status === 429 ? 'rate-limited (429)' : 'rate limit exhausted';
      this.block(until, reason);
      this.onRateLimit?.(until, reason);
    }
  }

  /** Pauses calls until `until` (ms) for a rate limit another instance saw (at most {@link MAX_RATE_LIMIT_PAUSE} from now); never shortens a pause. */
  pause(until: number, reason: string): void {
    this.block(Math.min(until, this.clock() + MAX_RATE_LIMIT_PAUSE), reason);
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
