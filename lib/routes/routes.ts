import { AuthError, errorAnswer, LogoutTokenError } from '../errors';
import type { Guard } from '../guard/types';
import type { RequestLike } from '../util/request';
import { readBody, type BodyRequest } from './body';

export { readBody, type BodyRequest };

/** A framework-neutral answer; the adapters write it to their response. */
export interface Answer {
  status: number;
  headers: Record<string, string>;
  /** Sent as JSON when present. */
  body?: unknown;
}

/** Turns an error into an answer: AuthErrors keep their status and headers; logout-token errors their status. */
function failure(error: unknown): Answer {
  if (error instanceof LogoutTokenError) {
    const headers: Record<string, string> = { 'cache-control': 'no-store' };
    if (error.status === 401) headers['www-authenticate'] = 'Bearer error="invalid_token"';
    return { status: error.status, headers, body: { error: error.status === 401 ? 'invalid_token' : 'invalid_request', error_description: error.message } };
  }
  if (error instanceof AuthError) return errorAnswer(error);
  throw error;
}

const string = (value: unknown) => (typeof value === 'string' && value !== '' ? value : undefined);

/**
 * `POST` login route for backend sessions: the request carries a valid bearer token, and its body
 * may carry `refresh_token` and `id_token`. Answers 200 with the session cookie and `{ expiresAt }`
 * (seconds since the epoch, as a token's `exp`).
 */
export async function sessionLogin(guard: Guard, request: BodyRequest, parsed?: unknown): Promise<Answer> {
  try {
    const { auth } = await guard.handle({ ...pick(request), headers: { ...request.headers, cookie: undefined } });
    const body = await readBody(request, parsed);
    const session = await guard.startSession(auth, { refreshToken: string(body.refresh_token), idToken: string(body.id_token) });
    return { status: 200, headers: { 'set-cookie': session.cookie, 'cache-control': 'no-store' }, body: { expiresAt: session.expiresAt } };
  } catch (error) {
    return failure(error);
  }
}

/** Options of the ready-made logout route. */
export interface LogoutRouteOptions {
  /** Where the issuer's logout page sends the browser back. */
  postLogoutRedirectUri?: string;
  /** Close the Okta session too. Default `true`. */
  closeOktaSession?: boolean;
  /** Log the user out of every session (denylist the `sub`). Default `false`. */
  everywhere?: boolean;
}

/**
 * `POST` logout route. Authenticated by the backend-session cookie (CSRF-checked against
 * `backendSessions.allowedOrigins`) or by a bearer token; the body may carry `refresh_token`,
 * `id_token` and `state`. Answers 200 with `{ loggedOut, endSessionUrl, failures }` (`failures`:
 * the steps that failed, `[{ step }]`; the reasons go to `onEvent` as `logout.failed`), and clears
 * the session cookie.
 */
export async function logoutRoute(guard: Guard, request: BodyRequest, options: LogoutRouteOptions = {}, parsed?: unknown): Promise<Answer> {
  try {
    const body = await readBody(request, parsed);
    const session = await guard.sessionFor(request);
    let accessToken: string;
    let subject: string | undefined;
    if (session !== undefined) {
      // sessionFor() has checked that a cookie-authenticated unsafe request is same-site (or from an allowed origin).
      accessToken = session.data.accessToken;
      subject = session.data.subject;
    } else {
      const { auth } = await guard.handle(pick(request));
      accessToken = auth.token;
      subject = auth.subject;
    }
    const result = await guard.logout({
      accessToken,
      refreshToken: session?.data.refreshToken ?? string(body.refresh_token),
      idToken: session?.data.idToken ?? string(body.id_token),
      backendSessionId: session?.id,
      subject: options.everywhere ? subject : undefined,
      postLogoutRedirectUri: options.postLogoutRedirectUri,
      state: string(body.state),
      closeOktaSession: options.closeOktaSession,
    });
    const headers: Record<string, string> = { 'cache-control': 'no-store' };
    if (session !== undefined) headers['set-cookie'] = guard.clearSessionCookie();
    // The steps that failed, never why: reasons name internal hosts and URLs (they go to onEvent).
    return { status: 200, headers, body: { loggedOut: true, endSessionUrl: result.endSessionUrl, failures: result.failures.map(({ step }) => ({ step })) } };
  } catch (error) {
    return failure(error);
  }
}

/** OIDC Back-Channel Logout receiver: form body `logout_token`. 200 on success, 400 otherwise (503 when the keys are unreachable). */
export async function backchannelLogoutRoute(guard: Guard, request: BodyRequest, parsed?: unknown): Promise<Answer> {
  try {
    const token = string((await readBody(request, parsed)).logout_token);
    if (token === undefined) throw new LogoutTokenError(400, 'The body has no logout_token');
    await guard.backchannelLogout(token);
    return { status: 200, headers: { 'cache-control': 'no-store' } };
  } catch (error) {
    return failure(error);
  }
}

/** Okta Universal Logout receiver: bearer `global-token-revocation+jwt`, JSON body `sub_id`. 204 on success. */
export async function universalLogoutRoute(guard: Guard, request: BodyRequest, audience: string, parsed?: unknown): Promise<Answer> {
  try {
    const header = request.headers.authorization;
    const bearer = typeof header === 'string' && /^bearer /i.test(header) ? header.slice(7).trim() : undefined;
    if (bearer === undefined) throw new LogoutTokenError(401, 'A bearer token from the issuer is required');
    await guard.universalLogout(bearer, await readBody(request, parsed), audience);
    return { status: 204, headers: {} };
  } catch (error) {
    return failure(error);
  }
}

function pick(request: RequestLike): RequestLike {
  return { method: request.method, url: request.url, headers: request.headers, rawHeaders: request.rawHeaders };
}
