import { randomBytes } from 'node:crypto';
import { json, type ModelRequest, type ModelResponse } from './http';

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
}

/** What the Sessions API needs of the model: the API token it accepts, and its clock. */
export interface SessionsContext {
  apiToken: string;
  clock: () => number;
}

/**
 * The org's Okta sessions and the Sessions API over them (`GET` and `DELETE
 * /api/v1/sessions/{id}`), which accepts the API token as `SSWS <token>` or, as `Bearer`, an access
 * token from the org token endpoint's client credentials grant.
 * @see https://developer.okta.com/docs/api/openapi/okta-management/management/tag/Session/
 */
export class SessionsApi {
  private readonly sessions = new Map<string, MockSession>();
  private readonly accessTokens = new Map<string, number>();

  constructor(private readonly context: SessionsContext) {}

  /** {@link OktaModel.session}: a new session, returned as a copy. */
  create(options: { login?: string; userId?: string; status?: MockSession['status']; expiresIn?: number }): MockSession {
    const now = this.context.clock();
    const session: MockSession = {
      id: `102${randomBytes(12).toString('base64url')}`,
      userId: options.userId ?? '00u1a2b3c4d5e6f7g8h9',
      login: options.login ?? 'alice@example.com',
      status: options.status ?? 'ACTIVE',
      createdAt: new Date(now).toISOString(),
      expiresAt: new Date(now + (options.expiresIn ?? 7200) * 1000).toISOString(),
      lastPasswordVerification: new Date(now).toISOString(),
      lastFactorVerification: null,
      amr: ['pwd'],
      idp: { id: '00o1a2b3c4d5e6f7g8h9', type: 'OKTA' },
    };
    this.sessions.set(session.id, session);
    return { ...session };
  }

  /** Ends a session: the API answers 404 for it from now on. */
  end(id: string): void {
    this.sessions.delete(id);
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

  /** A new access token for the Okta API, valid for an hour. */
  grantAccessToken(): string {
    const accessToken = randomBytes(32).toString('base64url');
    this.accessTokens.set(accessToken, this.context.clock() + 3600_000);
    return accessToken;
  }

  /** Answers `GET` or `DELETE /api/v1/sessions/{id}`, with Okta's error objects for 401 and 404. */
  answer(request: ModelRequest, id: string): ModelResponse {
    const authorization = String(request.headers.authorization ?? '');
    const bearer = /^Bearer (.+)$/.exec(authorization)?.[1];
    const authorized = authorization === `SSWS ${this.context.apiToken}` || (bearer !== undefined && (this.accessTokens.get(bearer) ?? 0) > this.context.clock());
    if (!authorized) return json(401, { errorCode: 'E0000011', errorSummary: 'Invalid token provided' });
    if (!this.has(id)) {
      return json(404, { errorCode: 'E0000007', errorSummary: `Not found: Resource not found: ${id} (Session)` });
    }
    if (request.method === 'DELETE') {
      this.sessions.delete(id);
      return { status: 204, headers: {}, body: '' };
    }
    return json(200, { ...this.sessions.get(id) });
  }
}
