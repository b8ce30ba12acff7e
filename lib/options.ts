import type { HttpClient } from './http';
import type { TokengateEvent } from './events';
import { resolveClient, type ClientCredentials, type ResolvedClient } from './client-auth';
import { guardedSessionStore, MemorySessionStore, type BackendSessionOptions, type ResolvedBackendSessions } from './backend-session';
import type { ResolvedRevocation, RevocationOptions } from './revocation';
import type { IntrospectionOptions, ResolvedIntrospection } from './introspection';
import type { ResolvedSessions, SessionOptions } from './okta-sessions';
import { definePolicy, type Policy } from './policy';

import { SUPPORTED_ALGORITHMS, type Algorithm } from './jose/algorithms';

export { SUPPORTED_ALGORITHMS, type Algorithm };

/**
 * Options of {@link createGuard}. Validated once; every mistake is a `TypeError` naming the option,
 * and unknown names are rejected so that a typo never silently weakens a check.
 * Durations are in seconds (fractions allowed), sizes in bytes, lengths in characters.
 */
export interface GuardOptions {
  /** Expected `iss`, compared exactly. `https:`; plain `http:` only for loopback hosts. Required. */
  issuer: string;
  /** Expected `aud`: the token must name at least one of these. Required. */
  audience: string | readonly string[];
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
  /** Issuer endpoints, when discovery does not name them. Default: from discovery (`end_session_endpoint` falls back to `{issuer}/v1/logout`). */
  endpoints?: { token?: string; revocation?: string; endSession?: string };
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
  /** Backend sessions: an opaque cookie in front of server-side tokens. Default: off. */
  backendSessions?: BackendSessionOptions;
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

/** Options after validation, every default filled in. Internal. */
export interface ResolvedOptions {
  issuer: string;
  audiences: ReadonlySet<string>;
  jwksUri: string | undefined;
  algorithms: ReadonlySet<Algorithm>;
  clockTolerance: number;
  maxTokenAge: number | undefined;
  requiredClaims: readonly string[];
  typ: string | undefined;
  clientIds: ReadonlySet<string> | undefined;
  realm: string;
  maxTokenLength: number;
  cache: Required<CacheOptions> | false;
  keySet: Required<KeySetOptions>;
  http: HttpClient | undefined;
  clock: () => number;
  onEvent: ((event: TokengateEvent) => void) | undefined;
  introspection: ResolvedIntrospection | undefined;
  sessions: ResolvedSessions | undefined;
  policy: Policy | undefined;
  client: ResolvedClient | undefined;
  endpoints: { token: string | undefined; revocation: string | undefined; endSession: string | undefined };
  refreshGrace: number;
  refreshWindow: number;
  /** The claim that carries the Okta session id, for every feature that reads one: `sessions.claim`, else `sid`. */
  sessionClaim: string;
  /**
   * How long after its `exp` a token can still be accepted, in seconds: `clockTolerance`, plus the
   * longest a `client` may still refresh it (`refreshWindow`, or a backend session's `lifetime`).
   * Denylist entries outlive it.
   */
  lateness: number;
  revocation: ResolvedRevocation;
  backendSessions: ResolvedBackendSessions | undefined;
}

const TOP_LEVEL = [
  'issuer', 'audience', 'jwksUri', 'algorithms', 'clockTolerance', 'maxTokenAge', 'requiredClaims', 'typ',
  'clientIds', 'realm', 'maxTokenLength', 'cache', 'keySet', 'http', 'clock', 'onEvent', 'introspection', 'sessions', 'policy',
  'client', 'endpoints', 'refreshGrace', 'refreshWindow', 'revocation', 'backendSessions',
];
const REVOCATION_KEYS = ['store', 'max', 'maxTokenLifetime', 'staleFor'];
const BACKEND_SESSION_KEYS = ['store', 'cookieName', 'path', 'domain', 'secure', 'sameSite', 'lifetime', 'allowedOrigins', 'max'];
const INTROSPECTION_KEYS = ['client', 'endpoint', 'cacheTtl', 'inactiveTtl', 'cacheMax', 'timeout', 'maxBytes', 'retryAfter', 'opaque'];
const SESSION_KEYS = [
  'orgUrl', 'apiToken', 'client', 'claim', 'acceptStatuses', 'cacheTtl', 'staleIfError', 'cacheMax', 'timeout', 'maxBytes', 'retryAfter',
];
const CACHE_KEYS = ['max', 'maxTokenLength'];
const KEY_SET_KEYS = [
  'timeout', 'maxBytes', 'cooldown', 'retryAfter', 'minCacheAge', 'maxCacheAge', 'defaultCacheAge', 'staleIfError',
];

/** Reads and validates {@link GuardOptions} once. Throws a `TypeError` naming the option at fault. */
export function resolveOptions(input: GuardOptions): ResolvedOptions {
  if (input === null || typeof input !== 'object') throw new TypeError('tokengate: options must be an object');
  rejectUnknown('', input, TOP_LEVEL);

  const issuer = url('issuer', input.issuer, true);
  const audience = input.audience;
  const audiences = typeof audience === 'string' ? [audience] : audience;
  if (!Array.isArray(audiences) || audiences.length === 0 || !audiences.every(nonEmptyString)) {
    throw new TypeError('tokengate: option "audience" must be a non-empty string or a non-empty array of them');
  }

  const algorithms = input.algorithms ?? ['RS256'];
  if (!Array.isArray(algorithms) || algorithms.length === 0) {
    throw new TypeError('tokengate: option "algorithms" must be a non-empty array');
  }
  for (const alg of algorithms as unknown[]) {
    if (typeof alg === 'string' && (alg.toLowerCase() === 'none' || /^HS/i.test(alg))) {
      throw new TypeError(`tokengate: option "algorithms" may not contain "${alg}": unsigned and shared-secret tokens are never accepted (RFC 8725)`);
    }
    if (!SUPPORTED_ALGORITHMS.includes(alg as Algorithm)) {
      throw new TypeError(`tokengate: option "algorithms" contains unsupported "${String(alg)}"; supported: ${SUPPORTED_ALGORITHMS.join(', ')}`);
    }
  }

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
  const keySet: Required<KeySetOptions> = {
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
  const sessions = input.sessions === undefined ? undefined : resolveSessions(input.sessions, issuer);
  const backendSessions = input.backendSessions === undefined ? undefined : resolveBackendSessions(input.backendSessions, clock);
  return {
    issuer,
    audiences: new Set(audiences),
    jwksUri: input.jwksUri === undefined ? undefined : url('jwksUri', input.jwksUri, false),
    algorithms: new Set(algorithms),
    clockTolerance,
    maxTokenAge: input.maxTokenAge === undefined ? undefined : seconds('maxTokenAge', input.maxTokenAge, 0, 0.001),
    requiredClaims: stringList('requiredClaims', input.requiredClaims) ?? [],
    typ: input.typ === undefined ? undefined : normalizeTyp(input.typ),
    clientIds: input.clientIds === undefined ? undefined : new Set(stringList('clientIds', input.clientIds)),
    realm,
    maxTokenLength: integer('maxTokenLength', input.maxTokenLength, 8192, 16),
    cache,
    keySet,
    http,
    clock,
    onEvent: input.onEvent,
    introspection: input.introspection === undefined ? undefined : resolveIntrospection(input.introspection, input.client),
    sessions,
    policy: definePolicy(input.policy),
    client,
    endpoints: resolveEndpoints(input.endpoints),
    refreshGrace: seconds('refreshGrace', input.refreshGrace, 30, 0),
    refreshWindow,
    sessionClaim: sessions?.claim ?? 'sid',
    lateness: clockTolerance + Math.max(client === undefined ? 0 : refreshWindow, client === undefined || backendSessions === undefined ? 0 : backendSessions.lifetime),
    revocation: resolveRevocation(input.revocation),
    backendSessions,
  };
}

function resolveEndpoints(input: unknown): ResolvedOptions['endpoints'] {
  const e = object('endpoints', input ?? {});
  rejectUnknown('endpoints.', e, ['token', 'revocation', 'endSession']);
  const optional = (name: string) => (e[name] === undefined ? undefined : url(`endpoints.${name}`, e[name], false));
  return { token: optional('token'), revocation: optional('revocation'), endSession: optional('endSession') };
}

function resolveRevocation(input: RevocationOptions | undefined): ResolvedRevocation {
  const r = object('revocation', input ?? {});
  rejectUnknown('revocation.', r, REVOCATION_KEYS);
  const store = r.store as ResolvedRevocation['store'];
  const methods = ['add', 'load', 'subscribe', 'close'] as const;
  if (store !== undefined && (store === null || typeof store !== 'object' || methods.some((name) => typeof store[name] !== 'function'))) {
    const missing = store === null || typeof store !== 'object' ? methods : methods.filter((name) => typeof store[name] !== 'function');
    throw new TypeError(`tokengate: option "revocation.store" must implement add(), load(), subscribe() and close(); missing: ${missing.join(', ')}`);
  }
  if (store !== undefined && store.claimOnce !== undefined && typeof store.claimOnce !== 'function') {
    throw new TypeError('tokengate: option "revocation.store" has a "claimOnce" that is not a function');
  }
  return {
    store,
    max: integer('revocation.max', r.max, 100_000, 1),
    maxTokenLifetime: seconds('revocation.maxTokenLifetime', r.maxTokenLifetime, 86_400, 1),
    staleFor: seconds('revocation.staleFor', r.staleFor, 60, 0),
  };
}

function resolveBackendSessions(input: BackendSessionOptions, clock: () => number): ResolvedBackendSessions {
  const b = object('backendSessions', input);
  rejectUnknown('backendSessions.', b, BACKEND_SESSION_KEYS);
  const cookieName = b.cookieName ?? 'tg_session';
  if (!nonEmptyString(cookieName) || !/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(cookieName)) {
    throw new TypeError('tokengate: option "backendSessions.cookieName" must be a cookie-name token (RFC 6265)');
  }
  const path = b.path ?? '/';
  if (!nonEmptyString(path) || !path.startsWith('/') || /[;\s]/.test(path)) throw new TypeError('tokengate: option "backendSessions.path" must be a path starting with "/"');
  if (b.domain !== undefined && (!nonEmptyString(b.domain) || /[;\s]/.test(b.domain))) throw new TypeError('tokengate: option "backendSessions.domain" must be a domain name');
  if (b.secure !== undefined && typeof b.secure !== 'boolean') throw new TypeError('tokengate: option "backendSessions.secure" must be a boolean');
  const sameSite = b.sameSite ?? 'Lax';
  if (sameSite !== 'Strict' && sameSite !== 'Lax' && sameSite !== 'None') throw new TypeError('tokengate: option "backendSessions.sameSite" must be "Strict", "Lax" or "None"');
  if (sameSite === 'None' && b.secure === false) throw new TypeError('tokengate: option "backendSessions.sameSite" "None" requires secure cookies');
  const store = b.store as ResolvedBackendSessions['store'] | undefined;
  if (store !== undefined && (store === null || typeof store.get !== 'function' || typeof store.set !== 'function' || typeof store.delete !== 'function' || typeof store.deleteWhere !== 'function')) {
    throw new TypeError('tokengate: option "backendSessions.store" must implement get(), set(), delete() and deleteWhere()');
  }
  return {
    store: guardedSessionStore(store ?? new MemorySessionStore(integer('backendSessions.max', b.max, 100_000, 1), clock)),
    cookieName,
    path,
    domain: b.domain as string | undefined,
    secure: b.secure !== false,
    sameSite,
    lifetime: seconds('backendSessions.lifetime', b.lifetime, 28_800, 1),
    allowedOrigins: new Set(stringList('backendSessions.allowedOrigins', b.allowedOrigins) ?? []),
  };
}

function resolveIntrospection(input: IntrospectionOptions, appClient: ClientCredentials | undefined): ResolvedIntrospection {
  const i = object('introspection', input);
  rejectUnknown('introspection.', i, INTROSPECTION_KEYS);
  if (i.opaque !== undefined && typeof i.opaque !== 'boolean') throw new TypeError('tokengate: option "introspection.opaque" must be a boolean');
  if (i.client === undefined && appClient === undefined) throw new TypeError('tokengate: option "introspection.client" is required (or give the top-level "client")');
  return {
    client: i.client === undefined ? resolveClient('client', appClient) : resolveClient('introspection.client', i.client),
    endpoint: i.endpoint === undefined ? undefined : url('introspection.endpoint', i.endpoint, false),
    cacheTtl: seconds('introspection.cacheTtl', i.cacheTtl, 30, 0),
    inactiveTtl: seconds('introspection.inactiveTtl', i.inactiveTtl, 300, 0),
    cacheMax: integer('introspection.cacheMax', i.cacheMax, 10_000, 1),
    timeout: seconds('introspection.timeout', i.timeout, 5, 0.001),
    maxBytes: integer('introspection.maxBytes', i.maxBytes, 65_536, 1024),
    retryAfter: seconds('introspection.retryAfter', i.retryAfter, 5, 0),
    opaque: i.opaque === true,
  };
}

function resolveSessions(input: SessionOptions, issuer: string): ResolvedSessions {
  const o = object('sessions', input);
  rejectUnknown('sessions.', o, SESSION_KEYS);
  const orgUrl = (o.orgUrl === undefined ? new URL(issuer).origin : url('sessions.orgUrl', o.orgUrl, true)).replace(/\/$/, '');
  if ((o.apiToken === undefined) === (o.client === undefined)) {
    throw new TypeError('tokengate: option "sessions" needs exactly one of "apiToken" (SSWS) or "client" (OAuth 2.0 client credentials)');
  }
  if (o.apiToken !== undefined && !nonEmptyString(o.apiToken)) throw new TypeError('tokengate: option "sessions.apiToken" must be a non-empty string');
  let client: ResolvedSessions['client'];
  if (o.client !== undefined) {
    const { scopes, tokenEndpoint, ...credentials } = object('sessions.client', o.client) as Record<string, unknown>;
    const resolved = resolveClient('sessions.client', credentials);
    if (resolved.method !== 'private_key_jwt') throw new TypeError('tokengate: option "sessions.client" must authenticate with private_key_jwt (give "privateKey"), as Okta requires for its API');
    client = {
      ...resolved,
      scopes: stringList('sessions.client.scopes', scopes) ?? ['okta.sessions.read'],
      tokenEndpoint: tokenEndpoint === undefined ? `${orgUrl}/oauth2/v1/token` : url('sessions.client.tokenEndpoint', tokenEndpoint, false),
    };
  }
  const claim = o.claim ?? 'sid';
  if (!nonEmptyString(claim)) throw new TypeError('tokengate: option "sessions.claim" must be a non-empty string');
  return {
    orgUrl,
    apiToken: o.apiToken as string | undefined,
    client,
    claim,
    acceptStatuses: new Set(stringList('sessions.acceptStatuses', o.acceptStatuses) ?? ['ACTIVE']),
    cacheTtl: seconds('sessions.cacheTtl', o.cacheTtl, 30, 0, 300),
    staleIfError: seconds('sessions.staleIfError', o.staleIfError, 120, 0),
    cacheMax: integer('sessions.cacheMax', o.cacheMax, 10_000, 1),
    timeout: seconds('sessions.timeout', o.timeout, 5, 0.001),
    maxBytes: integer('sessions.maxBytes', o.maxBytes, 65_536, 1024),
    retryAfter: seconds('sessions.retryAfter', o.retryAfter, 5, 0),
  };
}

/** Lower-cases a media type and drops an `application/` prefix (RFC 7515 section 4.1.9). */
export function normalizeTyp(typ: string): string {
  const lower = typ.toLowerCase();
  return lower.startsWith('application/') ? lower.slice('application/'.length) : lower;
}

/** True for the host names and addresses of this machine, where plain http is allowed. */
export function isLoopbackHost(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '[::1]' || /^127(\.\d{1,3}){3}$/.test(hostname);
}

function url(name: string, value: unknown, isIssuer: boolean): string {
  if (!nonEmptyString(value)) throw new TypeError(`tokengate: option "${name}" is required and must be a URL string`);
  let parsed: URL;
  try {
    parsed = new URL(value);
  } catch {
    throw new TypeError(`tokengate: option "${name}" is not a valid URL: "${value}"`);
  }
  if (parsed.protocol !== 'https:' && !(parsed.protocol === 'http:' && isLoopbackHost(parsed.hostname))) {
    throw new TypeError(`tokengate: option "${name}" must use https: (plain http: is allowed only for loopback hosts), got "${value}"`);
  }
  if (parsed.username !== '' || parsed.password !== '') {
    throw new TypeError(`tokengate: option "${name}" must not contain credentials (user:password@); pass them through the options meant for them`);
  }
  if (isIssuer && (parsed.search !== '' || parsed.hash !== '')) {
    throw new TypeError(`tokengate: option "${name}" must not contain a query or fragment (RFC 8414 section 2)`);
  }
  return value;
}

function rejectUnknown(prefix: string, value: object, known: readonly string[]): void {
  for (const key of Object.keys(value)) {
    if (!known.includes(key)) {
      const near = known.find((k) => distance(k.toLowerCase(), key.toLowerCase()) <= 2);
      throw new TypeError(`tokengate: unknown option "${prefix}${key}"${near ? `; did you mean "${prefix}${near}"?` : ''}`);
    }
  }
}

function object(name: string, value: unknown): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new TypeError(`tokengate: option "${name}" must be an object`);
  }
  return value as Record<string, unknown>;
}

function seconds(name: string, value: unknown, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
    throw new TypeError(`tokengate: option "${name}" must be a number of seconds from ${min} to ${max}, got ${String(value)}`);
  }
  return value;
}

function integer(name: string, value: unknown, fallback: number, min: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    throw new TypeError(`tokengate: option "${name}" must be a whole number of at least ${min}, got ${String(value)}`);
  }
  return value;
}

function stringList(name: string, value: unknown): string[] | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value) || !value.every(nonEmptyString)) {
    throw new TypeError(`tokengate: option "${name}" must be an array of non-empty strings`);
  }
  return [...value];
}

function nonEmptyString(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0;
}

/** Levenshtein distance, for "did you mean" hints on option names. */
function distance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length];
}
