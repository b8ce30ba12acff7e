import { RefreshFailedError, SessionEndedError, TokenRevokedError, type AuthError } from '../errors';
import type { BackendSessions } from '../sessions/backend';
import type { RequestLike } from '../util/request';
import { refreshable, type Handled, type Pipeline } from './pipeline';
import type { Policy } from './policy';
import type { Verifier } from './verifier';

/**
 * A request authenticated by the backend-session cookie: the session's access token goes the
 * bearer path, bound to the Okta session (`session: 'strict'`) when the guard checks sessions and
 * the token named one; an expired token is refreshed within the session's `lifetime`. A session
 * that cannot go on is ended, and the answer clears the cookie.
 */
export async function handleSessionRequest(
  parts: { pipeline: Pipeline; verifier: Verifier; sessions: BackendSessions; strictSessions: boolean },
  request: RequestLike,
  policy: Policy | undefined,
): Promise<Handled> {
  const { pipeline, sessions } = parts;
  const { id, data } = await sessions.require(request);
  // Bound to Okta's session: when it ends, this one ends too.
  const rules = data.sid !== undefined && parts.strictSessions ? { ...(policy ?? {}), session: 'strict' as const } : policy;
  try {
    try {
      return { auth: await pipeline.run(data.accessToken, rules, request), sessionId: id };
    } catch (error) {
      if (!refreshable(error) || data.refreshToken === undefined) throw error;
      // The session's own lifetime bounds how late a refresh may come.
      const expired = await parts.verifier.verifyExpired(data.accessToken, sessions.config.lifetime);
      const tokens = await pipeline.refreshFor(expired, data.refreshToken);
      await sessions.update(id, { ...data, accessToken: tokens.accessToken, refreshToken: tokens.refreshToken, idToken: tokens.idToken ?? data.idToken });
      return { auth: await pipeline.run(tokens.accessToken, rules, request), tokens, sessionId: id };
    }
  } catch (error) {
    if (error instanceof SessionEndedError || error instanceof TokenRevokedError || error instanceof RefreshFailedError || refreshable(error)) {
      await sessions.end(id);
      const failed = error as AuthError;
      failed.headers = { ...failed.headers, ...sessions.clearHeader() };
    }
    throw error;
  }
}
