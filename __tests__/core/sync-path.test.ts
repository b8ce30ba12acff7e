import { createGuard } from 'tokengate';
import { mockOkta } from 'tokengate/testing';

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
  // Routes with upstream checks, and unknown kids, go to the async path.
  expect(guard.handleSync(request(token), { session: 'strict' })).toBeUndefined();
  expect(guard.handleSync(request(okta.token({}, { header: { kid: 'new-key' } })))).toBeUndefined();
  expect(guard.stats().tokenCache).toMatchObject({ hits: 2, misses: 2 });
  await guard.close();
  okta.close();
});
