import { createPrivateKey, generateKeyPairSync, KeyObject } from 'node:crypto';
import { proofAlgorithm } from '../jose/dpop';
import type { CallLimits } from '../issuer/form';
import { resolveClient, type ClientCredentials } from '../issuer/client-auth';
import type { AnswerStore } from '../liveness/answer-store';
import type { IntrospectionOptions, ResolvedIntrospection } from '../liveness/introspection';
import type { ResolvedSessions, SessionOptions } from '../liveness/okta-sessions';
import { UNPUSHED_MAX_TTL } from '../liveness/push-state';
import type { ResolvedRevocation, RevocationOptions } from '../revocation/denylist';
import type { AnomalyOptions, ResolvedAnomaly } from '../verify/anomaly';
import { guardedSessionStore, MemorySessionStore, type BackendSessionOptions, type ResolvedBackendSessions } from '../sessions/store';
import { integer, nonEmptyString, object, rejectUnknown, seconds, stringList, url } from './validate';

const REVOCATION_KEYS = ['store', 'max', 'maxTokenLifetime', 'staleFor'];
const BACKEND_SESSION_KEYS = ['store', 'cookieName', 'path', 'domain', 'secure', 'sameSite', 'lifetime', 'allowedOrigins', 'max'];
const INTROSPECTION_KEYS = ['client', 'endpoint', 'cacheTtl', 'staleWhileRevalidate', 'inactiveTtl', 'cacheMax', 'timeout', 'maxBytes', 'retryAfter', 'opaque', 'store'];
const SESSION_KEYS = [
  'orgUrl', 'apiToken', 'client', 'claim', 'acceptStatuses', 'cacheTtl', 'staleWhileRevalidate', 'pushed', 'staleIfError', 'cacheMax', 'timeout', 'maxBytes', 'retryAfter', 'store',
];
const ANSWER_STORE_METHODS = ['get', 'lease', 'put', 'delete', 'subscribe', 'close'] as const;
const ENDPOINT_KEYS = ['token', 'revocation', 'endSession', 'timeout', 'maxBytes'];
/** The most `staleWhileRevalidate` may be (introspection and sessions), in seconds. */
const MAX_STALE_WHILE_REVALIDATE = 60;

/** The most `sessions.cacheTtl` may be with `sessions.pushed`, in seconds: an hour, the life of an Okta access token by default. */
const PUSHED_MAX_TTL = 3600;

const ANOMALY_KEYS = ['maxClients', 'window', 'by', 'trustProxy', 'clientAddress', 'max'];

/** The issuer endpoints the guard posts to or links to, and the limits of those calls. */
export interface ResolvedEndpoints {
  token: string | undefined;
  revocation: string | undefined;
  endSession: string | undefined;
  /** Of the token (refresh) and revocation calls. */
  limits: CallLimits;
}

/** Validates a shared answer store (`sessions.store`, `introspection.store`): every method of {@link AnswerStore}, named when missing. */
function answerStore(name: string, value: unknown): AnswerStore | undefined {
  if (value === undefined) return undefined;
  const store = value as Record<string, unknown> | null;
  const missing = store === null || typeof store !== 'object' ? [...ANSWER_STORE_METHODS] : ANSWER_STORE_METHODS.filter((method) => typeof store[method] !== 'function');
  if (missing.length > 0) throw new TypeError(`tokengate: option "${name}" must implement ${ANSWER_STORE_METHODS.map((m) => `${m}()`).join(', ')}; missing: ${missing.join(', ')}`);
  return value as AnswerStore;
}

/** Validates the `endpoints` option. */
export function resolveEndpoints(input: unknown): ResolvedEndpoints {
  const e = object('endpoints', input ?? {});
  rejectUnknown('endpoints.', e, ENDPOINT_KEYS);
  const optional = (name: string) => (e[name] === undefined ? undefined : url(`endpoints.${name}`, e[name], false));
  return {
    token: optional('token'),
    revocation: optional('revocation'),
    endSession: optional('endSession'),
    limits: { timeout: seconds('endpoints.timeout', e.timeout, 5, 0.001), maxBytes: integer('endpoints.maxBytes', e.maxBytes, 65_536, 1024) },
  };
}

/** Validates the `revocation` option. */
export function resolveRevocation(input: RevocationOptions | undefined): ResolvedRevocation {
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

/** Validates the `backendSessions` option; the in-memory store is the default, and every store is wrapped so that its failures are 503s. */
export function resolveBackendSessions(input: BackendSessionOptions, clock: () => number): ResolvedBackendSessions {
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

/** Validates the `introspection` option; its client defaults to the top-level `client`. */
export function resolveIntrospection(input: IntrospectionOptions, appClient: ClientCredentials | undefined): ResolvedIntrospection {
  const i = object('introspection', input);
  rejectUnknown('introspection.', i, INTROSPECTION_KEYS);
  if (i.opaque !== undefined && typeof i.opaque !== 'boolean') throw new TypeError('tokengate: option "introspection.opaque" must be a boolean');
  if (i.client === undefined && appClient === undefined) throw new TypeError('tokengate: option "introspection.client" is required (or give the top-level "client")');
  return {
    client: i.client === undefined ? resolveClient('client', appClient) : resolveClient('introspection.client', i.client),
    endpoint: i.endpoint === undefined ? undefined : url('introspection.endpoint', i.endpoint, false),
    cacheTtl: seconds('introspection.cacheTtl', i.cacheTtl, 30, 0),
    staleWhileRevalidate: seconds('introspection.staleWhileRevalidate', i.staleWhileRevalidate, 1, 0, MAX_STALE_WHILE_REVALIDATE),
    inactiveTtl: seconds('introspection.inactiveTtl', i.inactiveTtl, 300, 0),
    cacheMax: integer('introspection.cacheMax', i.cacheMax, 10_000, 1),
    timeout: seconds('introspection.timeout', i.timeout, 5, 0.001),
    maxBytes: integer('introspection.maxBytes', i.maxBytes, 65_536, 1024),
    retryAfter: seconds('introspection.retryAfter', i.retryAfter, 5, 0),
    opaque: i.opaque === true,
    store: answerStore('introspection.store', i.store),
  };
}

/** Validates the `sessions` option; the org URL defaults to the issuer's origin. */
export function resolveSessions(input: SessionOptions, issuer: string): ResolvedSessions {
  const o = object('sessions', input);
  rejectUnknown('sessions.', o, SESSION_KEYS);
  const orgUrl = (o.orgUrl === undefined ? new URL(issuer).origin : url('sessions.orgUrl', o.orgUrl, true)).replace(/\/$/, '');
  if ((o.apiToken === undefined) === (o.client === undefined)) {
    throw new TypeError('tokengate: option "sessions" needs exactly one of "apiToken" (SSWS) or "client" (OAuth 2.0 client credentials)');
  }
  if (o.apiToken !== undefined && !nonEmptyString(o.apiToken)) throw new TypeError('tokengate: option "sessions.apiToken" must be a non-empty string');
  let client: ResolvedSessions['client'];
  if (o.client !== undefined) {
    const { scopes, tokenEndpoint, dpop, ...credentials } = object('sessions.client', o.client) as Record<string, unknown>;
    const resolved = resolveClient('sessions.client', credentials);
    if (resolved.method !== 'private_key_jwt') throw new TypeError('tokengate: option "sessions.client" must authenticate with private_key_jwt (give "privateKey"), as Okta requires for its API');
    client = {
      ...resolved,
      scopes: stringList('sessions.client.scopes', scopes) ?? ['okta.sessions.read'],
      tokenEndpoint: tokenEndpoint === undefined ? `${orgUrl}/oauth2/v1/token` : url('sessions.client.tokenEndpoint', tokenEndpoint, false),
      dpopKey: dpopKey(dpop),
    };
  }
  if (o.pushed !== undefined && typeof o.pushed !== 'boolean') throw new TypeError('tokengate: option "sessions.pushed" must be a boolean');
  const pushed = o.pushed === true;
  if (!pushed && typeof o.cacheTtl === 'number' && o.cacheTtl > UNPUSHED_MAX_TTL && o.cacheTtl <= PUSHED_MAX_TTL) {
    throw new TypeError(`tokengate: option "sessions.cacheTtl" over ${UNPUSHED_MAX_TTL} s needs "sessions.pushed": true (session ends pushed by an SSF receiver or an Okta Event Hook)`);
  }
  const claim = o.claim ?? 'sid';
  if (!nonEmptyString(claim)) throw new TypeError('tokengate: option "sessions.claim" must be a non-empty string');
  return {
    orgUrl,
    apiToken: o.apiToken as string | undefined,
    client,
    claim,
    acceptStatuses: new Set(stringList('sessions.acceptStatuses', o.acceptStatuses) ?? ['ACTIVE']),
    cacheTtl: pushed ? seconds('sessions.cacheTtl', o.cacheTtl, UNPUSHED_MAX_TTL, 0, PUSHED_MAX_TTL) : seconds('sessions.cacheTtl', o.cacheTtl, 30, 0, UNPUSHED_MAX_TTL),
    staleWhileRevalidate: seconds('sessions.staleWhileRevalidate', o.staleWhileRevalidate, 1, 0, MAX_STALE_WHILE_REVALIDATE),
    pushed,
    staleIfError: seconds('sessions.staleIfError', o.staleIfError, 120, 0),
    cacheMax: integer('sessions.cacheMax', o.cacheMax, 10_000, 1),
    timeout: seconds('sessions.timeout', o.timeout, 5, 0.001),
    maxBytes: integer('sessions.maxBytes', o.maxBytes, 65_536, 1024),
    retryAfter: seconds('sessions.retryAfter', o.retryAfter, 5, 0),
    store: answerStore('sessions.store', o.store),
  };
}

/** The key of `sessions.client.dpop`: none for `false`, a fresh P-256 key for `true`, or the private key given. */
function dpopKey(value: unknown): KeyObject | undefined {
  if (value === undefined || value === false) return undefined;
  if (value === true) {
    // Generated as PEM and parsed: a KeyObject straight from the generator can deadlock Node 20 when exported.
    const pem = generateKeyPairSync('ec', { namedCurve: 'P-256', publicKeyEncoding: { type: 'spki', format: 'pem' }, privateKeyEncoding: { type: 'pkcs8', format: 'pem' } });
    return createPrivateKey(pem.privateKey);
  }
  if (value instanceof KeyObject && value.type === 'private') {
    proofAlgorithm(value);
    return value;
  }
  throw new TypeError('tokengate: option "sessions.client.dpop" must be a boolean or a private KeyObject (RSA, EC or Ed25519)');
}

/** Validates the `anomaly` option. */
export function resolveAnomaly(input: AnomalyOptions): ResolvedAnomaly {
  const a = object('anomaly', input);
  rejectUnknown('anomaly.', a, ANOMALY_KEYS);
  const maxClients = integer('anomaly.maxClients', a.maxClients, 3, 1);
  if (maxClients > 32) throw new TypeError(`tokengate: option "anomaly.maxClients" must be at most 32, got ${maxClients}`);
  const by = a.by ?? 'address';
  if (by !== 'address' && by !== 'userAgent') throw new TypeError('tokengate: option "anomaly.by" must be "address" or "userAgent"');
  if (a.clientAddress !== undefined && typeof a.clientAddress !== 'function') throw new TypeError('tokengate: option "anomaly.clientAddress" must be a function of the request');
  if (a.clientAddress !== undefined && a.trustProxy !== undefined) {
    throw new TypeError('tokengate: options "anomaly.clientAddress" and "anomaly.trustProxy" exclude each other: read the forwarded address in clientAddress, or give the hop count');
  }
  if (by === 'userAgent' && (a.clientAddress !== undefined || a.trustProxy !== undefined)) {
    throw new TypeError('tokengate: option "anomaly.by" "userAgent" reads no address: drop "anomaly.clientAddress" and "anomaly.trustProxy"');
  }
  return {
    maxClients,
    window: seconds('anomaly.window', a.window, 300, 1, 86_400),
    by,
    trustProxy: integer('anomaly.trustProxy', a.trustProxy, 0, 0),
    clientAddress: a.clientAddress as ResolvedAnomaly['clientAddress'],
    max: integer('anomaly.max', a.max, 10_000, 1),
  };
}
