import { SessionEndedError, SessionNotActiveError, SessionsUnavailableError } from '../errors';
import { emit, type TokengateEvent } from '../events';
import { sendTimed } from '../issuer/form';
import { HttpError, type HttpClient, type HttpRequest, type HttpResponse } from '../issuer/http';
import { parseJson, UpstreamProblem } from '../issuer/problem';
import { AnswerCache } from './answer-cache';
import type { AnswerCodec } from './answer-store';
import { OktaApiCredentials } from './okta-api-credentials';
import { UNPUSHED_MAX_TTL, type PushState } from './push-state';
import { renewalStart, type Renewable } from './renewals';
import type { ResolvedSessions } from './session-options';

export type { ResolvedSessions, SessionOptions } from './session-options';

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

interface Entry extends Renewable {
  /** `ended`: 404; `status`: the session exists with that status. */
  kind: 'ended' | 'status';
  status: string;
  /** A passing entry may be served until then while the API cannot answer, ms. */
  staleUntil: number;
}

/** An answer as the other instances read it: ms since the epoch, `null` for a time that never comes. */
const SESSION_CODEC: AnswerCodec<Entry> = {
  encode: (entry) => ({ kind: entry.kind, status: entry.status, until: entry.until, serveUntil: entry.serveUntil, staleUntil: entry.staleUntil, refreshFrom: Number.isFinite(entry.refreshFrom) ? entry.refreshFrom : null }),
  decode(value, now) {
    const v = value as Record<string, unknown> | null;
    if (v === null || typeof v !== 'object' || (v.kind !== 'ended' && v.kind !== 'status') || typeof v.status !== 'string' || !STATUS.test(v.status)) return undefined;
    const refreshFrom = v.refreshFrom === null ? Infinity : v.refreshFrom;
    if (typeof v.until !== 'number' || typeof v.staleUntil !== 'number' || typeof refreshFrom !== 'number') return undefined;
    // An instance of a release without `serveUntil` shares none: the answer serves only within its TTL.
    const serveUntil = typeof v.serveUntil === 'number' ? v.serveUntil : v.until;
    return { kind: v.kind, status: v.status, until: v.until, serveUntil, staleUntil: v.staleUntil, refreshFrom, lastUsed: now };
  },
};

/** What the checker needs to know of the guard. */
export interface SessionContext {
  clock: () => number;
  onEvent: ((event: TokengateEvent) => void) | undefined;
  /** Whether session ends arrive by push (read only with `pushed`). */
  push: PushState;
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
      shared: options.store && { store: options.store, scope: options.orgUrl, codec: SESSION_CODEC, wait: (options.timeout + 1) * 1000 },
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
    if (this.answers.use(sessionId, cached)) return this.judge(cached!);
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
    if (!this.answers.use(sessionId, cached)) return false;
    this.judge(cached!);
    return true;
  }

  /** Forgets what is known of a session (logout), including the answer of a call still in flight. */
  forget(sessionId: string): void {
    this.answers.forget(sessionId);
  }

  /** Stops renewals and the sharing (the guard is closing). */
  stop(): Promise<void> {
    return this.answers.stop();
  }

  /**
   * Closes an Okta session (`DELETE /api/v1/sessions/{id}`); a session already gone counts as
   * closed. Rejects with an `Error` saying why otherwise.
   */
  async close(sessionId: string): Promise<void> {
    const { response } = await this.send('DELETE', sessionId);
    this.answers.gate.observe(response);
    const now = this.context.clock();
    this.answers.set(sessionId, { kind: 'ended', status: 'ENDED', until: now + 86_400_000, serveUntil: now + 86_400_000, staleUntil: 0, refreshFrom: Infinity, lastUsed: now });
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
  private async send(method: HttpRequest['method'], sessionId: string): Promise<{ response: HttpResponse; sent: number }> {
    if (!usableSessionId(sessionId)) throw new UpstreamProblem(`refused: a session id must be ${SESSION_ID_SHAPE}`);
    const url = `${this.options.orgUrl}/api/v1/sessions/${sessionId}`;
    const once = async () => {
      const headers = { ...(await this.credentials.headers(method, url)), accept: 'application/json' };
      try {
        return await sendTimed(this.http, { method, url, headers, timeout: this.options.timeout, maxBytes: this.options.maxBytes }, this.context.clock);
      } catch (error) {
        throw new UpstreamProblem(`${this.options.orgUrl}${SESSION_PATH} ${failedCall(error)}`);
      }
    };
    const first = await once();
    // A DPoP-bound API token: the API may ask for its nonce once; the proof is made again with it.
    return this.credentials.wantsNonce(first.response.status, first.response.headers) ? once() : first;
  }

  /** One `GET` for a session, and what it teaches; an answer that does not pass is reported as `session.ended`. */
  private async call(sessionId: string, tokenExp: number): Promise<Entry> {
    const entry = await this.ask(sessionId, tokenExp);
    if (!this.passes(entry)) emit(this.context.onEvent, { type: 'session.ended', status: entry.kind === 'ended' ? 'ENDED' : entry.status });
    return entry;
  }

  private async ask(sessionId: string, tokenExp: number): Promise<Entry> {
    this.calls++;
    const { response, sent } = await this.send('GET', sessionId);
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
    const ttl = this.ttl() * 1000;
    const until = Math.min(now + ttl, end);
    const serveUntil = Math.min(until + this.options.staleWhileRevalidate * 1000, end);
    return { kind: 'status', status: body.status, until, serveUntil, staleUntil: Math.min(until + this.options.staleIfError * 1000, end), refreshFrom: renewalStart(sent, ttl, serveUntil), lastUsed: now };
  }

  /** An ended session: remembered until the token's `exp` (at least one TTL), never asked again meanwhile. */
  private ended(now: number, tokenExp: number): Entry {
    const until = Math.max(tokenExp * 1000, now + this.ttl() * 1000);
    return { kind: 'ended', status: 'ENDED', until, serveUntil: until, staleUntil: 0, refreshFrom: Infinity, lastUsed: now };
  }

  /** The TTL of a new answer, seconds: `cacheTtl`, held to what polling alone allows while a `pushed` guard gets no pushes. */
  private ttl(): number {
    const { cacheTtl, pushed } = this.options;
    return pushed && !this.context.push.live() ? Math.min(cacheTtl, UNPUSHED_MAX_TTL) : cacheTtl;
  }
}
