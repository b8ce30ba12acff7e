import express from 'express';
import request from 'supertest';
import { createGuard, type Guard, type TokengateEvent } from 'tokengate';
import { protect } from 'tokengate/express';
import { createKeyPair, mockOkta, type MockOkta } from 'tokengate/testing';

// Okta service apps may require DPoP for their own tokens: the Sessions API client then gets a
// DPoP-bound token (after Okta's use_dpop_nonce round) and proves its key on every call.

let okta: MockOkta;
let guard: Guard | undefined;
const serviceKey = createKeyPair('RS256');

beforeEach(() => {
  okta = mockOkta();
  okta.trustClientKey(serviceKey.publicKey);
});

afterEach(async () => {
  await guard?.close();
  guard = undefined;
  okta.close();
});

function strictApp(dpop: boolean | undefined, events: TokengateEvent[] = []): express.Express {
  guard = createGuard({
    issuer: okta.issuer,
    audience: okta.audience,
    sessions: { client: { clientId: '0oa-service', privateKey: serviceKey.privateKey, ...(dpop === undefined ? {} : { dpop }) }, cacheTtl: 0 },
    onEvent: (event) => events.push(event),
  });
  return express().get('/me', protect(guard, { session: 'strict' }), (req, res) => res.json({ subject: req.auth!.subject }));
}

test('with "Require DPoP" on, sessions.client.dpop gets a bound token after the nonce round and calls the Sessions API with a proof', async () => {
  okta.requireDpop();
  const app = strictApp(true);
  for (let i = 0; i < 2; i++) {
    const res = await request(app).get('/me').set('Authorization', `Bearer ${okta.token({ sid: okta.session().id })}`);
    expect(res.status).toBe(200);
  }
  const tokenCalls = okta.requests.filter((r) => r.endpoint === 'token');
  expect(tokenCalls).toHaveLength(2);
  expect(tokenCalls.every((r) => typeof r.headers.dpop === 'string')).toBe(true);
  const proofClaims = (proof: unknown) => JSON.parse(Buffer.from(String(proof).split('.')[1], 'base64url').toString());
  expect(proofClaims(tokenCalls[0].headers.dpop).nonce).toBeUndefined();
  expect(proofClaims(tokenCalls[1].headers.dpop)).toMatchObject({ htm: 'POST', htu: `${okta.orgUrl}/oauth2/v1/token`, nonce: expect.any(String) });
  const sessionCalls = okta.requests.filter((r) => r.endpoint === 'sessions');
  expect(sessionCalls).toHaveLength(2);
  for (const call of sessionCalls) {
    expect(String(call.headers.authorization)).toMatch(/^DPoP /);
    expect(proofClaims(call.headers.dpop)).toMatchObject({ htm: 'GET', htu: `${okta.orgUrl}${call.path}`, ath: expect.any(String) });
  }
  // Each call has its own proof.
  expect(new Set(sessionCalls.map((call) => call.headers.dpop)).size).toBe(2);
});

test('a bound API token sent as Bearer, or with a proof of another key, is refused by the mock as by Okta', async () => {
  okta.requireDpop();
  const app = strictApp(true);
  await request(app).get('/me').set('Authorization', `Bearer ${okta.token({ sid: okta.session().id })}`).expect(200);
  const call = okta.requests.find((r) => r.endpoint === 'sessions')!;
  const token = String(call.headers.authorization).slice(5);
  const asBearer = await fetch(`${okta.orgUrl}${call.path}`, { headers: { authorization: `Bearer ${token}` } });
  expect(asBearer.status).toBe(401);
  const replayedElsewhere = await fetch(`${okta.orgUrl}/api/v1/sessions/${okta.session().id}`, { headers: { authorization: `DPoP ${token}`, dpop: String(call.headers.dpop) } });
  expect(replayedElsewhere.status).toBe(401);
});

test('without sessions.client.dpop, a service app that requires DPoP is a 503 whose event says what to set', async () => {
  okta.requireDpop();
  const events: TokengateEvent[] = [];
  const res = await request(strictApp(undefined, events)).get('/me').set('Authorization', `Bearer ${okta.token({ sid: okta.session().id })}`);
  expect(res.status).toBe(503);
  expect(res.body.code).toBe('ERR_SESSIONS_UNAVAILABLE');
  expect(events).toContainEqual(expect.objectContaining({ type: 'upstream.error', service: 'sessions', message: expect.stringContaining('"sessions.client.dpop: true"') }));
});

test('dpop with a key of your own; a dpop that is not a boolean or a private key is a TypeError', async () => {
  const own = createKeyPair('ES256');
  guard = createGuard({ issuer: okta.issuer, audience: okta.audience, sessions: { client: { clientId: '0oa-service', privateKey: serviceKey.privateKey, dpop: own.privateKey } } });
  await expect(guard.verifyToken(okta.token({ sid: okta.session().id }), { session: 'strict' })).resolves.toBeDefined();
  const proof = String(okta.requests.find((r) => r.endpoint === 'sessions')!.headers.dpop);
  expect(JSON.parse(Buffer.from(proof.split('.')[0], 'base64url').toString())).toMatchObject({ typ: 'dpop+jwt', alg: 'ES256', jwk: { kty: 'EC', crv: 'P-256' } });
  const base = { issuer: okta.issuer, audience: okta.audience };
  expect(() => createGuard({ ...base, sessions: { client: { clientId: 'x', privateKey: serviceKey.privateKey, dpop: 'yes' as never } } })).toThrow(/sessions\.client\.dpop/);
  expect(() => createGuard({ ...base, sessions: { client: { clientId: 'x', privateKey: serviceKey.privateKey, dpop: own.publicKey } } })).toThrow(/sessions\.client\.dpop/);
});
