import { createPublicKey, type JsonWebKey, type KeyObject } from 'node:crypto';
import { UpstreamProblem, parseJson, type Discovery } from './discovery';
import { KeysUnavailableError, UnknownKeyError } from './errors';
import { emit } from './events';
import type { HttpClient } from './http';
import { printable, type JwtHeader } from './jwt';
import type { Algorithm, ResolvedOptions } from './options';

/** One public key of the issuer, bound to the algorithms it may verify. */
export interface VerificationKey {
  /** The JWK's `kid`, if it has one. */
  readonly kid: string | undefined;
  /** The imported public key. */
  readonly key: KeyObject;
  /** Algorithms this key may verify: its type's family, narrowed by the JWK's `alg` and the allow-list. */
  readonly algorithms: ReadonlySet<Algorithm>;
  /** Set when the key left the issuer's key set; it then verifies nothing. */
  removed: boolean;
}

const RSA_ALGS: Algorithm[] = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'];
const EC_ALGS = new Map<unknown, Algorithm[]>([['P-256', ['ES256']], ['P-384', ['ES384']], ['P-521', ['ES512']]]);
const OKP_ALGS = new Map<unknown, Algorithm[]>([['Ed25519', ['EdDSA', 'Ed25519']], ['Ed448', ['EdDSA']]]);

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
    private readonly options: ResolvedOptions,
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
    if (!this.lastFetchForKid || now - this.lastKidFetch >= this.options.keySet.cooldown * 1000) {
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
    const backingOff = now - this.failedAt < this.options.keySet.retryAfter * 1000;
    const lastFailed = this.lastOutcomeFailed;
    const staleUsable = this.all.length > 0 && now < this.expiresAt + this.options.keySet.staleIfError * 1000;
    // Fresh keys, or an issuer already known to be in trouble while held keys may still serve:
    // answer now and refresh in the background, so an outage costs at most one wait per request.
    if (now < this.expiresAt || (lastFailed && staleUsable)) {
      if (!backingOff) this.refresh().catch(() => undefined);
      return;
    }
    if (!backingOff || this.inflight !== undefined) await this.refresh().catch(() => undefined);
    if (this.options.clock() >= this.expiresAt && now >= this.expiresAt + this.options.keySet.staleIfError * 1000) {
      throw this.unavailable();
    }
  }

  private unavailable(): KeysUnavailableError {
    const wait = Math.max(0, this.failedAt + this.options.keySet.retryAfter * 1000 - this.options.clock()) / 1000;
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
    const heldKeys = this.all.length > 0 && started < this.expiresAt + this.options.keySet.staleIfError * 1000;
    try {
      const uri = this.options.jwksUri ?? (await this.discovery.get()).jwks_uri;
      const response = await this.http
        .request({ method: 'GET', url: uri, headers: { accept: 'application/jwk-set+json, application/json' }, ...this.options.keySet })
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
      let imported: ReturnType<KeySet['importKey']>;
      try {
        imported = this.importKey(entry);
      } catch {
        imported = undefined;
      }
      if (imported === undefined) {
        skipped++;
        continue;
      }
      const [identity, kid, build] = imported;
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
    const k = this.options.keySet;
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

  /**
   * Reads one JWK. Returns its identity (type and public material), its kid and a builder, or
   * `undefined` to skip it: not a public signing key of a supported type, RSA under 2048 bits, an
   * `alg` that does not fit the key, or no algorithm left after the allow-list.
   */
  private importKey(entry: unknown): [string, string | undefined, () => VerificationKey] | undefined {
    if (entry === null || typeof entry !== 'object') return undefined;
    const jwk = entry as Record<string, unknown>;
    if (jwk.kid !== undefined && typeof jwk.kid !== 'string') return undefined;
    if (jwk.use !== undefined && jwk.use !== 'sig') return undefined;
    if (jwk.key_ops !== undefined && !(Array.isArray(jwk.key_ops) && jwk.key_ops.includes('verify'))) return undefined;
    let family: Algorithm[];
    let material: JsonWebKey;
    if (jwk.kty === 'RSA' && typeof jwk.n === 'string' && typeof jwk.e === 'string') {
      family = RSA_ALGS;
      material = { kty: 'RSA', n: jwk.n, e: jwk.e };
    } else if (jwk.kty === 'EC' && EC_ALGS.has(jwk.crv) && typeof jwk.x === 'string' && typeof jwk.y === 'string') {
      family = EC_ALGS.get(jwk.crv)!;
      material = { kty: 'EC', crv: jwk.crv as string, x: jwk.x, y: jwk.y };
    } else if (jwk.kty === 'OKP' && OKP_ALGS.has(jwk.crv) && typeof jwk.x === 'string') {
      family = OKP_ALGS.get(jwk.crv)!;
      material = { kty: 'OKP', crv: jwk.crv as string, x: jwk.x };
    } else {
      return undefined;
    }
    if (jwk.alg !== undefined) {
      if (!family.includes(jwk.alg as Algorithm)) return undefined;
      family = [jwk.alg as Algorithm];
    }
    const algorithms = new Set(family.filter((alg) => this.options.algorithms.has(alg)));
    if (algorithms.size === 0) return undefined;
    let key: KeyObject;
    try {
      key = createPublicKey({ key: material, format: 'jwk' });
    } catch {
      return undefined;
    }
    if (material.kty === 'RSA' && (key.asymmetricKeyDetails?.modulusLength ?? 0) < 2048) return undefined;
    const kid = jwk.kid as string | undefined;
    const identity = `${kid ?? ''}|${[...algorithms].join(',')}|${material.crv ?? ''}|${material.n ?? material.x}|${material.y ?? ''}`;
    return [identity, kid, () => ({ kid, key, algorithms, removed: false })];
  }
}

