import { IntrospectionUnavailableError, TokenInactiveError } from '../errors';
import { emit, type TokengateEvent } from '../events';
import type { ClientCredentials, ResolvedClient } from '../issuer/client-auth';
import type { Discovery } from '../issuer/discovery';
import { postForm } from '../issuer/form';
import type { HttpClient } from '../issuer/http';
import { parseJson, UpstreamProblem } from '../issuer/problem';
import { AnswerCache } from './answer-cache';
import type { AnswerStore } from './answer-store';
import { renewalStart, type Renewable } from './renewals';

/** Options of RFC 7662 introspection (the `introspection` guard option). */
export interface IntrospectionOptions {
  /** The client tokengate authenticates as. Default: the guard's top-level `client`. */
  client?: ClientCredentials;
  /** Introspection endpoint. Default: `introspection_endpoint` from discovery. */
  endpoint?: string;
  /**
   * How long an active answer is reused, in seconds from its arrival (never past the token's `exp`);
   * an answer in use is renewed `cacheTtl` after the previous call was handed to the HTTP client,
   * while it still serves. Default 30.
   */
  cacheTtl?: number;
  /**
   * How long past `cacheTtl` an active answer may still serve while the call that renews it is in
   * flight (a request arriving then starts that call if none has), in seconds, 0–60; never past
   * `exp`. Requests then wait for no renewal slower than the call before it; 0: they do, and no
   * answer serves past its TTL. Default 1.
   */
  staleWhileRevalidate?: number;
  /** How long an inactive answer is reused when the token's `exp` is unknown (opaque tokens), in seconds. Default 300. */
  inactiveTtl?: number;
  /** Most answers kept. Default 10000. */
  cacheMax?: number;
  /** Deadline of one request, in seconds. Default 5. */
  timeout?: number;
  /** Largest response body, in bytes. Default 65536. */
  maxBytes?: number;
  /** No calls for this long after a failure (and the `Retry-After` of the 503), in seconds. Default 5. */
  retryAfter?: number;
  /**
   * Accept tokens that cannot be verified locally (not a JWT, or from an Okta org authorization
   * server) on introspection alone, building the result from the answer. Default `false`.
   */
  opaque?: boolean;
  /**
   * Shares answers with every instance using the same store (`redisAnswerStore()` from
   * `tokengate/redis`): one introspection call per token per `cacheTtl` for the whole fleet, and a
   * rate-limit pause seen by one instance pauses all. Keyed by a SHA-256 of the issuer and the token
   * (never the token itself); the value is the endpoint's answer (it names the user and client).
   * Default: none.
   */
  store?: AnswerStore;
}

/** Validated introspection options. Internal. */
export interface ResolvedIntrospection {
  client: ResolvedClient;
  endpoint: string | undefined;
  cacheTtl: number;
  staleWhileRevalidate: number;
  inactiveTtl: number;
  cacheMax: number;
  timeout: number;
  maxBytes: number;
  retryAfter: number;
  opaque: boolean;
  store: AnswerStore | undefined;
}

/** An introspection answer that passed the strict checks. */
export interface IntrospectionAnswer {
  active: boolean;
  /** The answer's members, `active` included. */
  response: Readonly<Record<string, unknown>>;
  /** Why an answer counts as inactive although it may say `active: true` (or says nothing usable), for the 401's message. */
  refusal?: string;
}

/** `token_type` values (RFC 7662 section 2.2, RFC 6749 section 7.1, compared case-insensitively) that name an access token. */
const ACCESS_TOKEN_TYPES = new Set(['bearer', 'dpop', 'access_token']);

interface Entry extends IntrospectionAnswer, Renewable {}

/** What the introspector needs to know of the guard. */
export interface IntrospectorContext {
  issuer: string;
  audiences: ReadonlySet<string>;
  clock: () => number;
  onEvent: ((event: TokengateEvent) => void) | undefined;
}

/**
 * RFC 7662 client with a per-token cache and one request in flight per token.
 *
 * Strict about answers: an answer without a boolean `active` violates RFC 7662 and refuses the
 * token (never cached, never a 503); an active answer whose `exp` has passed, whose `iss`/`aud`
 * contradict the guard's, or whose `token_type` names no access token counts as inactive. Active
 * answers are reused for `cacheTtl` (never past `exp`), inactive ones until the token's `exp` (or
 * `inactiveTtl`).
 *
 * Does NOT check signatures or scopes: that is the guard's job.
 * @see https://www.rfc-editor.org/rfc/rfc7662
 */
export class Introspector {
  /** The cached answers; its `size`, `hits` and `misses` are this service's in `stats()`. */
  readonly answers: AnswerCache<Entry>;
  calls = 0;

  constructor(
    private readonly options: ResolvedIntrospection,
    private readonly context: IntrospectorContext,
    private readonly http: HttpClient,
    private readonly discovery: Discovery,
  ) {
    this.answers = new AnswerCache<Entry>({
      service: 'introspection',
      cacheTtl: options.cacheTtl,
      cacheMax: options.cacheMax,
      retryAfter: options.retryAfter,
      clock: context.clock,
      onEvent: context.onEvent,
      unavailable: (message, retryAfter, cause) => new IntrospectionUnavailableError(`Introspection ${message}`, retryAfter, { cause }),
      // An answer that broke RFC 7662 is not kept, so a fixed endpoint is asked again at once.
      keep: (entry) => entry.refusal === undefined,
      renew: (entry) => entry.active,
      shared: options.store && {
        store: options.store,
        scope: context.issuer,
        wait: (options.timeout + 1) * 1000,
        codec: {
          encode: (entry) => ({ response: entry.response, refusal: entry.refusal, until: entry.until, serveUntil: entry.serveUntil, refreshFrom: Number.isFinite(entry.refreshFrom) ? entry.refreshFrom : null }),
          // `active` is judged again here: another guard may have another audience.
          decode: (value, now) => this.decode(value, now),
        },
      },
    });
  }

  /** Whether tokens that cannot be verified locally are accepted on introspection alone. */
  get opaque(): boolean {
    return this.options.opaque;
  }

  /**
   * The answer for a token, from the cache or the endpoint. `exp` (seconds), when the caller knows
   * it from a verified JWT, bounds how long the answer is kept. Rejects with
   * {@link IntrospectionUnavailableError} when the endpoint cannot answer.
   */
  async introspect(token: string, exp: number | undefined): Promise<IntrospectionAnswer> {
    const cached = this.answers.cached(token);
    if (this.answers.use(token, cached)) return cached!;
    return this.answers.ask(token, () => this.fetch(token, exp));
  }

  /**
   * Throws {@link TokenInactiveError} unless the answer is active. With `forThisApi` (a token
   * accepted on introspection alone), the answer must also show it was issued for this API: an
   * `aud` naming one of the guard's audiences.
   */
  requireActive(answer: IntrospectionAnswer, forThisApi = false): void {
    if (answer.refusal !== undefined) throw new TokenInactiveError(`The token is refused: ${answer.refusal}`);
    if (!answer.active) throw new TokenInactiveError('The token is not active: the issuer reports it revoked, expired or unknown');
    if (forThisApi && answer.response.aud === undefined) {
      throw new TokenInactiveError('The token is refused: the introspection answer has no "aud", so nothing shows it was issued for this API');
    }
  }

  /** Forgets the answer for a token (logout). */
  forget(token: string): void {
    this.answers.forget(token);
  }

  /** Stops renewals and the sharing (the guard is closing). */
  stop(): Promise<void> {
    return this.answers.stop();
  }

  /** One call, and how long its answer may serve: active ones `cacheTtl` (never past `exp`), inactive ones until `exp` (or `inactiveTtl`). */
  private async fetch(token: string, exp: number | undefined): Promise<Entry> {
    const answer = await this.call(token);
    const now = this.context.clock();
    const responseExp = typeof answer.response.exp === 'number' ? answer.response.exp : undefined;
    const expiry = Math.min(exp ?? Infinity, responseExp ?? Infinity) * 1000;
    const until = answer.active ? Math.min(now + this.options.cacheTtl * 1000, expiry) : Number.isFinite(expiry) ? expiry : now + this.options.inactiveTtl * 1000;
    const serveUntil = answer.active ? Math.min(until + this.options.staleWhileRevalidate * 1000, expiry) : until;
    const refreshFrom = answer.active ? renewalStart(answer.sent, this.options.cacheTtl * 1000, serveUntil) : Infinity;
    return { active: answer.active, response: answer.response, refusal: answer.refusal, until, serveUntil, refreshFrom, lastUsed: now };
  }

  /** One request to the endpoint; `sent` is when the HTTP client had it (ms), after discovery and client authentication. */
  private async call(token: string): Promise<IntrospectionAnswer & { sent: number }> {
    const endpoint = this.options.endpoint ?? (await this.discovery.get()).introspection_endpoint;
    if (typeof endpoint !== 'string') throw new UpstreamProblem('the discovery document names no introspection_endpoint; set "introspection.endpoint"');
    const { response, sent } = await postForm({
      http: this.http,
      endpoint,
      client: this.options.client,
      form: { token, token_type_hint: 'access_token' },
      limits: this.options,
      clock: this.context.clock,
      sending: () => this.calls++,
    });
    this.answers.gate.observe(response);
    if (response.status === 429) throw new UpstreamProblem(`${endpoint} is rate-limited (429)`);
    if (response.status !== 200) throw new UpstreamProblem(`${endpoint} answered ${response.status}${response.status === 401 ? ' (check the introspection client credentials)' : ''}`);
    const body = parseJson(response.body, endpoint);
    if (typeof body.active !== 'boolean') {
      // Not "the upstream is down": an answer that breaks RFC 7662 cannot vouch for the token.
      const refusal = 'the introspection answer has no boolean "active" (RFC 7662 section 2.2)';
      emit(this.context.onEvent, { type: 'upstream.error', service: 'introspection', message: `${endpoint} answered without a boolean "active": the token was refused` });
      return { active: false, response: Object.freeze(body), refusal, sent };
    }
    return { active: body.active && this.consistent(body), response: Object.freeze(body), sent };
  }

  /** An answer another instance shared: its endpoint answer, judged here as if just received. */
  private decode(value: unknown, now: number): Entry | undefined {
    const v = value as { response?: unknown; refusal?: unknown; until?: unknown; serveUntil?: unknown; refreshFrom?: unknown } | null;
    if (v === null || typeof v !== 'object' || v.response === null || typeof v.response !== 'object' || Array.isArray(v.response)) return undefined;
    const refreshFrom = v.refreshFrom === null ? Infinity : v.refreshFrom;
    if (typeof v.until !== 'number' || typeof refreshFrom !== 'number' || (v.refusal !== undefined && typeof v.refusal !== 'string')) return undefined;
    const response = Object.freeze({ ...(v.response as Record<string, unknown>) });
    const active = v.refusal === undefined && response.active === true && this.consistent(response);
    // An instance of a release without `serveUntil` shares none: the answer serves only within its TTL.
    const serveUntil = active && typeof v.serveUntil === 'number' ? v.serveUntil : v.until;
    return { active, response, refusal: v.refusal as string | undefined, until: v.until, serveUntil, refreshFrom, lastUsed: now };
  }

  /**
   * An active answer must not contradict the guard: `exp` not passed, `iss` and `aud` ours when
   * present, `token_type` (when present) an access token's.
   */
  private consistent(body: Record<string, unknown>): boolean {
    const now = this.context.clock() / 1000;
    if (body.exp !== undefined && (typeof body.exp !== 'number' || body.exp <= now)) return false;
    if (body.iss !== undefined && body.iss !== this.context.issuer) return false;
    if (body.aud !== undefined) {
      const aud = Array.isArray(body.aud) ? body.aud : [body.aud];
      if (!aud.some((a) => typeof a === 'string' && this.context.audiences.has(a))) return false;
    }
    if (body.token_type !== undefined && !(typeof body.token_type === 'string' && ACCESS_TOKEN_TYPES.has(body.token_type.toLowerCase()))) return false;
    return true;
  }
}
