import { KeysUnavailableError, UnknownKeyError } from '../errors';
import { emit, type TokengateEvent } from '../events';
import type { Algorithm } from '../jose/algorithms';
import type { JwtHeader } from '../jose/compact';
import { readJwk, type VerificationKey } from '../jose/jwk';
import { printable } from '../util/claims';
import type { Discovery } from './discovery';
import { parseJson, UpstreamProblem } from './problem';
import type { HttpClient } from './http';

export type { VerificationKey };

/** Limits and cache rules of the key set (the `keySet` option), in seconds and bytes. */
export interface KeySetLimits {
  timeout: number;
  maxBytes: number;
  cooldown: number;
  retryAfter: number;
  minCacheAge: number;
  maxCacheAge: number;
  defaultCacheAge: number;
  staleIfError: number;
}

/** What the key set needs of the guard. */
export interface KeySetConfig {
  /** The JWKS URL; from discovery when undefined. */
  jwksUri: string | undefined;
  algorithms: ReadonlySet<Algorithm>;
  limits: KeySetLimits;
  clock: () => number;
  onEvent: ((event: TokengateEvent) => void) | undefined;
}

/**
 * The issuer's key set: discovery, fetch, cache and refresh. One instance per guard.
 *
 * - The JWKS is fetched on first use, with the `keySet` timeout and size limit.
 * - It is kept for `Cache-Control: max-age` clamped to `[minCacheAge, maxCacheAge]`
 *   (`defaultCacheAge` without one), refreshed in the background once 80 % of that has passed.
 * - An unknown `kid` causes one refetch, shared by every concurrent caller; further refetches for
 *   unknown kids wait `cooldown` after it, unless another fetch (a scheduled one) came between.
 * - While the issuer is unreachable, held keys keep working for `staleIfError` past their age;
 *   a failed fetch is not retried for `retryAfter`.
 * - Entries that cannot be used are skipped; a document with no usable key is an upstream failure.
 * - A key that leaves the set is marked `removed` and handed to `onRemoved`.
 *
 * @see https://www.rfc-editor.org/rfc/rfc7517
 */
export class KeySet {
  private byKid = new Map<string, VerificationKey[]>();
  private all: VerificationKey[] = [];
  private identities = new Map<string, VerificationKey>();
  private expiresAt = -Infinity;
  /** When the set is due for a background refresh, ms. Read on every cache hit, so kept public. */
  refreshAt = -Infinity;
  /** When the last fetch caused by an unknown `kid` started, ms; and whether the latest fetch was one. */
  private lastKidFetch = -Infinity;
  private lastFetchForKid = false;
  private failedAt = -Infinity;
  /** Whether the last fetch that completed failed (an attempt in flight does not count). */
  private lastOutcomeFailed = false;
  private lastError: Error | undefined;
  private inflight: Promise<void> | undefined;
  private closed = false;
  private fetches = 0;
  private failures = 0;

  constructor(
    private readonly options: KeySetConfig,
    private readonly http: HttpClient,
    private readonly discovery: Discovery,
    private readonly onRemoved: (key: VerificationKey) => void,
  ) {}

  /** Loads the keys if none are held yet (or they aged out). Rejects with {@link KeysUnavailableError}. */
  async ready(): Promise<void> {
    await this.current(this.options.clock());
  }

  /**
   * The key for a token header that already passed {@link checkHeader}. Rejects with
   * {@link UnknownKeyError} or {@link KeysUnavailableError}.
   */
  async keyFor(header: JwtHeader): Promise<VerificationKey> {
    const now = this.options.clock();
    await this.current(now);
    let key = this.find(header);
    if (key !== undefined) return key;
    if (this.inflight !== undefined) {
      await this.inflight.catch(() => undefined);
      key = this.find(header);
      if (key !== undefined) return key;
    }
    // The cooldown paces refetches caused by unknown kids only: after any other fetch (the first
    // one, a scheduled refresh), the first unknown kid refetches at once, so that a key published
    // just after that fetch (an emergency rotation) is found.
    if (!this.lastFetchForKid || now - this.lastKidFetch >= this.options.limits.cooldown * 1000) {
      await this.refresh(true).catch(() => undefined);
      key = this.find(header);
      if (key !== undefined) return key;
    }
    if (this.lastOutcomeFailed) throw this.unavailable();
    throw new UnknownKeyError(
      header.kid === undefined
        ? `The token has no "kid" and the issuer's key set has no single key for ${header.alg}`
        : `No key in the issuer's key set has kid "${printable(header.kid)}" for ${header.alg}`,
    );
  }

  /** Fetch counters and the key ids held. */
  stats(): { fetches: number; failures: number; kids: string[] } {
    return { fetches: this.fetches, failures: this.failures, kids: this.all.map((key) => key.kid ?? '(no kid)') };
  }

  /**
   * The key for a header when nothing needs waiting for: the set is fresh and holds the key.
   * `undefined` sends the caller to {@link KeySet.keyFor}, which refreshes and refetches as needed.
   */
  keyForFresh(header: JwtHeader, now: number): VerificationKey | undefined {
    return now < this.refreshAt ? this.find(header) : undefined;
  }

  /** Stops further fetches. */
  close(): void {
    this.closed = true;
  }

  /**
   * Keeps the set fresh: nothing before `refreshAt`; a background refresh between it and the
   * expiry; past the expiry, waits for the refetch (so a withdrawn key stops at once) unless the
   * last fetch already failed, in which case held keys serve at once within `staleIfError` while
   * the refetch runs in the background; past that bound, rejects with {@link KeysUnavailableError}.
   */
  async current(now: number): Promise<void> {
    if (now < this.refreshAt) return;
    const backingOff = now - this.failedAt < this.options.limits.retryAfter * 1000;
    const lastFailed = this.lastOutcomeFailed;
    const staleUsable = this.all.length > 0 && now < this.expiresAt + this.options.limits.staleIfError * 1000;
    // Fresh keys, or an issuer already known to be in trouble while held keys may still serve:
    // answer now and refresh in the background, so an outage costs at most one wait per request.
    if (now < this.expiresAt || (lastFailed && staleUsable)) {
      if (!backingOff) this.refresh().catch(() => undefined);
      return;
    }
    if (!backingOff || this.inflight !== undefined) await this.refresh().catch(() => undefined);
    if (this.options.clock() >= this.expiresAt && now >= this.expiresAt + this.options.limits.staleIfError * 1000) {
      throw this.unavailable();
    }
  }

  private unavailable(): KeysUnavailableError {
    const wait = Math.max(0, this.failedAt + this.options.limits.retryAfter * 1000 - this.options.clock()) / 1000;
    const why = this.lastError?.message ?? 'the key set could not be fetched';
    return new KeysUnavailableError(`No signing keys are available from the issuer: ${why}`, wait, { cause: this.lastError });
  }

  private find(header: JwtHeader): VerificationKey | undefined {
    const alg = header.alg;
    const candidates = header.kid === undefined ? this.all : this.byKid.get(header.kid);
    if (candidates === undefined) return undefined;
    let found: VerificationKey | undefined;
    for (const candidate of candidates) {
      if (!candidate.algorithms.has(alg)) continue;
      if (found !== undefined) return undefined;
      found = candidate;
    }
    return found;
  }

  /** Starts a fetch unless one is in flight; `forKid` when an unknown `kid` caused it. */
  private refresh(forKid = false): Promise<void> {
    if (this.closed) return Promise.reject(new UpstreamProblem('the guard is closed'));
    this.inflight ??= this.load(forKid).finally(() => {
      this.inflight = undefined;
    });
    return this.inflight;
  }

  private async load(forKid: boolean): Promise<void> {
    const started = this.options.clock();
    this.lastFetchForKid = forKid;
    if (forKid) this.lastKidFetch = started;
    this.fetches++;
    const heldKeys = this.all.length > 0 && started < this.expiresAt + this.options.limits.staleIfError * 1000;
    try {
      const uri = this.options.jwksUri ?? (await this.discovery.get()).jwks_uri;
      const response = await this.http
        .request({ method: 'GET', url: uri, headers: { accept: 'application/jwk-set+json, application/json' }, timeout: this.options.limits.timeout, maxBytes: this.options.limits.maxBytes })
        .catch((error: Error) => {
          throw new UpstreamProblem(`JWKS fetch failed: ${error.message}`, { cause: error });
        });
      if (response.status !== 200) {
        if (response.status === 404) this.discovery.reset();
        throw new UpstreamProblem(`JWKS fetch failed: ${uri} answered ${response.status}`);
      }
      const document = parseJson(response.body, uri);
      if (!Array.isArray(document.keys)) throw new UpstreamProblem(`${uri} is not a JWK set: it has no "keys" array`);
      this.install(document.keys, response.headers['cache-control'], uri);
      this.lastOutcomeFailed = false;
    } catch (error) {
      this.lastOutcomeFailed = true;
      this.failedAt = this.options.clock();
      this.failures++;
      this.lastError = error as Error;
      emit(this.options.onEvent, { type: 'keys.error', message: (error as Error).message, servingStale: heldKeys });
      throw error;
    }
  }

  private install(entries: unknown[], cacheControl: string | undefined, uri: string): void {
    const identities = new Map<string, VerificationKey>();
    const byKid = new Map<string, VerificationKey[]>();
    const all: VerificationKey[] = [];
    let skipped = 0;
    for (const entry of entries) {
      let imported;
      try {
        imported = readJwk(entry, this.options.algorithms);
      } catch {
        imported = undefined;
      }
      if (imported === undefined) {
        skipped++;
        continue;
      }
      const { identity, kid, build } = imported;
      const key = this.identities.get(identity) ?? build();
      if (identities.has(identity)) continue;
      identities.set(identity, key);
      all.push(key);
      if (kid !== undefined) {
        const list = byKid.get(kid);
        if (list === undefined) byKid.set(kid, [key]);
        else list.push(key);
      }
    }
    if (all.length === 0) {
      throw new UpstreamProblem(`${uri} holds no usable key for ${[...this.options.algorithms].join(', ')} (${entries.length} entries, all skipped)`);
    }
    const removed: string[] = [];
    for (const [identity, key] of this.identities) {
      if (identities.has(identity)) continue;
      key.removed = true;
      removed.push(key.kid ?? '(no kid)');
      this.onRemoved(key);
    }
    const k = this.options.limits;
    const declared = /(?:^|,)\s*max-age\s*=\s*"?(\d+)"?/i.exec(cacheControl ?? '');
    const noCache = /no-cache|no-store/i.test(cacheControl ?? '');
    const maxAge = Math.min(k.maxCacheAge, Math.max(k.minCacheAge, noCache ? 0 : declared ? Number(declared[1]) : k.defaultCacheAge));
    const now = this.options.clock();
    this.identities = identities;
    this.byKid = byKid;
    this.all = all;
    this.expiresAt = now + maxAge * 1000;
    this.refreshAt = now + maxAge * 800;
    emit(this.options.onEvent, {
      type: 'keys.refreshed',
      kids: all.map((key) => key.kid ?? '(no kid)'),
      removed,
      skipped,
      maxAge,
    });
  }
}
