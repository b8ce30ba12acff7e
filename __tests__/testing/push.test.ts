import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mockOkta, startDevIssuer, type MockOkta } from 'tokengate/testing';

const decode = (token: string, part = 1) => JSON.parse(Buffer.from(token.split('.')[part], 'base64url').toString());

/** A receiver on 127.0.0.1 that records what it gets and answers with the statuses given, in turn (the last one repeats). */
async function receiver(statuses: number[] = [202]) {
  const received: Array<{ method: string; headers: IncomingMessage['headers']; body: string }> = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let body = '';
    req.on('data', (chunk) => (body += chunk));
    req.on('end', () => {
      received.push({ method: req.method!, headers: req.headers, body });
      res.statusCode = statuses[Math.min(received.length - 1, statuses.length - 1)];
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/in`;
  return { url, received, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

let okta: MockOkta;
beforeEach(() => {
  okta = mockOkta();
});
afterEach(() => okta.close());

test('the SSF transmitter publishes its configuration at the org URL and its own keys, apart from the authorization server\'s', async () => {
  const config = (await (await fetch(`${okta.orgUrl}/.well-known/ssf-configuration`)).json()) as Record<string, string>;
  expect(config).toEqual({
    spec_version: '1_0',
    issuer: okta.orgUrl,
    jwks_uri: `${okta.orgUrl}/oauth2/v1/keys`,
    delivery_methods_supported: ['urn:ietf:rfc:8935'],
    configuration_endpoint: `${okta.orgUrl}/api/v1/ssf/stream`,
    status_endpoint: `${okta.orgUrl}/api/v1/ssf/stream/status`,
    verification_endpoint: `${okta.orgUrl}/api/v1/ssf/stream/verification`,
    authorization_schemes: [{ spec_urn: 'urn:ietf:rfc:6749' }],
  });
  const keys = (await (await fetch(config.jwks_uri)).json()) as { keys: Array<{ kid: string }> };
  const set = okta.push.securityEventToken({ aud: 'x' });
  expect(decode(set, 0)).toEqual({ kid: keys.keys[0].kid, alg: 'RS256', typ: 'secevent+jwt' });
  expect(okta.kids).not.toContain(keys.keys[0].kid);
  expect(decode(set)).toMatchObject({ iss: okta.orgUrl, aud: 'x' });
  expect(okta.calls.ssf).toBe(2);
});

test('an org-authorization-server mock signs SETs with the org keys it publishes at /oauth2/v1/keys', () => {
  const org = mockOkta({ issuer: 'https://dev-424242.okta.com' });
  expect(decode(org.push.securityEventToken({}), 0).kid).toBe(org.kids[0]);
  org.close();
});

test('streams are listed by the management API, which wants the SSWS API token', async () => {
  okta.push.stream({ url: 'http://127.0.0.1:1/a', audience: 'api-a' });
  const listed: unknown = await (await fetch(`${okta.orgUrl}/api/v1/ssf/stream`, { headers: { authorization: `SSWS ${okta.apiToken}` } })).json();
  expect(listed).toEqual([expect.objectContaining({ iss: okta.orgUrl, aud: 'api-a', delivery: { method: 'urn:ietf:rfc:8935', endpoint_url: 'http://127.0.0.1:1/a' } })]);
  expect((await fetch(`${okta.orgUrl}/api/v1/ssf/stream`)).status).toBe(401);
  const bad = await fetch(`${okta.orgUrl}/api/v1/ssf/stream`, { method: 'POST', headers: { authorization: `SSWS ${okta.apiToken}` }, body: JSON.stringify({ delivery: { method: 'urn:ietf:rfc:8936' } }) });
  expect(bad.status).toBe(400);
});

test('endSession() pushes the SET as Okta documents it, and user.session.end to event hooks, each once', async () => {
  const ssf = await receiver([202]);
  const hooks = await receiver([200]);
  okta.push.stream({ url: ssf.url, audience: 'https://api.example.com/ssf', authorizationHeader: 'Bearer t' });
  okta.push.eventHook({ url: hooks.url, secret: 'hook-secret' });
  const session = okta.session({ userId: '00ualice', login: 'alice@example.com' });
  okta.endSession(session.id);
  await okta.push.settle();
  expect(ssf.received).toHaveLength(1);
  expect(ssf.received[0].headers).toMatchObject({ 'content-type': 'application/secevent+jwt', authorization: 'Bearer t' });
  const set = decode(ssf.received[0].body);
  expect(set).toMatchObject({ iss: okta.orgUrl, aud: 'https://api.example.com/ssf' });
  const event = set.events['https://schemas.openid.net/secevent/caep/event-type/session-revoked'];
  expect(event.subject).toEqual({ user: { format: 'iss_sub', iss: okta.orgUrl, sub: '00ualice' } });
  expect(event.event_timestamp).toBeGreaterThan(1e12);
  expect(hooks.received[0].headers).toMatchObject({ 'content-type': 'application/json', authorization: 'hook-secret' });
  const delivery = JSON.parse(hooks.received[0].body);
  expect(delivery.data.events[0]).toMatchObject({ eventType: 'user.session.end', actor: { id: '00ualice', alternateId: 'alice@example.com' }, authenticationContext: { externalSessionId: session.id }, outcome: { result: 'SUCCESS' } });
  // A session closed through the Sessions API ends it the same way.
  const closed = okta.session();
  await fetch(`${okta.orgUrl}/api/v1/sessions/${closed.id}`, { method: 'DELETE', headers: { authorization: `SSWS ${okta.apiToken}` } });
  await okta.push.settle();
  expect(hooks.received).toHaveLength(2);
  await Promise.all([ssf.close(), hooks.close()]);
});

test('pause() holds deliveries, resume() sends them, drop() loses them; delay() and duplicate() shape them', async () => {
  const ssf = await receiver();
  okta.push.stream({ url: ssf.url });
  okta.push.pause();
  okta.endSession(okta.session().id);
  await okta.push.settle();
  expect(ssf.received).toHaveLength(0);
  okta.push.resume();
  await okta.push.settle();
  expect(ssf.received).toHaveLength(1);
  okta.push.pause();
  okta.endSession(okta.session().id);
  expect(okta.push.drop()).toBe(1);
  okta.push.resume();
  await okta.push.settle();
  expect(ssf.received).toHaveLength(1);
  okta.push.delay(50);
  okta.push.duplicate(2);
  const started = Date.now();
  okta.endSession(okta.session().id);
  await okta.push.settle();
  expect(Date.now() - started).toBeGreaterThanOrEqual(45);
  expect(ssf.received).toHaveLength(3);
  expect(ssf.received[1].body).toBe(ssf.received[2].body);
  expect(() => okta.push.duplicate(0)).toThrow(TypeError);
  await ssf.close();
});

test('a delivery answered 5xx is retried once, as Okta does; a 4xx is not', async () => {
  okta.push.retryDelay = 1;
  const failing = await receiver([503, 202]);
  const refusing = await receiver([400]);
  okta.push.stream({ url: failing.url });
  okta.push.stream({ url: refusing.url });
  okta.endSession(okta.session().id);
  await okta.push.settle();
  expect(okta.push.deliveries.filter((d) => d.url === failing.url).map((d) => [d.attempt, d.status])).toEqual([[1, 503], [2, 202]]);
  expect(okta.push.deliveries.filter((d) => d.url === refusing.url).map((d) => [d.attempt, d.status])).toEqual([[1, 400]]);
  await Promise.all([failing.close(), refusing.close()]);
});

test('a receiver that cannot be reached is recorded with the error, retried once, and settle() still resolves', async () => {
  okta.push.retryDelay = 1;
  const gone = await receiver();
  await gone.close();
  okta.push.eventHook({ url: gone.url, secret: 's' });
  okta.push.userEvent('user.lifecycle.deactivate', { userId: '00ux', login: 'x@example.com' });
  await okta.push.settle();
  expect(okta.push.deliveries.map((d) => [d.attempt, d.status, typeof d.error])).toEqual([[1, undefined, 'string'], [2, undefined, 'string']]);
});

test('startDevIssuer() serves the transmitter over real HTTP too', async () => {
  const dev = await startDevIssuer();
  const origin = new URL(dev.issuer).origin;
  const config = (await (await fetch(`${origin}/.well-known/ssf-configuration`)).json()) as Record<string, string>;
  expect(config.issuer).toBe(origin);
  expect((await fetch(config.jwks_uri)).status).toBe(200);
  await dev.close();
});
