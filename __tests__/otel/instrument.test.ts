import { metrics } from '@opentelemetry/api';
import { AggregationTemporality, InMemoryMetricExporter, MeterProvider, PeriodicExportingMetricReader, type DataPoint, type Histogram } from '@opentelemetry/sdk-metrics';
import request from 'supertest';
import { createGuard, type Guard, type GuardOptions, type RevocationStore } from 'tokengate';
import { instrument, type Instrumentation } from 'tokengate/otel';
import { mockOkta, type MockOkta } from 'tokengate/testing';
import { ADAPTERS, fakeClock, watchOkta } from '../helpers';

let okta: MockOkta;
let clock: ReturnType<typeof fakeClock>;
let exporter: InMemoryMetricExporter;
let reader: PeriodicExportingMetricReader;
let provider: MeterProvider;
let guard: Guard | undefined;
let instrumentation: Instrumentation | undefined;

beforeEach(() => {
  clock = fakeClock();
  okta = mockOkta({ clock: () => clock.now() });
  exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
  // Collected on demand (forceFlush): the interval is longer than any test.
  reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000 });
  provider = new MeterProvider({ readers: [reader] });
});
afterEach(async () => {
  instrumentation?.detach();
  instrumentation = undefined;
  await guard?.close();
  guard = undefined;
  await provider.shutdown();
  okta.close();
});

function instrumented(options: Partial<GuardOptions> = {}, attributes?: Record<string, string>): Guard {
  guard = createGuard({ issuer: okta.issuer, audience: okta.audience, clock: () => clock.now(), ...options });
  instrumentation = instrument(guard, { meter: provider.getMeter('test'), attributes });
  return guard;
}

type Point = DataPoint<number> | DataPoint<Histogram>;
/** What the reader holds now: data points by instrument name. */
async function collect(): Promise<Map<string, Point[]>> {
  exporter.reset();
  await reader.forceFlush();
  const found = new Map<string, Point[]>();
  for (const scope of exporter.getMetrics().at(-1)?.scopeMetrics ?? []) {
    for (const metric of scope.metrics) found.set(metric.descriptor.name, [...(found.get(metric.descriptor.name) ?? []), ...(metric.dataPoints as Point[])]);
  }
  return found;
}
/** The value of the point of `name` whose attributes are exactly `attributes`. */
function value(found: Map<string, Point[]>, name: string, attributes: Record<string, unknown> = {}): unknown {
  return found.get(name)?.find((p) => JSON.stringify(sorted(p.attributes)) === JSON.stringify(sorted(attributes)))?.value;
}
const sorted = (o: object) => Object.fromEntries(Object.entries(o).sort(([a], [b]) => a.localeCompare(b)));

describe.each(ADAPTERS)('%s: decisions are counted where the guard makes them', (_name, makeApp) => {
  test('by outcome and error code, cache hits and misses beside them', async () => {
    const app = makeApp(instrumented());
    const token = okta.token({ scp: ['orders:read', 'orders:write'] });
    await request(app).get('/api/hello').set('Authorization', `Bearer ${token}`).expect(200);
    await request(app).get('/api/orders').set('Authorization', `Bearer ${token}`).expect(200);
    await request(app).get('/api/hello').expect(401);
    await request(app).get('/api/hello').set('Authorization', `Bearer ${okta.token({}, { expiresIn: -120 })}`).expect(401);
    await request(app).get('/api/orders').set('Authorization', `Bearer ${okta.token()}`).expect(403);
    await request(app).get('/api/hello').set('Authorization', 'Bearer a b').expect(400);

    const found = await collect();
    expect(value(found, 'tokengate.decisions', { 'tokengate.decision': 'allow' })).toBe(2);
    expect(value(found, 'tokengate.decisions', { 'tokengate.decision': 'error' })).toBe(0);
    for (const code of ['ERR_TOKEN_MISSING', 'ERR_TOKEN_EXPIRED', 'ERR_INSUFFICIENT_SCOPE', 'ERR_REQUEST_MALFORMED']) {
      expect({ code, count: value(found, 'tokengate.decisions', { 'tokengate.decision': 'deny', 'error.type': code }) }).toEqual({ code, count: 1 });
    }
    const stats = guard!.stats();
    expect(stats.decisions).toEqual({ allowed: 2, errors: 0, refused: { ERR_TOKEN_MISSING: 1, ERR_TOKEN_EXPIRED: 1, ERR_INSUFFICIENT_SCOPE: 1, ERR_REQUEST_MALFORMED: 1 } });
    expect(value(found, 'tokengate.cache.lookups', { 'tokengate.cache': 'token', 'tokengate.cache.result': 'hit' })).toBe(stats.tokenCache.hits);
    expect(value(found, 'tokengate.cache.lookups', { 'tokengate.cache': 'token', 'tokengate.cache.result': 'miss' })).toBe(stats.tokenCache.misses);
    expect(stats.tokenCache.hits).toBe(1);
    expect(value(found, 'tokengate.cache.size', { 'tokengate.cache': 'token' })).toBe(2);
  });
});

test('upstream calls by service and result, their duration on the guard clock, key-set refreshes and failures', async () => {
  watchOkta(okta, /\/(\.well-known\/openid-configuration|v1\/keys)$/, clock, () => 0.2);
  instrumented();
  await guard!.verifyToken(okta.token());
  okta.fail('jwks', 500, { times: 1 });
  // An unknown kid refetches the key set at once after the first fetch; the issuer answers 500.
  await expect(guard!.verifyToken(okta.token({}, { header: { kid: 'rotated-in' } }))).rejects.toMatchObject({ status: 503 });

  const found = await collect();
  const calls = (service: string, result: string) => value(found, 'tokengate.upstream.calls', { 'tokengate.upstream.service': service, 'tokengate.upstream.result': result });
  expect(calls('discovery', 'ok')).toBe(1);
  expect(calls('jwks', 'ok')).toBe(1);
  expect(calls('jwks', 'server_error')).toBe(1);
  const latency = value(found, 'tokengate.upstream.duration', { 'tokengate.upstream.service': 'jwks', 'tokengate.upstream.result': 'ok' }) as Histogram;
  expect(latency).toMatchObject({ count: 1, sum: 0.2 });
  expect(latency.buckets.boundaries).toContain(0.25);
  expect(value(found, 'tokengate.keys.refreshes', { 'tokengate.keys.result': 'ok' })).toBe(1);
  expect(value(found, 'tokengate.keys.refreshes', { 'tokengate.keys.result': 'error' })).toBe(1);
  expect(value(found, 'tokengate.keys.count')).toBe(okta.kids.length);
});

test('a rate-limited Sessions API is counted as such, and the requests a fail-open route let through', async () => {
  const app = ADAPTERS[0][1](instrumented({ sessions: { apiToken: okta.apiToken } }), { '/open': { session: 'strict', failMode: 'open' } });
  okta.fail('sessions', 429, { times: 1 });
  await request(app).get('/open').set('Authorization', `Bearer ${okta.token({ sid: okta.session().id })}`).expect(200);

  const found = await collect();
  expect(value(found, 'tokengate.upstream.calls', { 'tokengate.upstream.service': 'sessions', 'tokengate.upstream.result': 'rate_limited' })).toBe(1);
  expect(value(found, 'tokengate.upstream.fail_open', { 'tokengate.upstream.service': 'sessions' })).toBe(1);
  expect(value(found, 'tokengate.cache.lookups', { 'tokengate.cache': 'sessions', 'tokengate.cache.result': 'miss' })).toBe(1);
  expect(value(found, 'tokengate.decisions', { 'tokengate.decision': 'allow' })).toBe(1);
});

test('gauges: the denylist size, and whether its shared store is in reach', async () => {
  const store: RevocationStore = {
    add: async () => undefined,
    load: async () => Promise.reject(new Error('store is down')),
    subscribe: async () => undefined,
    close: async () => undefined,
  };
  instrumented({ revocation: { store } });
  await guard!.revoke('sub', 'mallory@example.com').catch(() => undefined);
  const down = await collect();
  expect(value(down, 'tokengate.denylist.size')).toBe(1);
  expect(value(down, 'tokengate.denylist.store.live')).toBe(0);

  const local = createGuard({ issuer: okta.issuer, audience: okta.audience });
  const other = instrument(local, { meter: provider.getMeter('test'), attributes: { 'tokengate.guard': 'local' } });
  const both = await collect();
  expect(value(both, 'tokengate.denylist.store.live', { 'tokengate.guard': 'local' })).toBe(1);
  expect(value(both, 'tokengate.denylist.store.live')).toBe(0);
  other.detach();
  await local.close();
});

test('attribute values come from small fixed sets: never a subject, token, jti, session id or URL', async () => {
  const app = ADAPTERS[0][1](instrumented({ sessions: { apiToken: okta.apiToken }, anomaly: { maxClients: 1, trustProxy: 1 } }), {
    '/strict': { session: 'strict' },
    '/hello': undefined,
  });
  const session = okta.session({ login: 'secret-login@example.com' });
  const token = okta.token({ sid: session.id, sub: 'secret-subject@example.com', jti: 'AT.secret-jti' });
  await request(app).get('/strict').set('Authorization', `Bearer ${token}`).set('X-Forwarded-For', '198.51.100.7').expect(200);
  await request(app).get('/hello').set('Authorization', `Bearer ${token}`).set('X-Forwarded-For', '198.51.100.8').expect(200);
  await request(app).get('/strict').set('Authorization', `Bearer ${okta.token({ sid: okta.session().id })}`).expect(200);
  await request(app).get('/hello').set('Authorization', 'Bearer not-a-jwt').expect(401);

  const found = await collect();
  expect(value(found, 'tokengate.anomalies', { 'tokengate.anomaly.by': 'address', 'tokengate.anomaly.action': 'reported' })).toBe(1);
  const values = [...found.values()].flat().flatMap((point) => Object.entries(point.attributes));
  expect(values.length).toBeGreaterThan(10);
  const allowed = /^(allow|deny|error|ERR_[A-Z_]+|token|introspection|sessions|hit|miss|discovery|jwks|ok|not_found|rate_limited|client_error|server_error|other_status|timeout|network|too_large|address|userAgent|reported|refused)$/;
  expect(values.filter(([, v]) => !allowed.test(String(v)))).toEqual([]);
  expect(JSON.stringify(values)).not.toMatch(/secret|198\.51|eyJ/);
});

test('instrument() without a meter uses the global meter provider of @opentelemetry/api', async () => {
  metrics.setGlobalMeterProvider(provider);
  try {
    guard = createGuard({ issuer: okta.issuer, audience: okta.audience, clock: () => clock.now() });
    instrumentation = instrument(guard);
    await guard.verifyToken(okta.token());
    expect(value(await collect(), 'tokengate.decisions', { 'tokengate.decision': 'allow' })).toBe(1);
  } finally {
    metrics.disable();
  }
});

test('detach() stops reporting: nothing observed any more, and no upstream.call event is built for nobody', async () => {
  instrumented();
  await guard!.verifyToken(okta.token());
  expect(value(await collect(), 'tokengate.decisions', { 'tokengate.decision': 'allow' })).toBe(1);
  instrumentation!.detach();
  instrumentation!.detach();
  const seen: string[] = [];
  const events = (guard as unknown as { parts: { events: { active: boolean } } }).parts.events;
  expect(events.active).toBe(false);
  const unsubscribe = guard!.subscribe((event) => seen.push(event.type));
  expect(events.active).toBe(true);
  unsubscribe();
  expect(events.active).toBe(false);
  await guard!.verifyToken(okta.token());
  expect(seen).toEqual([]);
  expect(guard!.stats().decisions.allowed).toBe(2);
  // The SDK keeps the last cumulative value of an instrument nobody observes any more.
  expect(value(await collect(), 'tokengate.decisions', { 'tokengate.decision': 'allow' })).toBe(1);
});

test('a guard without subscribe() and stats(), or a bad option, is a TypeError naming it', () => {
  guard = createGuard({ issuer: okta.issuer, audience: okta.audience });
  const meter = provider.getMeter('test');
  expect(() => instrument({ verify: async () => undefined } as unknown as Guard, { meter })).toThrow(/needs a guard from createGuard/);
  expect(() => instrument(guard!, { meter, labels: {} } as never)).toThrow(/no option "labels"/);
  expect(() => instrument(guard!, { meter: {} as never })).toThrow(/option "meter" must be an OpenTelemetry Meter/);
  expect(() => instrument(guard!, { meter, attributes: { route: { nested: true } } as never })).toThrow(/attribute "route" must be a string, number or boolean/);
});

test('guard.subscribe() delivers every event after onEvent, and a listener that throws changes nothing', async () => {
  const order: string[] = [];
  guard = createGuard({ issuer: okta.issuer, audience: okta.audience, clock: () => clock.now(), onEvent: (event) => order.push(`onEvent ${event.type}`) });
  guard.subscribe(() => {
    throw new Error('faulty listener');
  });
  guard.subscribe((event) => order.push(`listener ${event.type}`));
  await expect(guard.verifyToken(okta.token())).resolves.toMatchObject({ subject: 'alice@example.com' });
  expect(order.slice(0, 4)).toEqual(['onEvent upstream.call', 'listener upstream.call', 'onEvent upstream.call', 'listener upstream.call']);
  expect(order).toContain('listener keys.refreshed');
  expect(() => guard!.subscribe('nope' as never)).toThrow(TypeError);
});
