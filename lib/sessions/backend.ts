import { BackendSessionInvalidError } from '../errors';
import type { RequestLike } from '../util/request';
import { newSessionId, readCookie, sessionCookie } from './cookie';
import { checkCsrf } from './csrf';
import type { BackendSessionData, ResolvedBackendSessions } from './store';

/** The shape of a session id this module issues: 256 bits, base64url. */
const SESSION_ID = /^[A-Za-z0-9_-]{43}$/;

/**
 * Backend sessions: an opaque, HttpOnly cookie in front of tokens kept server-side. Built only with
 * the `backendSessions` option. Every store failure is a 503 `ERR_SESSION_STORE_UNAVAILABLE`
 * (the store is wrapped at resolution).
 */
export class BackendSessions {
  constructor(
    readonly config: ResolvedBackendSessions,
    private readonly clock: () => number,
  ) {}

  /** Whether a request is authenticated by the cookie: it has one and no Authorization header. */
  carries(request: RequestLike): boolean {
    return request.headers.authorization === undefined && readCookie(request, this.config.cookieName) !== undefined;
  }

  /**
   * The live session named by the request's cookie, or undefined. An unsafe request must pass the
   * same-site check first ({@link checkCsrf}).
   */
  async find(request: RequestLike): Promise<{ id: string; data: BackendSessionData } | undefined> {
    const id = readCookie(request, this.config.cookieName);
    if (id === undefined || !SESSION_ID.test(id)) return undefined;
    checkCsrf(request, this.config.allowedOrigins);
    const data = await this.config.store.get(id);
    return data === undefined || data.expiresAt <= this.clock() ? undefined : { id, data };
  }

  /** {@link BackendSessions.find}, or a 401 that clears the cookie. */
  async require(request: RequestLike): Promise<{ id: string; data: BackendSessionData }> {
    const found = await this.find(request);
    if (found === undefined) throw Object.assign(new BackendSessionInvalidError('The session cookie names no live session; sign in again'), { headers: this.clearHeader() });
    return found;
  }

  /** Starts a session for verified tokens; `sid` binds it to the Okta session. `expiresAt` is in seconds, as a token's `exp`. */
  async start(fields: Pick<BackendSessionData, 'accessToken' | 'refreshToken' | 'idToken' | 'sid' | 'subject'>): Promise<{ id: string; cookie: string; expiresAt: number }> {
    const now = this.clock();
    const id = newSessionId();
    const expiresAt = now + this.config.lifetime * 1000;
    await this.config.store.set(id, { ...fields, createdAt: now, expiresAt });
    return { id, cookie: sessionCookie(this.config, id, this.config.lifetime), expiresAt: Math.floor(expiresAt / 1000) };
  }

  /** Keeps the tokens of a refresh. */
  async update(id: string, data: BackendSessionData): Promise<void> {
    await this.config.store.set(id, data);
  }

  /** Ends a session, quietly: the answer that follows does not depend on it. */
  async end(id: string): Promise<void> {
    await this.config.store.delete(id).catch(() => undefined);
  }

  /** The `Set-Cookie` value that clears the cookie. */
  clearCookie(): string {
    return sessionCookie(this.config, '', 0);
  }

  /** The header that clears the cookie, for an answer. */
  clearHeader(): Record<string, string> {
    return { 'Set-Cookie': this.clearCookie() };
  }
}
