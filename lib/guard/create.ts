import { EventHub, type UpstreamService } from '../events';
import { createHttpClient, withDeadline } from '../issuer/http';
import { observedHttp } from '../issuer/observed-http';
import { Discovery } from '../issuer/discovery';
import { KeySet } from '../issuer/key-set';
import { Refresher } from '../issuer/refresh';
import { Introspector } from '../liveness/introspection';
import { Liveness } from '../liveness/liveness';
import { SessionChecker } from '../liveness/okta-sessions';
import { PushState } from '../liveness/push-state';
import type { LogoutContext } from '../logout/logout';
import type { PushContext } from '../logout/push';
import type { ReceiverContext } from '../logout/receivers';
import { resolveOptions, type GuardOptions } from '../options';
import type { RevocationKind } from '../revocation/denylist';
import { SharedDenylist } from '../revocation/shared';
import { BackendSessions } from '../sessions/backend';
import { isOktaOrgIssuer } from '../util/urls';
import { DpopVerifier } from '../verify/dpop';
import { AnomalyDetector } from '../verify/anomaly';
import { Pipeline } from '../verify/pipeline';
import type { AuthResult } from '../verify/result';
import { TokenCache } from '../verify/token-cache';
import { Verifier } from '../verify/verifier';
import { TokenGuard } from './guard';
import type { Guard } from './types';

/**
 * Creates a {@link Guard}. Options are validated here, once: a mistake throws a `TypeError` naming
 * the option. No request is made until the first token (or {@link Guard.ready}).
 *
 * Checks, in order: one bearer credential; size; compact JWS syntax; `alg` in the allow-list;
 * no `crit`; `typ`; `iss`, `aud`, `exp`, `nbf`, `iat`, `maxTokenAge`, `requiredClaims`,
 * `clientIds`; the key by `kid` from the issuer's JWKS, bound to the `alg`; the signature; then
 * the route's policy. Verified tokens are cached until `exp`; a hit re-checks the clock.
 *
 * Then, only on routes whose policy asks: introspection (RFC 7662) and the Okta session check.
 *
 * @example
 * const guard = createGuard({ issuer: 'https://example.okta.com/oauth2/default', audience: 'api://default' });
 * const auth = await guard.verify(req, { scopes: ['orders:read'] });
 *
 * @see https://www.rfc-editor.org/rfc/rfc8725
 * @see https://www.rfc-editor.org/rfc/rfc9068
 */
export function createGuard(input: GuardOptions): Guard {
  const options = resolveOptions(input);
  const { issuer, clock, token: rules } = options;
  // One event stream for every part: the onEvent option, and the listeners of guard.subscribe().
  const events = new EventHub(options.onEvent);
  const onEvent = events.emit;
  const http = withDeadline(options.http ?? createHttpClient());
  // Each part calls through its own view of the one client, which names the upstream in `upstream.call` events.
  const upstream = (service: UpstreamService) => observedHttp(http, service, clock, events);
  const limits = options.keySet.limits;
  const discovery = new Discovery(issuer, upstream('discovery'), { timeout: limits.timeout, maxBytes: limits.maxBytes });

  // Liveness first: a guard-wide policy asking for a check it cannot make throws before anything starts.
  const introspector = options.introspection && new Introspector(options.introspection, { issuer, audiences: rules.audiences, clock, onEvent }, upstream('introspection'), discovery);
  const push = new PushState(onEvent);
  const sessions = options.sessions && new SessionChecker(options.sessions, { clock, onEvent, push }, upstream('sessions'), upstream('token'));
  const liveness = introspector || sessions ? new Liveness(introspector, sessions, options.sessionClaim, onEvent) : undefined;
  Liveness.require(liveness, options.policy);

  const cache = options.cache === false ? undefined : new TokenCache(options.cache.max, options.cache.maxTokenLength);
  const keys = new KeySet({ jwksUri: options.keySet.jwksUri, algorithms: rules.algorithms, limits, clock, onEvent }, upstream('jwks'), discovery, (key) => cache?.evictKey(key));
  const { store, max, staleFor, maxTokenLifetime } = options.revocation;
  const denylist = new SharedDenylist({ store, max, staleFor, sessionClaim: options.sessionClaim, clockTolerance: rules.clockTolerance, clock, onEvent });
  const verifier = new Verifier({ rules, clock, keys, cache, denylist, orgIssuer: isOktaOrgIssuer(issuer, issuer), onEvent });
  const client = options.client;
  const refresher =
    client &&
    new Refresher<AuthResult>({
      client,
      tokenEndpoint: options.endpoints.token,
      discovery,
      http: upstream('token'),
      clock,
      grace: options.refresh.grace,
      limits: options.endpoints.limits,
      verify: (token) => verifier.verify(token),
    });
  const claimOnce = store?.claimOnce === undefined ? undefined : store.claimOnce.bind(store);
  const dpop = new DpopVerifier(options.dpop, claimOnce, clock);
  const anomaly = options.anomaly && new AnomalyDetector(options.anomaly, clock, onEvent);
  const pipeline = new Pipeline({ verifier, liveness, refresher, denylist, rules, maxTokenLength: rules.maxTokenLength, refreshWindow: options.refresh.window, policy: options.policy, dpop, clock, anomaly });
  const backendSessions = options.backendSessions && new BackendSessions(options.backendSessions, clock);

  // A `sub` entry also refuses tokens dated up to clockTolerance after it, which live that much longer.
  const revocationLifetime = maxTokenLifetime + options.lateness + rules.clockTolerance;
  let guard: TokenGuard;
  const receivers: ReceiverContext = {
    issuer,
    algorithms: rules.algorithms,
    clockTolerance: rules.clockTolerance,
    clock,
    keys,
    denylist,
    clientId: client?.clientId,
    revoke: (kind, value) => guard.revoke(kind, value),
    backendSessions: options.backendSessions?.store,
    onEvent,
  };
  const pushContext: PushContext = {
    issuer,
    http,
    keySetLimits: limits,
    clockTolerance: rules.clockTolerance,
    clock,
    onEvent,
    denylist,
    revoke: (kind, value, at) => guard.revokeSince(kind, value, at),
    backendSessions: options.backendSessions?.store,
    push,
  };
  const logout: LogoutContext = {
    issuer,
    sessionClaim: options.sessionClaim,
    onEvent,
    discovery,
    endSessionEndpoint: options.endpoints.endSession,
    issuerRevocation: client && { http: upstream('revoke'), discovery, client, endpoint: options.endpoints.revocation, limits: options.endpoints.limits, clock },
    backendSessions: options.backendSessions?.store,
    // A `jti` lives until its token can no longer be accepted (`exp` plus `lateness`); a token past that needs no entry.
    revoke: async (kind: RevocationKind, value: string, tokenExp?: number) => {
      if (kind !== 'jti' || tokenExp === undefined) return guard.revoke(kind, value);
      const until = (tokenExp + options.lateness) * 1000;
      if (until > clock()) await guard.revoke(kind, value, until);
    },
    forgetToken: (token) => {
      verifier.forget(token);
      liveness?.forget(token, undefined);
    },
    closeOktaSession: sessions === undefined ? undefined : (sid) => sessions.close(sid),
  };
  guard = new TokenGuard({
    issuer,
    realm: options.realm,
    maxTokenLength: rules.maxTokenLength,
    clock,
    http,
    ownsHttp: options.http === undefined,
    keys,
    verifier,
    pipeline,
    denylist,
    liveness,
    backendSessions,
    receivers,
    push: pushContext,
    logout,
    sessionClaim: options.sessionClaim,
    revocationLifetime,
    refreshes: () => refresher?.calls ?? 0,
    dpopAlgs: dpop.algs,
    events,
    anomaly,
  });
  return guard;
}
