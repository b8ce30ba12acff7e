import { createClient, createCluster } from '@redis/client';
import Redis, { Cluster } from 'ioredis';
import type { RedisClientLike } from 'tokengate/redis';

/** The two Redis clients `tokengate/redis` supports; every shared-store test runs with both. */
export const CLIENT_KINDS = ['node-redis', 'ioredis'] as const;
export type ClientKind = (typeof CLIENT_KINDS)[number];

/** A client a test opened, and how to let it go. */
export interface OpenClient {
  client: RedisClientLike;
  close(): void;
}

/**
 * A client of that kind for a server on 127.0.0.1, reconnecting every 100 ms. `wait: false` returns
 * it at once, without waiting for the server (which may be down).
 */
export async function serverClient(kind: ClientKind, port: number, { wait = true } = {}): Promise<OpenClient> {
  if (kind === 'node-redis') {
    const client = createClient({ url: `redis://127.0.0.1:${port}`, socket: { reconnectStrategy: () => 100, connectTimeout: 500 } });
    client.on('error', () => undefined);
    const connecting = client.connect();
    if (wait) await connecting;
    else void connecting.catch(() => undefined);
    return { client, close: () => client.destroy() };
  }
  const client = new Redis(port, '127.0.0.1', { retryStrategy: () => 100, connectTimeout: 500, maxRetriesPerRequest: null });
  client.on('error', () => undefined);
  if (wait) await new Promise((resolve) => client.once('ready', resolve));
  return { client, close: () => client.disconnect() };
}

/** A cluster client of that kind, connected to the cluster's nodes. */
export async function clusterClient(kind: ClientKind, nodes: ReadonlyArray<{ host: string; port: number }>): Promise<OpenClient> {
  if (kind === 'node-redis') {
    const cluster = createCluster({ rootNodes: nodes.map(({ host, port }) => ({ url: `redis://${host}:${port}` })), defaults: { socket: { reconnectStrategy: () => 100, connectTimeout: 500 } } });
    cluster.on('error', () => undefined);
    await cluster.connect();
    return { client: cluster, close: () => cluster.destroy() };
  }
  const cluster = new Cluster(nodes.map(({ host, port }) => ({ host, port })), { clusterRetryStrategy: () => 100, redisOptions: { connectTimeout: 500 } });
  cluster.on('error', () => undefined);
  await new Promise((resolve, reject) => {
    cluster.once('ready', resolve);
    cluster.once('end', () => reject(new Error('the ioredis cluster client gave up connecting')));
  });
  return { client: cluster, close: () => cluster.disconnect() };
}
