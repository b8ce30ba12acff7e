import type { TokengateEvent } from '../events';
import { resolveClient, type ClientCredentials, type ResolvedClient } from '../issuer/client-auth';
import type { HttpClient } from '../issuer/http';
import type { KeySetLimits } from '../issuer/key-set';
import { SUPPORTED_ALGORITHMS, type Algorithm } from '../jose/algorithms';
import type { IntrospectionOptions, ResolvedIntrospection } from '../liveness/introspection';
import type { ResolvedSessions, SessionOptions } from '../liveness/okta-sessions';
import type { ResolvedRevocation, RevocationOptions } from '../revocation/denylist';
import type { BackendSessionOptions, ResolvedBackendSessions } from '../sessions/store';
import { normalizeTyp } from '../util/claims';
import type { AnomalyOptions, ResolvedAnomaly } from '../verify/anomaly';
import { definePolicy, type Policy } from '../verify/policy';
import type { ResolvedDpop } from '../verify/dpop';
import type { TokenRules } from '../verify/verifier';
import { resolveAnomaly, resolveBackendSessions, resolveEndpoints, resolveIntrospection, resolveRevocation, resolveSessions, type ResolvedEndpoints } from './features';
import { resolveDpop, type DpopOptions } from './dpop';
import { algorithmList, audiences, resolveIssuers, type IssuerChoice, type IssuerSelector, type IssuerSettings } from './issuers';
import { integer, nonEmptyString, object, rejectUnknown, seconds, stringList, url } from './validate';

export { SUPPORTED_ALGORITHMS, type Algorithm };

/**
 * Options of {@link createGuard}. Validated once; every mistake is a `TypeError` naming the option,
 * and unknown names are rejected so that a typo never silently weakens a check.
 * Durations are in seconds (fractions allowed), sizes in bytes, lengths in characters.
 */
export interface GuardOptions {
  /**
   * Expected `iss`, compared exactly. `https:`; plain `http:` only for loopback hosts. Required
   * unless `issuers` is given. An array accepts several issuers with the guard-wide settings; a
   * function ({@link IssuerSelector}) accepts the issuers it allows, for tenant patterns.
   */
  issuer?: string | readonly string[] | IssuerSelector;
  /**
   * Several issuers, each with its own settings overriding the guard-wide ones (see
   * {@link IssuerSettings}). Excludes `issuer`. The token's unverified `iss` picks one before
   * anything is fetched; a token naming none is refused (401 `ERR_ISSUER_UNKNOWN`).
   */
  issuers?: readonly IssuerSettings[];
  /** With the function form of `issuer`: most allowed issuers kept (LRU), each with its key set and caches. Default 100. */
  maxIssuers?: number;
  /** Expected `aud`: the token must name at least one of these. Required, unless every entry of `issuers` gives its own. */
  audience?: string | readonly string[];
  /** JWKS URL. Default: `jwks_uri` from the issuer's discovery document. */
  jwksUri?: string;
  /** Allowed `alg` values. Default `['RS256']` (what Okta signs with). */
  algorithms?: readonly Algorithm[];
  /** Leeway for `exp`, `nbf` and `iat`, in seconds. Default 30; at most 300. */
  clockTolerance?: number;
  /** Reject tokens whose `iat` is older than this many seconds. Default: no limit. */
  maxTokenAge?: number;
  /** Claims that must be present besides `iss`, `aud` and `exp`. Default none. */
  requiredClaims?: readonly string[];
  /**
   * Required header `typ`, e.g. `'at+jwt'` for RFC 9068 tokens (compared case-insensitively, with
   * or without `application/`). Default: not required, but a `typ` naming another kind of JWT
   * (anything other than `JWT` or `at+jwt`) is refused, since Okta access tokens carry none.
   */
  typ?: string;
  /** Accepted clients (Okta `cid`, RFC 9068 `client_id`). Default: any client. */
  clientIds?: readonly string[];
  /** Realm in `WWW-Authenticate` challenges. Default `'api'`. */
  realm?: string;
  /** Longest token accepted, in characters; longer ones are refused before parsing. Default 8192. */
  maxTokenLength?: number;
  /** Verified-token cache; `false` turns it off, `true` or an object keeps it on. Default on. */
  cache?: boolean | CacheOptions;
  /** Key set (JWKS) fetching and caching. */
  keySet?: KeySetOptions;
  /** HTTP client for every outgoing call. Default: {@link createHttpClient}. */
  http?: HttpClient;
  /** Clock, milliseconds since the epoch. Default `Date.now`. */
  clock?: () => number;
  /** Receives operational events (key set, upstream failures, fail-open decisions, ended sessions). Never receives a token. */
  onEvent?: (event: TokengateEvent) => void;
  /** RFC 7662 introspection, for routes with `introspect: true` (and opaque tokens when `introspection.opaque`). */
  introspection?: IntrospectionOptions;
  /** Okta session liveness, for routes with `session: 'strict'`. */
  sessions?: SessionOptions;
  /** Guard-wide default policy; a route's policy overrides it field by field. Default: none. */
  policy?: Policy;
  /**
   * The application's own OAuth 2.0 client at the issuer: used to refresh tokens, to revoke them on
   * logout, as the audience of back-channel logout tokens, and for introspection when
   * `introspection.client` is not given.
   */
  client?: ClientCredentials;
  /**
   * Issuer endpoints, when discovery does not name them, and the limits of the calls to them.
   * Default: from discovery (`end_session_endpoint` falls back to `{issuer}/v1/logout`).
   * `timeout` (seconds, default 5) and `maxBytes` (default 65536) bound each refresh and revocation call.
   */
  endpoints?: { token?: string; revocation?: string; endSession?: string; timeout?: number; maxBytes?: number };
  /** How long the outcome of a refresh is reused for the same refresh token, in seconds. Default 30 (Okta's rotation grace). */
  refreshGrace?: number;
  /**
   * How long after its `exp` an expired access token may still be refreshed silently (bearer
   * tokens with `getRefreshToken`), in seconds. Only a token whose signature verifies with the
   * issuer's key and whose only fault is expiry qualifies. Default 86400 (24 h).
   */
  refreshWindow?: number;
  /** The denylist consulted on every request (logout, back-channel logout), and its shared store. */
  revocation?: RevocationOptions;
  /** DPoP (RFC 9449) proof checking; where it applies is the policy's `dpop` (default `'allowed'`). */
  dpop?: DpopOptions;
  /** Backend sessions: an opaque cookie in front of server-side tokens. Default: off. */
  backendSessions?: BackendSessionOptions;
  /** Token-replay detection: one token presented by too many distinct clients within a window. Default: off. */
  anomaly?: AnomalyOptions;
}

/** Options of the verified-token cache. */
export interface CacheOptions {
  /** Most tokens kept. Default 10000. */
  max?: number;
  /** Tokens longer than this many characters are verified every time, never cached. Default 4096. */
  maxTokenLength?: number;
}

/** Options of the key set. */
export interface KeySetOptions {
  /** Deadline of one discovery or JWKS request, in seconds. Default 5. */
  timeout?: number;
  /** Largest discovery or JWKS body, in bytes. Default 262144 (256 KiB). */
  maxBytes?: number;
  /** Least time between two refetches caused by unknown `kid`s, in seconds. Default 30. */
  cooldown?: number;
  /** Wait after a failed fetch before the next attempt (also the `Retry-After` value), in seconds. Default 5. */
  retryAfter?: number;
  /** Lower clamp on the JWKS `Cache-Control: max-age`, in seconds. Default 60. */
  minCacheAge?: number;
  /** Upper clamp on the JWKS `Cache-Control: max-age`, in seconds. Default 86400. */
  maxCacheAge?: number;
  /** Cache age when the JWKS response sends no `max-age`, in seconds. Default 600. */
  defaultCacheAge?: number;
  /** How long held keys keep working past their cache age while the issuer is unreachable, in seconds. Default 43200 (12 h). */
  staleIfError?: number;
}

/**
 * Options after validation, every default filled in, in one slice per feature: each part of the
 * guard receives its own slice, never the whole. Internal.
 */
export interface ResolvedOptions {
  /** The issuer; with several, the first listed (`''` for the function form). */
  issuer: string;
  /** One issuer, several, or a function choosing them. */
  issuers: IssuerChoice;
  realm: string;
  clock: () => number;
  onEvent: ((event: TokengateEvent) => void) | undefined;
  http: HttpClient | undefined;
  /** What every access token is checked against. */
  token: TokenRules;
  cache: Required<CacheOptions> | false;
  keySet: { jwksUri: string | undefined; limits: KeySetLimits };
  introspection: ResolvedIntrospection | undefined;
  sessions: ResolvedSessions | undefined;
  policy: Policy | undefined;
  client: ResolvedClient | undefined;
  endpoints: ResolvedEndpoints;
  /** `refreshGrace` and `refreshWindow`, seconds. */
  refresh: { grace: number; window: number };
  /** The claim that carries the Okta session id, for every feature that reads one: `sessions.claim`, else `sid`. */
  sessionClaim: string;
  /**
   * How long after its `exp` a token can still be accepted, in seconds: `clockTolerance`, plus the
   * longest a `client` may still refresh it (`refreshWindow`, or a backend session's `lifetime`).
   * Denylist entries outlive it.
   */
  lateness: number;
  revocation: ResolvedRevocation;
  dpop: ResolvedDpop;
  backendSessions: ResolvedBackendSessions | undefined;
  anomaly: ResolvedAnomaly | undefined;
}

const TOP_LEVEL = [
  'issuer', 'issuers', 'maxIssuers', 'audience', 'jwksUri', 'algorithms', 'clockTolerance', 'maxTokenAge', 'requiredClaims', 'typ',
  'clientIds', 'realm', 'maxTokenLength', 'cache', 'keySet', 'http', 'clock', 'onEvent', 'introspection', 'sessions', 'policy',
  'client', 'endpoints', 'refreshGrace', 'refreshWindow', 'revocation', 'backendSessions', 'dpop', 'anomaly',
];
const CACHE_KEYS = ['max', 'maxTokenLength'];
const KEY_SET_KEYS = [
  'timeout', 'maxBytes', 'cooldown', 'retryAfter', 'minCacheAge', 'maxCacheAge', 'defaultCacheAge', 'staleIfError',
];

/** Reads and validates {@link GuardOptions} once. Throws a `TypeError` naming the option at fault. */
export function resolveOptions(input: GuardOptions): ResolvedOptions {
  if (input === null || typeof input !== 'object') throw new TypeError('tokengate: options must be an object');
  rejectUnknown('', input, TOP_LEVEL);

  const several = input.issuers !== undefined || (input.issuer !== undefined && typeof input.issuer !== 'string');
  const first = Array.isArray(input.issuer) ? input.issuer[0] : Array.isArray(input.issuers) ? input.issuers[0]?.issuer : undefined;
  // The function form has no issuer before a token names one; the guard-wide options are checked against a stand-in.
  const issuer = several ? (typeof input.issuer === 'function' ? '' : typeof first === 'string' ? first : '') : url('issuer', input.issuer, true);
  const checkedIssuer = issuer === '' ? 'https://issuer.invalid' : issuer;
  const audienceSet = input.audience === undefined && several ? new Set<string>() : audiences('audience', input.audience);
  const algorithms = algorithmList('algorithms', input.algorithms ?? ['RS256']);

  const cacheInput = input.cache;
  let cache: ResolvedOptions['cache'];
  if (cacheInput === false) {
    cache = false;
  } else {
    const c = object('cache', cacheInput === undefined || cacheInput === true ? {} : cacheInput);
    rejectUnknown('cache.', c, CACHE_KEYS);
    cache = {
      max: integer('cache.max', c.max, 10_000, 1),
      maxTokenLength: integer('cache.maxTokenLength', c.maxTokenLength, 4096, 1),
    };
  }

  const k = object('keySet', input.keySet ?? {});
  rejectUnknown('keySet.', k, KEY_SET_KEYS);
  const keySet: KeySetLimits = {
    timeout: seconds('keySet.timeout', k.timeout, 5, 0.001),
    maxBytes: integer('keySet.maxBytes', k.maxBytes, 262_144, 1024),
    cooldown: seconds('keySet.cooldown', k.cooldown, 30, 0),
    retryAfter: seconds('keySet.retryAfter', k.retryAfter, 5, 0),
    minCacheAge: seconds('keySet.minCacheAge', k.minCacheAge, 60, 0),
    maxCacheAge: seconds('keySet.maxCacheAge', k.maxCacheAge, 86_400, 0),
    defaultCacheAge: seconds('keySet.defaultCacheAge', k.defaultCacheAge, 600, 0),
    staleIfError: seconds('keySet.staleIfError', k.staleIfError, 43_200, 0),
  };
  if (keySet.minCacheAge > keySet.maxCacheAge) {
    throw new TypeError('tokengate: option "keySet.minCacheAge" must not exceed "keySet.maxCacheAge"');
  }

  const http = input.http;
  if (http !== undefined && (http === null || typeof http.request !== 'function')) {
    throw new TypeError('tokengate: option "http" must be an object with a request() method');
  }
  const clock = input.clock ?? Date.now;
  if (typeof clock !== 'function') throw new TypeError('tokengate: option "clock" must be a function returning milliseconds');
  if (input.onEvent !== undefined && typeof input.onEvent !== 'function') {
    throw new TypeError('tokengate: option "onEvent" must be a function');
  }
  if (input.typ !== undefined && !nonEmptyString(input.typ)) {
    throw new TypeError('tokengate: option "typ" must be a non-empty string such as "at+jwt"');
  }
  const realm = input.realm ?? 'api';
  if (!nonEmptyString(realm) || /[^\x20\x21\x23-\x5B\x5D-\x7E]/.test(realm)) {
    throw new TypeError('tokengate: option "realm" must be a non-empty printable ASCII string without quotes or backslashes');
  }

  const clockTolerance = seconds('clockTolerance', input.clockTolerance, 30, 0, 300);
  const client = input.client === undefined ? undefined : resolveClient('client', input.client);
  const refreshWindow = seconds('refreshWindow', input.refreshWindow, 86_400, 0);
  const sessions = input.sessions === undefined ? undefined : resolveSessions(input.sessions, checkedIssuer);
  const backendSessions = input.backendSessions === undefined ? undefined : resolveBackendSessions(input.backendSessions, clock);
  // Validated in the order of the README's table, so that of two mistakes the first is named.
  const jwksUri = input.jwksUri === undefined ? undefined : url('jwksUri', input.jwksUri, false);
  const maxTokenAge = input.maxTokenAge === undefined ? undefined : seconds('maxTokenAge', input.maxTokenAge, 0, 0.001);
  const requiredClaims = stringList('requiredClaims', input.requiredClaims) ?? [];
  const clientIds = input.clientIds === undefined ? undefined : new Set(stringList('clientIds', input.clientIds));
  const maxTokenLength = integer('maxTokenLength', input.maxTokenLength, 8192, 16);
  const token: TokenRules = {
      issuer,
      audiences: audienceSet,
      algorithms,
      typ: input.typ === undefined ? undefined : normalizeTyp(input.typ),
      clockTolerance,
      maxTokenAge,
      requiredClaims,
      clientIds,
      maxTokenLength,
  };
  const introspection = input.introspection === undefined ? undefined : resolveIntrospection(input.introspection, input.client);
  const defaults = { token, jwksUri, introspection: input.introspection, sessions: input.sessions, client: input.client, hasAudience: input.audience !== undefined };
  const issuers = resolveIssuers(input, defaults);
  return {
    issuer,
    issuers,
    realm,
    clock,
    onEvent: input.onEvent,
    http,
    token,
    cache,
    keySet: { jwksUri, limits: keySet },
    introspection,
    sessions,
    policy: definePolicy(input.policy),
    client,
    endpoints: resolveEndpoints(input.endpoints),
    refresh: { grace: seconds('refreshGrace', input.refreshGrace, 30, 0), window: refreshWindow },
    sessionClaim: sessions?.claim ?? 'sid',
    lateness: clockTolerance + Math.max(client === undefined ? 0 : refreshWindow, client === undefined || backendSessions === undefined ? 0 : backendSessions.lifetime),
    revocation: resolveRevocation(input.revocation),
    backendSessions,
    dpop: resolveDpop(input.dpop, clockTolerance),
    anomaly: input.anomaly === undefined ? undefined : resolveAnomaly(input.anomaly),
  };
}


