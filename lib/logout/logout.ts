import { emit, type TokengateEvent } from '../events';
import type { Discovery } from '../issuer/discovery';
import { revokeAtIssuer, type IssuerRevocation } from '../issuer/revocation';
import type { RevocationKind } from '../revocation/denylist';
import type { BackendSessionStore } from '../sessions/store';
import { ownClaim } from '../util/claims';

/** What to log out. Every field is optional; give what you have. */
export interface LogoutRequest {
  /** The access token of the request (its `jti` and session claim are denylisted; it is revoked at the issuer). */
  accessToken?: string;
  /** The refresh token (revoked at the issuer, which also revokes its access tokens). */
  refreshToken?: string;
  /** The ID token, for `id_token_hint` in the end-session URL. */
  idToken?: string;
  /** The Okta session id, when not in the access token. */
  sessionId?: string;
  /** Log the user out everywhere: every token of this `sub` issued until now is denylisted. */
  subject?: string;
  /** The backend session to end. */
  backendSessionId?: string;
  /** Where the issuer sends the browser after its logout page. */
  postLogoutRedirectUri?: string;
  /** Opaque value echoed back to `postLogoutRedirectUri`. */
  state?: string;
  /** Close the Okta session too (`DELETE /api/v1/sessions/{id}`; needs the `sessions` option). Default `true`. */
  closeOktaSession?: boolean;
}

/** How each step of a logout went: `done`, `skipped` (nothing to do, or not configured), or `failed`. */
export type StepOutcome = 'done' | 'skipped' | 'failed';

/** What {@link Guard.logout} did. */
export interface LogoutResult {
  /** Denylisted on every instance sharing the store: `jti`, `sid`, `sub`. */
  denylisted: Array<{ kind: RevocationKind; value: string }>;
  refreshTokenRevoked: StepOutcome;
  accessTokenRevoked: StepOutcome;
  oktaSessionClosed: StepOutcome;
  backendSessionsEnded: number;
  /** The issuer's end-session URL for the browser (`id_token_hint`, `post_logout_redirect_uri`, `state`), when there is one to build. */
  endSessionUrl: string | undefined;
  /** What failed, and why. Local invalidation happened regardless. */
  failures: Array<{ step: string; message: string }>;
}

/** What logout needs of the guard. */
export interface LogoutContext {
  issuer: string;
  /** The claim that carries the Okta session id. */
  sessionClaim: string;
  onEvent: ((event: TokengateEvent) => void) | undefined;
  discovery: Discovery;
  /** The `endpoints.endSession` option. */
  endSessionEndpoint: string | undefined;
  /** Revocation at the issuer; undefined without a `client`. */
  issuerRevocation: IssuerRevocation | undefined;
  backendSessions: BackendSessionStore | undefined;
  /** Denylists everywhere; `tokenExp` (seconds) is the `exp` of the token a `jti` belongs to. */
  revoke: (kind: RevocationKind, value: string, tokenExp?: number) => Promise<void>;
  forgetToken: (token: string) => void;
  closeOktaSession: ((sid: string) => Promise<void>) | undefined;
}

/**
 * Logs out everywhere it can, local first: denylist entries (propagated through the store), cache
 * eviction and backend sessions never depend on the issuer answering.
 */
export async function logout(request: LogoutRequest, context: LogoutContext): Promise<LogoutResult> {
  const failures: LogoutResult['failures'] = [];
  const attempt = async (step: string, action: () => Promise<unknown>): Promise<StepOutcome> => {
    try {
      await action();
      return 'done';
    } catch (error) {
      const message = (error as Error).message;
      failures.push({ step, message });
      emit(context.onEvent, { type: 'logout.failed', step, message });
      return 'failed';
    }
  };
  const claims = request.accessToken === undefined ? {} : unverifiedClaims(request.accessToken);
  const sidClaim = ownClaim(claims, context.sessionClaim);
  const sid = request.sessionId ?? (typeof sidClaim === 'string' ? sidClaim : undefined);
  const jti = typeof claims.jti === 'string' ? claims.jti : undefined;
  const denylisted: LogoutResult['denylisted'] = [];
  const deny = async (kind: RevocationKind, value: string | undefined, tokenExp?: number) => {
    if (value === undefined) return;
    denylisted.push({ kind, value });
    await attempt(`denylist ${kind}`, () => context.revoke(kind, value, tokenExp));
  };
  await deny('jti', jti, typeof claims.exp === 'number' && Number.isFinite(claims.exp) ? claims.exp : undefined);
  await deny('sid', sid);
  await deny('sub', request.subject);
  if (request.accessToken !== undefined) context.forgetToken(request.accessToken);

  let backendSessionsEnded = 0;
  const store = context.backendSessions;
  if (store !== undefined) {
    await attempt('backend sessions', async () => {
      if (request.backendSessionId !== undefined) {
        await store.delete(request.backendSessionId);
        backendSessionsEnded++;
      }
      if (sid !== undefined) backendSessionsEnded += await store.deleteWhere({ sid });
      if (request.subject !== undefined) backendSessionsEnded += await store.deleteWhere({ subject: request.subject });
    });
  }

  const revokeAt = async (token: string | undefined, hint: 'access_token' | 'refresh_token'): Promise<StepOutcome> => {
    const issuer = context.issuerRevocation;
    if (token === undefined || issuer === undefined) return 'skipped';
    return attempt(`revoke ${hint}`, () => revokeAtIssuer(issuer, token, hint));
  };
  const refreshTokenRevoked = await revokeAt(request.refreshToken, 'refresh_token');
  const accessTokenRevoked = await revokeAt(request.accessToken, 'access_token');
  // Again: a request between the first forgetting and the revocation may have introspected the
  // token (still active at the issuer then) and cached the answer; an opaque token has no jti to deny.
  if (request.accessToken !== undefined) context.forgetToken(request.accessToken);
  const oktaSessionClosed =
    request.closeOktaSession === false || sid === undefined || context.closeOktaSession === undefined
      ? 'skipped'
      : await attempt('close Okta session', () => context.closeOktaSession!(sid));

  let endSessionUrl: string | undefined;
  if (request.idToken !== undefined || request.postLogoutRedirectUri !== undefined) {
    const configured = context.endSessionEndpoint;
    const discovered = configured ?? (await context.discovery.get().then((m) => m.end_session_endpoint, () => undefined));
    // Discovery leaves out an end_session_endpoint that is not an https URL; the option is checked likewise.
    const url = new URL(typeof discovered === 'string' ? discovered : `${context.issuer.replace(/\/$/, '')}/v1/logout`);
    if (request.idToken !== undefined) url.searchParams.set('id_token_hint', request.idToken);
    if (request.postLogoutRedirectUri !== undefined) url.searchParams.set('post_logout_redirect_uri', request.postLogoutRedirectUri);
    if (request.state !== undefined) url.searchParams.set('state', request.state);
    endSessionUrl = url.toString();
  }
  return { denylisted, refreshTokenRevoked, accessTokenRevoked, oktaSessionClosed, backendSessionsEnded, endSessionUrl, failures };
}

/** The payload of a JWT, unverified (logout trusts its caller), or `{}`. */
function unverifiedClaims(token: string): Record<string, unknown> {
  try {
    const value = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8'));
    return value !== null && typeof value === 'object' && !Array.isArray(value) ? value : {};
  } catch {
    return {};
  }
}
