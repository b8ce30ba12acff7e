import { createHash } from 'node:crypto';
import { createGuard, type Guard, type GuardOptions, type TokengateEvent } from 'tokengate';
import { redisAnswerStore } from 'tokengate/redis';
import { mockOkta, type MockOkta } from 'tokengate/testing';
import { fakeClock, waitFor } from '../helpers';
import { CLIENT_KINDS, serverClient, type OpenClient } from './clients';
import { RedisServer } from './redis-server';

let redis: RedisServer;
let okta: MockOkta;
let clock: ReturnType<typeof fakeClock> | undefined;
const opened: Array<{ guard: Guard; client: OpenClient | undefined }> = [];

beforeAll(async () => {
  redis = await RedisServer.start();
});
afterAll(async () => {
  await redis.down();
});
afterEach(async () => {
  for (const { guard, client } of opened.splice(0)) {
    await guard.close();
    client?.close();
  }
  okta.close();
  clock = undefined;
});

const STRICT = { session: 'strict' } as const;
const now = () => (clock === undefined ? Date.now() : clock.now());

describe.each(CLIENT_KINDS)('%s', (kind) => {
  beforeEach(() => {
    redis.flush();
  });

  /** One service instance: its own Redis connection and guard, sharing Sessions API answers through the store unless `shared` is false. */
  async function instance({ shared = true, events = [] as TokengateEvent[], sessions = {} as Partial<NonNullable<GuardOptions['sessions']>>, extra = {} as Partial<GuardOptions> } = {}) {
    const client = shared ? await serverClient(kind, redis.port) : undefined;
    const store = client && redisAnswerStore(client.client, { timeout: 0.5, clock: now });
    const guard = createGuard({
      issuer: okta.issuer,
      audience: okta.audience,
      clock: now,
      onEvent: (event) => events.push(event),
      sessions: { apiToken: okta.apiToken, timeout: 1, ...(store && { store }), ...sessions },
      ...extra,
    });
    opened.push({ guard, client });
    await guard.ready();
    return guard;
  }
  const passes = (guard: Guard, token: string) => guard.verifyToken(token, STRICT).then(() => true);

  /** Steady traffic over `ttls` session TTLs: every 5 s of the clock, each instance checks every session; returns the Sessions API calls. */
  async function steadyTraffic(guards: Guard[], sessions: number, ttls: number): Promise<number> {
    const tokens = Array.from({ length: sessions }, () => okta.token({ sid: okta.session({ expiresIn: 7200 }).id }, { expiresIn: 7200 }));
    for (let t = 0; t < ttls * 30; t += 5) {
      for (const guard of guards) for (const token of tokens) expect(await passes(guard, token)).toBe(true);
      // Renewals run in the background: let them land before the clock moves on.
      await new Promise((resolve) => setTimeout(resolve, 30));
      clock!.advance(5);
    }
    return okta.calls.sessions;
  }

  test('N requests over two instances cost one Sessions API call per session per TTL, as one instance alone does', async () => {
    const SESSIONS = 5;
    const TTLS = 4;
    const figures: Record<string, number> = {};
    for (const mode of ['one instance', 'two instances, no store', 'two instances, shared store'] as const) {
      clock = fakeClock();
      okta = mockOkta({ clock: () => clock!.now() });
      const shared = mode === 'two instances, shared store';
      const guards = mode === 'one instance' ? [await instance({ shared: false })] : [await instance({ shared }), await instance({ shared })];
      figures[mode] = await steadyTraffic(guards, SESSIONS, TTLS);
      for (const { guard, client } of opened.splice(0)) {
        await guard.close();
        client?.close();
      }
      okta.close();
    }
    okta = mockOkta();
    console.log(`${kind}: Sessions API calls for ${SESSIONS} sessions over ${TTLS} TTLs: ${JSON.stringify(figures)}`);
    expect(figures['two instances, shared store']).toBe(figures['one instance']);
    expect(figures['one instance']).toBeLessThanOrEqual(SESSIONS * TTLS);
    expect(figures['two instances, no store']).toBe(2 * figures['one instance']);
  }, 60_000);

  test('concurrent first requests for one session on both instances make one call: the other instance waits for its answer', async () => {
    okta = mockOkta();
    okta.latency('sessions', 150);
    const [a, b] = [await instance(), await instance()];
    const token = okta.token({ sid: okta.session().id });
    const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => passes(i % 2 === 0 ? a : b, token)));
    expect(answers.every(Boolean)).toBe(true);
    expect(okta.calls.sessions).toBe(1);
    const stats = [a, b].map((guard) => guard.stats().sessions!.shared!);
    expect(stats.map((s) => s.leases).sort()).toEqual([0, 1]);
    expect(stats.reduce((sum, s) => sum + s.waits + s.hits, 0)).toBeGreaterThanOrEqual(1);
  });

  test('an ended session is shared too, and nothing in Redis names a session id', async () => {
    okta = mockOkta();
    const [a, b] = [await instance(), await instance()];
    const session = okta.session();
    okta.endSession(session.id);
    const token = okta.token({ sid: session.id });
    await expect(a.verifyToken(token, STRICT)).rejects.toMatchObject({ code: 'ERR_SESSION_ENDED' });
    await expect(b.verifyToken(token, STRICT)).rejects.toMatchObject({ code: 'ERR_SESSION_ENDED' });
    expect(okta.calls.sessions).toBe(1);
    const keys = redis.cli('--scan', '--pattern', '*');
    expect(keys).not.toContain(session.id);
    expect(keys).toMatch(/^tokengate:answer:sessions:[A-Za-z0-9_-]{43}$/m);
  });

  test('a failure of the instance holding the lease reaches the one waiting at once: 503, no second call', async () => {
    okta = mockOkta();
    const [a, b] = [await instance(), await instance()];
    okta.latency('sessions', 200);
    okta.fail('sessions', 500, { times: 1 });
    const token = okta.token({ sid: okta.session().id });
    const started = performance.now();
    const outcomes = await Promise.allSettled([a.verifyToken(token, STRICT), new Promise((resolve) => setTimeout(resolve, 50)).then(() => b.verifyToken(token, STRICT))]);
    expect(outcomes.map((o) => o.status)).toEqual(['rejected', 'rejected']);
    expect((outcomes[1] as PromiseRejectedResult).reason).toMatchObject({ status: 503, message: expect.stringMatching(/another instance/) });
    expect(performance.now() - started).toBeLessThan(1000);
    expect(okta.calls.sessions).toBe(1);
  });

  test('a lease whose holder never answers is waited for at most timeout + 1 s, then the instance asks Okta itself', async () => {
    okta = mockOkta();
    const a = await instance();
    const session = okta.session();
    const key = `sessions:${createHash('sha256').update(`${okta.orgUrl}\n${session.id}`).digest('base64url')}`;
    // An instance took the lease and died.
    redis.cli('SET', `tokengate:lease:${key}`, 'gone', 'PX', '60000');
    const started = performance.now();
    await expect(passes(a, okta.token({ sid: session.id }))).resolves.toBe(true);
    const waited = performance.now() - started;
    expect(waited).toBeGreaterThanOrEqual(1900);
    expect(waited).toBeLessThan(3000);
    expect(okta.calls.sessions).toBe(1);
    expect(a.stats().sessions!.shared).toMatchObject({ waits: 1, fallbacks: 1 });
  });

  test('a 429 seen by one instance pauses the other: it refuses new sessions at once, without calling', async () => {
    okta = mockOkta();
    const [a, b] = [await instance(), await instance()];
    okta.rateLimit('sessions', { limit: 1, resetIn: 60 });
    await expect(passes(a, okta.token({ sid: okta.session().id }))).resolves.toBe(true);
    const refused = await a.verifyToken(okta.token({ sid: okta.session().id }), STRICT).catch((e) => e);
    expect(refused).toMatchObject({ status: 503 });
    const calls = okta.calls.sessions;
    await waitFor(() => b.stats().sessions!.pausedFor > 0, 1000);
    const paused = await b.verifyToken(okta.token({ sid: okta.session().id }), STRICT).catch((e) => e);
    expect(paused).toMatchObject({ status: 503, code: 'ERR_SESSIONS_UNAVAILABLE' });
    expect(Number(paused.headers['Retry-After'])).toBeGreaterThan(50);
    expect(b.stats().sessions!.pausedFor).toBeGreaterThan(50_000);
    expect(okta.calls.sessions).toBe(calls);
    // An instance started during the pause learns it from the store.
    const c = await instance();
    expect(c.stats().sessions!.pausedFor).toBeGreaterThan(50_000);
  });

  test('Redis killed: both instances still answer with their own calls, none waits longer than the timeout, and sharing resumes once it is back', async () => {
    okta = mockOkta();
    const events: TokengateEvent[] = [];
    const [a, b] = [await instance({ events }), await instance()];
    const first = okta.token({ sid: okta.session().id });
    await passes(a, first);
    await redis.down();
    try {
      const tokens = Array.from({ length: 4 }, () => okta.token({ sid: okta.session().id }));
      const started = performance.now();
      for (const token of tokens) for (const guard of [a, b]) await expect(passes(guard, token)).resolves.toBe(true);
      // At most one request per instance could meet a store not yet known to be down: the store's deadline (0.5 s), not more.
      expect(performance.now() - started).toBeLessThan(1500);
      expect(okta.calls.sessions).toBe(1 + 2 * tokens.length);
      expect(a.stats().sessions!.shared).toMatchObject({ usable: false });
      expect(events).toContainEqual(expect.objectContaining({ type: 'liveness.shared', service: 'sessions', usable: false }));
    } finally {
      await redis.up();
    }
    // Left alone 5 s after it failed, then used again.
    const later = okta.token({ sid: okta.session().id });
    await waitFor(() => a.stats().sessions!.shared!.usable && b.stats().sessions!.shared!.usable, 12_000);
    const calls = okta.calls.sessions;
    await passes(a, later);
    await passes(b, later);
    expect(okta.calls.sessions).toBe(calls + 1);
    expect(events.filter((e) => e.type === 'liveness.shared').map((e) => (e as { usable: boolean }).usable)).toEqual([true, false, true]);
  }, 30_000);

  test('introspection answers are shared too, keyed by a hash of the token, and judged again by each guard', async () => {
    okta = mockOkta();
    const client = await serverClient(kind, redis.port);
    opened.push({ guard: createGuard({ issuer: okta.issuer, audience: okta.audience }), client });
    const make = (audience: string) => {
      const introspection = { client: { clientId: okta.clientId, clientSecret: okta.clientSecret }, opaque: true, store: redisAnswerStore(client.client) };
      const guard = createGuard({ issuer: okta.issuer, audience, introspection });
      opened.push({ guard, client: undefined });
      return guard;
    };
    const [a, b, other] = [make(okta.audience), make(okta.audience), make('api://another')];
    await Promise.all([a.ready(), b.ready(), other.ready()]);
    const token = okta.opaqueToken();
    await expect(a.verifyToken(token)).resolves.toBeDefined();
    await expect(b.verifyToken(token)).resolves.toBeDefined();
    expect(okta.calls.introspect).toBe(1);
    expect(redis.cli('--scan', '--pattern', '*')).not.toContain(token);
    expect(redis.cli('--scan', '--pattern', '*')).toMatch(/^tokengate:answer:introspection:[A-Za-z0-9_-]{43}$/m);
    // Another API's guard reads the same answer, and judges it against its own audience.
    await expect(other.verifyToken(token)).rejects.toMatchObject({ code: 'ERR_TOKEN_INACTIVE' });
    expect(okta.calls.introspect).toBe(1);
  });
});
