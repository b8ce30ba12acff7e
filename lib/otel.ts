/**
 * `tokengate/otel`: OpenTelemetry metrics of a guard, on the meter you give (or the global one of
 * `@opentelemetry/api`, an optional peer dependency). Any exporter of the OpenTelemetry SDK reads
 * them: OTLP, or `@opentelemetry/exporter-prometheus` for a `/metrics` endpoint.
 *
 * Requests cost nothing more while instrumented: decisions, cache lookups and sizes are counters the
 * guard keeps anyway, read from `guard.stats()` when the reader collects; only rare events (an
 * upstream call, a key-set fetch, a fail-open, an anomaly) are counted as they happen.
 *
 * Every attribute has a small, fixed set of values: never a subject, token, `jti`, session id, URL
 * or path, nor anything else a client can vary.
 *
 * @example
 * const provider = new MeterProvider({ readers: [new PrometheusExporter({ preventServerStart: true })] });
 * const metrics = instrument(guard, { meter: provider.getMeter('tokengate') });
 * // later: metrics.detach();
 */
import type { Attributes, AttributeValue, BatchObservableResult, Meter, Observable } from '@opentelemetry/api';
import type { TokengateEvent } from './events';
import type { Guard, GuardStats } from './guard/types';

/** Options of {@link instrument}. */
export interface InstrumentOptions {
  /** The meter the instruments are created on. Default: `metrics.getMeter('tokengate')` of `@opentelemetry/api` (the global meter provider). */
  meter?: Meter;
  /**
   * Attributes added to every measurement, e.g. `{ 'tokengate.guard': 'orders' }` to tell apart two
   * guards instrumented on one meter. Keep them few and fixed. Default: none.
   */
  attributes?: Attributes;
}

/** What {@link instrument} returns. */
export interface Instrumentation {
  /** Stops reporting: the event listener goes, the observable callback is unregistered. Calling it again does nothing. */
  detach(): void;
}

/** Upstream latency buckets, seconds: from a loopback answer to the 5 s default deadline and past it. */
const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/**
 * Reports a guard's metrics through an OpenTelemetry meter until `detach()`:
 *
 * | instrument | kind | unit | attributes |
 * |---|---|---|---|
 * | `tokengate.decisions` | counter (observable) | `{decision}` | `tokengate.decision` (`allow`, `deny`, `error`), `error.type` (the error code, on `deny`) |
 * | `tokengate.cache.lookups` | counter (observable) | `{lookup}` | `tokengate.cache` (`token`, `introspection`, `sessions`), `tokengate.cache.result` (`hit`, `miss`) |
 * | `tokengate.cache.size` | gauge (observable) | `{entry}` | `tokengate.cache` |
 * | `tokengate.upstream.calls` | counter | `{call}` | `tokengate.upstream.service` (`discovery`, `jwks`, `introspection`, `sessions`, `token`, `revoke`), `tokengate.upstream.result` (`ok`, `not_found`, `rate_limited`, `client_error`, `server_error`, `other_status`, `timeout`, `network`, `too_large`, `error`) |
 * | `tokengate.upstream.duration` | histogram | `s` | the same |
 * | `tokengate.upstream.fail_open` | counter | `{request}` | `tokengate.upstream.service` (`introspection`, `sessions`) |
 * | `tokengate.keys.refreshes` | counter | `{fetch}` | `tokengate.keys.result` (`ok`, `error`) |
 * | `tokengate.keys.count` | gauge (observable) | `{key}` | — |
 * | `tokengate.denylist.size` | gauge (observable) | `{entry}` | — |
 * | `tokengate.denylist.unwritten` | gauge (observable) | `{entry}` | — |
 * | `tokengate.denylist.store.live` | gauge (observable) | `1` | — (1 while the shared store is in reach, else 0) |
 * | `tokengate.refreshes` | counter (observable) | `{exchange}` | — |
 * | `tokengate.anomalies` | counter | `{anomaly}` | `tokengate.anomaly.by` (`address`, `userAgent`), `tokengate.anomaly.action` (`reported`, `refused`) |
 * | `tokengate.anomaly.evictions` | counter (observable) | `{token}` | — (with the `anomaly` option) |
 *
 * Observable counters report the guard's totals since it was created (cumulative). Counters that
 * follow events start at zero when `instrument()` is called. Call it once per guard and meter.
 *
 * Throws a `TypeError` for a guard without `subscribe()` and `stats()`, or a bad option; an `Error`
 * naming what to install when no `meter` is given and `@opentelemetry/api` cannot be loaded.
 *
 * @example
 * const metrics = instrument(guard, { meter: meterProvider.getMeter('tokengate'), attributes: { 'tokengate.guard': 'orders' } });
 * @see https://opentelemetry.io/docs/specs/otel/metrics/api/
 */
export function instrument(guard: Guard, options: InstrumentOptions = {}): Instrumentation {
  if (guard === null || typeof guard !== 'object' || typeof guard.subscribe !== 'function' || typeof guard.stats !== 'function') {
    throw new TypeError('tokengate/otel: instrument() needs a guard from createGuard() (with subscribe() and stats())');
  }
  const { meter = defaultMeter(), attributes = {} } = checkOptions(options);
  const base = Object.freeze({ ...attributes });
  const known = new Map<string, Attributes>();
  /** The attribute set for `key` (built once by `build`, the constant attributes included): no object per measurement. */
  const attrs = (key: string, build: () => Attributes): Attributes => {
    let found = known.get(key);
    if (found === undefined) {
      found = Object.freeze({ ...base, ...build() });
      known.set(key, found);
    }
    return found;
  };

  const decisions = meter.createObservableCounter('tokengate.decisions', { description: 'Requests decided by the guard: let through, refused (by error code), or failed with an error that is not a refusal', unit: '{decision}' });
  const lookups = meter.createObservableCounter('tokengate.cache.lookups', { description: 'Lookups in the guard caches: verified tokens, introspection answers, Okta session answers', unit: '{lookup}' });
  const cacheSize = meter.createObservableGauge('tokengate.cache.size', { description: 'Entries held by the guard caches', unit: '{entry}' });
  const keyCount = meter.createObservableGauge('tokengate.keys.count', { description: 'Signing keys held from the issuer JWKS', unit: '{key}' });
  const denylistSize = meter.createObservableGauge('tokengate.denylist.size', { description: 'Entries in the local denylist mirror', unit: '{entry}' });
  const unwritten = meter.createObservableGauge('tokengate.denylist.unwritten', { description: 'Denylist entries the shared store has not taken yet', unit: '{entry}' });
  const storeLive = meter.createObservableGauge('tokengate.denylist.store.live', { description: '1 while the shared denylist store is in reach (always without one), else 0', unit: '1' });
  const refreshes = meter.createObservableCounter('tokengate.refreshes', { description: 'Refresh-token exchanges sent to the issuer', unit: '{exchange}' });
  const evictions = meter.createObservableCounter('tokengate.anomaly.evictions', { description: 'Tokens that lost their place in the anomaly table while their window was open (raise anomaly.max when it grows)', unit: '{token}' });
  const observables: Observable[] = [decisions, lookups, cacheSize, keyCount, denylistSize, unwritten, storeLive, refreshes, evictions];

  const observe = (result: BatchObservableResult): void => {
    const stats = guard.stats();
    const d = stats.decisions;
    result.observe(decisions, d.allowed, attrs('allow', () => ({ 'tokengate.decision': 'allow' })));
    result.observe(decisions, d.errors, attrs('error', () => ({ 'tokengate.decision': 'error' })));
    for (const [code, count] of Object.entries(d.refused)) {
      result.observe(decisions, count ?? 0, attrs(`deny ${code}`, () => ({ 'tokengate.decision': 'deny', 'error.type': code })));
    }
    for (const [cache, held] of caches(stats)) {
      result.observe(lookups, held.hits, attrs(`hit ${cache}`, () => ({ 'tokengate.cache': cache, 'tokengate.cache.result': 'hit' })));
      result.observe(lookups, held.misses, attrs(`miss ${cache}`, () => ({ 'tokengate.cache': cache, 'tokengate.cache.result': 'miss' })));
      result.observe(cacheSize, held.size, attrs(`cache ${cache}`, () => ({ 'tokengate.cache': cache })));
    }
    result.observe(keyCount, stats.keys.kids.length, base);
    result.observe(denylistSize, stats.revocation.size, base);
    result.observe(unwritten, stats.revocation.unwritten, base);
    result.observe(storeLive, stats.revocation.live ? 1 : 0, base);
    result.observe(refreshes, stats.refreshes, base);
    if (stats.anomaly !== undefined) result.observe(evictions, stats.anomaly.evicted, base);
  };
  meter.addBatchObservableCallback(observe, observables);

  const calls = meter.createCounter('tokengate.upstream.calls', { description: 'Calls to the issuer and to Okta, by upstream and how they ended', unit: '{call}' });
  const duration = meter.createHistogram('tokengate.upstream.duration', {
    description: 'Duration of calls to the issuer and to Okta',
    unit: 's',
    advice: { explicitBucketBoundaries: LATENCY_BUCKETS },
  });
  const failOpen = meter.createCounter('tokengate.upstream.fail_open', { description: "Requests let through by a failMode 'open' route although a liveness check could not be made", unit: '{request}' });
  const keyFetches = meter.createCounter('tokengate.keys.refreshes', { description: 'Fetches of the issuer key set (discovery and JWKS), by outcome', unit: '{fetch}' });
  const anomalies = meter.createCounter('tokengate.anomalies', { description: 'Tokens presented by more distinct clients within the anomaly window than allowed', unit: '{anomaly}' });

  const listen = (event: TokengateEvent): void => {
    switch (event.type) {
      case 'upstream.call': {
        const set = attrs(`call ${event.service} ${event.result}`, () => ({ 'tokengate.upstream.service': event.service, 'tokengate.upstream.result': event.result }));
        calls.add(1, set);
        duration.record(event.duration, set);
        return;
      }
      case 'fail-open':
        return failOpen.add(1, attrs(`open ${event.service}`, () => ({ 'tokengate.upstream.service': event.service })));
      case 'keys.refreshed':
        return keyFetches.add(1, attrs('keys ok', () => ({ 'tokengate.keys.result': 'ok' })));
      case 'keys.error':
        return keyFetches.add(1, attrs('keys error', () => ({ 'tokengate.keys.result': 'error' })));
      case 'token.anomaly':
        return anomalies.add(1, attrs(`anomaly ${event.by} ${event.action}`, () => ({ 'tokengate.anomaly.by': event.by, 'tokengate.anomaly.action': event.action })));
      default:
        return;
    }
  };
  const unsubscribe = guard.subscribe(listen);

  let attached = true;
  return {
    detach() {
      if (!attached) return;
      attached = false;
      unsubscribe();
      meter.removeBatchObservableCallback(observe, observables);
    },
  };
}

/** The caches a guard has, with their counters. */
function caches(stats: GuardStats): Array<[string, { size: number; hits: number; misses: number }]> {
  const found: Array<[string, { size: number; hits: number; misses: number }]> = [['token', stats.tokenCache]];
  if (stats.introspection !== undefined) found.push(['introspection', stats.introspection]);
  if (stats.sessions !== undefined) found.push(['sessions', stats.sessions]);
  return found;
}

function checkOptions(options: InstrumentOptions): InstrumentOptions {
  if (options === null || typeof options !== 'object') throw new TypeError('tokengate/otel: the options of instrument() must be an object');
  for (const name of Object.keys(options)) {
    if (name !== 'meter' && name !== 'attributes') throw new TypeError(`tokengate/otel: instrument() has no option "${name}" (known: meter, attributes)`);
  }
  const meter = options.meter as Partial<Meter> | undefined;
  if (meter !== undefined && (meter === null || typeof meter.createCounter !== 'function' || typeof meter.addBatchObservableCallback !== 'function')) {
    throw new TypeError('tokengate/otel: option "meter" must be an OpenTelemetry Meter (meterProvider.getMeter(name))');
  }
  const attributes = options.attributes;
  if (attributes !== undefined) {
    if (attributes === null || typeof attributes !== 'object' || Array.isArray(attributes)) throw new TypeError('tokengate/otel: option "attributes" must be an object');
    for (const [name, value] of Object.entries(attributes)) {
      if (!isPrimitive(value)) throw new TypeError(`tokengate/otel: attribute "${name}" must be a string, number or boolean`);
    }
  }
  return options;
}

function isPrimitive(value: AttributeValue | undefined): boolean {
  return typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean';
}

/** The global meter of `@opentelemetry/api`, loaded only when no meter is given. */
function defaultMeter(): Meter {
  let api: typeof import('@opentelemetry/api');
  try {
    api = require('@opentelemetry/api') as typeof import('@opentelemetry/api');
  } catch (error) {
    throw new Error('tokengate/otel: instrument() without a "meter" needs @opentelemetry/api (an optional peer dependency), which could not be loaded. Install it: npm i @opentelemetry/api', { cause: error });
  }
  return api.metrics.getMeter('tokengate');
}
