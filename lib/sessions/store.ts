import { LRUCache } from 'lru-cache';
import { settleWithin } from '../util/deadline';
import { SessionStoreUnavailableError } from '../errors';

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
