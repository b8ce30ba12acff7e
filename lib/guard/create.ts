import { EventHub, type UpstreamService } from '../events';
import { createHttpClient, withDeadline } from '../issuer/http';
import { observedHttp } from '../issuer/observed-http';
import type { HttpClient } from '../issuer/http';
import { PushState } from '../liveness/push-state';
import type { LogoutContext } from '../logout/logout';
import type { PushContext } from '../logout/push';
import type { ReceiverContext } from '../logout/receivers';
import { resolveOptions, type GuardOptions, type ResolvedOptions } from '../options';
import type { RevocationKind } from '../revocation/denylist';
import { SharedDenylist } from '../revocation/shared';
import { BackendSessions } from '../sessions/backend';
import { DpopVerifier } from '../verify/dpop';
import { AnomalyDetector } from '../verify/anomaly';
import { TokenGuard } from './guard';
import { buildIssuer, topLevelIssuer, type SharedParts } from './issuer-runtime';
import { IssuerRouter, type RouterParts } from './issuer-router';
import type { ResolvedIssuer } from '../options/issuers';
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

  const push = new PushState(onEvent);
  const { store, max, staleFor } = options.revocation;
  const denylist = new SharedDenylist({ store, max, staleFor, sessionClaim: options.sessionClaim, clockTolerance: rules.clockTolerance, clock, onEvent });
  const claimOnce = store?.claimOnce === undefined ? undefined : store.claimOnce.bind(store);
  const dpop = new DpopVerifier(options.dpop, claimOnce, clock);
  const anomaly = options.anomaly && new AnomalyDetector(options.anomaly, clock, onEvent);
  const shared: SharedParts = { options, upstream, onEvent, push, denylist, dpop, anomaly };
  const build = (settings: ResolvedIssuer) => buildIssuer(settings, shared);
  if (options.issuers.kind !== 'one') {
    const router = stopOnThrow(denylist, () => new IssuerRouter({ choice: options.issuers as RouterParts['choice'], build, policy: options.policy, maxTokenLength: rules.maxTokenLength, dpopToken: (request, length) => dpop.token(request, length) }));
    // A guard-wide policy asking what a listed issuer cannot do throws here, as with one issuer.
    stopOnThrow(denylist, () => router.compile(undefined));
    return new TokenGuard({ ...common(options, http, denylist, events, anomaly, dpop.algs), pipeline: router, router });
  }

  // A guard-wide policy asking for a check this issuer cannot make throws before anything starts.
  const one = stopOnThrow(denylist, () => build(topLevelIssuer(options)));
  const { discovery, keys, verifier, liveness, sessions } = one;
  const client = options.client;
  const backendSessions = options.backendSessions && new BackendSessions(options.backendSessions, clock);

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
    ...common(options, http, denylist, events, anomaly, dpop.algs),
    one,
    pipeline: one.pipeline,
    backendSessions,
    receivers,
    push: pushContext,
    logout,
  });
  return guard;
}

/** Runs a step of the construction; when it throws, the denylist's shared-store sync stops. */
function stopOnThrow<T>(denylist: SharedDenylist, step: () => T): T {
  try {
    return step();
  } catch (error) {
    void denylist.close();
    throw error;
  }
}

/** The parts of a guard that do not depend on how many issuers it has. */
function common(options: ResolvedOptions, http: HttpClient, denylist: SharedDenylist, events: EventHub, anomaly: AnomalyDetector | undefined, dpopAlgs: string) {
  return {
    issuer: options.issuer,
    realm: options.realm,
    maxTokenLength: options.token.maxTokenLength,
    clock: options.clock,
    http,
    ownsHttp: options.http === undefined,
    denylist,
    sessionClaim: options.sessionClaim,
    // A `sub` entry also refuses tokens dated up to clockTolerance after it, which live that much longer.
    revocationLifetime: options.revocation.maxTokenLifetime + options.lateness + options.token.clockTolerance,
    dpopAlgs,
    events,
    anomaly,
  };
}
