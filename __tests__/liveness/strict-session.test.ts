import request from 'supertest';
import { createGuard, type Guard, type GuardOptions, type TokengateEvent } from 'tokengate';
import { createKeyPair, mockOkta, type MockOkta } from 'tokengate/testing';
import { ADAPTERS, fakeClock, pausingClient, waitFor, watchOkta, type Served } from '../helpers';

const SESSIONS_PATH = /^\/api\/v1\/sessions\/(.+)$/;

const ROUTES = {
  '/lax': undefined,
  '/strict': { session: 'strict' as const },
  '/strict-open': { session: 'strict' as const, failMode: 'open' as const },
};

describe.each(ADAPTERS)('%s: strict active-session checking', (_name, makeApp) => {
  let clock: ReturnType<typeof fakeClock>;
  let okta: MockOkta;
  let guard: Guard;
  let app: Served;
  let events: TokengateEvent[];

  function setup(options: Partial<GuardOptions> = {}, sessions: GuardOptions['sessions'] = {}) {
    guard = createGuard({
      issuer: okta.issuer,
      audience: okta.audience,
      clock: () => clock.now(),
      onEvent: (e) => events.push(e),
      sessions: { apiToken: okta.apiToken, timeout: 0.3, ...sessions },
      ...options,
    });
    app = makeApp(guard, ROUTES);
  }
  const call = (path: string, token: string) => request(app).get(path).set('Authorization', `Bearer ${token}`);

  beforeEach(() => {
    clock = fakeClock();
    events = [];
    okta = mockOkta({ clock: () => clock.now() });
  });
  afterEach(async () => {
    await guard.close();
    okta.close();
  });

  test('the seed edge case: after sign-out the lax route still answers, the strict route refuses within the session TTL', async () => {
    setup({}, { cacheTtl: 30 });
    const session = okta.session();
    const token = okta.token({ sid: session.id });
    await call('/strict', token).expect(200);
    await call('/lax', token).expect(200);

    okta.endSession(session.id);
    // Within the TTL the cached answer stands (documented); the lax route never looks.
    await call('/strict', token).expect(200);
    clock.advance(31);
    const refused = await call('/strict', token);
    expect(refused.status).toBe(401);
    expect(refused.headers['www-authenticate']).toMatch(/^Bearer realm="api", error="invalid_token", error_description="The Okta session of this token has ended/);
    await call('/lax', token).expect(200);
    // Remembered until the token's exp: no further calls for it.
    const calls = okta.calls.sessions;
    clock.advance(31);
    await call('/strict', token).expect(401);
    expect(okta.calls.sessions).toBe(calls);
    expect(events).toContainEqual({ type: 'session.ended', status: 'ENDED' });
  });

  test('50 concurrent requests with one token on a strict route make exactly one Sessions API call', async () => {
    setup();
    await guard.ready();
    const token = okta.token({ sid: okta.session().id });
    const answers = await Promise.all(Array.from({ length: 50 }, () => call('/strict', token)));
    expect(answers.every((a) => a.status === 200)).toBe(true);
    expect(okta.calls.sessions).toBe(1);
    expect(guard.stats().sessions).toMatchObject({ calls: 1, misses: 50 });
  });

  test('a session that is not ACTIVE is refused with its own code', async () => {
    setup();
    const session = okta.session({ status: 'MFA_REQUIRED' });
    const res = await call('/strict', okta.token({ sid: session.id }));
    expect(res.status).toBe(401);
    expect(res.headers['www-authenticate']).toMatch(/The Okta session of this token is MFA_REQUIRED, not ACTIVE/);
  });

  test('a strict route refuses a token without the session claim, naming the claim', async () => {
    setup({}, { claim: 'okta_sid' });
    const res = await call('/strict', okta.token({ sid: okta.session().id }));
    expect(res.status).toBe(401);
    expect(res.headers['www-authenticate']).toMatch(/no usable okta_sid claim.*Token Inline Hook/);
    await call('/lax', okta.token()).expect(200);
    expect(okta.calls.sessions).toBe(0);
  });

  test('under steady traffic the next call goes one round trip before the TTL ends: nobody waits, calls stay cacheTtl apart; with staleWhileRevalidate 0 no answer serves past its TTL', async () => {
    setup({}, { cacheTtl: 30, staleWhileRevalidate: 0, timeout: 2 });
    // The first answer takes 200 ms of the guard's clock to arrive.
    const calls = watchOkta(okta, SESSIONS_PATH, clock, (_nth, overall) => (overall === 1 ? 0.2 : 0));
    const session = okta.session();
    const token = okta.token({ sid: session.id });
    await call('/strict', token).expect(200);
    const t0 = calls[0][1];

    // Fresh until 30.2 s after t0 (the answer's arrival); from 30 s after the call went out, a request
    // also asks again. Before that, no call.
    clock.set(t0 + 29_900);
    await call('/strict', token).expect(200);
    expect(okta.calls.sessions).toBe(1);

    okta.endSession(session.id);
    // The renewal's answer is held for 1.5 s: requests answered meanwhile did not wait for it.
    okta.fail('sessions', 'slow', { delay: 1500 });
    clock.set(t0 + 30_050);
    const started = Date.now();
    await call('/strict', token).expect(200);
    // The answer still in its TTL served; the new call is on its way, one for any number of requests.
    await call('/strict', token).expect(200);
    expect(Date.now() - started).toBeLessThan(1000);
    await waitFor(() => calls.length === 2);
    expect(calls.map(([, at]) => at)).toEqual([t0, t0 + 30_050]);

    // Past the old answer's TTL, a request waits for the call in flight and gets its verdict.
    clock.set(t0 + 30_250);
    const refused = await call('/strict', token);
    expect(refused.status).toBe(401);
    expect(refused.body.code).toBe('ERR_SESSION_ENDED');
    expect(okta.calls.sessions).toBe(2);
  });

  test('staleWhileRevalidate (default 1 s): a renewal slower than the call before it leaves nobody waiting for that long past the TTL, then its verdict decides', async () => {
    setup({}, { cacheTtl: 30, timeout: 5 });
    // The first answer takes 200 ms of the guard's clock to arrive: fresh until 30.2 s after t0.
    const calls = watchOkta(okta, SESSIONS_PATH, clock, (_nth, overall) => (overall === 1 ? 0.2 : 0));
    const session = okta.session();
    const token = okta.token({ sid: session.id });
    await call('/strict', token).expect(200);
    const t0 = calls[0][1];
    okta.endSession(session.id);
    // The renewal goes out 30 s after the first call, and its answer is held for 2 s.
    okta.fail('sessions', 'slow', { delay: 2000 });
    clock.set(t0 + 30_050);
    await call('/strict', token).expect(200);
    await waitFor(() => calls.length === 2);

    // Past the TTL, within a second of it: served at once by the old answer while the renewal is on its way.
    clock.set(t0 + 31_100);
    const started = Date.now();
    await call('/strict', token).expect(200);
    expect(Date.now() - started).toBeLessThan(1000);
    expect(guard.stats().sessions).toMatchObject({ calls: 2, revalidating: 1 });

    // More than a second past the TTL: the request waits for the renewal, and Okta's verdict decides.
    clock.set(t0 + 31_300);
    const refused = await call('/strict', token);
    expect(refused.status).toBe(401);
    expect(refused.body.code).toBe('ERR_SESSION_ENDED');
    expect(okta.calls.sessions).toBe(2);
  });

  test('staleWhileRevalidate: a request just past the TTL starts the renewal nobody started, and is served meanwhile; never past the session\'s expiresAt', async () => {
    setup({}, { cacheTtl: 30, staleWhileRevalidate: 5, timeout: 5 });
    const session = okta.session();
    const token = okta.token({ sid: session.id });
    const t0 = clock.now();
    await call('/strict', token).expect(200);
    okta.endSession(session.id);
    okta.fail('sessions', 'slow', { delay: 300 });
    // Nobody came in the renewal window; 2 s past the TTL this request starts the renewal and the old answer serves it.
    clock.set(t0 + 32_000);
    await call('/strict', token).expect(200);
    expect(okta.calls.sessions).toBe(2);
    // Once the renewal has landed, its verdict decides, with no further call.
    await waitFor(() => guard.stats().sessions?.size === 1 && events.some((e) => e.type === 'session.ended'));
    const refused = await call('/strict', token);
    expect(refused.status).toBe(401);
    expect(refused.body.code).toBe('ERR_SESSION_ENDED');
    expect(okta.calls.sessions).toBe(2);

    // A session expiring at Okta 10 s from now: its answer is fresh for those 10 s, not a moment past them.
    const brief = okta.session({ expiresIn: 10 });
    const briefToken = okta.token({ sid: brief.id });
    const t1 = clock.now();
    await call('/strict', briefToken).expect(200);
    okta.fail('sessions', 'slow', { delay: 1500 });
    clock.set(t1 + 9_000);
    await call('/strict', briefToken).expect(200);
    // Past expiresAt, two requests: one asks Okta; the other, while that call is in flight, is not served by the old answer either.
    clock.set(t1 + 10_500);
    const before = okta.calls.sessions;
    const late = await Promise.all([call('/strict', briefToken), call('/strict', briefToken)]);
    expect(late.map((r) => [r.status, r.body.code])).toEqual([
      [401, 'ERR_SESSION_ENDED'],
      [401, 'ERR_SESSION_ENDED'],
    ]);
    expect(okta.calls.sessions).toBe(before + 1);
    expect(guard.stats().sessions?.revalidating).toBe(1);
  });

  test('a pause between the guard and the wire (a GC) never brings two calls for one session closer than cacheTtl, as the HTTP client sees them', async () => {
    // The first Sessions API request reaches the client 50 ms of the guard's clock after the guard
    // decided to send it; the client records when each request reaches it.
    const { client, seen } = pausingClient(clock, SESSIONS_PATH, 0.05);
    setup({ http: client }, { cacheTtl: 30, timeout: 2 });
    const token = okta.token({ sid: okta.session().id });
    await call('/strict', token).expect(200);
    const first = seen[0];
    // 29.96 s after the client saw the first call: the answer is still fresh and no call is due.
    clock.set(first + 29_960);
    await call('/strict', token).expect(200);
    expect(seen).toHaveLength(1);
    // Past the TTL, the next call goes out, cacheTtl or more after the first as the client saw it.
    clock.set(first + 30_001);
    await call('/strict', token).expect(200);
    await waitFor(() => seen.length === 2);
    expect(seen[1] - seen[0]).toBeGreaterThanOrEqual(30_000);
  });

  test('a due renewal is started by a request for any session, and only for an answer used in the last half of its TTL', async () => {
    setup({}, { cacheTtl: 30 });
    // Each answer takes 100 ms of the guard's clock to arrive: the renewal window.
    const asked = watchOkta(okta, SESSIONS_PATH, clock, () => 0.1);
    const [busy, idle, other] = [okta.session(), okta.session(), okta.session()];
    const t0 = clock.now();
    await call('/strict', okta.token({ sid: busy.id })).expect(200);
    await call('/strict', okta.token({ sid: idle.id })).expect(200);
    clock.set(t0 + 5_000);
    await call('/strict', okta.token({ sid: other.id })).expect(200);
    // busy is used again in the last half of its TTL; idle is not.
    clock.set(t0 + 20_000);
    await call('/strict', okta.token({ sid: busy.id })).expect(200);

    // Requests for another session, once busy's and idle's renewal windows have opened: busy is
    // renewed (30 s after its first call went out), idle is not.
    clock.set(t0 + 30_050);
    await call('/strict', okta.token({ sid: other.id })).expect(200);
    await waitFor(() => asked.length === 4);
    clock.set(t0 + 30_160);
    await call('/strict', okta.token({ sid: other.id })).expect(200);
    expect(asked).toEqual([
      [busy.id, t0],
      [idle.id, t0 + 100],
      [other.id, t0 + 5_000],
      [busy.id, t0 + 30_050],
    ]);
    // idle, past its TTL, is asked when a request needs it, and that request waits for the answer.
    okta.endSession(idle.id);
    clock.set(t0 + 31_000);
    const refused = await call('/strict', okta.token({ sid: idle.id }));
    expect(refused.status).toBe(401);
    expect(asked.map(([sid]) => sid)).toEqual([busy.id, idle.id, other.id, busy.id, idle.id]);
  });

  test('a call made ahead of the TTL that fails changes nothing until the TTL ends, then stale-if-error applies', async () => {
    setup({}, { cacheTtl: 30, staleIfError: 60, retryAfter: 5 });
    const token = okta.token({ sid: okta.session().id });
    watchOkta(okta, SESSIONS_PATH, clock, (_nth, overall) => (overall === 1 ? 1 : 0));
    await call('/strict', token).expect(200);
    okta.fail('sessions', 500);
    clock.advance(29.5);
    await call('/strict', token).expect(200);
    await waitFor(() => events.some((e) => e.type === 'upstream.error'));
    expect(okta.calls.sessions).toBe(2);
    // Paused by the failure: no further call ahead of the TTL.
    await call('/strict', token).expect(200);
    expect(okta.calls.sessions).toBe(2);
    // Past the TTL and the pause, the failing API is asked once more and the cached answer serves stale.
    clock.advance(6);
    await call('/strict', token).expect(200);
    expect(okta.calls.sessions).toBe(3);
    expect(guard.stats().sessions?.staleServed).toBe(1);
  });

  test('429 from Okta: no calls before the reset, cached sessions keep passing, uncached ones get 503', async () => {
    setup({}, { cacheTtl: 10, staleIfError: 120 });
    const known = okta.token({ sid: okta.session().id });
    await call('/strict', known).expect(200);
    okta.rateLimit('sessions', { limit: 0, resetIn: 60 });
    clock.advance(11);
    await call('/strict', known).expect(200);
    expect(okta.calls.sessions).toBe(2);

    const stranger = okta.token({ sid: okta.session().id });
    const refused = await call('/strict', stranger);
    expect(refused.status).toBe(503);
    expect(Number(refused.headers['retry-after'])).toBeGreaterThanOrEqual(48);
    expect(Number(refused.headers['retry-after'])).toBeLessThanOrEqual(60);
    await call('/strict', known).expect(200);
    expect(okta.calls.sessions).toBe(2);

    clock.advance(61);
    okta.rateLimit('sessions', { limit: 100, resetIn: 60 });
    await call('/strict', stranger).expect(200);
    expect(okta.calls.sessions).toBe(3);
  });

  test('a response with no calls remaining pauses calls until the reset too', async () => {
    setup();
    okta.rateLimit('sessions', { limit: 1, resetIn: 30 });
    await call('/strict', okta.token({ sid: okta.session().id })).expect(200);
    await call('/strict', okta.token({ sid: okta.session().id })).expect(503);
    expect(okta.calls.sessions).toBe(1);
    expect(guard.stats().sessions?.pausedFor).toBeGreaterThan(0);
  });

  test.each([
    ['down', 'down' as const],
    ['slow', 'slow' as const],
    ['answering 500', 500],
    ['answering garbage', 'garbage' as const],
  ])('Sessions API %s: fail-closed answers 503 with Retry-After, fail-open lets it through, neither hangs', async (_mode, mode) => {
    setup();
    okta.fail('sessions', mode, { delay: 3000 });
    const started = Date.now();
    const closed = await call('/strict', okta.token({ sid: okta.session().id }));
    expect(closed.status).toBe(503);
    expect(closed.headers['retry-after']).toMatch(/^\d+$/);
    expect(closed.headers['www-authenticate']).toBeUndefined();
    const open = await call('/strict-open', okta.token({ sid: okta.session().id }));
    expect(open.status).toBe(200);
    expect(Date.now() - started).toBeLessThan(2000);
    expect(events).toContainEqual(expect.objectContaining({ type: 'fail-open', service: 'sessions', code: 'ERR_SESSIONS_UNAVAILABLE', subject: 'alice@example.com' }));
    expect(events).toContainEqual(expect.objectContaining({ type: 'upstream.error', service: 'sessions' }));
  });

  test('a cached passing answer serves while the API is down, for staleIfError at most', async () => {
    setup({}, { cacheTtl: 10, staleIfError: 60, retryAfter: 1 });
    const token = okta.token({ sid: okta.session().id });
    await call('/strict', token).expect(200);
    okta.fail('sessions', 'down');
    clock.advance(30);
    await call('/strict', token).expect(200);
    clock.advance(41);
    await call('/strict', token).expect(503);
    expect(guard.stats().sessions?.staleServed).toBe(1);
  });

  test('bad Sessions API credentials are an upstream failure that says so, never a 401 for the caller', async () => {
    setup({}, { apiToken: 'wrong' });
    const res = await call('/strict', okta.token({ sid: okta.session().id }));
    expect(res.status).toBe(503);
    expect(events).toContainEqual(expect.objectContaining({ type: 'upstream.error', message: expect.stringMatching(/check the sessions credentials/) }));
  });

  test('the guard-wide policy makes every route strict; a route can opt out', async () => {
    guard = createGuard({ issuer: okta.issuer, audience: okta.audience, clock: () => clock.now(), sessions: { apiToken: okta.apiToken }, policy: { session: 'strict' } });
    app = makeApp(guard, { '/default': undefined, '/opted-out': { session: 'off' } });
    const session = okta.session();
    const token = okta.token({ sid: session.id });
    okta.endSession(session.id);
    await call('/default', token).expect(401);
    await call('/opted-out', token).expect(200);
  });
});

describe('renewals never outlive what they renew', () => {
  let clock: ReturnType<typeof fakeClock>;
  let okta: MockOkta;
  let guard: Guard;
  const strict = { session: 'strict' as const };

  /** A guard whose first Sessions API answer for each session takes 200 ms of its clock (the renewal window). */
  function setup(sessions: GuardOptions['sessions'] = {}) {
    clock = fakeClock();
    okta = mockOkta({ clock: () => clock.now() });
    guard = createGuard({ issuer: okta.issuer, audience: okta.audience, clock: () => clock.now(), sessions: { apiToken: okta.apiToken, cacheTtl: 30, timeout: 2, ...sessions } });
    watchOkta(okta, SESSIONS_PATH, clock, (nth) => (nth === 1 ? 0.2 : 0));
  }
  afterEach(async () => {
    await guard.close();
    okta.close();
  });

  test('a session revoked while its renewal is in flight is not cached again by that renewal', async () => {
    setup();
    const session = okta.session();
    const t0 = clock.now();
    await guard.verifyToken(okta.token({ sid: session.id }), strict);
    okta.fail('sessions', 'slow', { delay: 300 });
    clock.set(t0 + 30_050);
    await guard.verifyToken(okta.token({ sid: session.id }), strict);
    await waitFor(() => okta.calls.sessions === 2);
    await guard.revoke('sid', session.id);
    expect(guard.stats().sessions?.size).toBe(0);
    // The renewal answers ACTIVE after the revocation: it must not put the session back.
    await new Promise((resolve) => setTimeout(resolve, 450));
    expect(guard.stats().sessions?.size).toBe(0);
  });

  test('no renewal while calls are paused by a 429 for another session, nor for an answer the cache evicted', async () => {
    setup({ cacheMax: 1 });
    const [first, second] = [okta.session(), okta.session()];
    const t0 = clock.now();
    await guard.verifyToken(okta.token({ sid: first.id }), strict);
    clock.set(t0 + 10_000);
    await guard.verifyToken(okta.token({ sid: second.id }), strict); // evicts first (cacheMax 1)
    clock.set(t0 + 30_100);
    // first's renewal time has passed, but the cache no longer holds it: no call.
    await guard.verifyToken(okta.token({ sid: second.id }), strict);
    expect(okta.calls.sessions).toBe(2);

    // second's renewal time comes while a 429 (for anyone) has paused calls: no call either.
    okta.rateLimit('sessions', { limit: 0, resetIn: 60 });
    await expect(guard.verifyToken(okta.token({ sid: okta.session().id }), strict)).rejects.toMatchObject({ status: 503 });
    expect(okta.calls.sessions).toBe(3);
    clock.set(t0 + 40_150);
    await guard.verifyToken(okta.token({ sid: second.id }), strict);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(okta.calls.sessions).toBe(3);
  });
});

describe('Okta API access through OAuth 2.0 client credentials', () => {
  test('private_key_jwt gets an okta.sessions.read token once, and the Sessions API is called with it', async () => {
    const okta = mockOkta();
    const serviceKey = createKeyPair('RS256');
    okta.trustClientKey(serviceKey.publicKey);
    const guard = createGuard({
      issuer: okta.issuer,
      audience: okta.audience,
      sessions: { client: { clientId: '0oa-service', privateKey: serviceKey.privateKey, keyId: 'svc-1' }, cacheTtl: 0 },
    });
    for (let i = 0; i < 3; i++) await guard.verifyToken(okta.token({ sid: okta.session().id }), { session: 'strict' });
    expect(okta.calls).toMatchObject({ token: 1, sessions: 3 });
    const tokenRequest = okta.requests.find((r) => r.endpoint === 'token')!;
    const form = new URLSearchParams(tokenRequest.body);
    expect(form.get('grant_type')).toBe('client_credentials');
    expect(form.get('scope')).toBe('okta.sessions.read');
    const assertion = JSON.parse(Buffer.from(form.get('client_assertion')!.split('.')[1], 'base64url').toString());
    expect(assertion).toMatchObject({ iss: '0oa-service', sub: '0oa-service', aud: `${new URL(okta.issuer).origin}/oauth2/v1/token` });
    expect(okta.requests.filter((r) => r.endpoint === 'sessions').every((r) => /^Bearer /.test(String(r.headers.authorization)))).toBe(true);
    await guard.close();
    okta.close();
  });

  test('a session check on a guard without the sessions option is refused when the route is mounted', () => {
    const guard = createGuard({ issuer: 'https://example.okta.com/oauth2/default', audience: 'api://default' });
    expect(() => guard.compile({ session: 'strict' })).toThrow(/no "sessions" option/);
    expect(() => guard.compile({ introspect: true })).toThrow(/no "introspection" option/);
    expect(() => createGuard({ issuer: 'https://example.okta.com/oauth2/default', audience: 'a', sessions: {} })).toThrow(/exactly one of "apiToken"/);
  });
});
