import type { IoRedisLike, NodeRedisClientLike, RedisLink, RedisSubscriberLike } from './clients';
import { deadline } from './common';

/** Where a subscription's messages and state changes go. */
export interface SubscriptionHandlers {
  message(channel: string, message: string): void;
  /** `false` when the connection drops, `true` once it is subscribed again; never before the first subscription resolved. */
  state(live: boolean): void;
}

/** A live subscription; `close()` ends it for good. */
export interface Subscription {
  close(): void;
}

/** One subscriber connection: `start` connects and subscribes, each step within `timeout` seconds. */
interface Connection {
  start(timeout: number): Promise<void>;
  destroy(): void;
}

/** First wait before a dropped cluster subscription is opened again, ms; it doubles up to {@link REOPEN_MAX}. */
const REOPEN_FIRST = 100;
const REOPEN_MAX = 5000;

/**
 * Subscribes to `channels` on a connection of its own. On a single server, the client's own
 * reconnection brings it back (reported through `state`). In a cluster a classic `PUBLISH` reaches
 * every node, so one master's connection hears everything; when it drops, it is closed and a new one
 * is opened, with backoff, on a master chosen again from the current topology (so a node that failed
 * over is left behind). Rejects, having released the connection, when the first subscription fails.
 */
export async function subscribe(link: RedisLink, channels: readonly string[], handlers: SubscriptionHandlers, timeout: number): Promise<Subscription> {
  let closed = false;
  let current: Connection | undefined;
  let reopenDelay = REOPEN_FIRST;
  let reopenTimer: NodeJS.Timeout | undefined;

  const scheduleReopen = () => {
    if (closed || reopenTimer !== undefined) return;
    reopenTimer = setTimeout(() => {
      reopenTimer = undefined;
      open().then(
        () => {
          reopenDelay = REOPEN_FIRST;
          if (!closed) handlers.state(true);
        },
        () => {
          reopenDelay = Math.min(reopenDelay * 2, REOPEN_MAX);
          scheduleReopen();
        },
      );
    }, reopenDelay);
    reopenTimer.unref();
  };

  const open = async (): Promise<void> => {
    if (closed) return;
    const source = await deadline(link.subscriberSource(), timeout, 'a cluster node');
    let started = false;
    const onState = (live: boolean) => {
      if (closed || !started || current !== connection) return;
      if (!link.cluster) return handlers.state(live);
      if (live) return;
      // A dropped cluster connection is replaced, on whichever master the topology names now.
      current = undefined;
      connection.destroy();
      handlers.state(false);
      scheduleReopen();
    };
    const forward = (channel: string, message: string) => {
      if (!closed && current === connection) handlers.message(channel, message);
    };
    const connection = source.kind === 'ioredis' ? ioredisConnection(source.client, channels, forward, onState) : nodeRedisConnection(source.client, channels, forward, onState);
    current = connection;
    try {
      await connection.start(timeout);
    } catch (error) {
      // A connection that never subscribed is released here, or every retry would leak one.
      if (current === connection) current = undefined;
      connection.destroy();
      throw error;
    }
    started = true;
    if (closed) connection.destroy();
  };

  await open();
  return {
    close() {
      closed = true;
      clearTimeout(reopenTimer);
      current?.destroy();
      current = undefined;
    },
  };
}

/** Destroys a node-redis connection whatever state it is in (it throws when it was never open). */
function destroyQuietly(connection: RedisSubscriberLike): void {
  try {
    connection.destroy();
  } catch {
    // Already closed: nothing is held.
  }
}

/** node-redis: `duplicate()`, `connect()`, `subscribe(channel, listener)`; it resubscribes on its own after a reconnect. */
function nodeRedisConnection(client: NodeRedisClientLike, channels: readonly string[], message: (channel: string, message: string) => void, state: (live: boolean) => void): Connection {
  const sub = client.duplicate();
  sub.on('error', () => state(false));
  sub.on('end', () => state(false));
  sub.on('reconnecting', () => state(false));
  sub.on('ready', () => state(true));
  return {
    async start(timeout) {
      await deadline(sub.connect(), timeout, 'CONNECT');
      for (const channel of channels) await deadline(sub.subscribe(channel, (text) => message(channel, text)), timeout, 'SUBSCRIBE');
    },
    destroy: () => destroyQuietly(sub),
  };
}

/**
 * ioredis: `duplicate()` (connecting at once unless `lazyConnect`), `subscribe(...channels)` and
 * `'message'` events. After a reconnect it is live again only once it has subscribed again (asked
 * here, whatever `autoResubscribe` did, so no message sent after `true` is missed).
 */
function ioredisConnection(client: IoRedisLike, channels: readonly string[], message: (channel: string, message: string) => void, state: (live: boolean) => void): Connection {
  const sub = client.duplicate();
  let started = false;
  sub.on('message', (channel: string, text: string) => message(channel, text));
  for (const event of ['error', 'close', 'reconnecting', 'end'] as const) sub.on(event, () => state(false));
  sub.on('ready', () => {
    if (started) sub.subscribe(...channels).then(() => state(true), () => state(false));
  });
  return {
    async start(timeout) {
      if (sub.status === 'wait') await deadline(sub.connect(), timeout, 'CONNECT');
      else if (sub.status !== 'ready') await deadline(new Promise((resolve) => sub.on('ready', () => resolve(undefined))), timeout, 'CONNECT');
      await deadline(sub.subscribe(...channels), timeout, 'SUBSCRIBE');
      started = true;
    },
    destroy: () => sub.disconnect(),
  };
}

/**
 * The subscriptions one store opened, one per listener of a guard: a guard's resubscription
 * replaces its own only, one that lands after `close()` is closed at once, and `close()` ends all.
 */
export class Subscriptions {
  private readonly open = new Map<unknown, Subscription>();
  /** Counts `close()` calls. */
  private closings = 0;

  constructor(
    private readonly link: RedisLink,
    private readonly timeout: number,
  ) {}

  /** Subscribes `listener` (the key of its subscription) to `channel`, replacing its previous subscription. */
  async add(listener: unknown, channel: string, message: (message: string) => void, state: (live: boolean) => void): Promise<void> {
    const previous = this.open.get(listener);
    this.open.delete(listener);
    previous?.close();
    const closing = this.closings;
    const subscription = await subscribe(this.link, [channel], { message: (_channel, text) => message(text), state }, this.timeout);
    if (closing !== this.closings) subscription.close();
    else this.open.set(listener, subscription);
  }

  close(): void {
    this.closings++;
    for (const subscription of this.open.values()) subscription.close();
    this.open.clear();
  }
}
