import type { AuthErrorCode } from '../errors';
import type { TokengateEvent } from '../events';
import type { BackendSessionData } from '../sessions/store';
import type { OktaEventHookOptions, OktaEventHookReceiver } from '../logout/event-hook';
import type { LogoutRequest, LogoutResult } from '../logout/logout';
import type { SsfReceiver, SsfReceiverOptions } from '../logout/ssf-receiver';
import type { RevocationKind } from '../revocation/denylist';
import type { RequestLike } from '../util/request';
import type { Handled, RefreshHooks, TokenSet } from '../verify/pipeline';
import type { Policy } from '../verify/policy';
import type { AuthResult } from '../verify/result';

/**
 * Verifies bearer tokens for one issuer and audience. Holds every piece of state (key set,
 * verified-token cache, in-flight fetches); build one per service and share it between routes.
 */
export interface Guard {
  /**
   * Extracts the bearer token of a request (RFC 6750), verifies it, and applies the policy.
   * Resolves to the {@link AuthResult}; rejects with an {@link AuthError} whose `headers` carry
   * the `WWW-Authenticate` challenge (and `Retry-After` on 503).
   */
  verify(request: RequestLike, policy?: Policy): Promise<AuthResult>;
  /** Verifies a token you already extracted, then applies the policy. Same results as {@link Guard.verify}. */
  verifyToken(token: string, policy?: Policy): Promise<AuthResult>;
  /**
   * Validates a route policy against this guard, overlaid on the guard-wide `policy`, and returns
   * it compiled. Throws a `TypeError` for a mistake, or for a check the guard is not configured for
   * (`introspect` without `introspection`, `session: 'strict'` without `sessions`). Adapters call
   * it when a route is mounted.
   */
  compile(policy?: Policy): Policy | undefined;
  /**
   * What the adapters call: like {@link Guard.verify}, plus backend sessions (a request with the
   * session cookie and no Authorization header) and silent refresh of an expired access token when
   * `hooks.getRefreshToken` supplies a refresh token. `tokens` is set when a refresh happened.
   */
  handle(request: RequestLike, policy?: Policy, hooks?: RefreshHooks): Promise<Handled>;
  /**
   * The synchronous fast path of {@link Guard.handle}: resolves a request at once when nothing
   * needs waiting for (a cached token, or a new one whose key is held and fresh, on a route without
   * introspection; on a strict-session route, only with a fresh cached answer for the session).
   * Returns `undefined` when {@link Guard.handle} must be used;
   * throws the same {@link AuthError}s. Adapters try it first: no promise, no microtask hop.
   */
  handleSync(request: RequestLike, policy?: Policy): Handled | undefined;
  /** Exchanges a refresh token (one exchange in flight per refresh token) and verifies the new access token. Needs `client`. */
  refresh(refreshToken: string): Promise<TokenSet>;
  /**
   * Puts a `jti`, an Okta session id (`sid`: tokens whose session claim holds it) or a user (`sub`)
   * on the denylist, on every instance sharing the `revocation.store`. `until` (ms since the epoch,
   * in the future) defaults to the longest a token issued now can still be accepted
   * (`revocation.maxTokenLifetime`, plus twice `clockTolerance`, plus `refreshWindow` — or a backend
   * session's `lifetime` — with a `client`). Takes effect here at once; resolves
   * once the store has the entry, rejects when it could not take it then (the entry stays queued
   * and is written, in order, as soon as the store takes writes again).
   */
  revoke(kind: RevocationKind, value: string, until?: number): Promise<void>;
  /**
   * Logs out: denylists the token's `jti` and `sid` (and `subject` when given) everywhere, evicts
   * every cache that could still say yes, ends backend sessions, revokes the tokens at the issuer,
   * closes the Okta session (with the `sessions` option), and builds the end-session URL. Partial
   * failures are reported, never thrown: local invalidation always happens.
   *
   * Does NOT verify the tokens it is given: pass what your own verified request holds (`req.auth`).
   */
  logout(request: LogoutRequest): Promise<LogoutResult>;
  /**
   * Starts a backend session for a verified token: a 256-bit random id in an HttpOnly cookie, the
   * tokens kept server-side. Needs `backendSessions`. Returns the id, the `Set-Cookie` value, and
   * when the session ends (`expiresAt`, seconds since the epoch, as `AuthResult.expiresAt`).
   */
  startSession(auth: AuthResult, tokens?: { refreshToken?: string; idToken?: string }): Promise<{ id: string; cookie: string; expiresAt: number }>;
  /**
   * The live backend session named by the request's cookie (`{ id, data }`), or undefined. Used by
   * the ready-made routes; exposed for custom flows. An unsafe request (POST, PUT, PATCH, DELETE)
   * with the cookie must pass the same-site check first (`backendSessions.allowedOrigins`):
   * otherwise it rejects with {@link CsrfRejectedError}. A failing store rejects with 503
   * `ERR_SESSION_STORE_UNAVAILABLE`.
   */
  sessionFor(request: RequestLike): Promise<{ id: string; data: BackendSessionData } | undefined>;
  /** The `Set-Cookie` value that clears the session cookie. */
  clearSessionCookie(): string;
  /**
   * Receives an OIDC Back-Channel Logout `logout_token`: verifies it (issuer keys, `typ`
   * `logout+jwt`, `aud` = the `client` id, the back-channel `events` claim, `sid` and/or `sub`, no
   * `nonce`, fresh `iat`, `jti` not replayed) and revokes the session and/or subject on every
   * instance. Rejects with {@link LogoutTokenError} (answer 400) or a 503 {@link AuthError}.
   * @see https://openid.net/specs/openid-connect-backchannel-1_0.html
   */
  backchannelLogout(logoutToken: string): Promise<{ sid?: string; subject?: string }>;
  /**
   * Receives an Okta Universal Logout request: a `global-token-revocation+jwt` bearer from the
   * issuer whose `aud` is `audience` (this endpoint's URL), and a body naming the user
   * (`sub_id` of format `email` or `iss_sub`). Revokes the subject on every instance.
   * Rejects with {@link LogoutTokenError} whose `status` is the answer to give (400, 401, 404, 422).
   * The bearer is single-use across every instance sharing the `revocation.store` (its
   * `claimOnce`); with a store that has none, or one that cannot answer, rejects with 503
   * `ERR_REVOCATION_UNAVAILABLE`: a replay to another instance could name another user.
   */
  universalLogout(bearer: string, body: unknown, audience: string): Promise<{ subject: string }>;
  /**
   * Builds an OpenID Shared Signals (SSF 1.0 / CAEP 1.0) receiver for RFC 8935 push delivery, bound
   * to this guard: what the `ssfReceiver` routes run. Options are validated now (a `TypeError` names
   * the mistake); the transmitter's configuration and keys are fetched on the first SET. Counts as a
   * mounted receiver for `sessions.pushed`.
   * @see https://www.rfc-editor.org/rfc/rfc8935
   */
  ssfReceiver(options: SsfReceiverOptions): SsfReceiver;
  /**
   * Builds an Okta Event Hooks receiver bound to this guard: what the `oktaEventHook` routes run.
   * Options are validated now. Counts as a mounted receiver for `sessions.pushed`.
   * @see https://developer.okta.com/docs/concepts/event-hooks/
   */
  oktaEventHook(options: OktaEventHookOptions): OktaEventHookReceiver;
  /**
   * Loads the issuer's keys (discovery, JWKS), and waits for the attempt under way to sync the
   * denylist with its store: rejects with 503 `ERR_REVOCATION_UNAVAILABLE` while the store is out
   * of reach (the guard keeps trying in the background, and serves as `revocation.staleFor` says).
   * Await it in a readiness probe.
   */
  ready(): Promise<void>;
  /** Stops fetching, drops caches, and closes the default HTTP client's pooled connections. */
  close(): Promise<void>;
  /** Counters for metrics: decisions, verified-token cache and key-set activity since creation. */
  stats(): GuardStats;
  /**
   * Adds a listener of the guard's events: from now on it gets every event `onEvent` gets, after
   * `onEvent`. Returns the function that removes it. A listener that throws (or rejects) is ignored,
   * as `onEvent` is. While nobody listens, events built per upstream call (`upstream.call`) are not
   * built at all. `tokengate/otel`'s `instrument()` attaches this way.
   *
   * @example
   * const unsubscribe = guard.subscribe((event) => { if (event.type === 'token.anomaly') log.warn(event); });
   */
  subscribe(listener: (event: TokengateEvent) => void): () => void;
  /** The issuer this guard accepts tokens from. */
  readonly issuer: string;
  /** The realm of its `WWW-Authenticate` challenges. */
  readonly realm: string;
}

/** The counters of one issuer: its verified-token cache, key set, and liveness checks. */
export interface IssuerStats {
  /** Verified-token cache: entries held, hits, and misses (a verification the cache did not answer, whatever its outcome). */
  tokenCache: { size: number; hits: number; misses: number };
  /** Key set: JWKS fetches attempted and failed, key ids held. */
  keys: { fetches: number; failures: number; kids: string[] };
  /**
   * Introspection: answers held, cache hits and misses, requests sent, hits by an answer past its
   * TTL while its renewal was in flight (`revalidating`, counted in `hits` too); `shared` with
   * `introspection.store`. Absent without the `introspection` option.
   */
  introspection?: { size: number; hits: number; misses: number; calls: number; revalidating: number; shared?: SharedAnswerStats };
  /**
   * Okta sessions: ids held, hits, misses, requests sent, hits by an answer past its TTL while its
   * renewal was in flight (`revalidating`, counted in `hits` too), stale answers served while the API
   * could not answer, ms until calls resume; `shared` with `sessions.store`. Absent without the
   * `sessions` option.
   */
  sessions?: { size: number; hits: number; misses: number; calls: number; revalidating: number; staleServed: number; pausedFor: number; shared?: SharedAnswerStats };
}

/**
 * A snapshot of a guard's counters. With one issuer, its counters are the top-level `tokenCache`,
 * `keys`, `introspection` and `sessions`. With several, `issuers` holds them per configured issuer
 * (the function form: those it allowed that are still held), and the top-level `tokenCache` and
 * `keys` add them up (`kids` of every issuer).
 */
export interface GuardStats extends IssuerStats {
  /** Per issuer, keyed by the issuer URL. Absent with a single issuer. */
  issuers?: Record<string, IssuerStats>;
  /** Denylist: entries in the local mirror; whether the shared store is live (always true without one); entries it has not taken yet. */
  revocation: { size: number; live: boolean; unwritten: number };
  /** Refresh-token exchanges sent to the issuer. */
  refreshes: number;
  /**
   * Requests decided by `verify()`, `verifyToken()`, `handle()` and `handleSync()` (what every
   * adapter calls; one decision per request): let through, refused (by error code), and failed with
   * an error that is not a refusal (a hook that threw).
   */
  decisions: { allowed: number; refused: Partial<Record<AuthErrorCode, number>>; errors: number };
  /** Anomaly detector: crossings of `anomaly.maxClients` seen, and tokens that lost their place while their window was open. Absent without the `anomaly` option. */
  anomaly?: { detected: number; evicted: number };
}

/**
 * How a liveness service used its shared answer store (counted on local misses): answers read from
 * the store (`hits`), calls this instance made holding the lease (`leases`), waits for another
 * instance's answer (`waits`), calls made without the store (`fallbacks`: it failed, its
 * subscription was down, or a wait ran out), and whether the store is in use now (`usable`).
 */
export interface SharedAnswerStats {
  hits: number;
  leases: number;
  waits: number;
  fallbacks: number;
  usable: boolean;
}
