import express from 'express';
import request from 'supertest';
import { createGuard, type Guard, type GuardOptions, type TokengateEvent } from 'tokengate';
import * as ex from 'tokengate/express';
import { redisAnswerStore, redisRevocationStore, redisSessionStore } from 'tokengate/redis';
import { mockOkta, type MockOkta } from 'tokengate/testing';
import { CLIENT_KINDS, clusterClient, type OpenClient } from './clients';
import { RedisCluster } from './redis-server';

let cluster: RedisCluster;
let okta: MockOkta;
const opened: Array<{ guard?: Guard; client: OpenClient }> = [];

beforeAll(async () => {
  cluster = await RedisCluster.acquire();
}, 60_000);
afterAll(async () => {
  await cluster?.stop();
});
beforeEach(() => {
  for (let node = 0; node < cluster.nodes.length; node++) cluster.cli(node, 'FLUSHALL');
  okta = mockOkta();
});
afterEach(async () => {
  for (const { guard, client } of opened.splice(0)) {
    await guard?.close();
    client.close();
  }
  okta.close();
});

/** Polls until `check` resolves true; returns the milliseconds it took, or Infinity. */
async function within(ms: number, check: () => Promise<boolean> | boolean): Promise<number> {
  const started = performance.now();
  while (performance.now() - started < ms) {
    if (await check()) return performance.now() - started;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  return Infinity;
}
const refused = (guard: Guard, token: string) => guard.verifyToken(token).then(() => false, (e) => e.code === 'ERR_TOKEN_REVOKED');

/** Which node each guard's subscription landed on: the nodes where `PUBSUB NUMSUB` counts one. */
function subscribersByNode(channel = 'tokengate:deny'): number[] {
  return cluster.nodes.map((_, node) => Number(cluster.cli(node, 'PUBSUB', 'NUMSUB', channel).split('\n')[1] ?? 0));
}

describe.each(CLIENT_KINDS)('%s cluster', (kind) => {
  async function instance(extra: Partial<GuardOptions> = {}, events: TokengateEvent[] = []) {
    const client = await clusterClient(kind, cluster.nodes);
    const guard = createGuard({
      issuer: okta.issuer,
      audience: okta.audience,
      client: { clientId: okta.clientId, clientSecret: okta.clientSecret },
      onEvent: (event) => events.push(event),
      revocation: { store: redisRevocationStore(client.client, { timeout: 1 }), staleFor: 10 },
      backendSessions: { store: redisSessionStore(client.client, { timeout: 1 }) },
      ...extra,
    });
    opened.push({ guard, client });
    await guard.ready();
    const app = express();
    app.post('/login', ex.sessionLogin(guard));
    app.post('/logout', ex.logout(guard));
    app.get('/api/me', ex.protect(guard), (req, res) => res.json({ sub: req.auth!.subject }));
    return { guard, app, client };
  }

  test('an entry published through any node reaches a subscriber on another node', async () => {
    const a = await instance();
    const b = await instance();
    const counts = subscribersByNode();
    expect(counts.reduce((sum, n) => sum + n, 0)).toBe(2);
    const bNode = counts.findIndex((n) => n > 0);
    // Published with a plain connection to a node that holds no subscription of B's, when there is one.
    const other = counts.findIndex((n) => n === 0);
    const token = okta.token({ jti: 'cluster-jti-1' });
    await b.guard.verifyToken(token);
    const entry = JSON.stringify({ kind: 'jti', value: 'cluster-jti-1', at: Date.now(), until: Date.now() + 60_000 });
    expect(cluster.cli(other >= 0 ? other : (bNode + 1) % 3, 'PUBLISH', 'tokengate:deny', entry)).toBe('0');
    expect(await within(1000, () => refused(b.guard, token))).toBeLessThan(1000);
    expect(await within(1000, () => refused(a.guard, token))).toBeLessThan(1000);
    // And a logout on one instance, whichever node its PUBLISH goes to.
    const { accessToken } = okta.login();
    await b.guard.verifyToken(accessToken);
    await a.guard.logout({ accessToken });
    expect(await within(1000, () => refused(b.guard, accessToken))).toBeLessThan(1000);
  });

  test('every entry lives in one slot, so a fresh instance loads them all, whatever their values hash to', async () => {
    const writer = await instance();
    const subjects = Array.from({ length: 40 }, (_, i) => `user-${i}@example.com`);
    for (const subject of subjects) await writer.guard.revoke('sub', subject);
    const holding = cluster.nodes.map((_, node) => cluster.cli(node, 'DBSIZE'));
    expect(holding.filter((size) => size !== '0')).toEqual(['1']);
    expect(cluster.cli(0, 'CLUSTER', 'KEYSLOT', '{tokengate}:deny')).toBe(cluster.cli(0, 'CLUSTER', 'KEYSLOT', 'tokengate'));
    const fresh = await instance();
    for (const subject of subjects) {
      await expect(fresh.guard.verifyToken(okta.token({ sub: subject, iat: Math.floor(Date.now() / 1000) - 60 }))).rejects.toMatchObject({ code: 'ERR_TOKEN_REVOKED' });
    }
  });

  test('a subscription whose connection is killed comes back on its own and reloads what it missed', async () => {
    const events: TokengateEvent[] = [];
    const writer = await instance();
    const reader = await instance({}, events);
    const synced = () => events.filter((e) => e.type === 'revocation.synced').length;
    const before = synced();
    for (let node = 0; node < cluster.nodes.length; node++) cluster.cli(node, 'CLIENT', 'KILL', 'TYPE', 'pubsub');
    // Written while the reader's subscription is down: its PUBLISH may reach nobody.
    const jtis = Array.from({ length: 30 }, (_, i) => `killed-${i}`);
    for (const jti of jtis) await writer.guard.revoke('jti', jti);
    expect(await within(8000, () => synced() > before && reader.guard.stats().revocation.live)).toBeLessThan(8000);
    // What the reload did not bring came by pub/sub, to the new subscription; a message may still be on its way.
    const all = () => Promise.all(jtis.map((jti) => refused(reader.guard, okta.token({ jti })))).then((answers) => answers.every(Boolean));
    expect(await within(2000, all)).toBeLessThan(2000);
    expect(subscribersByNode().reduce((sum, n) => sum + n, 0)).toBe(2);
  }, 20_000);

  test('a Universal Logout bearer is claimed once for the whole cluster', async () => {
    const receiver = 'https://api.example.com/global-token-revocation';
    const [a, b] = [await instance(), await instance()];
    for (const { app, guard } of [a, b]) app.post('/global-token-revocation', express.json(), ex.universalLogout(guard, { audience: receiver }));
    const bearer = okta.globalLogoutToken(receiver);
    const send = (app: typeof a.app, email: string) => request(app).post('/global-token-revocation').set('Authorization', `Bearer ${bearer}`).send({ sub_id: { format: 'email', email } });
    await send(a.app, 'alice@example.com').expect(204);
    expect((await send(b.app, 'bob@example.com')).status).toBe(401);
  });

  test('backend sessions work on every instance; ending them by subject reaches every slot', async () => {
    const a = await instance();
    const b = await instance();
    const tokens = okta.login();
    const login = await request(a.app).post('/login').set('Authorization', `Bearer ${tokens.accessToken}`).send({ refresh_token: tokens.refreshToken }).expect(200);
    const cookie = String(login.headers['set-cookie']).split(';')[0];
    await request(b.app).get('/api/me').set('Cookie', cookie).expect(200, { sub: 'alice@example.com' });
    await request(b.app).post('/logout').set('Cookie', cookie).set('Sec-Fetch-Site', 'same-origin').expect(200);
    await request(a.app).get('/api/me').set('Cookie', cookie).expect(401);

    const store = redisSessionStore(a.client.client);
    const expiresAt = Date.now() + 60_000;
    const ids = Array.from({ length: 12 }, (_, i) => `session-${i}`);
    for (const id of ids) await store.set(id, { accessToken: 'a', refreshToken: undefined, idToken: undefined, subject: 'erin@example.com', sid: `sid-${id}`, expiresAt, createdAt: Date.now() });
    // The sessions spread over the nodes; one deleteWhere finds every one.
    expect(cluster.nodes.map((_, node) => Number(cluster.cli(node, 'DBSIZE'))).filter((size) => size > 0).length).toBeGreaterThan(1);
    await expect(store.deleteWhere({ subject: 'erin@example.com' })).resolves.toBe(ids.length);
    for (const id of ids) await expect(store.get(id)).resolves.toBeUndefined();
  });

  test('Sessions API answers are shared across the cluster: one call per session for both instances', async () => {
    const stores = [await clusterClient(kind, cluster.nodes), await clusterClient(kind, cluster.nodes)];
    const guards = stores.map((client) => {
      const guard = createGuard({ issuer: okta.issuer, audience: okta.audience, sessions: { apiToken: okta.apiToken, timeout: 1, store: redisAnswerStore(client.client) } });
      opened.push({ guard, client });
      return guard;
    });
    await Promise.all(guards.map((guard) => guard.ready()));
    const tokens = Array.from({ length: 6 }, () => okta.token({ sid: okta.session().id }));
    for (const token of tokens) for (const guard of guards) await guard.verifyToken(token, { session: 'strict' });
    expect(okta.calls.sessions).toBe(tokens.length);
    // Answers spread over the slots.
    expect(cluster.nodes.map((_, node) => Number(cluster.cli(node, 'DBSIZE'))).filter((size) => size > 0).length).toBeGreaterThan(1);
  });
});
