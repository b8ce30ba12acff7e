import type { TokengateEvent } from '../events';
import { Discovery } from '../issuer/discovery';
import type { HttpClient } from '../issuer/http';
import { KeySet, type KeySetLimits } from '../issuer/key-set';
import { Refresher } from '../issuer/refresh';
import { Introspector } from '../liveness/introspection';
import { Liveness } from '../liveness/liveness';
import { SessionChecker } from '../liveness/okta-sessions';
import type { PushState } from '../liveness/push-state';
import type { ResolvedOptions } from '../options';
import type { ResolvedIssuer } from '../options/issuers';
import type { SharedDenylist } from '../revocation/shared';
import { isOktaOrgIssuer } from '../util/urls';
import type { AnomalyDetector } from '../verify/anomaly';
import type { DpopVerifier } from '../verify/dpop';
import { Pipeline } from '../verify/pipeline';
import type { AuthResult } from '../verify/result';
import { TokenCache } from '../verify/token-cache';
import { Verifier } from '../verify/verifier';
import type { IssuerStats, SharedAnswerStats } from './types';

/** Which upstream a view of the HTTP client calls (see `observedHttp`). */
type Upstream = (service: 'discovery' | 'jwks' | 'introspection' | 'sessions' | 'token') => HttpClient;

/** What every issuer of a guard shares. */
export interface SharedParts {
  options: ResolvedOptions;
  upstream: Upstream;
  onEvent: (event: TokengateEvent) => void;
  push: PushState;
  denylist: SharedDenylist;
  dpop: DpopVerifier;
  anomaly: AnomalyDetector | undefined;
}

/** One issuer's own parts: discovery, key set, verified-token cache, liveness, refresher and request path. */
export interface IssuerRuntime {
  issuer: string;
  discovery: Discovery;
  keys: KeySet;
  verifier: Verifier;
  introspector: Introspector | undefined;
  sessions: SessionChecker | undefined;
  liveness: Liveness | undefined;
  refresher: Refresher<AuthResult> | undefined;
  pipeline: Pipeline;
}

/**
 * Builds an issuer's parts. Nothing is fetched here: discovery and the key set load on the first
 * token (or `ready()`). Throws the `TypeError` of a guard-wide policy this issuer cannot serve.
 */
export function buildIssuer(settings: ResolvedIssuer, shared: SharedParts): IssuerRuntime {
  const { options, upstream, onEvent, push, denylist } = shared;
  const { issuer, token: rules } = settings;
  const { clock } = options;
  const limits: KeySetLimits = options.keySet.limits;
  const discovery = new Discovery(issuer, upstream('discovery'), { timeout: limits.timeout, maxBytes: limits.maxBytes });
  // Liveness first: a guard-wide policy asking for a check it cannot make throws before anything starts.
  const introspector = settings.introspection && new Introspector(settings.introspection, { issuer, audiences: rules.audiences, clock, onEvent }, upstream('introspection'), discovery);
  const sessions = settings.sessions && new SessionChecker(settings.sessions, { clock, onEvent, push }, upstream('sessions'), upstream('token'));
  const sessionClaim = settings.sessions?.claim ?? options.sessionClaim;
  const liveness = introspector || sessions ? new Liveness(introspector, sessions, sessionClaim, onEvent) : undefined;
  Liveness.require(liveness, options.policy);

  const cache = options.cache === false ? undefined : new TokenCache(options.cache.max, options.cache.maxTokenLength);
  const keys = new KeySet({ jwksUri: settings.jwksUri, algorithms: rules.algorithms, limits, clock, onEvent }, upstream('jwks'), discovery, (key) => cache?.evictKey(key));
  const verifier = new Verifier({ rules, clock, keys, cache, denylist, orgIssuer: isOktaOrgIssuer(issuer, issuer), onEvent });
  const client = settings.client;
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
  const pipeline = new Pipeline({
    verifier,
    liveness,
    refresher,
    denylist,
    rules,
    maxTokenLength: rules.maxTokenLength,
    refreshWindow: options.refresh.window,
    policy: options.policy,
    dpop: shared.dpop,
    clock,
    anomaly: shared.anomaly,
  });
  return { issuer, discovery, keys, verifier, introspector, sessions, liveness, refresher, pipeline };
}

/** The single issuer of a guard built from its top-level options. */
export function topLevelIssuer(options: ResolvedOptions): ResolvedIssuer {
  return { issuer: options.issuer, token: options.token, jwksUri: options.keySet.jwksUri, introspection: options.introspection, sessions: options.sessions, client: options.client };
}

/** Stops an issuer's parts (its key set's timers, its liveness workers, its cache). */
export async function closeIssuer(runtime: IssuerRuntime): Promise<void> {
  if (runtime.verifier.closed) return;
  runtime.verifier.close();
  await runtime.liveness?.stop();
  runtime.keys.close();
}

/** The counters of one issuer (see `GuardStats.issuers`). */
export function issuerStats({ verifier, keys, liveness }: IssuerRuntime): IssuerStats {
  const stats: IssuerStats = { tokenCache: { size: verifier.size, hits: verifier.hits, misses: verifier.misses }, keys: keys.stats() };
  const i = liveness?.introspector;
  if (i !== undefined) stats.introspection = { size: i.answers.size, hits: i.answers.hits, misses: i.answers.misses, calls: i.calls, revalidating: i.answers.revalidating, ...sharedStats(i.answers.shared) };
  const s = liveness?.sessions;
  if (s !== undefined) {
    const { size, hits, misses, revalidating } = s.answers;
    stats.sessions = { size, hits, misses, calls: s.calls, revalidating, staleServed: s.staleServed, pausedFor: s.pausedFor, ...sharedStats(s.answers.shared) };
  }
  return stats;
}

/** Several issuers' token caches and key sets added up (the top-level counters of a guard with several). */
export function sumStats(all: IssuerStats[]): IssuerStats {
  const total: IssuerStats = { tokenCache: { size: 0, hits: 0, misses: 0 }, keys: { fetches: 0, failures: 0, kids: [] } };
  for (const { tokenCache, keys } of all) {
    total.tokenCache.size += tokenCache.size;
    total.tokenCache.hits += tokenCache.hits;
    total.tokenCache.misses += tokenCache.misses;
    total.keys.fetches += keys.fetches;
    total.keys.failures += keys.failures;
    total.keys.kids.push(...keys.kids);
  }
  return total;
}

/** The `shared` part of a liveness service's stats, when it has a store. */
function sharedStats(shared: SharedAnswerStats | undefined): { shared?: SharedAnswerStats } {
  if (shared === undefined) return {};
  const { hits, leases, waits, fallbacks, usable } = shared;
  return { shared: { hits, leases, waits, fallbacks, usable } };
}
