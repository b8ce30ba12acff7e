/**
 * Runs `operation` now and settles with it, or rejects with `timedOut()` after `ms` if it has not
 * settled by then. A synchronous throw becomes a rejection. The timer is `unref()`ed and cleared as
 * soon as the operation settles. The one deadline of every call tokengate cannot trust to end: an
 * injected HTTP client, Redis commands, revocation and backend-session stores.
 */
export function settleWithin<T>(operation: () => PromiseLike<T> | T, ms: number, timedOut: () => Error): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(timedOut()), ms);
    timer.unref();
    const settle = <A>(done: (value: A) => void) => (value: A) => {
      clearTimeout(timer);
      done(value);
    };
    let pending: PromiseLike<T> | T;
    try {
      pending = operation();
    } catch (error) {
      settle(reject)(error);
      return;
    }
    Promise.resolve(pending).then(settle(resolve), settle(reject));
  });
}
