import { randomBytes } from 'node:crypto';
import type { DpopServer } from './dpop';
import { json, oktaError, type ModelRequest, type ModelResponse } from './http';

/** An Okta session, as `GET /api/v1/sessions/{id}` returns it. */
export interface MockSession {
  id: string;
  userId: string;
  login: string;
  status: 'ACTIVE' | 'MFA_REQUIRED' | 'MFA_ENROLL';
  createdAt: string;
  expiresAt: string;
  lastPasswordVerification: string;
  lastFactorVerification: string | null;
  amr: string[];
  idp: { id: string; type: string };
  /** HAL links, as Okta sends them: `self` (GET, DELETE), `refresh` (POST) and `user` (GET). SDK caches key on `_links.self.href`. */
  _links: {
    self: SessionLink;
    refresh: SessionLink;
    user: SessionLink & { name: string };
  };
}

/** One HAL link of a session: where, and which methods it allows. */
export interface SessionLink {
  href: string;
  hints: { allow: string[] };
}

/** What the Sessions API needs of the model: the API token it accepts, and its clock. */
export interface SessionsContext {
  apiToken: string;
  /** The org URL the `_links` point at. */
  orgUrl: string;
  /** DPoP proofs of bound API tokens. */
  dpop: DpopServer;
  clock: () => number;
}

/**
 * The org's Okta sessions and the Sessions API over them (`GET` and `DELETE
 * /api/v1/sessions/{id}`, `POST /api/v1/sessions/{id}/lifecycle/refresh`), which accepts the API token as `SSWS <token>` or, as `Bearer`, an access
 * token from the org token endpoint's client credentials grant.
 * @see https://developer.okta.com/docs/api/openapi/okta-management/management/tag/Session/
 */
export class SessionsApi {
  private readonly sessions = new Map<string, MockSession>();
  /** How long each session lasts from its creation or last refresh, in milliseconds. */
  private readonly lifetimes = new Map<string, number>();
  /** Okta API access tokens from client credentials: until when, and the key a DPoP-bound one is bound to. */
  private readonly accessTokens = new Map<string, { until: number; jkt: string | undefined }>();

  constructor(private readonly context: SessionsContext) {}

  /** {@link OktaModel.session}: a new session, returned as a copy. */
  create(options: { login?: string; userId?: string; status?: MockSession['status']; expiresIn?: number }): MockSession {
    const now = this.context.clock();
    const id = `102${randomBytes(12).toString('base64url')}`;
    const userId = options.userId ?? '00u1a2b3c4d5e6f7g8h9';
    const lifetime = (options.expiresIn ?? 7200) * 1000;
    const self = `${this.context.orgUrl}/api/v1/sessions/${id}`;
    const session: MockSession = {
      id,
      userId,
      login: options.login ?? 'alice@example.com',
      status: options.status ?? 'ACTIVE',
      createdAt: new Date(now).toISOString(),
      expiresAt: new Date(now + lifetime).toISOString(),
      lastPasswordVerification: new Date(now).toISOString(),
      lastFactorVerification: null,
      amr: ['pwd'],
      idp: { id: '00o1a2b3c4d5e6f7g8h9', type: 'OKTA' },
      _links: {
        self: { href: self, hints: { allow: ['GET', 'DELETE'] } },
        refresh: { href: `${self}/lifecycle/refresh`, hints: { allow: ['POST'] } },
        user: { name: options.login ?? 'alice@example.com', href: `${this.context.orgUrl}/api/v1/users/${userId}`, hints: { allow: ['GET'] } },
      },
    };
    this.sessions.set(id, session);
    this.lifetimes.set(id, lifetime);
    return copy(session);
  }

  /** Ends a session: the API answers 404 for it from now on. */
  end(id: string): void {
    this.sessions.delete(id);
    this.lifetimes.delete(id);
  }

  /** Changes a session's status; a `TypeError` when there is no such session. */
  setStatus(id: string, status: MockSession['status']): void {
    const session = this.sessions.get(id);
    if (session === undefined) throw new TypeError(`mockOkta: no session ${id}`);
    session.status = status;
  }

  /** Whether a session exists and has not expired. */
  has(id: string): boolean {
    const session = this.sessions.get(id);
    return session !== undefined && Date.parse(session.expiresAt) > this.context.clock();
  }

  /** A new access token for the Okta API, valid for an hour; DPoP-bound to `jkt` when given. */
  grantAccessToken(jkt?: string): string {
    const accessToken = randomBytes(32).toString('base64url');
    this.accessTokens.set(accessToken, { until: this.context.clock() + 3600_000, jkt });
    return accessToken;
  }

  /** Answers `GET`, `DELETE /api/v1/sessions/{id}` and `POST …/lifecycle/refresh` (which extends the session by its lifetime), with Okta's error objects for 401 and 404. */
  answer(request: ModelRequest, id: string): ModelResponse {
    const authorization = String(request.headers.authorization ?? '');
    const token = /^(?:Bearer|DPoP) (.+)$/i.exec(authorization)?.[1];
    const granted = token === undefined ? undefined : this.accessTokens.get(token);
    const live = granted !== undefined && granted.until > this.context.clock();
    // A DPoP-bound token needs the DPoP scheme and a proof of its key; an unbound one, the Bearer scheme.
    const proven = live && (granted.jkt === undefined ? /^Bearer /i.test(authorization) : this.context.dpop.atApi(request, `${this.context.orgUrl}${request.path}`, token!, granted.jkt));
    const authorized = authorization === `SSWS ${this.context.apiToken}` || proven;
    if (!authorized) return oktaError(401, 'E0000011', 'Invalid token provided');
    if (!this.has(id)) {
      return oktaError(404, 'E0000007', `Not found: Resource not found: ${id} (Session)`);
    }
    if (request.method === 'DELETE') {
      this.end(id);
      return { status: 204, headers: {}, body: '' };
    }
    const session = this.sessions.get(id)!;
    if (request.method === 'POST') session.expiresAt = new Date(this.context.clock() + (this.lifetimes.get(id) ?? 0)).toISOString();
    return json(200, copy(session));
  }
}

/** A deep copy of a session, so that callers cannot change the model's. */
function copy(session: MockSession): MockSession {
  return structuredClone(session);
}
