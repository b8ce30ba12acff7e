import { LRUCache } from 'lru-cache';
import type { UpstreamUnavailableError } from '../errors';
import type { TokengateEvent } from '../events';
import type { AnswerCodec, AnswerStore } from './answer-store';
import { UpstreamGate } from './gate';
import { Calls, Renewals, type Renewable } from './renewals';
import { SharedAnswers, type Obtained } from './shared-answers';

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
  /** Answers shared with the other instances through a store (see {@link SharedAnswers}); `wait` in ms. */
  shared?: { store: AnswerStore; scope: string; codec: AnswerCodec<E>; wait: number } | undefined;
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
  /** The fleet's answers, with a shared store. */
  readonly shared: SharedAnswers<E> | undefined;
  hits = 0;
  misses = 0;
  /** Hits by an answer past its TTL while its renewal was in flight (`staleWhileRevalidate`). */
  revalidating = 0;

  constructor(private readonly config: AnswerCacheConfig<E>) {
    this.lru = new LRUCache({ max: config.cacheMax });
    this.gate = new UpstreamGate(config.retryAfter, config.clock);
    this.renewals = new Renewals(config.cacheTtl * 500, config.cacheMax, this.lru, this.calls, this.gate);
    const { service, retryAfter, clock, onEvent, unavailable } = config;
    this.shared = config.shared && new SharedAnswers({ ...config.shared, service, retryAfter, gate: this.gate, clock, onEvent, unavailable });
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
   * What every request does before it uses the answer cached for `key`: marks it used and starts
   * the renewals that are due. Returns whether `cached` decides the request (counted as a hit):
   * fresh, or within `staleWhileRevalidate` past its TTL while its renewal is in flight.
   */
  use(key: string, cached: E | undefined): boolean {
    const now = this.config.clock();
    if (!this.renewals.visit(key, cached, now)) return false;
    this.hits++;
    if (!(cached!.until > now)) this.revalidating++;
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

  /** Puts an answer the service learned otherwise (it closed the session itself), in the shared store too; a call in flight for `key` will not overwrite it. */
  set(key: string, entry: E): void {
    this.calls.drop(key);
    this.lru.set(key, entry);
    this.shared?.share(key, entry, entry.until);
  }

  /** Forgets what is known of `key` (logout), including the answer of a call still in flight, and what the shared store holds. */
  forget(key: string): void {
    this.calls.drop(key);
    this.lru.delete(key);
    this.shared?.forget(key);
  }

  /** Settles once the shared store's first subscription attempt has (never rejects). */
  async ready(): Promise<void> {
    await this.shared?.ready();
  }

  /** Stops renewals and the sharing (the guard is closing). */
  async stop(): Promise<void> {
    this.renewals.stop();
    await this.shared?.close();
  }

  /**
   * One call through the gate and what it teaches. A renewal is not a use: its answer takes the last
   * use of the answer it `replaced`.
   */
  private async fetch(key: string, load: () => Promise<E>, replaced?: E): Promise<E> {
    const { service, onEvent, unavailable } = this.config;
    const call = () => this.gate.run(service, onEvent, unavailable, load);
    const shared = this.shared;
    const obtain = (): Promise<Obtained<E>> => (shared === undefined ? call().then((entry) => ({ entry, asked: false })) : shared.obtain(key, replaced !== undefined, call));
    const { value, current } = await this.calls.ticketed(key, obtain);
    const { entry, asked } = value;
    if (replaced !== undefined) entry.lastUsed = replaced.lastUsed;
    const kept = current && entry.until > this.config.clock() && this.config.keep(entry);
    if (kept) {
      this.lru.set(key, entry);
      if (this.config.renew(entry)) this.renewals.add(key, entry, () => this.fetch(key, load, entry));
    }
    // Stored for the fleet only when kept here (an answer from before a logout is not); announced anyway to whoever waits.
    if (asked) shared!.share(key, entry, kept ? entry.until : 0);
    return entry;
  }
}
