import { randomUUID } from 'node:crypto';
import type { AnswerStore } from '../liveness/answer-store';
import { linkTo, type RedisClientLike } from './clients';
import { deadline, px, storeOptions, text, type RedisStoreOptions } from './common';
import { Subscriptions } from './subscription';

/**
 * An {@link AnswerStore} on Redis or Redis Cluster (node-redis 5+ or ioredis 5): the liveness
 * answers (Okta sessions, introspection) every instance of a fleet shares. Give it as
 * `sessions.store` and/or `introspection.store`.
 *
 * - `tokengate:answer:{key}` (with the default prefix) holds an answer until it expires (`SET PX`); `tokengate:lease:{key}` is
 *   the lease of the one instance asking the upstream (`SET NX PX`, marked with this store's id,
 *   deleted when its answer is put). Keys are a service and a SHA-256, never a token or a session
 *   id; no command names two keys, so answers spread over a cluster's slots.
 * - Answers, failures and rate-limit pauses are announced on the channel `tokengate:answers`
 *   (classic `PUBLISH`, which a cluster forwards to every node), to a subscription this store opens
 *   itself per guard, as {@link redisRevocationStore} does.
 * - Every command has the `timeout` deadline. `close()` ends every subscription of this store: give
 *   each guard its own (they can share one client, and both services of one guard can share it).
 *
 * @example
 * const guard = createGuard({ issuer, audience, sessions: { apiToken, store: redisAnswerStore(redis) },
 *   revocation: { store: redisRevocationStore(redis) } });
 */
export function redisAnswerStore(client: RedisClientLike, options: RedisStoreOptions = {}): AnswerStore {
  const { prefix, timeout, clock } = storeOptions(options);
  const link = linkTo(client);
  const run = (args: string[]) => deadline(link.command(args), timeout, args[0]!);
  const channel = `${prefix}:answers`;
  const answerKey = (key: string) => `${prefix}:answer:${key}`;
  const leaseKey = (key: string) => `${prefix}:lease:${key}`;
  const owner = randomUUID();
  const subscriptions = new Subscriptions(link, timeout);
  return {
    async get(key) {
      return text(await run(['GET', answerKey(key)])) ?? undefined;
    },
    async lease(key, ms) {
      const set = await run(['SET', leaseKey(key), owner, 'PX', String(Math.max(1, Math.ceil(ms))), 'NX']);
      return set !== null && set !== undefined;
    },
    async put(key, value, until) {
      const now = clock();
      if (until > now) await run(['SET', answerKey(key), value, 'PX', px(until, now)]);
      await run(['DEL', leaseKey(key)]);
      await run(['PUBLISH', channel, JSON.stringify({ key, value })]);
    },
    async delete(key) {
      await run(['DEL', answerKey(key)]);
    },
    async subscribe(onAnswer, onState) {
      const message = (announced: string) => {
        try {
          const { key, value } = JSON.parse(announced) as { key?: unknown; value?: unknown };
          if (typeof key === 'string' && typeof value === 'string') onAnswer(key, value);
        } catch {
          // Not an announcement of ours: ignored.
        }
      };
      await subscriptions.add(onAnswer, channel, message, onState);
    },
    async close() {
      subscriptions.close();
    },
  };
}
