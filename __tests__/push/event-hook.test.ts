import request from 'supertest';
import { createGuard, memoryRevocationStore, type Guard, type GuardOptions, type RevocationStore, type TokengateEvent } from 'tokengate';
import { mockOkta, type MockOkta } from 'tokengate/testing';
import { fakeClock, waitFor } from '../helpers';
import { listen, PUSH_APPS, type PushRoutes } from './apps';

const SECRET = 'hook-secret-2b7f';

let clock: ReturnType<typeof fakeClock>;
let okta: MockOkta;
let events: TokengateEvent[];
const cleanup: Array<() => Promise<void> | void> = [];

beforeEach(() => {
  clock = fakeClock();
  events = [];
  okta = mockOkta({ clock: () => clock.now() });
  cleanup.push(() => okta.close());
});
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

function makeGuard(extra: Partial<GuardOptions> = {}): Guard {
  const guard = createGuard({ issuer: okta.issuer, audience: okta.audience, clock: () => clock.now(), onEvent: (e) => events.push(e), ...extra });
  cleanup.push(() => guard.close());
  return guard;
}

/** A delivery as Okta sends it, with one System Log event. */
const delivery = (event: Record<string, unknown>) => ({
  eventType: 'com.okta.event_hook',
  eventTypeVersion: '1.0',
  eventId: 'b5a188b9-5ece-4636-b041-482ffda96311',
  data: { events: [{ uuid: 'f790999f-fe87-467a-9880-6982a583986c', published: new Date(clock.now()).toISOString(), outcome: { result: 'SUCCESS' }, ...event }] },
});
const me = (url: string, token: string) => request(url).get('/api/me').set('Authorization', `Bearer ${token}`);
const post = (url: string, body: unknown, secret = SECRET) => request(url).post('/okta/events').set('Authorization', secret).set('Content-Type', 'application/json').send(typeof body === 'string' ? body : JSON.stringify(body));

describe.each(PUSH_APPS)('%s: Okta Event Hook receiver', (_name, makeApp) => {
  const serve = async (guard: Guard, routes: PushRoutes = { hook: { secret: SECRET } }) => {
    const server = await listen(makeApp(guard, routes));
    cleanup.push(() => server.close());
    return server;
  };

  test('the one-time verification GET is answered with the challenge, only with the secret', async () => {
    const server = await serve(makeGuard());
    expect(await okta.push.verifyEventHook(okta.push.eventHook({ url: `${server.url}/okta/events`, secret: SECRET }))).toBe(true);
    expect(await okta.push.verifyEventHook(okta.push.eventHook({ url: `${server.url}/okta/events`, secret: 'wrong' }))).toBe(false);
    const res = await request(server.url).get('/okta/events').set('Authorization', SECRET).set('X-Okta-Verification-Challenge', 'abc123');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ verification: 'abc123' });
    expect((await request(server.url).get('/okta/events').set('Authorization', SECRET)).status).toBe(400);
  });

  test('okta.endSession() delivers user.session.end: that session\'s tokens get 401, the user\'s other sessions keep working', async () => {
    const server = await serve(makeGuard());
    okta.push.eventHook({ url: `${server.url}/okta/events`, secret: SECRET });
    const ended = okta.session();
    const kept = okta.session();
    const token = okta.token({ sid: ended.id });
    await me(server.url, token).expect(200);
    okta.endSession(ended.id);
    await okta.push.settle();
    expect(okta.push.deliveries).toEqual([{ kind: 'event-hook', url: `${server.url}/okta/events`, event: 'user.session.end', attempt: 1, status: 200 }]);
    const res = await me(server.url, token);
    expect(res.status).toBe(401);
    expect(res.body.code).toBe('ERR_TOKEN_REVOKED');
    await me(server.url, okta.token({ sid: kept.id })).expect(200);
  });

  test('user.lifecycle.deactivate, suspend and user.account.lock refuse the user\'s tokens, by Okta user id (uid) and by login (sub)', async () => {
    const server = await serve(makeGuard());
    okta.push.eventHook({ url: `${server.url}/okta/events`, secret: SECRET });
    const users = [
      ['user.lifecycle.deactivate', '00ucarol', 'carol@example.com'],
      ['user.lifecycle.suspend', '00udave', 'dave@example.com'],
      ['user.account.lock', '00uerin', 'erin@example.com'],
    ];
    const byUid = users.map(([, uid]) => okta.token({ uid, sub: 'someone@example.com' }));
    const byLogin = users.map(([, , login]) => okta.token({ uid: undefined, sub: login }));
    for (const [type, userId, login] of users) okta.push.userEvent(type, { userId, login });
    await okta.push.settle();
    for (const token of [...byUid, ...byLogin]) expect((await me(server.url, token)).body.code).toBe('ERR_TOKEN_REVOKED');
    await me(server.url, okta.token({ uid: '00ufrank', sub: 'frank@example.com' })).expect(200);
  });

  test('the same event delivered twice gets 200 both times and has one effect; a user signing in between keeps access', async () => {
    const server = await serve(makeGuard());
    const body = delivery({ eventType: 'user.lifecycle.suspend', target: [{ id: '00ucarol', type: 'User', alternateId: 'carol@example.com' }] });
    const before = okta.token({ uid: '00ucarol', sub: 'carol@example.com' });
    await post(server.url, body).expect(200);
    clock.advance(60);
    const after = okta.token({ uid: '00ucarol', sub: 'carol@example.com' });
    await post(server.url, body).expect(200);
    expect((await me(server.url, before)).body.code).toBe('ERR_TOKEN_REVOKED');
    await me(server.url, after).expect(200);
    expect(events.filter((e) => e.type === 'push.received').map((e) => (e as { outcome: string }).outcome)).toEqual(['applied', 'duplicate']);
  });

  test('with okta.push.duplicate(), every copy gets 200', async () => {
    const server = await serve(makeGuard());
    okta.push.eventHook({ url: `${server.url}/okta/events`, secret: SECRET });
    okta.push.duplicate(2);
    okta.endSession(okta.session().id);
    await okta.push.settle();
    expect(okta.push.deliveries.map((d) => d.status)).toEqual([200, 200]);
  });

  test('events the receiver does not act on, and failed outcomes, are acknowledged and ignored', async () => {
    const server = await serve(makeGuard());
    const token = okta.token();
    await post(server.url, delivery({ eventType: 'user.session.start', authenticationContext: { externalSessionId: 'x' } })).expect(200);
    await post(server.url, delivery({ eventType: 'user.lifecycle.deactivate', outcome: { result: 'FAILURE' }, target: [{ id: '00u1a2b3c4d5e6f7g8h9', type: 'User' }] })).expect(200);
    await post(server.url, delivery({ eventType: 'user.session.end', authenticationContext: { externalSessionId: 'unknown' } })).expect(200);
    await me(server.url, token).expect(200);
  });

  test('bad requests get 400, 401, 405 or 413 and change nothing', async () => {
    const server = await serve(makeGuard());
    const token = okta.token();
    const good = delivery({ eventType: 'user.lifecycle.deactivate', target: [{ id: '00u1a2b3c4d5e6f7g8h9', type: 'User' }] });
    expect((await post(server.url, good, 'wrong secret')).status).toBe(401);
    expect((await request(server.url).post('/okta/events').set('Content-Type', 'application/json').send(JSON.stringify(good))).status).toBe(401);
    expect((await post(server.url, { data: {} })).status).toBe(400);
    expect((await post(server.url, { data: { events: [{ eventType: 'user.session.end' }] } })).status).toBe(400);
    expect((await post(server.url, { data: { events: [{ uuid: 'u', eventType: 'user.session.end', published: 'yesterday' }] } })).status).toBe(400);
    expect((await post(server.url, `{"data": {"events": [${'{},'.repeat(400_000)}{}]}}`)).status).toBe(413);
    const put = await request(server.url).put('/okta/events').set('Authorization', SECRET);
    expect(put.status).toBe(405);
    expect(put.headers.allow).toBe('GET, POST');
    await me(server.url, token).expect(200);
    expect(events.filter((e) => e.type === 'push.refused').length).toBeGreaterThanOrEqual(6);
  });

  test('a body that is not JSON gets 400', async () => {
    const server = await serve(makeGuard());
    const res = await post(server.url, '{"data": ');
    expect(res.status).toBe(400);
  });

  test('a shared store that does not take the entry is a 503 with Retry-After; Okta\'s retry then applies it', async () => {
    const shared = memoryRevocationStore(() => clock.now());
    let down = false;
    const store: RevocationStore = { ...shared, add: (entry) => (down ? Promise.reject(new Error('connect ECONNREFUSED')) : shared.add(entry)) };
    const guard = makeGuard({ revocation: { store } });
    const server = await serve(guard);
    const body = delivery({ eventType: 'user.session.end', authenticationContext: { externalSessionId: '102abc' } });
    down = true;
    const res = await post(server.url, body);
    expect(res.status).toBe(503);
    expect(res.headers['retry-after']).toBe('1');
    expect(guard.stats().revocation.unwritten).toBe(1);
    down = false;
    // The entry was queued meanwhile, and lands once the store takes writes again; the retry is then applied at once.
    await waitFor(() => guard.stats().revocation.unwritten === 0);
    await post(server.url, body).expect(200);
    expect(events.filter((e) => e.type === 'push.received').map((e) => (e as { outcome: string }).outcome)).toEqual(['applied']);
  });

  test('a custom secret header is read instead of Authorization', async () => {
    const server = await serve(makeGuard(), { hook: { secret: SECRET, header: 'X-Hook-Secret' } });
    okta.push.eventHook({ url: `${server.url}/okta/events`, secret: SECRET, header: 'X-Hook-Secret' });
    const token = okta.token({ sid: 'sess-1' });
    okta.push.userEvent('user.account.lock', { userId: '00u1a2b3c4d5e6f7g8h9', login: 'alice@example.com' });
    await okta.push.settle();
    expect(okta.push.deliveries[0].status).toBe(200);
    expect((await me(server.url, token)).body.code).toBe('ERR_TOKEN_REVOKED');
  });
});

test('oktaEventHook() validates its options at mount', () => {
  const guard = createGuard({ issuer: 'https://example.okta.com/oauth2/default', audience: 'api://default' });
  expect(() => guard.oktaEventHook({} as never)).toThrow(/"oktaEventHook.secret" is required/);
  expect(() => guard.oktaEventHook({ secret: 's', header: 'bad header' })).toThrow(/"oktaEventHook.header"/);
  expect(() => guard.oktaEventHook({ secret: 's', maxbytes: 1 } as never)).toThrow(/unknown option "oktaEventHook.maxbytes"; did you mean "oktaEventHook.maxBytes"/);
  return guard.close();
});
