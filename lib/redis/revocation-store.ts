import { randomUUID } from 'node:crypto';
import type { RevocationEntry, RevocationStore } from '../revocation/denylist';
import { linkTo, type RedisClientLike } from './clients';
import { deadline, list, px, storeOptions, text, type RedisStoreOptions } from './common';
import { Subscriptions } from './subscription';

/** Options of {@link redisRevocationStore}. */
export interface RedisRevocationStoreOptions extends RedisStoreOptions {
  /**
   * Also read, on every load, the keys earlier releases wrote (`tokengate:deny:{kind}:{value}:{at}`,
   * found with `SCAN`), and copy them into the current layout. Single servers only: a cluster's `SCAN`
   * misses nodes, and that layout never worked there. Default `true`; set `false` once no instance
   * runs a release before this one.
   */
  legacyKeys?: boolean;
}

/** Entries read per `ZRANGEBYSCORE` of a load. */
const PAGE = 1000;
/** Legacy keys read per `MGET`. */
const LEGACY_BATCH = 500;

function parseEntry(value: string | null): RevocationEntry | undefined {
  if (value === null) return undefined;
  try {
    const entry = JSON.parse(value) as RevocationEntry;
    const kinds = ['jti', 'sid', 'sub'];
    return kinds.includes(entry.kind) && typeof entry.value === 'string' && typeof entry.at === 'number' && typeof entry.until === 'number' ? entry : undefined;
  } catch {
    return undefined;
  }
}

/** The members and scores of a `WITHSCORES` reply: flat in RESP2, pairs in RESP3. */
function scored(reply: unknown): Array<{ member: string | null; score: number }> {
  const items = list(reply);
  if (items.length > 0 && Array.isArray(items[0])) return items.map((pair) => ({ member: text(list(pair)[0]), score: Number(list(pair)[1]) }));
  const out: Array<{ member: string | null; score: number }> = [];
  for (let i = 0; i + 1 < items.length; i += 2) out.push({ member: text(items[i]), score: Number(text(items[i + 1]) ?? items[i + 1]) });
  return out;
}

/**
 * A {@link RevocationStore} on Redis or Redis Cluster (node-redis 5+ or ioredis 5, see
 * {@link RedisClientLike}).
 *
 * - Every revocation is one member of the sorted set `{tokengate}:deny` (the prefix in braces, a
 *   hash tag; the entry as JSON, scored by its `until`): one key, so one slot, and `load()` reads it from one node, in pages, whatever the
 *   cluster. A late write of an older entry adds a member beside the newer one and never replaces
 *   it; every instance merges them. Members whose `until` has passed are trimmed on every add and
 *   load, and never returned.
 * - New entries are announced on the channel `tokengate:deny` with a classic `PUBLISH`, which a
 *   cluster forwards to every node. The subscription is a connection this store opens itself per
 *   guard (a duplicate of your client, or in a cluster of one master's client, opened again on
 *   another master when it drops) and closes when subscribing fails (the guard then tries again).
 * - Logout-token ids are claimed once for the whole fleet with `SET NX` (`tokengate:once:{id}`),
 *   marked with this store's own id, so a claim whose answer was lost is known as its own when retried.
 * - Every command has the `timeout` deadline.
 *
 * `close()` ends every subscription of this store: give each guard its own store (they can share
 * one client).
 *
 * @example
 * const redis = await createClient({ url: 'redis://127.0.0.1:6379' }).connect();   // or new Redis(), new Redis.Cluster([...]), createCluster({ rootNodes })
 * const guard = createGuard({ issuer, audience, revocation: { store: redisRevocationStore(redis) } });
 */
export function redisRevocationStore(client: RedisClientLike, options: RedisRevocationStoreOptions = {}): RevocationStore {
  const { prefix, timeout, clock } = storeOptions(options);
  if (options.legacyKeys !== undefined && typeof options.legacyKeys !== 'boolean') throw new TypeError('tokengate/redis: option "legacyKeys" must be a boolean');
  const link = linkTo(client);
  const channel = `${prefix}:deny`;
  const entriesKey = `{${prefix}}:deny`;
  const legacy = options.legacyKeys !== false && !link.cluster;
  const run = (args: string[]) => deadline(link.command(args), timeout, args[0]!);
  /** Subscriptions by the `onEntry` of their guard. */
  const subscriptions = new Subscriptions(link, timeout);
  /** Marks this store's claims, so that a claim whose answer was lost (a timeout) is known as its own when retried. */
  const owner = randomUUID();
  const trim = () => run(['ZREMRANGEBYSCORE', entriesKey, '-inf', String(clock())]);

  /** The live entries, in pages ordered by `until`; the cursor is a score plus the members already read at it. */
  const readEntries = async (): Promise<RevocationEntry[]> => {
    const entries: RevocationEntry[] = [];
    let min = `(${clock()}`;
    let minScore = NaN;
    let skip = 0;
    for (;;) {
      const page = scored(await run(['ZRANGEBYSCORE', entriesKey, min, '+inf', 'WITHSCORES', 'LIMIT', String(skip), String(PAGE)]));
      for (const { member } of page) {
        const entry = parseEntry(member);
        if (entry !== undefined) entries.push(entry);
      }
      if (page.length < PAGE) return entries;
      const top = page[page.length - 1]!.score;
      if (top === minScore) skip += page.length;
      else {
        minScore = top;
        min = String(top);
        skip = page.filter((item) => item.score === top).length;
      }
    }
  };

  /** The entries under the previous layout's keys, copied into the sorted set. */
  const readLegacy = async (): Promise<RevocationEntry[]> => {
    const keys: string[] = [];
    let cursor = '0';
    do {
      const [next, batch] = list(await run(['SCAN', cursor, 'MATCH', `${channel}:*`, 'COUNT', '500']));
      cursor = text(next) ?? '0';
      for (const key of list(batch)) {
        const name = text(key);
        if (name !== null) keys.push(name);
      }
    } while (cursor !== '0');
    const entries: RevocationEntry[] = [];
    for (let i = 0; i < keys.length; i += LEGACY_BATCH) {
      const values = list(await run(['MGET', ...keys.slice(i, i + LEGACY_BATCH)])).map(text);
      const copy: string[] = [];
      for (const value of values) {
        const entry = parseEntry(value);
        if (entry === undefined) continue;
        entries.push(entry);
        copy.push(String(entry.until), value!);
      }
      if (copy.length > 0) await run(['ZADD', entriesKey, ...copy]);
    }
    return entries;
  };

  return {
    async add(entry) {
      const value = JSON.stringify(entry);
      await run(['ZADD', entriesKey, String(entry.until), value]);
      await trim();
      await run(['PUBLISH', channel, value]);
    },
    async load() {
      await trim();
      const entries = await readEntries();
      if (legacy) entries.push(...(await readLegacy()));
      return entries;
    },
    async subscribe(onEntry, onState) {
      const message = (value: string) => {
        const entry = parseEntry(value);
        if (entry !== undefined) onEntry(entry);
      };
      await subscriptions.add(onEntry, channel, message, onState);
    },
    async close() {
      subscriptions.close();
    },
    async claimOnce(id, until) {
      const key = `${prefix}:once:${id}`;
      const set = await run(['SET', key, owner, 'PX', px(until, clock()), 'NX']);
      if (set !== null && set !== undefined) return true;
      // Taken: by another instance, or by this store in an attempt whose answer timed out.
      return text(await run(['GET', key])) === owner;
    },
  };
}
