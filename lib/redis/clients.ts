/**
 * The Redis clients `tokengate/redis` works with, told apart by shape, and the one way it talks to
 * each: raw commands (`sendCommand` on node-redis, `call` on ioredis), whose replies are the same
 * for every client, and subscriber connections opened on a duplicate.
 */

/** A subscriber connection, as node-redis's `client.duplicate()` returns it. */
export interface RedisSubscriberLike {
  connect(): Promise<unknown>;
  subscribe(channel: string, listener: (message: string) => void): Promise<unknown>;
  on(event: 'ready' | 'error' | 'end' | 'reconnecting', listener: (...args: unknown[]) => void): unknown;
  destroy(): void;
}

/** A node-redis 5+ client: `createClient()` from `redis` or `@redis/client`. */
export interface NodeRedisClientLike {
  /** A raw command (`['SET', key, value, ...]`). */
  sendCommand(args: string[]): Promise<unknown>;
  duplicate(): RedisSubscriberLike;
}

/** A node-redis 5+ cluster: `createCluster({ rootNodes })`. */
export interface NodeRedisClusterLike {
  /** A raw command, sent to the node that holds `firstKey`'s slot. */
  sendCommand(firstKey: string | undefined, isReadonly: boolean | undefined, args: string[]): Promise<unknown>;
  /** The master nodes of the topology last discovered. */
  readonly masters: readonly object[];
  /** The client of one node (a plain node-redis client). */
  nodeClient(node: object): PromiseLike<NodeRedisClientLike> | NodeRedisClientLike;
}

/** A subscriber connection, as ioredis's `redis.duplicate()` returns it. */
export interface IoRedisSubscriberLike {
  readonly status: string;
  connect(): Promise<unknown>;
  subscribe(...channels: string[]): Promise<unknown>;
  on(event: 'message', listener: (channel: string, message: string) => void): unknown;
  on(event: 'ready' | 'error' | 'close' | 'end' | 'reconnecting', listener: (...args: unknown[]) => void): unknown;
  disconnect(): void;
}

/** An ioredis 5 client: `new Redis(...)`. */
export interface IoRedisLike {
  /** A raw command (`call('SET', key, value, ...)`). */
  call(command: string, ...args: string[]): Promise<unknown>;
  duplicate(): IoRedisSubscriberLike;
}

/** An ioredis 5 cluster: `new Redis.Cluster([...])`. */
export interface IoRedisClusterLike {
  readonly isCluster: boolean;
  /** A raw command, routed by its key. */
  call(command: string, ...args: string[]): Promise<unknown>;
  /** The connected nodes with that role (plain ioredis clients). */
  nodes(role: 'master'): IoRedisLike[];
}

/**
 * A Redis client `tokengate/redis` accepts: node-redis 5+ (`createClient`, `createCluster`) or
 * ioredis 5 (`new Redis`, `new Redis.Cluster`), told apart by shape (ioredis has `call`, its cluster
 * `isCluster`; a node-redis cluster has `nodeClient`). Replies are read as RESP2 and RESP3 give them.
 */
export type RedisClientLike = NodeRedisClientLike | NodeRedisClusterLike | IoRedisLike | IoRedisClusterLike;

/** What a subscription is opened on: a plain client of either kind, whose duplicate subscribes. */
export type SubscriberSource = { kind: 'node-redis'; client: NodeRedisClientLike } | { kind: 'ioredis'; client: IoRedisLike };

/** A client reduced to what the stores need. Internal. */
export interface RedisLink {
  /** Whether it is a cluster: a subscription then follows the topology, and no command spans slots. */
  readonly cluster: boolean;
  /** One raw command; in a cluster it is routed by `args[1]`, the key (or channel). */
  command(args: string[]): Promise<unknown>;
  /** The client a subscriber connection is duplicated from: the client itself, or one master of the cluster, chosen at random. */
  subscriberSource(): Promise<SubscriberSource>;
}

const has = (value: object, name: string): boolean => typeof (value as Record<string, unknown>)[name] === 'function';

/** Tells the client kinds apart. Throws a `TypeError` for something that is none of them. */
export function linkTo(client: RedisClientLike): RedisLink {
  if (client === null || typeof client !== 'object') throw new TypeError('tokengate/redis: the client must be a node-redis 5+ or ioredis 5 client (or cluster)');
  if (has(client, 'call')) {
    const io = client as IoRedisLike & Partial<IoRedisClusterLike>;
    const command = (args: string[]) => io.call(args[0]!, ...args.slice(1));
    if (io.isCluster === true && has(io, 'nodes')) {
      const cluster = io as IoRedisClusterLike;
      return { cluster: true, command, subscriberSource: async () => ({ kind: 'ioredis', client: pick(cluster.nodes('master'), 'ioredis') }) };
    }
    return { cluster: false, command, subscriberSource: async () => ({ kind: 'ioredis', client: io }) };
  }
  if (has(client, 'nodeClient')) {
    const cluster = client as NodeRedisClusterLike;
    return {
      cluster: true,
      command: (args) => cluster.sendCommand(args[1], false, args),
      subscriberSource: async () => ({ kind: 'node-redis', client: await cluster.nodeClient(pick(cluster.masters, 'node-redis')) }),
    };
  }
  const plain = client as NodeRedisClientLike;
  return {
    cluster: false,
    command: (args) => plain.sendCommand(args),
    subscriberSource: async () => ({ kind: 'node-redis', client: plain }),
  };
}

function pick<T>(nodes: readonly T[], kind: string): T {
  if (nodes.length === 0) throw new Error(`the ${kind} cluster knows no master node yet (not connected?)`);
  return nodes[Math.floor(Math.random() * nodes.length)]!;
}
