import { LogoutTokenError } from '../errors';
import { emit, type TokengateEvent } from '../events';
import type { RevocationKind } from '../revocation/denylist';
import type { BackendSessionStore } from '../sessions/store';
import { claimLogoutToken, verifyLogoutToken, type LogoutTokenContext, type LogoutTokenKind } from './logout-token';

const BACKCHANNEL_EVENT = 'http://schemas.openid.net/event/backchannel-logout';

/** What the logout receivers need besides the token checks. */
export interface ReceiverContext extends LogoutTokenContext {
  /** The `client` id: the audience of back-channel logout tokens; undefined without a `client`. */
  clientId: string | undefined;
  /** Denylists a session or user everywhere, until the default `until`. */
  revoke: (kind: 'sid' | 'sub', value: string) => Promise<void>;
  backendSessions: BackendSessionStore | undefined;
  onEvent: ((event: TokengateEvent) => void) | undefined;
}

/**
 * Receives an OIDC Back-Channel Logout `logout_token` and revokes the session and/or subject on
 * every instance. Rejects with {@link LogoutTokenError} (answer 400) or a 503 AuthError.
 * @see https://openid.net/specs/openid-connect-backchannel-1_0.html
 */
export async function receiveBackchannelLogout(context: ReceiverContext, logoutToken: string): Promise<{ sid?: string; subject?: string }> {
  const audience = context.clientId;
  if (audience === undefined) throw new TypeError('tokengate: back-channel logout needs the "client" option (its id is the logout token\'s audience)');
  const kind: LogoutTokenKind = { typs: ['logout+jwt', undefined], audience, what: 'logout token', status: 400 };
  const claims = await verifyLogoutToken(context, logoutToken, kind);
  const events = claims.events as Record<string, unknown> | undefined;
  const event = events !== null && typeof events === 'object' ? events[BACKCHANNEL_EVENT] : undefined;
  if (event === null || typeof event !== 'object') throw new LogoutTokenError(400, 'The logout token has no back-channel logout event');
  if (claims.nonce !== undefined) throw new LogoutTokenError(400, 'A logout token must not contain a nonce');
  const sid = typeof claims.sid === 'string' && claims.sid !== '' ? claims.sid : undefined;
  const subject = typeof claims.sub === 'string' && claims.sub !== '' ? claims.sub : undefined;
  if (sid === undefined && subject === undefined) throw new LogoutTokenError(400, 'The logout token names neither sid nor sub');
  // A replay names what the token names, so it can only repeat this logout: when the shared
  // replay cache cannot answer, this instance's own record decides.
  await claimLogoutToken(context, claims, kind, false);
  await endEverywhere(context, sid !== undefined ? 'sid' : 'sub', sid ?? subject!);
  emit(context.onEvent, { type: 'session.ended', status: 'LOGGED_OUT' });
  return { sid, subject };
}

/**
 * Receives an Okta Universal Logout request: a `global-token-revocation+jwt` bearer from the
 * issuer whose `aud` is `audience` (this endpoint's URL), and a body naming the user (`sub_id` of
 * format `email` or `iss_sub`). Revokes the subject on every instance. Rejects with
 * {@link LogoutTokenError} whose `status` is the answer to give (400, 401, 404, 422). The bearer is
 * single-use across every instance sharing the store, or refused (503).
 */
export async function receiveUniversalLogout(context: ReceiverContext, bearer: string, body: unknown, audience: string): Promise<{ subject: string }> {
  const kind: LogoutTokenKind = { typs: ['global-token-revocation+jwt'], audience, what: 'global token revocation token', status: 401 };
  const claims = await verifyLogoutToken(context, bearer, kind);
  const subId = body !== null && typeof body === 'object' ? (body as { sub_id?: Record<string, unknown> }).sub_id : undefined;
  if (subId === null || typeof subId !== 'object') throw new LogoutTokenError(400, 'The body must name the user in "sub_id"');
  let subject: unknown;
  if (subId.format === 'email') subject = subId.email;
  else if (subId.format === 'iss_sub') {
    if (subId.iss !== context.issuer) throw new LogoutTokenError(404, 'The user is not one of this issuer\'s');
    subject = subId.sub;
  } else if (subId.format === 'opaque') {
    throw new LogoutTokenError(422, 'An opaque user id cannot be mapped to tokens here; use the email or iss_sub format');
  } else {
    throw new LogoutTokenError(400, 'Unknown "sub_id" format');
  }
  if (typeof subject !== 'string' || subject === '') throw new LogoutTokenError(400, 'The "sub_id" names no user');
  // The body is not bound to the bearer: replayed to another instance it could name anyone, so
  // it must be single-use for the whole fleet, or refused.
  await claimLogoutToken(context, claims, kind, true);
  await endEverywhere(context, 'sub', subject);
  return { subject };
}

/**
 * What a receiver does once the token is accepted: denylist the session or user, and end the
 * backend sessions bound to it. Neither can fail the answer: the entry takes effect here at once
 * and is written to the store as soon as it takes writes (`revocation.error` says when it does
 * not), and the denylist already refuses a backend session's tokens; a store failure is reported
 * as `logout.failed`.
 */
async function endEverywhere(context: ReceiverContext, kind: RevocationKind & ('sid' | 'sub'), value: string): Promise<void> {
  await context.revoke(kind, value).catch(() => undefined);
  const store = context.backendSessions;
  if (store === undefined) return;
  await store.deleteWhere(kind === 'sid' ? { sid: value } : { subject: value }).catch((error: unknown) => {
    const cause = (error as Error).cause;
    emit(context.onEvent, { type: 'logout.failed', step: 'backend sessions', message: cause instanceof Error ? cause.message : (error as Error).message });
  });
}
