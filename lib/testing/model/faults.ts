import { oktaError, type MockEndpoint, type ModelResponse } from './http';

/** How an endpoint fails: connection refused, no answer in time, an HTTP status, or a body that is not JSON. */
export type FailureMode = 'down' | 'slow' | 'garbage' | number;

/** A failure set on an endpoint, with how many more requests it affects. */
interface Failure {
  mode: FailureMode;
  remaining: number;
  delay: number;
}

/** A rate limit on an endpoint: `limit` calls per `window` seconds, `remaining` of them until `resetAt` (ms). */
interface RateLimit {
  limit: number;
  window: number;
  remaining: number;
  resetAt: number;
}

/**
 * What is wrong with the mocked Okta: failures set on endpoints, added latency and rate limits.
 * {@link Faults.respond} applies them to the answer of one request.
 */
export class Faults {
  private readonly failures = new Map<MockEndpoint, Failure>();
  private readonly latencies = new Map<MockEndpoint, number>();
  private readonly limits = new Map<MockEndpoint, RateLimit>();

  constructor(private readonly clock: () => number) {}

  /** {@link OktaModel.fail}: a `TypeError` unless `times` is a whole number of at least 1. */
  fail(endpoint: MockEndpoint, mode: FailureMode, options: { times?: number; delay?: number }): void {
    if (options.times !== undefined && !(Number.isInteger(options.times) && options.times >= 1)) throw new TypeError('mockOkta: "times" must be a whole number of at least 1');
    this.failures.set(endpoint, { mode, remaining: options.times ?? Infinity, delay: options.delay ?? 30_000 });
  }

  /** Ends the failure of one endpoint, or of all. */
  recover(endpoint?: MockEndpoint): void {
    if (endpoint === undefined) this.failures.clear();
    else this.failures.delete(endpoint);
  }

  /** Adds `ms` milliseconds before every answer of an endpoint (0 removes it). */
  latency(endpoint: MockEndpoint, ms: number): void {
    this.latencies.set(endpoint, ms);
  }

  /** {@link OktaModel.rateLimit}: the first window starts now. */
  rateLimit(endpoint: MockEndpoint, options: { limit: number; resetIn: number }): void {
    this.limits.set(endpoint, { limit: options.limit, window: options.resetIn, remaining: options.limit, resetAt: this.clock() + options.resetIn * 1000 });
  }

  /**
   * The answer to one request to `endpoint`, faults applied: a failure (which uses up one of its
   * `times`) replaces it, or for `'slow'` delays it; past a rate limit it is a 429. `answer` is
   * called only when the request gets through; the latency is added to every answer.
   */
  respond(endpoint: MockEndpoint, answer: () => ModelResponse): ModelResponse {
    const delay = this.latencies.get(endpoint) ?? 0;
    const failure = this.failures.get(endpoint);
    if (failure !== undefined) {
      if (--failure.remaining <= 0) this.failures.delete(endpoint);
      if (failure.mode === 'slow') return { ...answer(), delay: failure.delay + delay };
      return { ...failed(failure.mode), delay: delay || undefined };
    }
    const limited = this.countRate(endpoint);
    const response = limited.exceeded
      ? oktaError(429, 'E0000047', 'API call exceeded rate limit due to too many requests.')
      : answer();
    return { ...response, headers: { ...response.headers, ...limited.headers }, delay: delay || undefined };
  }

  /** Counts one call against the endpoint's rate limit: whether it is over, and the `X-Rate-Limit-*` headers to send. */
  private countRate(endpoint: MockEndpoint): { exceeded: boolean; headers: Record<string, string> } {
    const limit = this.limits.get(endpoint);
    if (limit === undefined) return { exceeded: false, headers: {} };
    const now = this.clock();
    if (now >= limit.resetAt) {
      limit.remaining = limit.limit;
      limit.resetAt = now + limit.window * 1000;
    }
    const exceeded = limit.remaining <= 0;
    if (!exceeded) limit.remaining--;
    return {
      exceeded,
      headers: {
        'x-rate-limit-limit': String(limit.limit),
        'x-rate-limit-remaining': String(limit.remaining),
        'x-rate-limit-reset': String(Math.ceil(limit.resetAt / 1000)),
      },
    };
  }
}

/** The answer of a failing endpoint: a refused connection, a body that is not JSON, or an Okta error with the status. */
function failed(mode: Exclude<FailureMode, 'slow'>): ModelResponse {
  switch (mode) {
    case 'down':
      return { status: 0, headers: {}, body: '', error: Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }) };
    case 'garbage':
      return { status: 200, headers: { 'content-type': 'application/json' }, body: '<html>Service Unavailable</html>' };
    default:
      return oktaError(mode, 'E0000009', 'Internal Server Error');
  }
}
