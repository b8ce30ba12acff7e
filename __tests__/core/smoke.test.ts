import { createGuard } from 'tokengate';
import { mockOkta } from 'tokengate/testing';

test('verifies an Okta-shaped token through nock', async () => {
  const okta = mockOkta();
  const guard = createGuard({ issuer: okta.issuer, audience: okta.audience, keySet: { cooldown: 0 } });
  const token = okta.token();
  const auth = await guard.verifyToken(token);
  expect(auth.subject).toBe('alice@example.com');
  expect(okta.calls).toEqual({ discovery: 1, jwks: 1 });
  okta.fail('jwks', 'down');
  await expect(guard.verifyToken(okta.token({}, { header: { kid: 'nope' } }))).rejects.toMatchObject({ code: 'ERR_KEYS_UNAVAILABLE', status: 503 });
  okta.fail('jwks', 'slow', { delay: 2000 });
  const g2 = createGuard({ issuer: okta.issuer, audience: okta.audience, keySet: { timeout: 0.2 } });
  await expect(g2.verifyToken(token)).rejects.toMatchObject({ code: 'ERR_KEYS_UNAVAILABLE' });
  await guard.close(); await g2.close();
  okta.close();
});
