import type { RequestHandler } from 'express';
import { createGuard, type AuthResult, type Guard, type GuardOptions, type Policy } from '../lib';

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Request {
      /** Set by tokengate's `protect()` once the bearer token is verified. */
      auth?: AuthResult;
    }
  }
}

/**
 * Express middleware that verifies the bearer token of every request it sees and sets `req.auth`.
 * Failures go to `next(err)` as {@link AuthError}s carrying `status` and `headers`, which Express's
 * default error handler (or yours) renders.
 *
 * Pass a {@link Guard} to share one key set and cache between routes, or options to build one.
 * The policy is validated now, so a mistake throws at start-up.
 *
 * @example
 * app.use(protect({ issuer: 'https://example.okta.com/oauth2/default', audience: 'api://default' }));
 * app.get('/orders', protect(guard, { scopes: ['orders:read'] }), handler);
 */
export function protect(guardOrOptions: Guard | GuardOptions, policy?: Policy): RequestHandler {
  const guard = toGuard(guardOrOptions);
  const rules = guard.compile(policy);
  return (req, _res, next) => {
    guard.verify(req, rules).then((auth) => {
      req.auth = auth;
      next();
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
