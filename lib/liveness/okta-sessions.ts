import { SessionEndedError, SessionNotActiveError, SessionsUnavailableError } from '../errors';
import { emit, type TokengateEvent } from '../events';
import type { ClientCredentials } from '../issuer/client-auth';
import { sendTimed } from '../issuer/form';
import { HttpError, type HttpClient, type HttpRequest, type HttpResponse } from '../issuer/http';
import { parseJson, UpstreamProblem } from '../issuer/problem';
import { AnswerCache } from './answer-cache';
import { OktaApiCredentials, type ApiCredentialsConfig } from './okta-api-credentials';
import { renewalStart, type Renewable } from './renewals';

/** The shape of an Okta session id that may go into a URL path: 1 to 256 letters, digits, `_` or `-` (never `.` or `..`). */
const SESSION_ID = /^[A-Za-z0-9_-]{1,256}$/;

/** What a session claim must look like, for messages. */
export const SESSION_ID_SHAPE = '1 to 256 letters, digits, "_" or "-"';

/** Whether a session claim can be looked up: a plain Okta session id ({@link SESSION_ID_SHAPE}). */
export function usableSessionId(value: unknown): value is string {
  return typeof value === 'string' && SESSION_ID.test(value);
}

/** How messages name the Sessions API URL: the session id is Okta's session cookie value, never written out. */
const SESSION_PATH = '/api/v1/sessions/{id}';

/** An Okta session status as the API spells them (`ACTIVE`, `MFA_REQUIRED`, ...). */
const STATUS = /^[A-Za-z0-9_]{1,64}$/;

/** What a failed request to the Sessions API says, without the URL (it holds the session id). */
function failedCall(error: unknown): string {
  const reason = error instanceof HttpError ? error.reason : undefined;
  if (reason === 'timeout') return 'did not answer in time';
  if (reason === 'too_large') return 'sent a body over the size limit';
  if (reason === 'network') return 'could not be reached';
  return 'failed';
}

/** Options of the Okta session liveness check (the `sessions` guard option). */
export interface SessionOptions {
  /** The Okta org URL, e.g. `https://example.okta.com`. Default: the issuer's origin. */
  orgUrl?: string;
  /** An Okta API token, sent as `Authorization: SSWS <token>`. Give this or `client`. */
  apiToken?: string;
  /**
   * OAuth 2.0 client credentials for the Okta API (a service app with `okta.sessions.read`,
   * authenticating with `private_key_jwt`). The access token is cached until 60 s before it expires.
   */
  client?: ClientCredentials & { scopes?: readonly string[]; tokenEndpoint?: string };
  /** The claim that carries the Okta session id (added by a Token Inline Hook). Default `'sid'`. */
  claim?: string;
  /** Session statuses that pass. Default `['ACTIVE']`. */
  acceptStatuses?: readonly string[];
  /**
   * How long a passing answer is reused per session id, in seconds from its arrival (never past the
   * session's `expiresAt`); an answer in use is renewed `cacheTtl` after the previous call was handed
   * to the HTTP client, while it still serves. Default 30; at most 300.
   */
  cacheTtl?: number;
  /** How long past `cacheTtl` a passing answer may still be served while the API is rate-limited or down, in seconds. Default 120. */
  staleIfError?: number;
  /** Most session ids kept. Default 10000. */
  cacheMax?: number;
  /** Deadline of one request, in seconds. Default 5. */
  timeout?: number;
  /** Largest response body, in bytes. Default 65536. */
  maxBytes?: number;
  /** No calls for this long after a failure (without rate-limit headers), in seconds. Default 5. */
  retryAfter?: number;
}

/** Validated session options. Internal. */
export interface ResolvedSessions {
  orgUrl: string;
  apiToken: string | undefined;
  client: ApiCredentialsConfig['client'];
  claim: string;
  acceptStatuses: ReadonlySet<string>;
  cacheTtl: number;
  staleIfError: number;
  cacheMax: number;
  timeout: number;
  maxBytes: number;
  retryAfter: number;
}

interface Entry extends Renewable {
  /** `ended`: 404; `status`: the session exists with that status. */
  kind: 'ended' | 'status';
  status: string;
  /** A passing entry may be served until then while the API cannot answer, ms. */
  staleUntil: number;
}

/** What the checker needs to know of the guard. */
export interface SessionContext {
  clock: () => number;
  onEvent: ((event: TokengateEvent) => void) | undefined;
}

/**
 * Asks Okta whether the session a token belongs to is still alive: `GET /api/v1/sessions/{id}`.
 * One request in flight per session id; passing answers cached for `cacheTtl` and, while in use,
 * renewed in their last round trip (calls for a session at least `cacheTtl` apart); an ended session
 * remembered until the token's `exp`; Okta's rate limits obeyed (no calls until the reset), with
 * cached passing answers served for `staleIfError` meanwhile.
 *
 * Does NOT decide fail-open: it rejects with {@link SessionsUnavailableError} and the guard applies
 * the route's `failMode`.
 * @see https://developer.okta.com/docs/api/openapi/okta-management/management/tag/Session/
 */
export class SessionChecker {
  /** The cached answers; its `size`, `hits` and `misses` are this service's in `stats()`. */
  readonly answers: AnswerCache<Entry>;
  private readonly credentials: OktaApiCredentials;
  calls = 0;
  staleServed = 0;

  constructor(
    private readonly options: ResolvedSessions,
    private readonly context: SessionContext,
    private readonly http: HttpClient,
    /** The client of the token requests for `sessions.client` credentials. Default: `http`. */
    credentialsHttp: HttpClient = http,
  ) {
    this.credentials = new OktaApiCredentials(options, credentialsHttp, context.clock);
    this.answers = new AnswerCache<Entry>({
      service: 'sessions',
      cacheTtl: options.cacheTtl,
      cacheMax: options.cacheMax,
      retryAfter: options.retryAfter,
      clock: context.clock,
      onEvent: context.onEvent,
      unavailable: (message, retryAfter, cause) => new SessionsUnavailableError(`The Okta Sessions API ${message}`, retryAfter, { cause }),
      keep: () => true,
      renew: (entry) => this.passes(entry),
    });
  }

  /** Milliseconds until calls resume after a rate limit or failure; 0 when they may go now. */
  get pausedFor(): number {
    return this.answers.gate.wait();
  }

  /**
   * Resolves when the session passes. Rejects with {@link SessionEndedError},
   * {@link SessionNotActiveError}, or {@link SessionsUnavailableError}. `tokenExp` is in seconds.
   */
  async check(sessionId: string, tokenExp: number): Promise<void> {
    const cached = this.answers.cached(sessionId);
    if (this.answers.use(cached)) return this.judge(cached!);
    let entry: Entry;
    try {
      entry = await this.answers.ask(sessionId, () => this.call(sessionId, tokenExp));
    } catch (error) {
      // Only while that answer is still the cached one: a logout meanwhile removed or replaced it.
      if (cached !== undefined && this.passes(cached) && cached.staleUntil > this.context.clock() && this.answers.holds(sessionId, cached)) {
        this.staleServed++;
        return;
      }
      throw error;
    }
    this.judge(entry);
  }

  /**
   * The synchronous part of {@link SessionChecker.check}: `true` when a fresh cached answer says the
   * session passes, a thrown {@link SessionEndedError} / {@link SessionNotActiveError} when a fresh
   * cached answer says it does not, `false` when the Sessions API must be asked (use `check`).
   */
  checkCached(sessionId: string): boolean {
    const cached = this.answers.cached(sessionId);
    if (!this.answers.use(cached)) return false;
    this.judge(cached!);
    return true;
  }

  /** Forgets what is known of a session (logout), including the answer of a call still in flight. */
  forget(sessionId: string): void {
    this.answers.forget(sessionId);
  }

  /** Stops renewals (the guard is closing). */
  stop(): void {
    this.answers.stop();
  }

  /**
   * Closes an Okta session (`DELETE /api/v1/sessions/{id}`); a session already gone counts as
   * closed. Rejects with an `Error` saying why otherwise.
   */
  async close(sessionId: string): Promise<void> {
    const { response } = await this.send('DELETE', sessionId, await this.credentials.authorization());
    this.answers.gate.observe(response);
    const now = this.context.clock();
    this.answers.set(sessionId, { kind: 'ended', status: 'ENDED', until: now + 86_400_000, staleUntil: 0, refreshFrom: Infinity, lastUsed: now });
    if (response.status !== 204 && response.status !== 200 && response.status !== 404) {
      throw new UpstreamProblem(`closing the Okta session answered ${response.status}`);
    }
  }

  private passes(entry: Entry): boolean {
    return entry.kind === 'status' && this.options.acceptStatuses.has(entry.status);
  }

  private judge(entry: Entry): void {
    if (entry.kind === 'ended') throw new SessionEndedError('The Okta session of this token has ended; sign in again');
    if (!this.options.acceptStatuses.has(entry.status)) {
      throw new SessionNotActiveError(entry.status, `The Okta session of this token is ${entry.status}, not ${[...this.options.acceptStatuses].join(' or ')}`);
    }
  }

  /**
   * One request for a session. Refuses an id that is not a plain Okta id (`.` or `..` would reach
   * another path with the API token); failures never name the URL, which holds the id.
   */
  private async send(method: HttpRequest['method'], sessionId: string, authorization: string): Promise<{ response: HttpResponse; sent: number }> {
    if (!usableSessionId(sessionId)) throw new UpstreamProblem(`refused: a session id must be ${SESSION_ID_SHAPE}`);
    const url = `${this.options.orgUrl}/api/v1/sessions/${sessionId}`;
    try {
      return await sendTimed(
        this.http,
        { method, url, headers: { authorization, accept: 'application/json' }, timeout: this.options.timeout, maxBytes: this.options.maxBytes },
        this.context.clock,
      );
    } catch (error) {
      throw new UpstreamProblem(`${this.options.orgUrl}${SESSION_PATH} ${failedCall(error)}`);
    }
  }

  /** One `GET` for a session, and what it teaches; an answer that does not pass is reported as `session.ended`. */
  private async call(sessionId: string, tokenExp: number): Promise<Entry> {
    const entry = await this.ask(sessionId, tokenExp);
    if (!this.passes(entry)) emit(this.context.onEvent, { type: 'session.ended', status: entry.kind === 'ended' ? 'ENDED' : entry.status });
    return entry;
  }

  private async ask(sessionId: string, tokenExp: number): Promise<Entry> {
    const authorization = await this.credentials.authorization();
    this.calls++;
    const { response, sent } = await this.send('GET', sessionId, authorization);
    this.answers.gate.observe(response);
    const now = this.context.clock();
    if (response.status === 404) {
      return this.ended(now, tokenExp);
    }
    if (response.status === 429) throw new UpstreamProblem('rate-limited (429)');
    if (response.status === 401 || response.status === 403) {
      this.credentials.reject();
      throw new UpstreamProblem(`${response.status}: check the sessions credentials (API token, or a client granted okta.sessions.read)`);
    }
    if (response.status !== 200) throw new UpstreamProblem(`answered ${response.status}`);
    const body = parseJson(response.body, `${this.options.orgUrl}${SESSION_PATH}`);
    if (typeof body.status !== 'string' || !STATUS.test(body.status) || (body.id !== undefined && body.id !== sessionId)) {
      throw new UpstreamProblem('answered with something that is not this session');
    }
    const expiresAt = typeof body.expiresAt === 'string' ? Date.parse(body.expiresAt) : NaN;
    const end = Number.isFinite(expiresAt) ? expiresAt : Infinity;
    if (end <= now) return this.ended(now, tokenExp);
    const ttl = this.options.cacheTtl * 1000;
    const until = Math.min(now + ttl, end);
    return { kind: 'status', status: body.status, until, staleUntil: Math.min(until + this.options.staleIfError * 1000, end), refreshFrom: renewalStart(sent, ttl, until), lastUsed: now };
  }

  /** An ended session: remembered until the token's `exp` (at least one TTL), never asked again meanwhile. */
  private ended(now: number, tokenExp: number): Entry {
    return { kind: 'ended', status: 'ENDED', until: Math.max(tokenExp * 1000, now + this.options.cacheTtl * 1000), staleUntil: 0, refreshFrom: Infinity, lastUsed: now };
  }
}
