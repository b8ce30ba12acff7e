import request from 'supertest';
import { createGuard, type TokengateEvent } from 'tokengate';
import { mockOkta } from 'tokengate/testing';
import { main } from '../../bin/tokengate';
import { ADAPTERS } from '../helpers';

describe.each(ADAPTERS)('%s: an issuer option off by a trailing slash', (_name, app) => {
  test('is refused per request as before, and said once to the operator, never to the client', async () => {
    const okta = mockOkta();
    const events: TokengateEvent[] = [];
    const guard = createGuard({ issuer: `${okta.issuer}/`, audience: okta.audience, onEvent: (event) => events.push(event) });
    try {
      const served = app(guard, { '/api/me': undefined });
      for (let i = 0; i < 2; i++) {
        const answer = await request(served).get('/api/me').set('Authorization', `Bearer ${okta.token()}`);
        expect(answer.status).toBe(401);
        expect(answer.body.code).toBe('ERR_ISSUER_INVALID');
        expect(JSON.stringify(answer.body) + answer.headers['www-authenticate']).not.toContain(`${okta.issuer}/`);
      }
      // Another issuer altogether is no slip of a slash: no hint.
      await request(served).get('/api/me').set('Authorization', `Bearer ${okta.token({ iss: 'https://other.example.com/oauth2/default' })}`).expect(401);
      expect(events.filter((event) => event.type === 'issuer.mismatch')).toEqual([{ type: 'issuer.mismatch', received: okta.issuer, configured: `${okta.issuer}/` }]);
    } finally {
      await guard.close();
      okta.close();
    }
  });
});

test('the doctor says when the issuers differ only by a trailing slash', async () => {
  const okta = mockOkta();
  try {
    let stdout = '';
    const code = await main(['doctor', okta.token(), '--issuer', `${okta.issuer}/`, '--audience', okta.audience], { stdout: (text) => (stdout += text), stderr: () => undefined, stdin: async () => '' });
    expect(code).toBe(1);
    expect(stdout).toContain(`fix: The token's issuer differs from --issuer only by a trailing slash: set the issuer option to exactly "${okta.issuer}"`);
  } finally {
    okta.close();
  }
});
