import type { Middleware } from 'koa';
import { type AuthResult, type Guard, type GuardOptions, type Policy } from '../lib';
import { toGuard } from './express';

declare module 'koa' {
  interface DefaultState {
    /** Set by tokengate's `protect()` once the bearer token is verified. */
    auth?: AuthResult;
  }
}

/**
 * Koa middleware that verifies the bearer token and sets `ctx.state.auth`. Failures are thrown as
 * {@link AuthError}s carrying `status`, `expose` and `headers`, which Koa's default error handler
 * (or yours) renders.
 *
 * Pass a {@link Guard} to share one key set and cache between routes, or options to build one.
 * The policy is validated now, so a mistake throws at start-up.
 *
 * @example
 * app.use(protect({ issuer: 'https://example.okta.com/oauth2/default', audience: 'api://default' }));
 */
export function protect(guardOrOptions: Guard | GuardOptions, policy?: Policy): Middleware {
  const guard = toGuard(guardOrOptions);
  const rules = guard.compile(policy);
  return async (ctx, next) => {
    ctx.state.auth = await guard.verify(ctx.req, rules);
    await next();
  };
}

export type { AuthResult, Guard, GuardOptions, Policy };
