import express from 'express';
import request from 'supertest';
import { createGuard, memoryRevocationStore, type Guard, type GuardOptions, type RevocationEntry, type RevocationStore, type TokengateEvent } from 'tokengate';
import * as ex from 'tokengate/express';
import { redisRevocationStore, type NodeRedisClientLike, type RedisSubscriberLike } from 'tokengate/redis';
import { mockOkta, type MockOkta } from 'tokengate/testing';
import { ADAPTERS, fakeClock, settled, waitFor } from '../helpers';

let clock: ReturnType<typeof fakeClock>;
let okta: MockOkta;
const guards: Guard[] = [];

beforeEach(() => {
  clock = fakeClock();
  okta = mockOkta({ clock: () => clock.now() });
});
afterEach(async () => {
  for (const guard of guards.splice(0)) await guard.close();
  okta.close();
});

function makeGuard(extra: Partial<GuardOptions> = {}): Guard {
  const guard = createGuard({ issuer: okta.issuer, audience: okta.audience, clock: () => clock.now(), ...extra });
  guards.push(guard);
  return guard;
}

/**
 * A store under the test's control: `reachable` says whether it answers at all; `failWrites`
 * makes the next N writes fail while the subscription stays up. Counts what the guard asked.
 */
function controlledStore() {
  const written: RevocationEntry[] = [];
  const control = {
    reachable: true,
    failWrites: 0,
    subscribes: 0,
    closed: false,
    written,
    state: undefined as ((live: boolean) => void) | undefined,
  };
  const unreachable = () => Promise.reject(new Error('connect ECONNREFUSED 10.0.0.7:6379'));
  const store: RevocationStore = {
    add(entry) {
      if (!control.reachable) return unreachable();
      if (control.failWrites > 0) {
        control.failWrites--;
        return Promise.reject(new Error('write refused'));
      }
      written.push(entry);
      return Promise.resolve();
    },
    load: () => (control.reachable ? Promise.resolve([...written]) : unreachable()),
    subscribe(_onEntry, onState) {
      control.subscribes++;
      control.state = onState;
      return control.reachable ? Promise.resolve() : unreachable();
    },
    close: async () => {
      control.closed = true;
    },
  };
  return { store, control };
}

describe('a shared store that is down at start-up', () => {
  test('leaves no rejection unhandled, while it retries, comes back, and closes', async () => {
    const { store, control } = controlledStore();
    control.reachable = false;
    await settled(async () => {
      const guard = makeGuard({ revocation: { store, staleFor: 60 } });
      await waitFor(() => control.subscribes >= 3, 5000);
      await expect(guard.ready()).rejects.toMatchObject({ code: 'ERR_REVOCATION_UNAVAILABLE', status: 503 });
      control.reachable = true;
      await waitFor(() => guard.stats().revocation.live, 15_000);
      await expect(guard.ready()).resolves.toBeUndefined();
      control.state!(false);
      control.reachable = false;
      control.state!(true);
      await guard.close();
    });
    expect(control.closed).toBe(true);
  }, 30_000);

  test('the mirror serves for staleFor, then 503 with Retry-After, over HTTP, and serves again once the store is back', async () => {
    const { store, control } = controlledStore();
    control.reachable = false;
    const guard = makeGuard({ revocation: { store, staleFor: 10 } });
    const app = express();
    app.get('/api/me', ex.protect(guard), (req, res) => res.json({ sub: req.auth!.subject }));
    const token = okta.token();
    clock.advance(9);
    await request(app).get('/api/me').set('Authorization', `Bearer ${token}`).expect(200);
    clock.advance(2);
    const refused = await request(app).get('/api/me').set('Authorization', `Bearer ${token}`);
    expect(refused.status).toBe(503);
    expect(refused.headers['retry-after']).toBe('1');
    expect(refused.body).toEqual({ code: 'ERR_REVOCATION_UNAVAILABLE' });
    control.reachable = true;
    await waitFor(() => guard.stats().revocation.live, 15_000);
    await request(app).get('/api/me').set('Authorization', `Bearer ${token}`).expect(200);
  }, 30_000);

  test('a closed guard stops trying', async () => {
    const { store, control } = controlledStore();
    control.reachable = false;
    const guard = makeGuard({ revocation: { store } });
    await waitFor(() => control.subscribes >= 1);
    await guard.close();
    const after = control.subscribes;
    await new Promise((resolve) => setTimeout(resolve, 800));
    expect(control.subscribes).toBe(after);
  });

  test('a load that fails after subscribing is retried without a reconnect', async () => {
    const { store, control } = controlledStore();
    let loads = 0;
    const load = store.load;
    store.load = () => (++loads <= 2 ? Promise.reject(new Error('LOADING Redis is loading the dataset')) : load());
    const guard = makeGuard({ revocation: { store } });
    await waitFor(() => guard.stats().revocation.live, 5000);
    expect(control.subscribes).toBe(1);
    expect(loads).toBe(3);
  });
});

describe('writes to the shared store', () => {
  test('every entry reaches the store, in order, with retries and no reconnect, while the subscription stays up', async () => {
    const { store, control } = controlledStore();
    const events: TokengateEvent[] = [];
    const guard = makeGuard({ revocation: { store }, onEvent: (e) => events.push(e) });
    await guard.ready();
    control.failWrites = 3;
    const outcomes = await Promise.allSettled(['a', 'b', 'c', 'd'].map((jti) => guard.revoke('jti', jti)));
    expect(outcomes[0].status).toBe('rejected');
    expect(guard.stats().revocation.unwritten).toBeGreaterThan(0);
    await waitFor(() => guard.stats().revocation.unwritten === 0, 10_000);
    expect(control.written.map((e) => e.value)).toEqual(['a', 'b', 'c', 'd']);
    expect(events.filter((e) => e.type === 'revocation.error').map((e) => (e as { operation: string }).operation)).toEqual(['write', 'write', 'write']);
    // Every entry took effect here at once, whatever the store did.
    for (const jti of ['a', 'b', 'c', 'd']) await expect(guard.verifyToken(okta.token({ jti }))).rejects.toMatchObject({ code: 'ERR_TOKEN_REVOKED' });
  });

  test('entries put while the store is away are all written once it is back, in order', async () => {
    const { store, control } = controlledStore();
    const guard = makeGuard({ revocation: { store } });
    await guard.ready();
    control.reachable = false;
    const results = await Promise.allSettled(['x1', 'x2', 'x3'].map((jti) => guard.revoke('jti', jti)));
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected', 'rejected']);
    control.reachable = true;
    await waitFor(() => guard.stats().revocation.unwritten === 0, 10_000);
    expect(control.written.map((e) => e.value)).toEqual(['x1', 'x2', 'x3']);
  });

  test('close() gives unwritten entries one last chance', async () => {
    const { store, control } = controlledStore();
    const guard = makeGuard({ revocation: { store } });
    await guard.ready();
    control.failWrites = 1;
    await expect(guard.revoke('sub', 'alice@example.com')).rejects.toThrow(/holds here/);
    guards.splice(guards.indexOf(guard), 1);
    await guard.close();
    expect(control.written.map((e) => e.value)).toEqual(['alice@example.com']);
  });
});

describe('the shape of a custom store', () => {
  test('a store without close() is refused at creation, naming what is missing', () => {
    const { store } = controlledStore();
    const { close: _close, ...noClose } = store;
    expect(() => makeGuard({ revocation: { store: noClose as RevocationStore } })).toThrow(
      'tokengate: option "revocation.store" must implement add(), load(), subscribe() and close(); missing: close',
    );
  });

  test('store methods that throw instead of rejecting are handled like rejections', async () => {
    const store: RevocationStore = {
      add: () => {
        throw new Error('sync add');
      },
      load: () => {
        throw new Error('sync load');
      },
      subscribe: () => {
        throw new Error('sync subscribe');
      },
      close: () => {
        throw new Error('sync close');
      },
    };
    await settled(async () => {
      const guard = makeGuard({ revocation: { store } });
      await expect(guard.revoke('jti', 'j')).rejects.toThrow(/holds here/);
      await expect(guard.ready()).rejects.toMatchObject({ code: 'ERR_REVOCATION_UNAVAILABLE' });
      guards.splice(guards.indexOf(guard), 1);
      await expect(guard.close()).resolves.toBeUndefined();
    });
  });
});

describe('the Redis store', () => {
  test('a subscriber connection that fails to subscribe is destroyed, so retries leak none', async () => {
    let opened = 0;
    let destroyed = 0;
    const subscriber = (): RedisSubscriberLike => {
      opened++;
      let gone = false;
      return {
        connect: () => Promise.reject(new Error('connect ECONNREFUSED 127.0.0.1:6390')),
        subscribe: () => Promise.reject(new Error('not connected')),
        on: () => undefined,
        destroy: () => {
          if (!gone) destroyed++;
          gone = true;
        },
      };
    };
    const client: NodeRedisClientLike = { sendCommand: () => Promise.reject(new Error('not connected')), duplicate: subscriber };
    const guard = makeGuard({ revocation: { store: redisRevocationStore(client, { timeout: 0.2 }) } });
    await waitFor(() => opened >= 4, 8000);
    expect(opened - destroyed).toBeLessThanOrEqual(1);
    await guard.close();
    expect(destroyed).toBe(opened);
  }, 15_000);
});

describe('how long entries live', () => {
  test('a logged-out token stays refused between exp and exp + clockTolerance, when it would otherwise still pass', async () => {
    const guard = makeGuard({ clockTolerance: 30 });
    const token = okta.token({}, { expiresIn: 60 });
    await guard.logout({ accessToken: token });
    clock.advance(75);
    await expect(guard.verifyToken(token)).rejects.toMatchObject({ code: 'ERR_TOKEN_REVOKED' });
    clock.advance(20);
    await expect(guard.verifyToken(token)).rejects.toMatchObject({ code: 'ERR_TOKEN_EXPIRED' });
  });

  test('revoking a user refuses tokens dated up to clockTolerance after the revocation (another clock may run ahead)', async () => {
    const guard = makeGuard({ clockTolerance: 30 });
    await guard.revoke('sub', 'alice@example.com');
    const now = Math.floor(clock.now() / 1000);
    await expect(guard.verifyToken(okta.token({ iat: now + 20 }))).rejects.toMatchObject({ code: 'ERR_TOKEN_REVOKED' });
    clock.advance(31);
    await expect(guard.verifyToken(okta.token())).resolves.toMatchObject({ subject: 'alice@example.com' });
  });
});

describe.each(ADAPTERS)('%s: a custom session claim', (_name, makeApp) => {
  test('logout and back-channel logout refuse every token of the session, read from sessions.claim', async () => {
    const guard = makeGuard({
      client: { clientId: okta.clientId, clientSecret: okta.clientSecret },
      sessions: { apiToken: okta.apiToken, claim: 'okta_sid' },
    });
    const app = makeApp(guard);
    const first = okta.session();
    const [a, b] = [okta.token({ okta_sid: first.id }), okta.token({ okta_sid: first.id })];
    await request(app).get('/api/hello').set('Authorization', `Bearer ${b}`).expect(200);
    await guard.logout({ accessToken: a });
    const refused = await request(app).get('/api/hello').set('Authorization', `Bearer ${b}`);
    expect(refused.status).toBe(401);
    expect(refused.body.code).toBe('ERR_TOKEN_REVOKED');

    const second = okta.session();
    const c = okta.token({ okta_sid: second.id });
    await request(app).get('/api/hello').set('Authorization', `Bearer ${c}`).expect(200);
    await guard.backchannelLogout(okta.logoutToken({ sid: second.id }));
    await request(app).get('/api/hello').set('Authorization', `Bearer ${c}`).expect(401);
  });
});

describe('review: edges of the shared denylist', () => {
  test('revoke() refuses a kind, value or until that would silently revoke nothing', async () => {
    const guard = makeGuard();
    await expect(guard.revoke('sub', 'alice@example.com', Math.floor(clock.now() / 1000) + 3600)).rejects.toThrow(
      'tokengate: revoke() "until" must be a time in the future, in milliseconds since the epoch',
    );
    await expect(guard.revoke('sub', 'alice@example.com', Number.NaN)).rejects.toThrow(TypeError);
    await expect(guard.revoke('user' as 'sub', 'alice@example.com')).rejects.toThrow('tokengate: revoke() kind must be "jti", "sid" or "sub"');
    await expect(guard.revoke('jti', '')).rejects.toThrow('tokengate: revoke() value must be a non-empty string');
  });

  test('a subscription that comes back while a reload is running gets another reload, so an entry added in the gap is not missed', async () => {
    const { store, control } = controlledStore();
    let loads = 0;
    let releaseFirst: (() => void) | undefined;
    const load = store.load;
    store.load = () => {
      loads++;
      if (loads === 2) return new Promise((resolve) => (releaseFirst = () => resolve(load())));
      return load();
    };
    const guard = makeGuard({ revocation: { store } });
    await guard.ready();
    control.state!(false);
    control.state!(true);
    await waitFor(() => releaseFirst !== undefined);
    // The subscription drops again and an entry is added elsewhere while it is down.
    control.state!(false);
    control.written.push({ kind: 'sub', value: 'mallory@example.com', at: clock.now(), until: clock.now() + 3_600_000 });
    control.state!(true);
    releaseFirst!();
    await waitFor(() => loads === 3);
    await waitFor(() => guard.stats().revocation.live);
    await expect(guard.verifyToken(okta.token({ sub: 'mallory@example.com', iat: Math.floor(clock.now() / 1000) - 60 }))).rejects.toMatchObject({ code: 'ERR_TOKEN_REVOKED' });
  });

  test('the memory store merges a late write of an older entry instead of narrowing the newer one', async () => {
    const store = memoryRevocationStore(() => clock.now());
    const now = clock.now();
    await store.add({ kind: 'sub', value: 'alice@example.com', at: now, until: now + 3_600_000 });
    await store.add({ kind: 'sub', value: 'alice@example.com', at: now - 600_000, until: now + 60_000 });
    expect(await store.load()).toEqual([{ kind: 'sub', value: 'alice@example.com', at: now, until: now + 3_600_000 }]);
  });

  test('a subscription that stays down without coming back on its own is replaced after 30 s', async () => {
    jest.useFakeTimers({ doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask'] });
    try {
      const { store, control } = controlledStore();
      const guard = makeGuard({ revocation: { store } });
      await jest.advanceTimersByTimeAsync(10);
      await guard.ready();
      expect(control.subscribes).toBe(1);
      control.state!(false);
      await jest.advanceTimersByTimeAsync(29_000);
      expect(control.subscribes).toBe(1);
      await jest.advanceTimersByTimeAsync(2_000);
      expect(control.subscribes).toBe(2);
      expect(guard.stats().revocation.live).toBe(true);
    } finally {
      jest.useRealTimers();
    }
  });

  test('a Redis claim whose answer timed out is known as this store’s own when the receiver is asked again', async () => {
    const keys = new Map<string, string>();
    let slow = true;
    const client: NodeRedisClientLike = {
      sendCommand: ([command, key, value, ...rest]: string[]) => {
        if (command === 'GET') return Promise.resolve(keys.get(key!) ?? null);
        const apply = () => {
          if (rest.includes('NX') && keys.has(key!)) return null;
          keys.set(key!, value!);
          return 'OK';
        };
        // The first SET lands in Redis, but its answer comes after the store's deadline.
        if (slow) {
          slow = false;
          const result = apply();
          return new Promise((resolve) => setTimeout(() => resolve(result), 400));
        }
        return Promise.resolve(apply());
      },
      duplicate: () => {
        throw new Error('not used');
      },
    };
    const store = redisRevocationStore(client, { timeout: 0.1 });
    await expect(store.claimOnce!('jti-1', Date.now() + 60_000)).rejects.toThrow(/did not answer/);
    await expect(store.claimOnce!('jti-1', Date.now() + 60_000)).resolves.toBe(true);
    const other = redisRevocationStore(client, { timeout: 0.1 });
    await expect(other.claimOnce!('jti-1', Date.now() + 60_000)).resolves.toBe(false);
  });
});

test('two deliveries of one Universal Logout bearer arriving together at one instance: the second is a replay', async () => {
  const keys = new Map<string, string>();
  const client: NodeRedisClientLike = {
    sendCommand: ([command, key, value, ...rest]: string[]) => {
      if (command === 'GET') return Promise.resolve(keys.get(key!) ?? null);
      if (command !== 'SET') return Promise.resolve(0);
      return new Promise((resolve) =>
        setTimeout(() => {
          if (rest.includes('NX') && keys.has(key!)) return resolve(null);
          keys.set(key!, value!);
          resolve('OK');
        }, 30),
      );
    },
    duplicate: (): RedisSubscriberLike => ({
      connect: () => Promise.reject(new Error('no pub/sub here')),
      subscribe: () => Promise.reject(new Error('no pub/sub here')),
      on: () => undefined,
      destroy: () => undefined,
    }),
  };
  const receiver = 'https://api.example.com/global-token-revocation';
  const guard = makeGuard({ revocation: { store: redisRevocationStore(client, { timeout: 1 }) } });
  const bearer = okta.globalLogoutToken(receiver);
  const outcomes = await Promise.allSettled([
    guard.universalLogout(bearer, { sub_id: { format: 'email', email: 'alice@example.com' } }, receiver),
    guard.universalLogout(bearer, { sub_id: { format: 'email', email: 'bob@example.com' } }, receiver),
  ]);
  expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'rejected']);
  expect((outcomes[1] as PromiseRejectedResult).reason).toMatchObject({ status: 401, message: expect.stringMatching(/replayed/) });
});
