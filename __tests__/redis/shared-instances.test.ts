import request from 'supertest';
import { createGuard, type Guard, type GuardOptions } from 'tokengate';
import { redisRevocationStore, redisSessionStore } from 'tokengate/redis';
import { mockOkta, type MockOkta } from 'tokengate/testing';
import express from 'express';
import * as ex from 'tokengate/express';
import { CLIENT_KINDS, serverClient } from './clients';
import { RedisServer } from './redis-server';

let redis: RedisServer;
let okta: MockOkta;
const opened: Array<{ guard: Guard; client: { close(): void } }> = [];

beforeAll(async () => {
  redis = await RedisServer.start();
});
afterAll(async () => {
  await redis.down();
});
beforeEach(() => {
  redis.flush();
  okta = mockOkta();
});
afterEach(async () => {
  for (const { guard, client } of opened.splice(0)) {
    await guard.close();
    client.close();
  }
  okta.close();
});

describe.each(CLIENT_KINDS)('%s', (kind) => {

  /** One service instance: its own Redis connection, guard, and Express app. */
  async function instance(extra: Partial<GuardOptions> = {}) {
    const client = await serverClient(kind, redis.port);
    const shared = client.client;
    const guard = createGuard({
      issuer: okta.issuer,
      audience: okta.audience,
      client: { clientId: okta.clientId, clientSecret: okta.clientSecret },
      sessions: { apiToken: okta.apiToken },
      revocation: { store: redisRevocationStore(shared, { timeout: 0.5 }), staleFor: 2 },
      backendSessions: { store: redisSessionStore(shared, { timeout: 0.5 }) },
      ...extra,
    });
    opened.push({ guard, client });
    await guard.ready();
    const app = express();
    app.post('/login', ex.sessionLogin(guard));
    app.post('/logout', ex.logout(guard));
    app.post('/backchannel-logout', ex.backchannelLogout(guard));
    app.get('/api/me', ex.protect(guard), (req, res) => res.json({ sub: req.auth!.subject }));
    return { guard, app };
  }

  /** Polls until `check` resolves true; returns the milliseconds it took, or Infinity. */
  async function within(ms: number, check: () => Promise<boolean>): Promise<number> {
    const started = performance.now();
    while (performance.now() - started < ms) {
      if (await check()) return performance.now() - started;
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    return Infinity;
  }
  const refused = (guard: Guard, token: string) => guard.verifyToken(token).then(() => false, (e) => e.code === 'ERR_TOKEN_REVOKED');

  test('logout on instance A is enforced by instance B in well under a second', async () => {
    const a = await instance();
    const b = await instance();
    const timings: number[] = [];
    for (let i = 0; i < 5; i++) {
      const { accessToken } = okta.login();
      await b.guard.verifyToken(accessToken);
      const started = performance.now();
      await a.guard.logout({ accessToken });
      const elapsed = await within(1000, () => refused(b.guard, accessToken));
      timings.push(elapsed === Infinity ? Infinity : performance.now() - started);
    }
    expect(Math.max(...timings)).toBeLessThan(1000);
    console.log(`logout A -> refused on B: ${timings.map((t) => t.toFixed(1)).join(', ')} ms`);
  });

  test('a backend session works on every instance, and a logout on one ends it on all', async () => {
    const a = await instance();
    const b = await instance();
    const tokens = okta.login();
    const login = await request(a.app).post('/login').set('Authorization', `Bearer ${tokens.accessToken}`).send({ refresh_token: tokens.refreshToken }).expect(200);
    const cookie = String(login.headers['set-cookie']).split(';')[0];
    await request(b.app).get('/api/me').set('Cookie', cookie).expect(200, { sub: 'alice@example.com' });
    await request(b.app).post('/logout').set('Cookie', cookie).set('Sec-Fetch-Site', 'same-origin').expect(200);
    await request(a.app).get('/api/me').set('Cookie', cookie).expect(401);
    await request(a.app).get('/api/me').set('Authorization', `Bearer ${tokens.accessToken}`).expect(401);
  });

  test('back-channel logout received by one instance is immediate on every instance', async () => {
    const a = await instance();
    const b = await instance();
    const { accessToken, session } = okta.login();
    await b.guard.verifyToken(accessToken);
    await request(a.app).post('/backchannel-logout').type('form').send({ logout_token: okta.logoutToken({ sid: session!.id }) }).expect(200);
    expect(await within(1000, () => refused(b.guard, accessToken))).toBeLessThan(1000);
  });

  test('Redis stopped mid-test: nothing hangs, the mirror serves for staleFor, then 503, and it recovers on its own', async () => {
    const a = await instance();
    const b = await instance();
    const good = okta.login().accessToken;
    const doomed = okta.login().accessToken;
    await b.guard.verifyToken(good);
    await redis.down();
    try {
      let started = performance.now();
      await expect(b.guard.verifyToken(good)).resolves.toBeDefined();
      expect(performance.now() - started).toBeLessThan(200);

      started = performance.now();
      const result = await a.guard.logout({ accessToken: doomed });
      expect(performance.now() - started).toBeLessThan(1500);
      expect(result.failures.map((f) => f.step)).toContain('denylist jti');
      await expect(a.guard.verifyToken(doomed)).rejects.toMatchObject({ code: 'ERR_TOKEN_REVOKED' });

      await new Promise((resolve) => setTimeout(resolve, 2200));
      started = performance.now();
      await expect(b.guard.verifyToken(good)).rejects.toMatchObject({ code: 'ERR_REVOCATION_UNAVAILABLE', status: 503 });
      expect(performance.now() - started).toBeLessThan(200);
    } finally {
      await redis.up();
    }
    expect(await within(8000, () => b.guard.verifyToken(good).then(() => true, () => false))).toBeLessThan(8000);
    // What A could not write while Redis was away reaches B once A is back in touch.
    expect(await within(8000, () => refused(b.guard, doomed))).toBeLessThan(8000);
    expect(b.guard.stats().revocation.live).toBe(true);
  });

  test('Redis down when the service starts: no unhandled rejection, ready() says so, and it syncs on its own once Redis is up', async () => {
    await redis.down();
    // An unhandled rejection (the first connection attempt, or any retry) fails the test: Jest 30 reports it.
    try {
      const client = await serverClient(kind, redis.port, { wait: false });
      const guard = createGuard({
        issuer: okta.issuer,
        audience: okta.audience,
        revocation: { store: redisRevocationStore(client.client, { timeout: 0.3 }), staleFor: 30 },
      });
      opened.push({ guard, client });
      await new Promise((resolve) => setTimeout(resolve, 2500));
      await expect(guard.ready()).rejects.toMatchObject({ code: 'ERR_REVOCATION_UNAVAILABLE', status: 503 });
      // Within staleFor the (empty) mirror serves.
      await expect(guard.verifyToken(okta.token())).resolves.toBeDefined();
      await redis.up();
      expect(await within(12_000, async () => guard.stats().revocation.live)).toBeLessThan(12_000);
      await expect(guard.ready()).resolves.toBeUndefined();
    } finally {
      await redis.up();
    }
  }, 30_000);

  test('a Universal Logout bearer is single-use across instances: replayed to another with another user, it is refused', async () => {
    const receiver = 'https://api.example.com/global-token-revocation';
    const [a, b] = [await instance(), await instance()];
    for (const { app, guard } of [a, b]) app.post('/global-token-revocation', express.json(), ex.universalLogout(guard, { audience: receiver }));
    const bearer = okta.globalLogoutToken(receiver);
    const send = (app: typeof a.app, email: string) => request(app).post('/global-token-revocation').set('Authorization', `Bearer ${bearer}`).send({ sub_id: { format: 'email', email } });
    await send(a.app, 'alice@example.com').expect(204);
    const replay = await send(b.app, 'bob@example.com');
    expect(replay.status).toBe(401);
    expect(replay.body.error_description).toMatch(/replayed/);
    await expect(b.guard.verifyToken(okta.token({ sub: 'bob@example.com' }))).resolves.toBeDefined();
  });

  test('a late write of an older revocation never narrows a newer one: a fresh instance still refuses', async () => {
    const client = await serverClient(kind, redis.port);
    opened.push({ guard: createGuard({ issuer: okta.issuer, audience: okta.audience }), client });
    const store = redisRevocationStore(client.client);
    const now = Date.now();
    await store.add({ kind: 'sub', value: 'carol@example.com', at: now, until: now + 3_600_000 });
    // Queued at another instance ten minutes earlier, written only now.
    await store.add({ kind: 'sub', value: 'carol@example.com', at: now - 600_000, until: now + 60_000 });
    const fresh = await instance({ clockTolerance: 0 });
    await expect(fresh.guard.verifyToken(okta.token({ sub: 'carol@example.com', iat: Math.floor(now / 1000) - 300 }))).rejects.toMatchObject({ code: 'ERR_TOKEN_REVOKED' });
  });

  test('entries the previous release wrote (one key each) are still loaded, and copied into the sorted set; legacyKeys: false ignores them', async () => {
    const now = Date.now();
    const legacy = (subject: string) => {
      const entry = { kind: 'sub', value: subject, at: now, until: now + 600_000 };
      redis.cli('SET', `tokengate:deny:sub:${subject}:${now}`, JSON.stringify(entry), 'PX', '600000');
    };
    const token = (subject: string) => okta.token({ sub: subject, iat: Math.floor(now / 1000) - 60 });
    legacy('gina@example.com');
    const reading = await instance({ clockTolerance: 0 });
    await expect(reading.guard.verifyToken(token('gina@example.com'))).rejects.toMatchObject({ code: 'ERR_TOKEN_REVOKED' });
    expect(redis.cli('ZCARD', '{tokengate}:deny')).toBe('1');

    legacy('hank@example.com');
    const client = await serverClient(kind, redis.port);
    const ignoring = createGuard({ issuer: okta.issuer, audience: okta.audience, clockTolerance: 0, revocation: { store: redisRevocationStore(client.client, { legacyKeys: false }) } });
    opened.push({ guard: ignoring, client });
    await ignoring.ready();
    await expect(ignoring.verifyToken(token('hank@example.com'))).resolves.toBeDefined();
    // What was copied before still counts.
    await expect(ignoring.verifyToken(token('gina@example.com'))).rejects.toMatchObject({ code: 'ERR_TOKEN_REVOKED' });
  });

  test('two guards on one Redis client, each with its own store, keep their own subscriptions; closing one leaves the other live', async () => {
    const client = await serverClient(kind, redis.port);
    const store = () => redisRevocationStore(client.client, { timeout: 0.5 });
    const [a, b, c] = [0, 1, 2].map(() => createGuard({ issuer: okta.issuer, audience: okta.audience, revocation: { store: store() } }));
    opened.push({ guard: a, client }, { guard: b, client: { close: () => undefined } });
    await Promise.all([a.ready(), b.ready(), c.ready()]);
    await c.close();
    const token = okta.token({ jti: 'shared-store-jti' });
    await a.revoke('jti', 'shared-store-jti');
    expect(await within(1000, () => b.verifyToken(token).then(() => false, (e) => e.code === 'ERR_TOKEN_REVOKED'))).toBeLessThan(1000);
    await b.revoke('sub', 'dave@example.com');
    expect(await within(1000, () => a.verifyToken(okta.token({ sub: 'dave@example.com' })).then(() => false, (e) => e.code === 'ERR_TOKEN_REVOKED'))).toBeLessThan(1000);
  });
});
