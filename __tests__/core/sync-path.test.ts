import { createGuard } from 'tokengate';
import { mockOkta } from 'tokengate/testing';
import { fakeClock } from '../helpers';

test('handleSync answers at once when nothing needs waiting for, and defers to handle() otherwise', async () => {
  const okta = mockOkta();
  const guard = createGuard({ issuer: okta.issuer, audience: okta.audience, sessions: { apiToken: okta.apiToken } });
  const request = (token: string) => ({ url: '/', headers: { authorization: `Bearer ${token}` } });
  const token = okta.token();
  // No keys held yet: the fast path cannot decide.
  expect(guard.handleSync(request(token))).toBeUndefined();
  await guard.handle(request(token));
  // Cached, and a new token whose key is held: decided synchronously, same results as the async path.
  expect(guard.handleSync(request(token))?.auth.subject).toBe('alice@example.com');
  expect(guard.handleSync(request(okta.token({ sub: 'bob' })))?.auth.subject).toBe('bob');
  expect(() => guard.handleSync(request(okta.token({ aud: 'x' })))).toThrow(expect.objectContaining({ code: 'ERR_AUDIENCE_INVALID', headers: expect.objectContaining({ 'WWW-Authenticate': expect.stringContaining('invalid_token') }) }));
  expect(() => guard.handleSync(request(token), { scopes: ['admin'] })).toThrow(expect.objectContaining({ code: 'ERR_INSUFFICIENT_SCOPE' }));
  // A strict route without a session answer cached, and unknown kids, go to the async path.
  const withSession = okta.token({ sid: okta.session().id });
  expect(guard.handleSync(request(withSession), { session: 'strict' })).toBeUndefined();
  expect(guard.handleSync(request(okta.token({}, { header: { kid: 'new-key' } })))).toBeUndefined();
  // Misses: the first token (verified by handle()), bob's, and the refused aud 'x' one: a refused token counts here as on the async path.
  expect(guard.stats().tokenCache).toMatchObject({ hits: 2, misses: 3 });
  await guard.close();
  okta.close();
});

test('on a strict-session route handleSync decides only from a fresh cached session answer', async () => {
  const okta = mockOkta();
  const clock = fakeClock(Date.now());
  const guard = createGuard({ issuer: okta.issuer, audience: okta.audience, clock: clock.now, sessions: { apiToken: okta.apiToken, cacheTtl: 30 } });
  const strict = guard.compile({ session: 'strict' });
  const request = (token: string) => ({ url: '/', headers: { authorization: `Bearer ${token}` } });
  const session = okta.session();
  const token = okta.token({ sid: session.id });
  await guard.ready();

  // A token not verified yet goes to handle(), which verifies it once while it asks Okta.
  expect(guard.handleSync(request(token), strict)).toBeUndefined();
  await guard.handle(request(token), strict);
  expect(okta.calls.sessions).toBe(1);
  expect(guard.stats().tokenCache).toMatchObject({ hits: 0, misses: 1 });
  // Both caches fresh: decided at once, no call.
  expect(guard.handleSync(request(token), strict)?.auth.subject).toBe('alice@example.com');
  expect(okta.calls.sessions).toBe(1);
  // A verified token without the claim is refused at once, as the async path refuses it.
  const claimless = okta.token();
  await expect(guard.handle(request(claimless), strict)).rejects.toMatchObject({ code: 'ERR_SESSION_CLAIM_MISSING' });
  expect(() => guard.handleSync(request(claimless), strict)).toThrow(expect.objectContaining({ code: 'ERR_SESSION_CLAIM_MISSING' }));

  // The session ends; once the cached answer is older than cacheTtl the fast path defers again...
  okta.endSession(session.id);
  clock.advance(31);
  expect(guard.handleSync(request(token), strict)).toBeUndefined();
  await expect(guard.handle(request(token), strict)).rejects.toMatchObject({ code: 'ERR_SESSION_ENDED' });
  // ...and the cached "ended" answer is then applied synchronously.
  expect(() => guard.handleSync(request(token), strict)).toThrow(expect.objectContaining({ code: 'ERR_SESSION_ENDED', status: 401 }));
  expect(okta.calls.sessions).toBe(2);
  await guard.close();
  okta.close();
});
