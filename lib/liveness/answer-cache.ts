import { LRUCache } from 'lru-cache';
import type { UpstreamUnavailableError } from '../errors';
import type { TokengateEvent } from '../events';
import { UpstreamGate } from './gate';
import { Calls, Renewals, type Renewable } from './renewals';

/** Which upstream an answer cache fronts, and how its failures are told. */
export interface AnswerCacheConfig<E extends Renewable> {
  service: 'introspection' | 'sessions';
  /** Seconds an answer is fresh (its renewal is due `cacheTtl` after its call was sent). */
  cacheTtl: number;
  /** Most answers kept. */
  cacheMax: number;
  /** Seconds without calls after a failure. */
  retryAfter: number;
  clock: () => number;
  onEvent: ((event: TokengateEvent) => void) | undefined;
  /** The service's 503, built from a failure's message, seconds to wait, and cause. */
  unavailable: (message: string, retryAfter: number, cause?: unknown) => UpstreamUnavailableError;
  /** Whether an answer may be cached (an answer that broke the protocol is not). */
  keep: (entry: E) => boolean;
  /** Whether a cached answer is renewed while in use (passing answers are). */
  renew: (entry: E) => boolean;
}

/**
 * The cache in front of one liveness upstream (introspection, the Okta Sessions API): answers per
 * key for their TTL, one call in flight per key shared by every caller, answers in use renewed in
 * their last round trip (see {@link Renewals}), and a gate that stops calls while the upstream is
 * rate-limited or failing. A key forgotten (logout) while its call is in flight does not get that
 * call's answer cached.
 */
export class AnswerCache<E extends Renewable> {
  private readonly lru: LRUCache<string, E>;
  private readonly calls = new Calls<E>();
  readonly gate: UpstreamGate;
  private readonly renewals: Renewals<E>;
  hits = 0;
  misses = 0;

  constructor(private readonly config: AnswerCacheConfig<E>) {
    this.lru = new LRUCache({ max: config.cacheMax });
    this.gate = new UpstreamGate(config.retryAfter, config.clock);
    this.renewals = new Renewals(config.cacheTtl * 500, config.cacheMax, this.lru, this.calls, this.gate);
  }

  /** Answers held. */
  get size(): number {
    return this.lru.size;
  }

  /** The answer cached for `key`, fresh or not. */
  cached(key: string): E | undefined {
    return this.lru.get(key);
  }

  /** Whether `key` still holds this very answer (a logout meanwhile removed or replaced it otherwise). */
  holds(key: string, entry: E): boolean {
    return this.lru.peek(key) === entry;
  }

  /**
   * What every request does before it uses a cached answer: marks a fresh one used and starts the
   * renewals that are due. Returns whether `cached` is fresh (counted as a hit).
   */
  use(cached: E | undefined): boolean {
    if (!this.renewals.visit(cached, this.config.clock())) return false;
    this.hits++;
    return true;
  }

  /**
   * The answer from the upstream (counted as a miss): the call in flight for `key`, or a new one
   * from `load`. Rejects with the service's 503 when the upstream cannot answer or is paused.
   */
  async ask(key: string, load: () => Promise<E>): Promise<E> {
    this.misses++;
    const entry = await this.calls.share(key, () => this.fetch(key, load));
    // Used by this request (it may have joined a renewal).
    entry.lastUsed = this.config.clock();
    return entry;
  }

  /** Puts an answer the service learned otherwise (it closed the session itself); a call in flight for `key` will not overwrite it. */
  set(key: string, entry: E): void {
    this.calls.drop(key);
    this.lru.set(key, entry);
  }

  /** Forgets what is known of `key` (logout), including the answer of a call still in flight. */
  forget(key: string): void {
    this.calls.drop(key);
    this.lru.delete(key);
  }

  /** Stops renewals (the guard is closing). */
  stop(): void {
    this.renewals.stop();
  }

  /**
   * One call through the gate and what it teaches. A renewal is not a use: its answer takes the last
   * use of the answer it `replaced`.
   */
  private async fetch(key: string, load: () => Promise<E>, replaced?: E): Promise<E> {
    const { service, onEvent, unavailable } = this.config;
    const { value: entry, current } = await this.calls.ticketed(key, () => this.gate.run(service, onEvent, unavailable, load));
    if (replaced !== undefined) entry.lastUsed = replaced.lastUsed;
    if (current && entry.until > this.config.clock() && this.config.keep(entry)) {
      this.lru.set(key, entry);
      if (this.config.renew(entry)) this.renewals.add(key, entry, () => this.fetch(key, load, entry));
    }
    return entry;
  }
}
