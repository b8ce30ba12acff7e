import type { Context, Middleware } from 'koa';
import { type AuthResult, type Guard, type GuardOptions, type Policy, type TokenSet } from '../lib';
import * as routes from '../lib/handlers';
import { toGuard } from './express';

declare module 'koa' {
  interface DefaultState {
    /** Set by tokengate's `protect()` once the bearer token (or the backend session) is verified. */
    auth?: AuthResult;
  }
}

/** Silent refresh with bearer tokens: where the refresh token is, and where the new tokens go. */
export interface KoaRefreshHooks {
  getRefreshToken?: (ctx: Context) => string | undefined | Promise<string | undefined>;
  onTokens?: (ctx: Context, tokens: TokenSet) => void | Promise<void>;
}

/**
 * Koa middleware that verifies the bearer token (or the backend-session cookie) and sets
 * `ctx.state.auth`. Failures are thrown as {@link AuthError}s carrying `status`, `expose` and
 * `headers`, which Koa's default error handler (or yours) renders.
 *
 * @example
 * app.use(protect({ issuer: 'https://example.okta.com/oauth2/default', audience: 'api://default' }));
 */
export function protect(guardOrOptions: Guard | GuardOptions, policy?: Policy, hooks?: KoaRefreshHooks): Middleware {
  const guard = toGuard(guardOrOptions);
  const rules = guard.compile(policy);
  return async (ctx, next) => {
    const done = hooks === undefined ? guard.handleSync?.(ctx.req, rules) : undefined;
    if (done !== undefined) {
      ctx.state.auth = done.auth;
      return next();
    }
    const refresh = hooks?.getRefreshToken && { getRefreshToken: () => hooks.getRefreshToken!(ctx) };
    const { auth, tokens } = await guard.handle(ctx.req, rules, refresh);
    ctx.state.auth = auth;
    if (tokens !== undefined) await hooks?.onTokens?.(ctx, tokens);
    await next();
  };
}

/** Login route for backend sessions. */
export const sessionLogin = (guard: Guard): Middleware => route((ctx) => routes.sessionLogin(guard, ctx.req, parsedBody(ctx)));
/** Logout route: ends everything, answers `{ endSessionUrl, failures }`. */
export const logout = (guard: Guard, options?: routes.LogoutRouteOptions): Middleware => route((ctx) => routes.logoutRoute(guard, ctx.req, options, parsedBody(ctx)));
/** OIDC Back-Channel Logout receiver. */
export const backchannelLogout = (guard: Guard): Middleware => route((ctx) => routes.backchannelLogoutRoute(guard, ctx.req, parsedBody(ctx)));
/** Okta Universal Logout receiver; `audience` is this endpoint's URL. */
export const universalLogout = (guard: Guard, options: { audience: string }): Middleware =>
  route((ctx) => routes.universalLogoutRoute(guard, ctx.req, options.audience, parsedBody(ctx)));

function route(handler: (ctx: Context) => Promise<routes.Answer>): Middleware {
  return async (ctx) => {
    const answer = await handler(ctx);
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
