import { randomBytes } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { settleWithin } from './deadline';
import type { RequestLike } from './bearer';
import { CsrfRejectedError, SessionStoreUnavailableError } from './errors';

/** What a backend session keeps, server-side only. Times are milliseconds since the epoch. */
export interface BackendSessionData {
  accessToken: string;
  refreshToken: string | undefined;
  idToken: string | undefined;
  /** The Okta session id (the session claim), which binds this session to Okta's. */
  sid: string | undefined;
  /** The user (`sub`). */
  subject: string | undefined;
  createdAt: number;
  /** The session ends then, whatever happens. */
  expiresAt: number;
}

/**
 * Where backend sessions live. The in-memory default serves one instance; `tokengate/redis` has a
 * shared one. Every method may reject; the guard turns that into a 503.
 */
export interface BackendSessionStore {
  get(id: string): Promise<BackendSessionData | undefined>;
  /** Stores a session until `data.expiresAt`. */
  set(id: string, data: BackendSessionData): Promise<void>;
  delete(id: string): Promise<void>;
  /** Deletes every session bound to an Okta session id, or of a subject; resolves to how many. */
  deleteWhere(match: { sid?: string; subject?: string }): Promise<number>;
}

/** Options of backend sessions (the `backendSessions` guard option). */
export interface BackendSessionOptions {
  /** Where sessions live. Default: in this process's memory (bounded by `max`). */
  store?: BackendSessionStore;
  /** Cookie name. Default `'tg_session'`. */
  cookieName?: string;
  /** Cookie path. Default `'/'`. */
  path?: string;
  /** Cookie domain. Default: none (host-only). */
  domain?: string;
  /** `Secure` attribute. Default `true`; turn off only for plain-http development. */
  secure?: boolean;
  /** `SameSite` attribute. Default `'Lax'`. */
  sameSite?: 'Strict' | 'Lax' | 'None';
  /** Longest session, in seconds; never longer than the refresh token's own lifetime at the issuer. Default 28800 (8 h). */
  lifetime?: number;
  /** Origins allowed to make unsafe requests with the cookie (besides the request's own). Default: none. */
  allowedOrigins?: readonly string[];
  /** Most sessions kept by the in-memory store. Default 100000. */
  max?: number;
}

/** Validated options. Internal. */
export interface ResolvedBackendSessions {
  store: BackendSessionStore;
  cookieName: string;
  path: string;
  domain: string | undefined;
  secure: boolean;
  sameSite: 'Strict' | 'Lax' | 'None';
  lifetime: number;
  allowedOrigins: ReadonlySet<string>;
}

/** Bounded in-memory {@link BackendSessionStore}. */
export class MemorySessionStore implements BackendSessionStore {
  /** Created on the first session: lru-cache allocates arrays of `max` slots up front. */
  private lru: LRUCache<string, BackendSessionData> | undefined;

  constructor(
    private readonly max = 100_000,
    private readonly clock: () => number = Date.now,
  ) {}

  private get sessions(): LRUCache<string, BackendSessionData> {
    return (this.lru ??= new LRUCache({ max: this.max }));
  }

  async get(id: string): Promise<BackendSessionData | undefined> {
    const data = this.sessions.get(id);
    if (data !== undefined && data.expiresAt <= this.clock()) {
      this.sessions.delete(id);
      return undefined;
    }
    return data;
  }

  async set(id: string, data: BackendSessionData): Promise<void> {
    this.sessions.set(id, data);
  }

  async delete(id: string): Promise<void> {
    this.sessions.delete(id);
  }

  async deleteWhere(match: { sid?: string; subject?: string }): Promise<number> {
    const doomed: string[] = [];
    for (const [id, data] of this.sessions.entries()) {
      if ((match.sid !== undefined && data.sid === match.sid) || (match.subject !== undefined && data.subject === match.subject)) doomed.push(id);
    }
    for (const id of doomed) this.sessions.delete(id);
    return doomed.length;
  }
}

/** Longest a backend-session store call may take, ms, before it fails as a 503. */
const STORE_DEADLINE = 5000;

/**
 * Wraps a store so that every failure (a rejection, a method that throws, no answer within 5 s) is a 503
 * {@link SessionStoreUnavailableError} with `Retry-After: 1`, never a raw error that a framework
 * would answer with 500. The store's own message stays in `cause`, out of the answer.
 */
export function guardedSessionStore(store: BackendSessionStore): BackendSessionStore {
  const guarded = <A extends unknown[], R>(name: string, method: (...args: A) => Promise<R>) => (...args: A): Promise<R> =>
    // A store that never answers must not hold the request: it fails after STORE_DEADLINE.
    settleWithin(() => method.apply(store, args), STORE_DEADLINE, () => new Error(`no answer within ${STORE_DEADLINE / 1000} s`)).catch((error: unknown) => {
      throw new SessionStoreUnavailableError(`The backend-session store failed (${name}); retry shortly`, 1, { cause: error });
    });
  return {
    get: guarded('get', store.get),
    set: guarded('set', store.set),
    delete: guarded('delete', store.delete),
    deleteWhere: guarded('deleteWhere', store.deleteWhere),
  };
}

/** A new session id: 256 random bits, base64url. */
export function newSessionId(): string {
  return randomBytes(32).toString('base64url');
}

/** The value of one cookie in a request's `Cookie` header(s), or undefined. */
export function readCookie(request: RequestLike, name: string): string | undefined {
  const header = request.headers.cookie;
  const text = Array.isArray(header) ? header.join('; ') : header;
  if (text === undefined) return undefined;
  for (const part of text.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/** A `Set-Cookie` value for the session id; `maxAge` in seconds (0 clears the cookie). */
export function sessionCookie(options: ResolvedBackendSessions, id: string, maxAge: number): string {
  let cookie = `${options.cookieName}=${id}; Path=${options.path}; Max-Age=${Math.max(0, Math.floor(maxAge))}; HttpOnly; SameSite=${options.sameSite}`;
  if (options.secure) cookie += '; Secure';
  if (options.domain !== undefined) cookie += `; Domain=${options.domain}`;
  return cookie;
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * Refuses cross-site unsafe requests authenticated by cookie: `Sec-Fetch-Site` must be
 * `same-origin` or `none` when sent; otherwise `Origin` must be the request's own origin or an
 * allowed one; a request with neither header is refused (browsers send at least one on unsafe requests).
 * @see https://owasp.org/www-community/attacks/csrf
 */
export function checkCsrf(request: RequestLike, allowedOrigins: ReadonlySet<string>): void {
  if (request.method === undefined || SAFE_METHODS.has(request.method.toUpperCase())) return;
  const site = single(request.headers['sec-fetch-site']);
  if (site !== undefined) {
    if (site === 'same-origin' || site === 'none') return;
    throw new CsrfRejectedError(`A ${site} ${request.method} request may not use the session cookie`);
  }
  const origin = single(request.headers.origin);
  if (origin === undefined) throw new CsrfRejectedError(`A ${request.method} request with the session cookie must carry Origin or Sec-Fetch-Site`);
  const host = single(request.headers.host);
  const own = host !== undefined && (origin === `https://${host}` || origin === `http://${host}`);
  if (!own && !allowedOrigins.has(origin)) throw new CsrfRejectedError(`Origin ${origin.slice(0, 100)} may not make ${request.method} requests with the session cookie`);
}

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
