import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { AuthError, errorAnswer, type Answer, type AuthResult, type Guard, type GuardOptions, type JwtClaims, type LogoutRouteOptions, type OktaEventHookOptions, type Policy, type SsfReceiverOptions, type TokenSet } from '../lib';
import { mount, routes, setAnswerHeaders } from './shared';

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
  const { guard, rules, respond, sync } = mount(guardOrOptions, policy, options, 'next');
  const hooks = options;
  const fail = (error: unknown, res: Response, next: NextFunction): void => {
    if (!respond || !(error instanceof AuthError) || res.headersSent) return next(error);
    const { status, headers, body } = errorAnswer(error);
    setAnswerHeaders(res, headers);
    res.setHeader('Content-Type', 'application/json; charset=utf-8');
    res.statusCode = status;
    res.end(JSON.stringify(body));
  };
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

/** Login route for backend sessions (bearer token in, session cookie out). See `sessionLogin` of `tokengate`. */
export const sessionLogin = (guard: Guard): RequestHandler => route((req) => routes.sessionLogin(guard, req, req.body));
/** Logout route: ends everything, answers `{ endSessionUrl, failures }`. See `logoutRoute` of `tokengate`. */
export const logout = (guard: Guard, options?: LogoutRouteOptions): RequestHandler => route((req) => routes.logoutRoute(guard, req, options, req.body));
/** OIDC Back-Channel Logout receiver. See `backchannelLogoutRoute` of `tokengate`. */
export const backchannelLogout = (guard: Guard): RequestHandler => route((req) => routes.backchannelLogoutRoute(guard, req, req.body));
/** Okta Universal Logout receiver; `audience` is this endpoint's URL. See `universalLogoutRoute` of `tokengate`. */
export const universalLogout = (guard: Guard, options: { audience: string }): RequestHandler =>
  route((req) => routes.universalLogoutRoute(guard, req, options.audience, req.body));

/**
 * SSF / CAEP receiver (RFC 8935 push of `application/secevent+jwt`): 202, or 400 with `{ err, description }`.
 * Reads the body itself (or takes what `express.text({ type: 'application/secevent+jwt' })` read). See `ssfReceiver` of `tokengate`.
 * @example app.post('/ssf', ssfReceiver(guard, { audience: 'https://api.example.com/ssf' }));
 */
export function ssfReceiver(guard: Guard, options: SsfReceiverOptions): RequestHandler {
  const receive = routes.ssfReceiver(guard, options);
  return route((req) => receive(req, req.body));
}
/**
 * Okta Event Hooks receiver: the verification GET and the POST deliveries (read itself, or from `express.json()`). See `oktaEventHook` of `tokengate`.
 * @example app.all('/okta/events', oktaEventHook(guard, { secret: process.env.OKTA_HOOK_SECRET! }));
 */
export function oktaEventHook(guard: Guard, options: OktaEventHookOptions): RequestHandler {
  const receive = routes.oktaEventHook(guard, options);
  return route((req) => receive(req, req.body));
}

function route(handler: (req: Request) => Promise<Answer>): RequestHandler {
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

export type { AuthResult, Guard, GuardOptions, Policy };
