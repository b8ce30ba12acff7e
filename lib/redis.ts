/**
 * `tokengate/redis`: the denylist and backend sessions shared by every instance, on a Redis client
 * you already have (node-redis 5+, `createClient()` from `redis` or `@redis/client`). Another client
 * (ioredis, ...) needs only the few methods of {@link RedisClientLike}.
 *
 * @example
 * const redis = await createClient({ url: 'redis://127.0.0.1:6379' }).connect();
 * const guard = createGuard({ issuer, audience, revocation: { store: redisRevocationStore(redis) },
 *   backendSessions: { store: redisSessionStore(redis) } });
 */
import type { BackendSessionData, BackendSessionStore } from './sessions/store';
import { randomUUID } from 'node:crypto';
import { settleWithin } from './util/deadline';
import type { RevocationEntry, RevocationStore } from './revocation/denylist';

/** A subscriber connection, as node-redis's `client.duplicate()` returns it. */
export interface RedisSubscriberLike {
  connect(): Promise<unknown>;
  subscribe(channel: string, listener: (message: string) => void): Promise<unknown>;
  on(event: 'ready' | 'error' | 'end' | 'reconnecting', listener: (...args: unknown[]) => void): unknown;
  destroy(): void;
}

/** The commands tokengate uses, named as in node-redis 5+. */
export interface RedisClientLike {
  /** With `condition: 'NX'`, resolves `null` when the key already existed. */
  set(key: string, value: string, options: { expiration: { type: 'PX'; value: number }; condition?: 'NX' }): Promise<unknown>;
  get(key: string): Promise<string | null>;
  del(keys: string | string[]): Promise<number>;
  mGet(keys: string[]): Promise<Array<string | null>>;
  scanIterator(options: { MATCH: string; COUNT?: number }): AsyncIterable<string | string[]>;
  publish(channel: string, message: string): Promise<number>;
  sAdd(key: string, member: string): Promise<number>;
  sMembers(key: string): Promise<string[]>;
  pExpire(key: string, ms: number): Promise<unknown>;
  duplicate(): RedisSubscriberLike;
}

/** Options of the Redis stores. */
export interface RedisStoreOptions {
  /** Prefix of every key and channel. Default `'tokengate'`. */
  prefix?: string;
  /** Deadline of one Redis command, in seconds: a command queued while Redis is away fails then instead of hanging. Default 2. */
  timeout?: number;
  /** Clock for key lifetimes, milliseconds since the epoch; give the guard's. Default `Date.now`. */
  clock?: () => number;
}

function deadline<T>(promise: Promise<T>, seconds: number, what: string): Promise<T> {
  return settleWithin(() => promise, seconds * 1000, () => new Error(`Redis did not answer ${what} within ${seconds} s`));
}

/** Destroys a connection whatever state it is in (node-redis throws when it was never open). */
function destroyQuietly(connection: RedisSubscriberLike): void {
  try {
    connection.destroy();
  } catch {
    // Already closed: nothing is held.
  }
}

function parseEntry(text: string | null): RevocationEntry | undefined {
  if (text === null) return undefined;
  try {
    const entry = JSON.parse(text) as RevocationEntry;
    const kinds = ['jti', 'sid', 'sub'];
    return kinds.includes(entry.kind) && typeof entry.value === 'string' && typeof entry.at === 'number' && typeof entry.until === 'number' ? entry : undefined;
  } catch {
    return undefined;
  }
}

/**
 * A {@link RevocationStore} on Redis: one key per revocation (`{prefix}:deny:{kind}:{value}:{at}`,
 * expiring with the entry; every instance merges them), announced on the channel `{prefix}:deny` to every instance; logout-token ids
 * claimed once for the whole fleet with `SET NX` (`{prefix}:once:{id}`). The subscription uses a
 * duplicate of your client per guard, which this store opens and closes itself: destroyed when
 * subscribing fails (the guard then tries again with a new one). `close()` ends every subscription
 * of this store: give each guard its own store (they can share one client).
 */
export function redisRevocationStore(client: RedisClientLike, options: RedisStoreOptions = {}): RevocationStore {
  const prefix = options.prefix ?? 'tokengate';
  const timeout = options.timeout ?? 2;
  const channel = `${prefix}:deny`;
  const clock = options.clock ?? Date.now;
  /** Subscriptions by the `onEntry` of their guard: a guard's resubscription replaces its own only. */
  const subscribers = new Map<unknown, RedisSubscriberLike>();
  /** Marks this store's claims, so that a claim whose answer was lost (a timeout) is known as its own when retried. */
  const owner = randomUUID();
  return {
    async add(entry) {
      const ttl = Math.max(1, Math.ceil(entry.until - clock()));
      const text = JSON.stringify(entry);
      // One key per revocation (its `at` in the name): a late write of an older entry never
      // overwrites a newer one; every instance merges them on load.
      await deadline(client.set(`${channel}:${entry.kind}:${entry.value}:${entry.at}`, text, { expiration: { type: 'PX', value: ttl } }), timeout, 'SET');
      await deadline(client.publish(channel, text), timeout, 'PUBLISH');
    },
    async load() {
      const keys: string[] = [];
      const scan = async () => {
        for await (const batch of client.scanIterator({ MATCH: `${channel}:*`, COUNT: 500 })) keys.push(...(Array.isArray(batch) ? batch : [batch]));
      };
      await deadline(scan(), timeout * 5, 'SCAN');
      const entries: RevocationEntry[] = [];
      for (let i = 0; i < keys.length; i += 500) {
        const values = await deadline(client.mGet(keys.slice(i, i + 500)), timeout, 'MGET');
        for (const value of values) {
          const entry = parseEntry(value);
          if (entry !== undefined) entries.push(entry);
        }
      }
      return entries;
    },
    async subscribe(onEntry, onState) {
      const previous = subscribers.get(onEntry);
      const sub = client.duplicate();
      // Mapped first: the replaced connection's 'end' is then not reported as this guard's.
      subscribers.set(onEntry, sub);
      if (previous !== undefined) destroyQuietly(previous);
      let subscribed = false;
      const report = (live: boolean) => {
        if (subscribers.get(onEntry) === sub && subscribed) onState(live);
      };
      sub.on('error', () => report(false));
      sub.on('end', () => report(false));
      sub.on('reconnecting', () => report(false));
      sub.on('ready', () => report(true));
      try {
        await deadline(sub.connect(), timeout, 'CONNECT');
        await deadline(
          sub.subscribe(channel, (message) => {
            const entry = parseEntry(message);
            if (entry !== undefined) onEntry(entry);
          }),
          timeout,
          'SUBSCRIBE',
        );
      } catch (error) {
        // A connection that never subscribed is released here, or every retry would leak one.
        if (subscribers.get(onEntry) === sub) subscribers.delete(onEntry);
        destroyQuietly(sub);
        throw error;
      }
      subscribed = true;
    },
    async close() {
      for (const sub of subscribers.values()) destroyQuietly(sub);
      subscribers.clear();
    },
    async claimOnce(id, until) {
      const key = `${prefix}:once:${id}`;
      const ttl = Math.max(1, Math.ceil(until - clock()));
      const set = await deadline(client.set(key, owner, { expiration: { type: 'PX', value: ttl }, condition: 'NX' }), timeout, 'SET NX');
      if (set !== null) return true;
      // Taken: by another instance, or by this store in an attempt whose answer timed out.
      return (await deadline(client.get(key), timeout, 'GET')) === owner;
    },
  };
}

/**
 * A {@link BackendSessionStore} on Redis: `{prefix}:sess:{id}` holds the session (expiring with
 * it), and sets `{prefix}:sess-sid:{sid}` and `{prefix}:sess-sub:{subject}` index it for logout.
 * Tokens are stored as they are: protect Redis as you protect the tokens (ACLs, TLS, no public port).
 */
export function redisSessionStore(client: RedisClientLike, options: RedisStoreOptions = {}): BackendSessionStore {
  const prefix = options.prefix ?? 'tokengate';
  const timeout = options.timeout ?? 2;
  const clock = options.clock ?? Date.now;
  const key = (id: string) => `${prefix}:sess:${id}`;
  const index = async (name: string, member: string, ttl: number) => {
    await deadline(client.sAdd(name, member), timeout, 'SADD');
    await deadline(client.pExpire(name, ttl), timeout, 'PEXPIRE');
  };
  return {
    async get(id) {
      const text = await deadline(client.get(key(id)), timeout, 'GET');
      if (text === null) return undefined;
      try {
        return JSON.parse(text) as BackendSessionData;
      } catch {
        return undefined;
      }
    },
    async set(id, data) {
      const ttl = Math.max(1, Math.ceil(data.expiresAt - clock()));
      await deadline(client.set(key(id), JSON.stringify(data), { expiration: { type: 'PX', value: ttl } }), timeout, 'SET');
      if (data.sid !== undefined) await index(`${prefix}:sess-sid:${data.sid}`, id, ttl);
      if (data.subject !== undefined) await index(`${prefix}:sess-sub:${data.subject}`, id, ttl);
    },
    async delete(id) {
      await deadline(client.del(key(id)), timeout, 'DEL');
    },
    async deleteWhere(match) {
      const names = [match.sid !== undefined ? `${prefix}:sess-sid:${match.sid}` : undefined, match.subject !== undefined ? `${prefix}:sess-sub:${match.subject}` : undefined].filter(
        (name): name is string => name !== undefined,
      );
      let deleted = 0;
      for (const name of names) {
        const ids = await deadline(client.sMembers(name), timeout, 'SMEMBERS');
        if (ids.length > 0) deleted += await deadline(client.del(ids.map(key)), timeout, 'DEL');
        await deadline(client.del(name), timeout, 'DEL');
      }
      return deleted;
    },
  };
}
