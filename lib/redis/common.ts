import { settleWithin } from '../util/deadline';

/** Options of the Redis stores. */
export interface RedisStoreOptions {
  /**
   * Prefix of every key and channel. Default `'tokengate'`. Keys that must share a cluster slot put
   * it in a hash tag (`{tokengate}:deny`), so it may not contain `{` or `}`.
   */
  prefix?: string;
  /** Deadline of one Redis command, in seconds: a command queued while Redis is away fails then instead of hanging. Default 2. */
  timeout?: number;
  /** Clock for key lifetimes, milliseconds since the epoch; give the guard's. Default `Date.now`. */
  clock?: () => number;
}

/** Validated store options. Internal. */
export interface ResolvedStoreOptions {
  prefix: string;
  timeout: number;
  clock: () => number;
}

/** Validates the options every Redis store shares; a mistake is a `TypeError` naming it. */
export function storeOptions(options: RedisStoreOptions): ResolvedStoreOptions {
  const prefix = options.prefix ?? 'tokengate';
  if (typeof prefix !== 'string' || prefix === '' || /[{}\s]/.test(prefix)) {
    throw new TypeError('tokengate/redis: option "prefix" must be a non-empty string without "{", "}" or spaces');
  }
  const timeout = options.timeout ?? 2;
  if (typeof timeout !== 'number' || !(timeout > 0) || !Number.isFinite(timeout)) throw new TypeError('tokengate/redis: option "timeout" must be a number of seconds above 0');
  if (options.clock !== undefined && typeof options.clock !== 'function') throw new TypeError('tokengate/redis: option "clock" must be a function');
  return { prefix, timeout, clock: options.clock ?? Date.now };
}

/** Settles with `promise`, or rejects after `seconds` saying which command Redis did not answer. */
export function deadline<T>(promise: PromiseLike<T>, seconds: number, what: string): Promise<T> {
  return settleWithin(() => promise, seconds * 1000, () => new Error(`Redis did not answer ${what} within ${seconds} s`));
}

/** The milliseconds left until `until`, at least 1 (Redis refuses `PX 0`), as the command argument. */
export function px(until: number, now: number): string {
  return String(Math.max(1, Math.ceil(until - now)));
}

/** A bulk-string reply (a `Buffer` when the client was asked for buffers), or `null`. */
export function text(reply: unknown): string | null {
  if (typeof reply === 'string') return reply;
  if (Buffer.isBuffer(reply)) return reply.toString('utf8');
  return null;
}

/** An array reply, or an empty one. */
export function list(reply: unknown): unknown[] {
  return Array.isArray(reply) ? reply : [];
}
