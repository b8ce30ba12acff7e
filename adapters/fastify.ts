import type { FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction, preHandlerHookHandler, RouteHandlerMethod } from 'fastify';
import fastifyPlugin from 'fastify-plugin';
import { AuthError, errorAnswer, type Answer, type AuthResult, type Guard, type GuardOptions, type JwtClaims, type LogoutRouteOptions, type OktaEventHookOptions, type Policy, type SsfReceiverOptions, type TokenSet } from '../lib';
import { mount, routes, toGuard } from './shared';

declare module 'fastify' {
  interface FastifyInstance {
    /** The guard the `tokengate` plugin was registered with (or built from its options). */
    tokengate: Guard;
  }
  interface FastifyRequest {
    /** Set by tokengate's `protect()` once the bearer token (or the backend session) is verified. */
    auth?: AuthResult;
  }
}

/** Options of the {@link tokengate} plugin. */
export interface FastifyTokengateOptions {
  /** A guard to share, or options to build one (closed when the Fastify instance closes). */
  guard: Guard | GuardOptions;
  /**
   * Register a parser for `application/x-www-form-urlencoded` (into a plain object, within Fastify's
   * `bodyLimit`) when the instance has none, so that the logout routes take form bodies, as OIDC
   * Back-Channel Logout sends them. Default `true`; `false` if you register `@fastify/formbody` later.
   */
  formBody?: boolean;
}

/** Silent refresh with bearer tokens: where the refresh token is, and where the new tokens go. */
export interface FastifyRefreshHooks {
  /**
   * The refresh token for an expired access token, asked only once that token is verified (its
   * signature, every check but expiry, the denylist); `expired` holds its claims. Look the refresh
   * token up by `expired.sub`, never by a header or cookie the client sets.
   */
  getRefreshToken?: (request: FastifyRequest, expired: Readonly<JwtClaims>) => string | undefined | Promise<string | undefined>;
  onTokens?: (request: FastifyRequest, reply: FastifyReply, tokens: TokenSet) => void | Promise<void>;
}

/** The third argument of {@link protect}: refresh hooks, and who answers a rejection. */
export interface FastifyProtectOptions extends FastifyRefreshHooks {
  /**
   * `'respond'` (default): the hook answers a rejection itself, with the error's status,
   * `WWW-Authenticate` (and `Retry-After`) and a JSON body `{ error, code, error_description }` (see
   * {@link errorAnswer}); headers set earlier are kept. `'throw'`: the {@link AuthError} goes to
   * Fastify's error handling (`setErrorHandler`). Fastify's default handler renders its status and
   * headers, but sends every message, a 503's too (it names the issuer's URLs): honour `expose`.
   * Other errors always go to Fastify's error handling.
   */
  errors?: 'respond' | 'throw';
}

const FORM = 'application/x-www-form-urlencoded';
const SECEVENT = 'application/secevent+jwt';
/** Names Fastify itself accepts in `register()` options, next to the plugin's own. */
const REGISTER_OPTIONS = new Set(['prefix', 'logLevel', 'logSerializers']);

/**
 * Fastify plugin (made with fastify-plugin, so not encapsulated): decorates the instance with
 * `fastify.tokengate`, the guard, and requests with `request.auth`, and registers a form-body parser
 * (see {@link FastifyTokengateOptions.formBody}) and, when the instance has none, a text parser for
 * `application/secevent+jwt` (the SETs {@link ssfReceiver} takes). It protects nothing by itself: add {@link protect}.
 * A bad option makes `ready()` reject, so the service fails at start-up.
 *
 * @example
 * await fastify.register(tokengate, { guard: { issuer: 'https://example.okta.com/oauth2/default', audience: 'api://default' } });
 * fastify.get('/orders', { preHandler: protect(fastify.tokengate, { scopes: ['orders:read'] }) }, listOrders);
 */
export const tokengate = fastifyPlugin(register, { fastify: '5.x', name: 'tokengate' });

async function register(fastify: FastifyInstance, options: FastifyTokengateOptions): Promise<void> {
  const { guard: given, formBody = true } = checkPluginOptions(options);
  const guard = toGuard(given);
  fastify.decorate('tokengate', guard);
  fastify.decorateRequest('auth', undefined);
  if (guard !== given) fastify.addHook('onClose', () => guard.close());
  if (formBody && !fastify.hasContentTypeParser(FORM)) {
    fastify.addContentTypeParser(FORM, { parseAs: 'string' }, (_request, body, done) => done(null, Object.fromEntries(new URLSearchParams(String(body)))));
  }
  // The SSF receiver's SETs, kept as text (within Fastify's bodyLimit).
  if (!fastify.hasContentTypeParser(SECEVENT)) fastify.addContentTypeParser(SECEVENT, { parseAs: 'string' }, (_request, body, done) => done(null, body));
}

function checkPluginOptions(options: unknown): FastifyTokengateOptions {
  if (options === null || typeof options !== 'object') throw new TypeError('tokengate: the Fastify plugin needs options { guard }');
  const record = options as Record<string, unknown>;
  for (const name of Object.keys(record)) {
    if (name !== 'guard' && name !== 'formBody' && !REGISTER_OPTIONS.has(name)) {
      throw new TypeError(`tokengate: the Fastify plugin has no option "${name}" (known: guard, formBody)`);
    }
  }
  if (record.guard === null || typeof record.guard !== 'object') throw new TypeError('tokengate: the Fastify plugin option "guard" must be a Guard or guard options');
  if (record.formBody !== undefined && typeof record.formBody !== 'boolean') throw new TypeError('tokengate: the Fastify plugin option "formBody" must be a boolean');
  return record as unknown as FastifyTokengateOptions;
}

/**
 * A Fastify `preHandler` hook that verifies the bearer token (or the backend-session cookie) and
 * sets `request.auth`. A rejection is answered at once (401, 403, 400 or 503 with the RFC 6750
 * challenge and a JSON body), or handed to Fastify's error handling with `errors: 'throw'`.
 *
 * Pass a {@link Guard} (`fastify.tokengate`) to share one key set and cache between routes, or
 * options to build one. The policy and the options are validated now, so a mistake throws at start-up.
 *
 * @example
 * fastify.get('/orders', { preHandler: protect(fastify.tokengate, { scopes: ['orders:read'] }) }, listOrders);
 * fastify.addHook('preHandler', protect(fastify.tokengate));
 */
export function protect(guardOrOptions: Guard | GuardOptions, policy?: Policy, options?: FastifyProtectOptions): preHandlerHookHandler {
  const { guard, rules, respond, sync } = mount(guardOrOptions, policy, options, 'throw');
  const hooks = options;
  const fail = (error: unknown, reply: FastifyReply, done: HookHandlerDoneFunction): void => {
    if (!respond || !(error instanceof AuthError) || reply.sent) return done(error as Error);
    const { status, headers, body } = errorAnswer(error);
    // reply.headers() adds a Set-Cookie to those set earlier and replaces other namesakes.
    void reply.code(status).headers(headers).type('application/json; charset=utf-8').send(body);
  };
  return (request, reply, done) => {
    if (sync) {
      let handled;
      try {
        handled = guard.handleSync(request.raw, rules);
      } catch (error) {
        return fail(error, reply, done);
      }
      if (handled !== undefined) {
        request.auth = handled.auth;
        return done();
      }
    }
    const refresh = hooks?.getRefreshToken && { getRefreshToken: (expired: Readonly<JwtClaims>) => hooks.getRefreshToken!(request, expired) };
    guard
      .handle(request.raw, rules, refresh)
      .then(async ({ auth, tokens }) => {
        request.auth = auth;
        if (tokens !== undefined) await hooks?.onTokens?.(request, reply, tokens);
      })
      .then(() => done(), (error: unknown) => fail(error, reply, done));
  };
}

/** Login route for backend sessions (bearer token in, session cookie out). See `sessionLogin` of `tokengate`. */
export const sessionLogin = (guard: Guard): RouteHandlerMethod => route((request) => routes.sessionLogin(guard, request.raw, parsedBody(request)));
/** Logout route (JSON or form body): ends everything, answers `{ endSessionUrl, failures }`. See `logoutRoute` of `tokengate`. */
export const logout = (guard: Guard, options?: LogoutRouteOptions): RouteHandlerMethod => route((request) => routes.logoutRoute(guard, request.raw, options, parsedBody(request)));
/** OIDC Back-Channel Logout receiver (form body). See `backchannelLogoutRoute` of `tokengate`. */
export const backchannelLogout = (guard: Guard): RouteHandlerMethod => route((request) => routes.backchannelLogoutRoute(guard, request.raw, parsedBody(request)));
/** Okta Universal Logout receiver (JSON body); `audience` is this endpoint's URL. See `universalLogoutRoute` of `tokengate`. */
export const universalLogout = (guard: Guard, options: { audience: string }): RouteHandlerMethod =>
  route((request) => routes.universalLogoutRoute(guard, request.raw, options.audience, parsedBody(request)));

/** SSF / CAEP receiver (RFC 8935 push of `application/secevent+jwt`, parsed as text by the plugin): 202, or 400 with `{ err, description }`. */
export function ssfReceiver(guard: Guard, options: SsfReceiverOptions): RouteHandlerMethod {
  const receive = routes.ssfReceiver(guard, options);
  return route((request) => receive(request.raw, request.body ?? ''));
}
/** Okta Event Hooks receiver: route it for GET (verification) and POST (deliveries). */
export function oktaEventHook(guard: Guard, options: OktaEventHookOptions): RouteHandlerMethod {
  const receive = routes.oktaEventHook(guard, options);
  return route((request) => receive(request.raw, request.body ?? ''));
}

function route(handler: (request: FastifyRequest) => Promise<Answer>): RouteHandlerMethod {
  return async (request, reply) => {
    const answer = await handler(request);
    // Something else (a timeout plugin) may have answered meanwhile.
    if (reply.sent) return reply;
    return reply.code(answer.status).headers(answer.headers).send(answer.body);
  };
}

/**
 * The body as Fastify parsed it. Fastify has read the stream already, so a body it did not parse
 * into an object (none, text, a Buffer) counts as empty rather than being read again.
 */
function parsedBody(request: FastifyRequest): object {
  const body = request.body;
  return body !== null && typeof body === 'object' && !Buffer.isBuffer(body) ? body : {};
}

export type { AuthResult, Guard, GuardOptions, Policy };
