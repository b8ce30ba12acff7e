import { createHash } from 'node:crypto';
import type { UpstreamUnavailableError } from '../errors';
import { emit, type TokengateEvent } from '../events';
import { settleWithin } from '../util/deadline';
import type { AnswerCodec, AnswerStore } from './answer-store';
import type { UpstreamGate } from './gate';
import type { Renewable } from './renewals';

/** What the sharing of one service's answers needs. */
export interface SharedAnswersConfig<E> {
  store: AnswerStore;
  service: 'introspection' | 'sessions';
  /** Part of every key: guards of different issuers (or Okta orgs) never share answers. */
  scope: string;
  codec: AnswerCodec<E>;
  /** How long a lease holds, and how long another instance waits for its answer, ms. */
  wait: number;
  /** Seconds for the `Retry-After` of a failure another instance saw, without a pause. */
  retryAfter: number;
  gate: UpstreamGate;
  clock: () => number;
  onEvent: ((event: TokengateEvent) => void) | undefined;
  unavailable: (message: string, retryAfter: number, cause?: unknown) => UpstreamUnavailableError;
}

/** An answer obtained for a key; `asked` when this instance asked the upstream (its answer is to be shared). */
export interface Obtained<E> {
  entry: E;
  asked: boolean;
}

/** How long the store is left alone after it failed, ms. */
const STORE_RETRY = 5000;

type Read<E> = { entry: E } | { failed: string } | undefined;

/**
 * One service's answers shared through an {@link AnswerStore}: on a local miss, the store first;
 * then one instance of the fleet takes the lease and asks the upstream, and announces the answer,
 * while the others wait for it (at most `wait` ms, then ask themselves). A rate-limit pause one
 * instance's gate starts is stored and announced, and pauses every gate. While the store fails or
 * its subscription is down, the instance asks the upstream itself (left alone for 5 s after a
 * failure, `liveness.shared` events say so); nothing waits on a store beyond `wait`.
 */
export class SharedAnswers<E extends Renewable> {
  hits = 0;
  waits = 0;
  leases = 0;
  fallbacks = 0;
  private live = false;
  private downUntil = -Infinity;
  /** What the last `liveness.shared` event said; `undefined` before the first. */
  private reported: boolean | undefined;
  private subscribing: Promise<void> | undefined;
  private closed = false;
  private readonly waiters = new Map<string, Set<(value: string | undefined) => void>>();
  private readonly pauseKey: string;
  private readonly onAnswer = (key: string, value: string): void => this.heard(key, value);

  constructor(private readonly config: SharedAnswersConfig<E>) {
    this.pauseKey = `${config.service}:pause`;
    config.gate.onRateLimit = (until, reason) => this.send(this.pauseKey, JSON.stringify({ pause: until, reason }), until);
    this.connect();
  }

  /** Settles once the subscription attempt under way has (never rejects). */
  async ready(): Promise<void> {
    await this.subscribing;
  }

  /** Whether the store is in use now. */
  get usable(): boolean {
    return !this.closed && this.live && this.config.clock() >= this.downUntil;
  }

  /** {@link SharedAnswers.usable}, on the request path: a subscription that is down is tried again once the store has been left alone long enough. */
  private engage(): boolean {
    const rested = this.config.clock() >= this.downUntil;
    if (!this.live && rested && this.subscribing === undefined) this.connect();
    const usable = !this.closed && this.live && rested;
    if (usable && this.reported !== true) {
      this.reported = true;
      emit(this.config.onEvent, { type: 'liveness.shared', service: this.config.service, usable });
    }
    return usable;
  }

  /** The store key of an id (a session id, a token): the service and a SHA-256 of the scope and the id. */
  key(id: string): string {
    return `${this.config.service}:${createHash('sha256').update(`${this.config.scope}\n${id}`).digest('base64url')}`;
  }

  /**
   * The answer for `id`: from the store, from the instance holding the lease, or from `call` (the
   * gated upstream call). `renewing`: an answer due for renewal in the store does not count.
   */
  async obtain(id: string, renewing: boolean, call: () => Promise<E>): Promise<Obtained<E>> {
    if (!this.engage()) return this.alone(call);
    const { store, gate, wait } = this.config;
    const key = this.key(id);
    let won = false;
    let paused = false;
    try {
      const found = this.read(await this.within(store.get(key)), renewing);
      if (found !== undefined && 'entry' in found) {
        this.hits++;
        return { entry: found.entry, asked: false };
      }
      // Paused: the gate refuses at once, and no lease makes the others wait for nothing.
      paused = gate.wait() > 0;
      if (!paused) won = await this.within(store.lease(key, wait));
    } catch (error) {
      this.failed(error);
      return this.alone(call);
    }
    if (paused) return { entry: await call(), asked: false };
    if (won) {
      this.leases++;
      return { entry: await this.announced(key, call), asked: true };
    }
    this.waits++;
    const waited = await this.waitFor(key, renewing);
    if (waited !== undefined && 'entry' in waited) return { entry: waited.entry, asked: false };
    if (waited !== undefined) throw this.config.unavailable(`failed at another instance: ${waited.failed}`, gate.wait() > 0 ? gate.wait() / 1000 : this.config.retryAfter);
    this.fallbacks++;
    return { entry: await this.announced(key, call), asked: true };
  }

  /** Stores and announces an answer this instance got (`until` 0: announced only, for those waiting). */
  share(id: string, entry: E, until: number): void {
    if (this.engage()) this.send(this.key(id), JSON.stringify({ answer: this.config.codec.encode(entry) }), until);
  }

  /** Removes what the store holds for `id` (logout). */
  forget(id: string): void {
    if (!this.engage()) return;
    this.within(this.config.store.delete(this.key(id))).catch((error: unknown) => this.failed(error));
  }

  /** Stops sharing and closes the store. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.config.gate.onRateLimit = undefined;
    this.wake();
    await this.within(this.config.store.close()).catch(() => undefined);
  }

  private async alone(call: () => Promise<E>): Promise<Obtained<E>> {
    this.fallbacks++;
    return { entry: await call(), asked: false };
  }

  /** Runs the upstream call; a failure is announced to whoever waits for it. */
  private async announced(key: string, call: () => Promise<E>): Promise<E> {
    try {
      return await call();
    } catch (error) {
      const cause = (error as { cause?: unknown }).cause;
      this.send(key, JSON.stringify({ failed: (cause instanceof Error ? cause : (error as Error)).message }), 0);
      throw error;
    }
  }

  private read(value: string | undefined, renewing: boolean): Read<E> {
    if (typeof value !== 'string') return undefined;
    let parsed: { answer?: unknown; failed?: unknown };
    try {
      parsed = JSON.parse(value) as typeof parsed;
    } catch {
      return undefined;
    }
    if (typeof parsed?.failed === 'string') return { failed: parsed.failed.slice(0, 200) };
    const now = this.config.clock();
    const entry = parsed?.answer === undefined ? undefined : this.config.codec.decode(parsed.answer, now);
    if (entry === undefined || !(entry.until > now) || (renewing && !(entry.refreshFrom > now))) return undefined;
    return { entry };
  }

  /** Waits for the answer of the instance holding the lease: announced, or landed in the store; `undefined` after `wait` ms. */
  private waitFor(key: string, renewing: boolean): Promise<Read<E>> {
    return new Promise((resolve) => {
      const listeners = this.waiters.get(key) ?? new Set();
      this.waiters.set(key, listeners);
      const finish = (result: Read<E>) => {
        clearTimeout(timer);
        listeners.delete(listener);
        if (listeners.size === 0 && this.waiters.get(key) === listeners) this.waiters.delete(key);
        resolve(result);
      };
      const listener = (value: string | undefined) => {
        if (value === undefined) return finish(undefined);
        const read = this.read(value, renewing);
        if (read !== undefined) finish(read);
      };
      listeners.add(listener);
      const timer = setTimeout(() => finish(undefined), this.config.wait);
      timer.unref();
      // It may have landed between the first read and the listener.
      this.within(this.config.store.get(key)).then(
        (value) => {
          const read = this.read(value, renewing);
          if (read !== undefined && 'entry' in read) finish(read);
        },
        () => undefined,
      );
    });
  }

  private heard(key: string, value: string): void {
    if (key === this.pauseKey) return this.paused(value);
    for (const listener of [...(this.waiters.get(key) ?? [])]) listener(value);
  }

  /** A pause another instance announced (or this one, which changes nothing). */
  private paused(value: string | undefined): void {
    try {
      const { pause, reason } = JSON.parse(value ?? 'null') as { pause?: unknown; reason?: unknown };
      if (typeof pause === 'number' && pause > this.config.clock()) this.config.gate.pause(pause, `${typeof reason === 'string' ? reason.slice(0, 100) : 'rate-limited'}, seen by another instance`);
    } catch {
      // Not a pause: ignored.
    }
  }

  private send(key: string, value: string, until: number): void {
    this.within(this.config.store.put(key, value, until)).catch((error: unknown) => this.failed(error));
  }

  private connect(): void {
    if (this.closed) return;
    const onState = (live: boolean) => {
      if (this.closed) return;
      this.live = live;
      if (!live) this.failed(new Error('its subscription dropped'));
    };
    this.subscribing = this.within(this.config.store.subscribe(this.onAnswer, onState))
      .then(
        async () => {
          this.live = !this.closed;
          this.paused(await this.within(this.config.store.get(this.pauseKey)));
        },
        (error: unknown) => this.failed(error),
      )
      .catch((error: unknown) => this.failed(error))
      .finally(() => {
        this.subscribing = undefined;
      });
  }

  /** The store failed: it is left alone for a while, and whoever waits asks the upstream. */
  private failed(error: unknown): void {
    this.downUntil = this.config.clock() + STORE_RETRY;
    this.wake();
    if (this.reported !== false) {
      this.reported = false;
      emit(this.config.onEvent, { type: 'liveness.shared', service: this.config.service, usable: false, message: error instanceof Error ? error.message : String(error) });
    }
  }

  /** Every waiter stops waiting (and asks the upstream). */
  private wake(): void {
    for (const listeners of [...this.waiters.values()]) for (const listener of [...listeners]) listener(undefined);
  }

  /** A store call that cannot take longer than `wait`. */
  private within<T>(operation: Promise<T>): Promise<T> {
    return settleWithin(() => operation, this.config.wait, () => new Error(`the answer store did not answer within ${this.config.wait} ms`));
  }
}
