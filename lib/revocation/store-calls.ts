import { settleWithin } from '../util/deadline';

/** First wait before a store operation is tried again, ms; it doubles on every failure up to {@link RETRY_MAX}. */
export const RETRY_FIRST = 250;
/** Longest wait between two attempts, ms. */
export const RETRY_MAX = 10_000;
/**
 * Longest a store operation may take before it counts as failed, ms: a store that never answers
 * must not stall the sync or the writer. Well above what a store's own deadlines allow (the Redis
 * store's load of a large keyspace takes several of its `timeout`s).
 */
export const STORE_DEADLINE = 60_000;
/** Runs a store method so that a synchronous throw becomes a rejection, and one that never settles fails after {@link STORE_DEADLINE}. */
export function call<T>(operation: () => Promise<T>): Promise<T> {
  return settleWithin(operation, STORE_DEADLINE, () => new Error(`the store did not answer within ${STORE_DEADLINE / 1000} s`));
}

/** A pause that does not keep the process alive. */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
