import type { Context, Middleware } from 'koa';
import { AuthError, errorAnswer, type Answer, type AuthResult, type Guard, type GuardOptions, type JwtClaims, type LogoutRouteOptions, type OktaEventHookOptions, type Policy, type RequestLike, type SsfReceiverOptions, type TokenSet } from '../lib';
import { mount, routes, setAnswerHeaders } from './shared';

declare module 'koa' {
  interface DefaultState {
    /** Set by tokengate's `protect()` once the bearer token (or the backend session) is verified. */
    auth?: AuthResult;
  }
}

/** Silent refresh with bearer tokens: where the refresh token is, and where the new tokens go. */
export interface KoaRefreshHooks {
  /**
   * The refresh token for an expired access token, asked only once that token is verified (its
   * signature, every check but expiry, the denylist); `expired` holds its claims. Look the refresh
   * token up by `expired.sub`, never by a header or cookie the client sets.
   */
  getRefreshToken?: (ctx: Context, expired: Readonly<JwtClaims>) => string | undefined | Promise<string | undefined>;
  onTokens?: (ctx: Context, tokens: TokenSet) => void | Promise<void>;
}

/** The third argument of {@link protect}: refresh hooks, and who answers a rejection. */
export interface KoaProtectOptions extends KoaRefreshHooks {
  /**
   * `'respond'` (default): the middleware answers a rejection itself, with the error's status,
   * `WWW-Authenticate` (and `Retry-After`) and a JSON body `{ error, code, error_description }` (see
   * {@link errorAnswer}); headers set earlier are kept. `'throw'`: the {@link AuthError} is thrown
   * for your error-handling middleware (or Koa's default handler). Other errors are always thrown.
   */
  errors?: 'respond' | 'throw';
}

/**
 * Koa middleware that verifies the bearer token (or the backend-session cookie) and sets
 * `ctx.state.auth`. A rejection is answered at once (401, 403, 400 or 503 with the RFC 6750
 * challenge and a JSON body), or thrown as an {@link AuthError} with `errors: 'throw'`.
 *
 * @example
 * app.use(protect({ issuer: 'https://example.okta.com/oauth2/default', audience: 'api://default' }));
 */
export function protect(guardOrOptions: Guard | GuardOptions, policy?: Policy, options?: KoaProtectOptions): Middleware {
  const { guard, rules, respond, sync } = mount(guardOrOptions, policy, options, 'throw');
  const hooks = options;
  const answer = (ctx: Context, error: AuthError): void => {
    const { status, headers, body } = errorAnswer(error);
    ctx.status = status;
    setAnswerHeaders(ctx.res, headers);
    ctx.body = body;
  };
  return async (ctx, next) => {
    let auth: AuthResult;
    try {
      const done = sync ? guard.handleSync(ctx.req, rules) : undefined;
      if (done !== undefined) {
        auth = done.auth;
      } else {
        const refresh = hooks?.getRefreshToken && { getRefreshToken: (expired: Readonly<JwtClaims>) => hooks.getRefreshToken!(ctx, expired) };
        // A mounted app (koa-mount) rewrites req.url; a DPoP proof names the URL as received.
        if (ctx.req.headers.dpop !== undefined) (ctx.req as RequestLike).originalUrl = ctx.originalUrl;
        const handled = await guard.handle(ctx.req, rules, refresh);
        auth = handled.auth;
        if (handled.tokens !== undefined) {
          ctx.state.auth = auth;
          await hooks?.onTokens?.(ctx, handled.tokens);
        }
      }
    } catch (error) {
      if (respond && error instanceof AuthError && !ctx.headerSent) return answer(ctx, error);
      throw error;
    }
    ctx.state.auth = auth;
    await next();
  };
}

/** Login route for backend sessions. */
export const sessionLogin = (guard: Guard): Middleware => route((ctx) => routes.sessionLogin(guard, ctx.req, parsedBody(ctx)));
/** Logout route: ends everything, answers `{ endSessionUrl, failures }`. */
export const logout = (guard: Guard, options?: LogoutRouteOptions): Middleware => route((ctx) => routes.logoutRoute(guard, ctx.req, options, parsedBody(ctx)));
/** OIDC Back-Channel Logout receiver. */
export const backchannelLogout = (guard: Guard): Middleware => route((ctx) => routes.backchannelLogoutRoute(guard, ctx.req, parsedBody(ctx)));
/** Okta Universal Logout receiver; `audience` is this endpoint's URL. */
export const universalLogout = (guard: Guard, options: { audience: string }): Middleware =>
  route((ctx) => routes.universalLogoutRoute(guard, ctx.req, options.audience, parsedBody(ctx)));

/** SSF / CAEP receiver (RFC 8935 push of `application/secevent+jwt`): 202, or 400 with `{ err, description }`. */
export function ssfReceiver(guard: Guard, options: SsfReceiverOptions): Middleware {
  const receive = routes.ssfReceiver(guard, options);
  return route((ctx) => receive(ctx.req, parsedBody(ctx)), true);
}
/** Okta Event Hooks receiver: the verification GET and the POST deliveries; mount it for both methods. */
export function oktaEventHook(guard: Guard, options: OktaEventHookOptions): Middleware {
  const receive = routes.oktaEventHook(guard, options);
  return route((ctx) => receive(ctx.req, parsedBody(ctx)), true);
}

/** Writes an answer; `empty`: an answer without a body is sent without one (Koa would send the status text). */
function route(handler: (ctx: Context) => Promise<Answer>, empty = false): Middleware {
  return async (ctx) => {
    const answer = await handler(ctx);
    if (answer.body === undefined && empty) ctx.body = null;
    ctx.status = answer.status;
    ctx.set(answer.headers);
    if (answer.body !== undefined) ctx.body = answer.body;
  };
}

/** A body a parser (koa-body, @koa/bodyparser) already read, if any. */
function parsedBody(ctx: Context): unknown {
  return (ctx.request as { body?: unknown }).body;
}

export type { AuthResult, Guard, GuardOptions, Policy };
