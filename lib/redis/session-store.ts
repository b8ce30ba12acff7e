import type { BackendSessionData, BackendSessionStore } from '../sessions/store';
import { linkTo, type RedisClientLike } from './clients';
import { deadline, list, px, storeOptions, text, type RedisStoreOptions } from './common';

/**
 * A {@link BackendSessionStore} on Redis or Redis Cluster (node-redis 5+ or ioredis 5):
 * `tokengate:sess:{id}` holds the session (expiring with it), and the sets `tokengate:sess-sid:{sid}`
 * and `tokengate:sess-sub:{subject}` index it for logout. No command names two keys, so sessions
 * spread over a cluster's slots. Every command has the `timeout` deadline. Tokens are stored as
 * they are: protect Redis as you protect the tokens (ACLs, TLS, no public port).
 *
 * @example
 * const guard = createGuard({ issuer, audience, client, backendSessions: { store: redisSessionStore(redis) } });
 */
export function redisSessionStore(client: RedisClientLike, options: RedisStoreOptions = {}): BackendSessionStore {
  const { prefix, timeout, clock } = storeOptions(options);
  const link = linkTo(client);
  const run = (args: string[]) => deadline(link.command(args), timeout, args[0]!);
  const key = (id: string) => `${prefix}:sess:${id}`;
  const index = async (name: string, member: string, ttl: string) => {
    await run(['SADD', name, member]);
    await run(['PEXPIRE', name, ttl]);
  };
  return {
    async get(id) {
      const value = text(await run(['GET', key(id)]));
      if (value === null) return undefined;
      try {
        return JSON.parse(value) as BackendSessionData;
      } catch {
        return undefined;
      }
    },
    async set(id, data) {
      const ttl = px(data.expiresAt, clock());
      await run(['SET', key(id), JSON.stringify(data), 'PX', ttl]);
      if (data.sid !== undefined) await index(`${prefix}:sess-sid:${data.sid}`, id, ttl);
      if (data.subject !== undefined) await index(`${prefix}:sess-sub:${data.subject}`, id, ttl);
    },
    async delete(id) {
      await run(['DEL', key(id)]);
    },
    async deleteWhere(match) {
      const names = [match.sid !== undefined ? `${prefix}:sess-sid:${match.sid}` : undefined, match.subject !== undefined ? `${prefix}:sess-sub:${match.subject}` : undefined].filter(
        (name): name is string => name !== undefined,
      );
      let deleted = 0;
      for (const name of names) {
        const ids = list(await run(['SMEMBERS', name])).map(text);
        // One DEL per session: in a cluster the sessions live in different slots.
        const counts = await Promise.all(ids.map((id) => (id === null ? 0 : run(['DEL', key(id)]))));
        deleted += counts.reduce<number>((sum, count) => sum + Number(count), 0);
        await run(['DEL', name]);
      }
      return deleted;
    },
  };
}
