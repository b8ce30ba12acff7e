import { createGuard, definePolicy, type GuardOptions } from 'tokengate';
import { protect as protectExpress } from 'tokengate/express';
import { protect as protectKoa } from 'tokengate/koa';

const base = { issuer: 'https://example.okta.com/oauth2/default', audience: 'api://default' };
const make = (extra: Record<string, unknown>) => () => createGuard({ ...base, ...extra } as unknown as GuardOptions);

test.each([
  ['an unknown option, with a hint', { audiance: 'x' }, /unknown option "audiance"; did you mean "audience"\?/],
  ['an unknown nested option', { keySet: { coldown: 3 } }, /unknown option "keySet.coldown"; did you mean "keySet.cooldown"/],
  ['a missing issuer', { issuer: undefined }, /"issuer" is required/],
  ['a plain-http issuer on a public host', { issuer: 'http://example.okta.com/oauth2/default' }, /"issuer" must use https/],
  ['an issuer with a query', { issuer: 'https://example.okta.com/oauth2/default?x=1' }, /"issuer" must not contain a query/],
  ['a missing audience', { audience: undefined }, /"audience" must be a non-empty string/],
  ['an empty audience list', { audience: [] }, /"audience"/],
  ['alg none', { algorithms: ['none'] }, /may not contain "none"/],
  ['a sessions.store without lease()', { sessions: { apiToken: 'x', store: { get() {}, put() {}, delete() {}, subscribe() {}, close() {} } } }, /"sessions.store" must implement get\(\), lease\(\).*missing: lease$/],
  ['an introspection.store that is not an object', { introspection: { client: { clientId: 'c' }, store: 'redis' } }, /"introspection.store" must implement .*missing: get, lease, put, delete, subscribe, close/],
  ['HS256', { algorithms: ['RS256', 'HS256'] }, /may not contain "HS256".*RFC 8725/],
  ['an unsupported algorithm', { algorithms: ['RS1'] }, /unsupported "RS1"/],
  ['a negative clockTolerance', { clockTolerance: -1 }, /"clockTolerance" must be a number of seconds from 0 to 300/],
  ['a huge clockTolerance', { clockTolerance: 3600 }, /"clockTolerance"/],
  ['a clockTolerance string', { clockTolerance: '30s' }, /"clockTolerance"/],
  ['a fractional cache.max', { cache: { max: 1.5 } }, /"cache.max" must be a whole number/],
  ['keySet min over max', { keySet: { minCacheAge: 100, maxCacheAge: 10 } }, /"keySet.minCacheAge" must not exceed/],
  ['a non-https jwksUri', { jwksUri: 'http://keys.example.com/jwks' }, /"jwksUri" must use https/],
  ['a bad http client', { http: {} }, /"http" must be an object with a request\(\) method/],
  ['a realm with a quote', { realm: 'a"b' }, /"realm"/],
  ['clientIds not a list', { clientIds: 'abc' }, /"clientIds" must be an array/],
  ['a zero endpoints.timeout', { endpoints: { timeout: 0 } }, /"endpoints.timeout" must be a number of seconds/],
  ['a tiny endpoints.maxBytes', { endpoints: { maxBytes: 10 } }, /"endpoints.maxBytes" must be a whole number of at least 1024/],
  ['a sessions.staleWhileRevalidate over a minute', { sessions: { apiToken: 'x', staleWhileRevalidate: 61 } }, /"sessions.staleWhileRevalidate" must be a number of seconds from 0 to 60, got 61/],
  ['a negative introspection.staleWhileRevalidate', { introspection: { client: { clientId: 'c' }, staleWhileRevalidate: -1 } }, /"introspection.staleWhileRevalidate" must be a number of seconds from 0 to 60/],
  ['a staleWhileRevalidate string', { sessions: { apiToken: 'x', staleWhileRevalidate: '1s' } }, /"sessions.staleWhileRevalidate" must be a number of seconds/],
  ['an unknown endpoints option', { endpoints: { timout: 3 } }, /unknown option "endpoints.timout"; did you mean "endpoints.timeout"/],
])('createGuard rejects %s with a TypeError naming it', (_name, extra, message) => {
  expect(make(extra)).toThrow(TypeError);
  expect(make(extra)).toThrow(message);
});

test('plain http is accepted for loopback issuers', () => {
  for (const issuer of ['http://127.0.0.1:8080/oauth2/default', 'http://localhost:3000', 'http://[::1]:9000/x']) {
    expect(() => createGuard({ ...base, issuer })).not.toThrow();
  }
});

test('policies are validated when the route is mounted, in both adapters', () => {
  const guard = createGuard(base);
  expect(() => protectExpress(guard, { scope: ['x'] } as never)).toThrow(/unknown policy field "scope"/);
  expect(() => protectKoa(guard, { scopes: 'orders:read' } as never)).toThrow(/"scopes" must be an array/);
  expect(() => definePolicy({ claims: { tenant: { eq: 1 } } } as never)).toThrow(/claim "tenant"/);
  expect(() => protectExpress({ ...base, algorithms: ['HS256'] } as never)).toThrow(/HS256/);
});

test('URLs with credentials are refused, so they can never reach a message or event', () => {
  expect(make({ jwksUri: 'https://svc:s3cr3t@keys.example.com/jwks' })).toThrow(/"jwksUri" must not contain credentials/);
  expect(make({ issuer: 'https://u:p@example.okta.com/oauth2/default' })).toThrow(/"issuer" must not contain credentials/);
});

test('cache: true means the default cache', () => {
  expect(make({ cache: true })).not.toThrow();
});

test('policy scopes must be RFC 6749 scope-tokens', () => {
  expect(() => definePolicy({ scopes: ['orders:"read'] })).toThrow(/scope-tokens/);
  expect(() => definePolicy({ scopes: ['café'] })).toThrow(/scope-tokens/);
});
