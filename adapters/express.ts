import type { ServerResponse } from 'node:http';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { AuthError, createGuard, errorAnswer, type AuthResult, type Guard, type GuardOptions, type JwtClaims, type Policy, type TokenSet } from '../lib';
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
  /**
   * The refresh token for an expired access token, asked only once that token is verified (its
   * signature, every check but expiry, the denylist); `expired` holds its claims. Look the refresh
   * token up by `expired.sub`, never by a header or cookie the client sets.
   */
  getRefreshToken?: (req: Request, expired: Readonly<JwtClaims>) => string | undefined | Promise<string | undefined>;
  onTokens?: (req: Request, res: Response, tokens: TokenSet) => void | Promise<void>;
}

/** The third argument of {@link protect}: refresh hooks, and who answers a rejection. */
export interface ExpressProtectOptions extends ExpressRefreshHooks {
  /**
   * `'respond'` (default): the middleware answers a rejection itself, with the error's status,
   * `WWW-Authenticate` (and `Retry-After`) and a JSON body `{ error, code, error_description }` (see
   * {@link errorAnswer}); headers set earlier (CORS…) are kept. `'next'`: the {@link AuthError} goes
   * to `next(err)` for your error handler to render. Other errors always go to `next(err)`.
   */
  errors?: 'respond' | 'next';
}

/**
 * Express middleware that verifies the bearer token (or the backend-session cookie) of every
 * request it sees and sets `req.auth`. A rejection is answered at once (401, 403, 400 or 503 with
 * the RFC 6750 challenge and a JSON body), or passed to `next(err)` with `errors: 'next'`.
 *
 * Pass a {@link Guard} to share one key set and cache between routes, or options to build one.
 * The policy and the options are validated now, so a mistake throws at start-up.
 *
 * @example
 * app.use(protect({ issuer: 'https://example.okta.com/oauth2/default', audience: 'api://default' }));
 * app.get('/orders', protect(guard, { scopes: ['orders:read'] }), handler);
 */
export function protect(guardOrOptions: Guard | GuardOptions, policy?: Policy, options?: ExpressProtectOptions): RequestHandler {
  const guard = toGuard(guardOrOptions);
  const rules = guard.compile(policy);
  const respond = checkProtectOptions(options, 'next') === 'respond';
  const hooks = options;
  const fail = (error: unknown, res: Response, next: NextFunction): void => {
    if (!respond || !(error instanceof AuthError) || res.headersSent) return next(error);
    const { status, headers, body } = errorAnswer(error);
    setAnswerHeaders(res, headers);
    res.setHeader('Content-Type', 'application/json; charset=utf-8');
    res.statusCode = status;
    res.end(JSON.stringify(body));
  };
  // A duck-typed guard (a wrapper, another copy of tokengate) may have no synchronous path.
  const sync = hooks?.getRefreshToken === undefined && hooks?.onTokens === undefined && typeof guard.handleSync === 'function';
  return (req, res, next) => {
    if (sync) {
      let done;
      try {
        done = guard.handleSync(req, rules);
      } catch (error) {
        return fail(error, res, next);
      }
      if (done !== undefined) {
        req.auth = done.auth;
        return next();
      }
    }
    const refresh = hooks?.getRefreshToken && { getRefreshToken: (expired: Readonly<JwtClaims>) => hooks.getRefreshToken!(req, expired) };
    guard.handle(req, rules, refresh).then(
      async ({ auth, tokens }) => {
        req.auth = auth;
        if (tokens !== undefined) await hooks?.onTokens?.(req, res, tokens);
        next();
      },
      (error: unknown) => fail(error, res, next),
    ).catch(next);
  };
}

/**
 * Sets a rejection's headers on a response (both adapters), keeping those set earlier (CORS…):
 * a clearing `Set-Cookie` is added to any cookie already set, the others replace their namesakes.
 */
export function setAnswerHeaders(res: ServerResponse, headers: Readonly<Record<string, string>>): void {
  for (const name in headers) {
    if (name.toLowerCase() === 'set-cookie') res.appendHeader(name, headers[name]);
    else res.setHeader(name, headers[name]);
  }
}

/**
 * Validates the third argument of `protect()` (both adapters) and returns its `errors` mode.
 * A typo throws at mount, like a bad policy.
 */
export function checkProtectOptions(options: object | undefined, passOn: 'next' | 'throw'): 'respond' | 'next' | 'throw' {
  if (options === undefined) return 'respond';
  if (options === null || typeof options !== 'object' || Array.isArray(options)) throw new TypeError('tokengate: the third argument of protect() must be an object');
  const record = options as Record<string, unknown>;
  for (const name of Object.keys(record)) {
    if (name !== 'errors' && name !== 'getRefreshToken' && name !== 'onTokens') {
      throw new TypeError(`tokengate: protect() has no option "${name}" (known: errors, getRefreshToken, onTokens)`);
    }
    if (name !== 'errors' && record[name] !== undefined && typeof record[name] !== 'function') {
      throw new TypeError(`tokengate: protect() option "${name}" must be a function`);
    }
  }
  const mode: unknown = record.errors === undefined ? 'respond' : record.errors;
  if (mode === 'respond' || mode === passOn) return mode as 'respond' | 'next' | 'throw';
  throw new TypeError(`tokengate: protect() option "errors" must be "respond" or "${passOn}"`);
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
    handler(req)
      .then((answer) => {
        // Something else (a timeout middleware) may have answered meanwhile: writing again would throw.
        if (res.headersSent) return;
        res.status(answer.status).set(answer.headers);
        if (answer.body === undefined) res.end();
        else res.json(answer.body);
      })
      .catch(next);
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
