import request from 'supertest';
import { createGuard, memoryRevocationStore, type Guard, type GuardOptions, type TokengateEvent } from 'tokengate';
import { mockOkta, type MockOkta } from 'tokengate/testing';
import { fakeClock } from '../helpers';
import { listen, PUSH_APPS, type PushRoutes } from './apps';

const SESSION_REVOKED = 'https://schemas.openid.net/secevent/caep/event-type/session-revoked';
const CREDENTIAL_CHANGE = 'https://schemas.openid.net/secevent/caep/event-type/credential-change';
const VERIFICATION = 'https://schemas.openid.net/secevent/ssf/event-type/verification';
const STREAM_UPDATED = 'https://schemas.openid.net/secevent/ssf/event-type/stream-updated';
const AUDIENCE = 'https://api.example.com/ssf';
const USER_ID = '00u1a2b3c4d5e6f7g8h9';

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

/** A SET as Okta's transmitter sends session-revoked for a user (`iss_sub` of the org, the user id), with `claims` overriding. */
const revokedUser = (claims: Record<string, unknown> = {}, header?: Record<string, unknown>) =>
  okta.push.securityEventToken({ aud: AUDIENCE, events: { [SESSION_REVOKED]: { subject: { user: { format: 'iss_sub', iss: okta.orgUrl, sub: USER_ID } }, event_timestamp: clock.now() } }, ...claims }, header);

const me = (app: Parameters<typeof request>[0], token: string) => request(app).get('/api/me').set('Authorization', `Bearer ${token}`);
const push = (app: Parameters<typeof request>[0], set: string, type = 'application/secevent+jwt') => request(app).post('/ssf').set('Content-Type', type).send(set);

describe.each(PUSH_APPS)('%s: SSF receiver', (_name, makeApp) => {
  const serve = async (guard: Guard, routes: PushRoutes = { ssf: { audience: AUDIENCE } }, strict = false) => {
    const server = await listen(makeApp(guard, routes, strict));
    cleanup.push(() => server.close());
    return server;
  };

  test('okta.endSession() pushes session-revoked as Okta sends it: the user\'s tokens issued before it get 401 on every instance, later ones pass', async () => {
    const store = memoryRevocationStore(() => clock.now());
    const other = makeGuard({ revocation: { store } });
    const server = await serve(makeGuard({ revocation: { store } }));
    const otherApp = await serve(other, {});
    okta.push.stream({ url: `${server.url}/ssf`, audience: AUDIENCE });
    const session = okta.session();
    const token = okta.token({ sid: session.id });
    await me(server.url, token).expect(200);
    okta.endSession(session.id);
    await okta.push.settle();
    expect(okta.push.deliveries).toEqual([{ kind: 'ssf', url: `${server.url}/ssf`, event: SESSION_REVOKED, attempt: 1, status: 202 }]);
    // Okta names the user only (its id, matched to the uid claim), so every token of the user issued before the end goes.
    for (const url of [server.url, otherApp.url]) {
      const res = await me(url, token);
      expect(res.status).toBe(401);
      expect(res.body.code).toBe('ERR_TOKEN_REVOKED');
    }
    await me(server.url, okta.token({ sub: 'bob@example.com', uid: '00ubob' })).expect(200);
    clock.advance(31);
    await me(server.url, okta.token()).expect(200);
    expect(events).toContainEqual({ type: 'push.received', receiver: 'ssf', event: SESSION_REVOKED, outcome: 'applied' });
  });

  test('an SSF 1.0 SET naming the session (complex sub_id) refuses that session\'s tokens only', async () => {
    const server = await serve(makeGuard());
    okta.push.stream({ url: `${server.url}/ssf`, audience: AUDIENCE, shape: 'ssf' });
    const ended = okta.session();
    const kept = okta.session();
    const endedToken = okta.token({ sid: ended.id });
    okta.endSession(ended.id);
    await okta.push.settle();
    expect((await me(server.url, endedToken)).body.code).toBe('ERR_TOKEN_REVOKED');
    await me(server.url, okta.token({ sid: kept.id })).expect(200);
  });

  test('a stream made through the management API is verified end to end: the verification SET gets 202 and changes nothing', async () => {
    const server = await serve(makeGuard());
    const headers = { authorization: `SSWS ${okta.apiToken}`, 'content-type': 'application/json' };
    const config = (await (await fetch(`${okta.orgUrl}/.well-known/ssf-configuration`)).json()) as Record<string, string>;
    expect(config).toMatchObject({ issuer: okta.orgUrl, jwks_uri: `${okta.orgUrl}/oauth2/v1/keys`, delivery_methods_supported: ['urn:ietf:rfc:8935'] });
    const created = await fetch(config.configuration_endpoint, { method: 'POST', headers, body: JSON.stringify({ delivery: { method: 'urn:ietf:rfc:8935', endpoint_url: `${server.url}/ssf` }, events_requested: [SESSION_REVOKED] }) });
    expect(created.status).toBe(201);
    const stream = (await created.json()) as Record<string, string>;
    expect(stream).toMatchObject({ iss: okta.orgUrl, aud: `${server.url}/ssf`, events_delivered: [SESSION_REVOKED] });
    expect((await fetch(config.configuration_endpoint, { method: 'POST', body: '{}' })).status).toBe(401);
    const verify = await fetch(config.verification_endpoint, { method: 'POST', headers, body: JSON.stringify({ stream_id: stream.stream_id, state: 'abc' }) });
    expect(verify.status).toBe(204);
    await okta.push.settle();
    // The stream's aud is the receiver URL here: a receiver configured for another audience refuses it.
    expect(okta.push.deliveries).toEqual([{ kind: 'ssf', url: `${server.url}/ssf`, event: VERIFICATION, attempt: 1, status: 400 }]);
    const matching = await serve(makeGuard(), { ssf: { audience: [AUDIENCE, `${server.url}/ssf`] } });
    okta.push.stream({ url: `${matching.url}/ssf`, audience: `${server.url}/ssf` });
    await push(matching.url, okta.push.securityEventToken({ aud: `${server.url}/ssf`, sub_id: { format: 'opaque', id: stream.stream_id }, events: { [VERIFICATION]: { state: 'abc' } } })).expect(202);
    expect(events).toContainEqual({ type: 'push.received', receiver: 'ssf', event: VERIFICATION, outcome: 'ignored' });
    await me(matching.url, okta.token()).expect(200);
  });

  test('each bad SET gets the status and RFC 8935 code the spec names, and changes nothing', async () => {
    const server = await serve(makeGuard());
    const now = Math.floor(clock.now() / 1000);
    const cases: Array<[string, () => string, number, string, string?]> = [
      ['wrong typ', () => revokedUser({}, { typ: 'JWT' }), 400, 'invalid_request'],
      ['no typ', () => revokedUser({}, { typ: undefined }), 400, 'invalid_request'],
      ['wrong aud', () => revokedUser({ aud: 'https://other.example.com' }), 400, 'invalid_audience'],
      ['wrong iss', () => revokedUser({ iss: 'https://evil.example.com' }), 400, 'invalid_issuer'],
      ['stale iat', () => revokedUser({ iat: now - 400 }), 400, 'invalid_request'],
      ['iat in the future', () => revokedUser({ iat: now + 400 }), 400, 'invalid_request'],
      ['expired exp', () => revokedUser({ exp: now - 100 }), 400, 'invalid_request'],
      ['no jti', () => revokedUser({ jti: undefined }), 400, 'invalid_request'],
      ['unknown event type', () => okta.push.securityEventToken({ aud: AUDIENCE, events: { 'https://schemas.openid.net/secevent/risc/event-type/account-disabled': { subject: { format: 'email', email: 'alice@example.com' } } } }), 400, 'invalid_request'],
      ['two events', () => revokedUser({ events: { [SESSION_REVOKED]: { subject: { format: 'opaque', id: 'x' } }, [CREDENTIAL_CHANGE]: {} } }), 400, 'invalid_request'],
      ['unmappable subject', () => revokedUser({ events: { [SESSION_REVOKED]: { subject: { format: 'phone_number', phone_number: '+1 206 555 0123' } } } }), 400, 'invalid_request'],
      ['another issuer\'s user', () => revokedUser({ events: { [SESSION_REVOKED]: { subject: { format: 'iss_sub', iss: 'https://other.example.com', sub: 'x' } } } }), 400, 'invalid_request'],
      ['not a JWS', () => 'not.a.set.at-all', 400, 'invalid_request'],
      ['encrypted', () => 'a.b.c.d.e', 400, 'invalid_request'],
      ['unknown kid', () => revokedUser({}, { kid: 'nobody' }), 400, 'invalid_key'],
      ['alg outside the allow-list', () => `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'secevent+jwt' })).toString('base64url')}.${revokedUser().split('.')[1]}.`, 400, 'invalid_key'],
      ['bad signature', () => { const [h, p, s] = revokedUser().split('.'); return `${h}.${p}.${s.slice(0, -4)}${s.endsWith('AAAA') ? 'BBBB' : 'AAAA'}`; }, 400, 'authentication_failed'],
      ['wrong content type', () => revokedUser(), 415, 'invalid_request', 'text/plain'],
      ['oversized body', () => 'x'.repeat(70_000), 413, 'invalid_request'],
    ];
    for (const [name, make, status, err, type] of cases) {
      const res = await push(server.url, make(), type);
      expect([name, res.status, res.body.err]).toEqual([name, status, err]);
      expect(typeof res.body.description).toBe('string');
    }
    const get = await request(server.url).get('/ssf');
    expect(get.status).toBe(404);
    await me(server.url, okta.token()).expect(200);
    expect(events.filter((e) => e.type === 'push.refused')).toHaveLength(cases.length);
  });

  test('a SET delivered twice is acknowledged twice and applied once; its entry is dated by the event, so the user signing in between keeps access', async () => {
    const server = await serve(makeGuard());
    const set = revokedUser();
    const before = okta.token();
    await push(server.url, set).expect(202);
    clock.advance(60);
    const after = okta.token();
    await push(server.url, set).expect(202);
    expect((await me(server.url, before)).body.code).toBe('ERR_TOKEN_REVOKED');
    await me(server.url, after).expect(200);
    expect(events.filter((e) => e.type === 'push.received').map((e) => (e as { outcome: string }).outcome)).toEqual(['applied', 'duplicate']);
  });

  test('with okta.push.duplicate(), every copy gets 202 and the effect is the same', async () => {
    const server = await serve(makeGuard());
    okta.push.stream({ url: `${server.url}/ssf`, audience: AUDIENCE });
    okta.push.duplicate(3);
    const session = okta.session();
    const token = okta.token({ sid: session.id });
    okta.endSession(session.id);
    await okta.push.settle();
    expect(okta.push.deliveries.map((d) => d.status)).toEqual([202, 202, 202]);
    expect((await me(server.url, token)).body.code).toBe('ERR_TOKEN_REVOKED');
  });

  test('a delivery without the stream\'s Authorization header is refused with authentication_failed', async () => {
    const server = await serve(makeGuard(), { ssf: { audience: AUDIENCE, authorization: 'Bearer s3cret' } });
    const res = await push(server.url, revokedUser());
    expect(res.status).toBe(400);
    expect(res.body.err).toBe('authentication_failed');
    await me(server.url, okta.token()).expect(200);
    okta.push.stream({ url: `${server.url}/ssf`, audience: AUDIENCE, authorizationHeader: 'Bearer s3cret' });
    const session = okta.session();
    okta.endSession(session.id);
    await okta.push.settle();
    expect(okta.push.deliveries[0].status).toBe(202);
  });

  test('a transmitter whose keys cannot be had is a 503 with Retry-After, which the transmitter retries', async () => {
    const server = await serve(makeGuard({ keySet: { retryAfter: 0 } }));
    okta.fail('ssf', 'down');
    const res = await push(server.url, revokedUser());
    expect(res.status).toBe(503);
    expect(res.headers['retry-after']).toBeDefined();
    okta.recover('ssf');
    await push(server.url, revokedUser()).expect(202);
  });

  test('credential-change revokes the user by default; "ignore" and a function returning false leave the tokens working', async () => {
    const change = () => okta.push.securityEventToken({ aud: AUDIENCE, events: { [CREDENTIAL_CHANGE]: { subject: { format: 'iss_sub', iss: okta.orgUrl, sub: USER_ID }, credential_type: 'password', change_type: 'revoke', event_timestamp: clock.now() } } });
    const revoking = await serve(makeGuard());
    const token = okta.token();
    await push(revoking.url, change()).expect(202);
    expect((await me(revoking.url, token)).body.code).toBe('ERR_TOKEN_REVOKED');
    const seen: unknown[] = [];
    for (const credentialChange of ['ignore', (c: unknown) => (seen.push(c), false)] as const) {
      const server = await serve(makeGuard(), { ssf: { audience: AUDIENCE, credentialChange } });
      await push(server.url, change()).expect(202);
      await me(server.url, token).expect(200);
    }
    expect(seen).toEqual([{ credentialType: 'password', changeType: 'revoke', subject: { format: 'iss_sub', iss: okta.orgUrl, sub: USER_ID } }]);
  });

  test('an email subject revokes tokens whose sub is the email; a jwt_id subject one token', async () => {
    const server = await serve(makeGuard());
    const bob = okta.token({ sub: 'bob@example.com', uid: '00ubob' });
    const alice = okta.token();
    await push(server.url, revokedUser({ sub_id: { format: 'email', email: 'bob@example.com' }, events: { [SESSION_REVOKED]: {} } })).expect(202);
    expect((await me(server.url, bob)).body.code).toBe('ERR_TOKEN_REVOKED');
    await me(server.url, alice).expect(200);
    const jti = JSON.parse(Buffer.from(alice.split('.')[1], 'base64url').toString()).jti;
    await push(server.url, revokedUser({ sub_id: { format: 'jwt_id', iss: okta.issuer, jti }, events: { [SESSION_REVOKED]: {} } })).expect(202);
    expect((await me(server.url, alice)).body.code).toBe('ERR_TOKEN_REVOKED');
    await me(server.url, okta.token()).expect(200);
  });

  test('a stream-updated event is acknowledged; an invalid one refused', async () => {
    const server = await serve(makeGuard());
    const updated = (status: unknown) => okta.push.securityEventToken({ aud: AUDIENCE, sub_id: { format: 'opaque', id: 'stream' }, events: { [STREAM_UPDATED]: { status } } });
    await push(server.url, updated('paused')).expect(202);
    expect((await push(server.url, updated('sleepy'))).body.err).toBe('invalid_request');
  });
});

test('ssfReceiver() validates its options at mount, naming the one at fault', () => {
  const guard = createGuard({ issuer: 'https://example.okta.com/oauth2/default', audience: 'api://default' });
  expect(() => guard.ssfReceiver({} as never)).toThrow(/"ssfReceiver.audience" is required/);
  expect(() => guard.ssfReceiver({ audience: 'x', transmiter: 'y' } as never)).toThrow(/unknown option "ssfReceiver.transmiter"; did you mean "ssfReceiver.transmitter"/);
  expect(() => guard.ssfReceiver({ audience: 'x', transmitter: 'http://example.com' })).toThrow(/"ssfReceiver.transmitter" must use https/);
  expect(() => guard.ssfReceiver({ audience: 'x', algorithms: ['HS256' as never] })).toThrow(/"ssfReceiver.algorithms"/);
  expect(() => guard.ssfReceiver({ audience: 'x', credentialChange: 'maybe' as never })).toThrow(/"ssfReceiver.credentialChange"/);
  expect(() => guard.ssfReceiver({ audience: 'x', maxAge: 0 })).toThrow(/"ssfReceiver.maxAge"/);
  return guard.close();
});
