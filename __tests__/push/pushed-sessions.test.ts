import request from 'supertest';
import { createGuard, type Guard, type GuardOptions, type TokengateEvent } from 'tokengate';
import { mockOkta, type MockOkta } from 'tokengate/testing';
import { fakeClock } from '../helpers';
import { listen, PUSH_APPS } from './apps';

const AUDIENCE = 'https://api.example.com/ssf';
const STREAM_UPDATED = 'https://schemas.openid.net/secevent/ssf/event-type/stream-updated';

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

function makeGuard(sessions: Partial<NonNullable<GuardOptions['sessions']>> = {}): Guard {
  const guard = createGuard({
    issuer: okta.issuer,
    audience: okta.audience,
    clock: () => clock.now(),
    onEvent: (e) => events.push(e),
    sessions: { apiToken: okta.apiToken, pushed: true, cacheTtl: 1800, ...sessions },
  });
  cleanup.push(() => guard.close());
  return guard;
}

const strict = (url: string, token: string) => request(url).get('/api/strict').set('Authorization', `Bearer ${token}`);

describe.each(PUSH_APPS)('%s: sessions.pushed', (_name, makeApp) => {
  test('with a receiver mounted, a session is asked about once per cacheTtl, and its end arrives by push at once', async () => {
    const server = await listen(makeApp(makeGuard(), { ssf: { audience: AUDIENCE }, hook: { secret: 's' } }, true));
    cleanup.push(() => server.close());
    okta.push.eventHook({ url: `${server.url}/okta/events`, secret: 's' });
    const session = okta.session();
    const token = okta.token({ sid: session.id });
    await strict(server.url, token).expect(200);
    clock.advance(1000);
    await strict(server.url, token).expect(200);
    expect(okta.calls.sessions).toBe(1);
    okta.endSession(session.id);
    await okta.push.settle();
    const res = await strict(server.url, token);
    expect(res.status).toBe(401);
    expect(res.body.code).toBe('ERR_TOKEN_REVOKED');
    expect(okta.calls.sessions).toBe(1);
    expect(events.filter((e) => e.type === 'push.degraded')).toEqual([]);
  });

  test('a lost push is noticed by polling within cacheTtl: the backstop', async () => {
    const server = await listen(makeApp(makeGuard({ cacheTtl: 600 }), { hook: { secret: 's' } }, true));
    cleanup.push(() => server.close());
    okta.push.eventHook({ url: `${server.url}/okta/events`, secret: 's' });
    const session = okta.session();
    const token = okta.token({ sid: session.id });
    await strict(server.url, token).expect(200);
    okta.push.pause();
    okta.endSession(session.id);
    expect(okta.push.drop()).toBe(1);
    await strict(server.url, token).expect(200);
    clock.advance(601);
    const res = await strict(server.url, token);
    expect(res.status).toBe(401);
    expect(res.body.code).toBe('ERR_SESSION_ENDED');
  });

  test('a stream the transmitter pauses holds cacheTtl to 300 s again, and says so', async () => {
    const server = await listen(makeApp(makeGuard(), { ssf: { audience: AUDIENCE } }, true));
    cleanup.push(() => server.close());
    const paused = okta.push.securityEventToken({ aud: AUDIENCE, sub_id: { format: 'opaque', id: 'stream-1' }, events: { [STREAM_UPDATED]: { status: 'paused' } } });
    await request(server.url).post('/ssf').set('Content-Type', 'application/secevent+jwt').send(paused).expect(202);
    const token = okta.token({ sid: okta.session().id });
    await strict(server.url, token).expect(200);
    expect(events).toContainEqual({ type: 'push.degraded', reason: 'stream paused' });
    clock.advance(301);
    await strict(server.url, token).expect(200);
    expect(okta.calls.sessions).toBe(2);
  });
});

test('without a receiver mounted, a pushed guard caches for at most 300 s and says why, once', async () => {
  const guard = makeGuard();
  const token = okta.token({ sid: okta.session().id });
  await guard.verifyToken(token, { session: 'strict' });
  clock.advance(301);
  await guard.verifyToken(token, { session: 'strict' });
  expect(okta.calls.sessions).toBe(2);
  expect(events.filter((e) => e.type === 'push.degraded')).toEqual([{ type: 'push.degraded', reason: 'no receiver' }]);
  // Once a receiver is mounted, the long TTL applies to new answers.
  guard.oktaEventHook({ secret: 's' });
  clock.advance(301);
  await guard.verifyToken(token, { session: 'strict' });
  clock.advance(1000);
  await guard.verifyToken(token, { session: 'strict' });
  expect(okta.calls.sessions).toBe(3);
});

test('sessions.pushed is validated: a boolean, and what it allows cacheTtl to be', () => {
  const base = { issuer: 'https://example.okta.com/oauth2/default', audience: 'api://default' };
  expect(() => createGuard({ ...base, sessions: { apiToken: 't', cacheTtl: 1800 } })).toThrow(/"sessions.cacheTtl" over 300 s needs "sessions.pushed": true/);
  expect(() => createGuard({ ...base, sessions: { apiToken: 't', pushed: 'yes' as never } })).toThrow(/"sessions.pushed" must be a boolean/);
  expect(() => createGuard({ ...base, sessions: { apiToken: 't', pushed: true, cacheTtl: 3601 } })).toThrow(/"sessions.cacheTtl" must be a number of seconds from 0 to 3600/);
  expect(() => createGuard({ ...base, sessions: { apiToken: 't', cacheTtl: 5000 } })).toThrow(/"sessions.cacheTtl" must be a number of seconds from 0 to 300/);
  return Promise.all([createGuard({ ...base, sessions: { apiToken: 't', pushed: true } }).close(), createGuard({ ...base, sessions: { apiToken: 't', pushed: true, cacheTtl: 3600 } }).close()]);
});
