import type { Request, RequestHandler, Response } from 'express';
import { createGuard, type AuthResult, type Guard, type GuardOptions, type Policy, type TokenSet } from '../lib';
import * as routes from '../lib/handlers';

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Request {
      /** Set by tokengate's `protect()` once the bearer token (or the backend session) is verified. */
      auth?: AuthResult;
    }
  }
}

/** Silent refresh with bearer tokens: where the refresh token is, and where the new tokens go. */
export interface ExpressRefreshHooks {
  getRefreshToken?: (req: Request) => string | undefined | Promise<string | undefined>;
  onTokens?: (req: Request, res: Response, tokens: TokenSet) => void | Promise<void>;
}

/**
 * Express middleware that verifies the bearer token (or the backend-session cookie) of every
 * request it sees and sets `req.auth`. Failures go to `next(err)` as {@link AuthError}s carrying
 * `status` and `headers`, which Express's default error handler (or yours) renders.
 *
 * Pass a {@link Guard} to share one key set and cache between routes, or options to build one.
 * The policy is validated now, so a mistake throws at start-up.
 *
 * @example
 * app.use(protect({ issuer: 'https://example.okta.com/oauth2/default', audience: 'api://default' }));
 * app.get('/orders', protect(guard, { scopes: ['orders:read'] }), handler);
 */
export function protect(guardOrOptions: Guard | GuardOptions, policy?: Policy, hooks?: ExpressRefreshHooks): RequestHandler {
  const guard = toGuard(guardOrOptions);
  const rules = guard.compile(policy);
  return (req, res, next) => {
    if (hooks === undefined && guard.handleSync !== undefined) {
      let done;
      try {
        done = guard.handleSync(req, rules);
      } catch (error) {
        return next(error);
      }
      if (done !== undefined) {
        req.auth = done.auth;
        return next();
      }
    }
    const refresh = hooks?.getRefreshToken && { getRefreshToken: () => hooks.getRefreshToken!(req) };
    guard.handle(req, rules, refresh).then(async ({ auth, tokens }) => {
      req.auth = auth;
      if (tokens !== undefined) await hooks?.onTokens?.(req, res, tokens);
      next();
    }, next);
  };
}

/** Login route for backend sessions (bearer token in, session cookie out). See {@link routes.sessionLogin}. */
export const sessionLogin = (guard: Guard): RequestHandler => route((req) => routes.sessionLogin(guard, req, req.body));
/** Logout route: ends everything, answers `{ endSessionUrl, failures }`. See {@link routes.logoutRoute}. */
export const logout = (guard: Guard, options?: routes.LogoutRouteOptions): RequestHandler => route((req) => routes.logoutRoute(guard, req, options, req.body));
/** OIDC Back-Channel Logout receiver. See {@link routes.backchannelLogoutRoute}. */
export const backchannelLogout = (guard: Guard): RequestHandler => route((req) => routes.backchannelLogoutRoute(guard, req, req.body));
/** Okta Universal Logout receiver; `audience` is this endpoint's URL. See {@link routes.universalLogoutRoute}. */
export const universalLogout = (guard: Guard, options: { audience: string }): RequestHandler =>
  route((req) => routes.universalLogoutRoute(guard, req, options.audience, req.body));

function route(handler: (req: Request) => Promise<routes.Answer>): RequestHandler {
  return (req, res, next) => {
    handler(req).then((answer) => {
      res.status(answer.status).set(answer.headers);
      if (answer.body === undefined) res.end();
      else res.json(answer.body);
    }, next);
  };
}

/** Accepts a guard as it is, or builds one from options. */
export function toGuard(guardOrOptions: Guard | GuardOptions): Guard {
  if (guardOrOptions !== null && typeof guardOrOptions === 'object' && typeof (guardOrOptions as Guard).verify === 'function') {
    return guardOrOptions as Guard;
  }
  return createGuard(guardOrOptions as GuardOptions);
}

export type { AuthResult, Guard, GuardOptions, Policy };
