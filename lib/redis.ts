/**
 * `tokengate/redis`: the denylist, backend sessions and liveness answers (Okta sessions,
 * introspection) shared by every instance, on a Redis client you already have: node-redis 5+
 * (`createClient()` or `createCluster()` from `redis` or `@redis/client`) or ioredis 5
 * (`new Redis()` or `new Redis.Cluster()`). The kind of client is told by its shape, so the same
 * functions take all four; see {@link RedisClientLike}.
 *
 * @example
 * const redis = await createClient({ url: 'redis://127.0.0.1:6379' }).connect();   // or: new Redis('redis://127.0.0.1:6379')
 * const guard = createGuard({ issuer, audience, revocation: { store: redisRevocationStore(redis) },
 *   backendSessions: { store: redisSessionStore(redis) }, sessions: { apiToken, store: redisAnswerStore(redis) } });
 */
export type { IoRedisClusterLike, IoRedisLike, IoRedisSubscriberLike, NodeRedisClientLike, NodeRedisClusterLike, RedisClientLike, RedisSubscriberLike } from './redis/clients';
export type { RedisStoreOptions } from './redis/common';
export { redisRevocationStore, type RedisRevocationStoreOptions } from './redis/revocation-store';
export { redisAnswerStore } from './redis/answer-store';
export { redisSessionStore } from './redis/session-store';
