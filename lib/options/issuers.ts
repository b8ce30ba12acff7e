import { resolveClient, type ClientCredentials, type ResolvedClient } from '../issuer/client-auth';
import { SUPPORTED_ALGORITHMS, type Algorithm } from '../jose/algorithms';
import type { IntrospectionOptions, ResolvedIntrospection } from '../liveness/introspection';
import type { ResolvedSessions, SessionOptions } from '../liveness/okta-sessions';
import type { TokenRules } from '../verify/verifier';
import { resolveIntrospection, resolveSessions } from './features';
import { integer, nonEmptyString, object, rejectUnknown, stringList, url } from './validate';

/**
 * One issuer of a guard that accepts several, and what differs for it. Each field it sets replaces
 * the guard-wide option of the same name for the tokens of this issuer; the others are inherited.
 * The issuer gets its own discovery, key set, verified-token cache, introspection and session
 * checker; the denylist, DPoP replay cache, events and HTTP client stay shared.
 */
export interface IssuerSettings {
  /** The exact `iss`. `https:`; plain `http:` only for loopback hosts. Required. */
  issuer: string;
  /** Expected `aud` for this issuer's tokens. Default: the guard-wide `audience`. */
  audience?: string | readonly string[];
  /** JWKS URL. Default: `jwks_uri` from this issuer's discovery document. */
  jwksUri?: string;
  /** Allowed `alg` values. Default: the guard-wide `algorithms`. */
  algorithms?: readonly Algorithm[];
  /** Accepted clients. Default: the guard-wide `clientIds`. */
  clientIds?: readonly string[];
  /** Introspection at this issuer. Default: the guard-wide `introspection`, sent to this issuer. */
  introspection?: IntrospectionOptions;
  /** Okta session liveness. Default: the guard-wide `sessions` (its `orgUrl` defaulting to this issuer's origin). */
  sessions?: SessionOptions;
  /** The application's client at this issuer (refresh, and introspection without its own `client`). Default: the guard-wide `client`. */
  client?: ClientCredentials;
}

/**
 * The function form of the `issuer` option, for tenant patterns: called with a token's `iss`
 * (already checked to be an `https:` URL without query or fragment, or `http:` on a loopback host)
 * before anything is fetched. `false` refuses the token (401 `ERR_ISSUER_UNKNOWN`, nothing fetched);
 * `true` accepts it with the guard-wide settings; an {@link IssuerSettings} (whose `issuer` must be
 * `iss`) accepts it with those overrides. Must be synchronous and should be pure: what it allows
 * is remembered (see `maxIssuers`).
 */
export type IssuerSelector = (iss: string) => boolean | IssuerSettings;

/** One issuer, every setting resolved. Internal. */
export interface ResolvedIssuer {
  issuer: string;
  token: TokenRules;
  jwksUri: string | undefined;
  introspection: ResolvedIntrospection | undefined;
  sessions: ResolvedSessions | undefined;
  client: ResolvedClient | undefined;
}

/** How a guard finds the issuer of a token. Internal. */
export type IssuerChoice = { kind: 'one' } | { kind: 'list'; issuers: ResolvedIssuer[] } | { kind: 'select'; select: (iss: string) => ResolvedIssuer | undefined; max: number };

/** What the guard-wide options give every issuer, before its overrides. */
export interface IssuerDefaults {
  token: TokenRules;
  jwksUri: string | undefined;
  introspection: IntrospectionOptions | undefined;
  sessions: SessionOptions | undefined;
  client: ClientCredentials | undefined;
  /** Whether the guard-wide `audience` was given (an issuer without one needs it then). */
  hasAudience: boolean;
}

const SETTINGS_KEYS = ['issuer', 'audience', 'jwksUri', 'algorithms', 'clientIds', 'introspection', 'sessions', 'client'];

/** The `audience` option (or an issuer's): a non-empty string or non-empty array of them. */
export function audiences(name: string, value: unknown): Set<string> {
  const list = typeof value === 'string' ? [value] : value;
  if (!Array.isArray(list) || list.length === 0 || !list.every(nonEmptyString)) {
    throw new TypeError(`tokengate: option "${name}" must be a non-empty string or a non-empty array of them`);
  }
  return new Set(list);
}

/** The `algorithms` option (or an issuer's): supported asymmetric algorithms only (RFC 8725). */
export function algorithmList(name: string, value: unknown): Set<Algorithm> {
  if (!Array.isArray(value) || value.length === 0) throw new TypeError(`tokengate: option "${name}" must be a non-empty array`);
  for (const alg of value as unknown[]) {
    if (typeof alg === 'string' && (alg.toLowerCase() === 'none' || /^HS/i.test(alg))) {
      throw new TypeError(`tokengate: option "${name}" may not contain "${alg}": unsigned and shared-secret tokens are never accepted (RFC 8725)`);
    }
    if (!SUPPORTED_ALGORITHMS.includes(alg as Algorithm)) {
      throw new TypeError(`tokengate: option "${name}" contains unsupported "${String(alg)}"; supported: ${SUPPORTED_ALGORITHMS.join(', ')}`);
    }
  }
  return new Set(value as Algorithm[]);
}

/** One issuer's settings over the guard-wide ones; `name` prefixes the options it names. */
export function resolveIssuer(name: string, input: IssuerSettings, defaults: IssuerDefaults): ResolvedIssuer {
  const s = object(name, input) as unknown as IssuerSettings;
  rejectUnknown(`${name}.`, s, SETTINGS_KEYS);
  const issuer = url(`${name}.issuer`, s.issuer, true);
  if (s.audience === undefined && !defaults.hasAudience) throw new TypeError(`tokengate: option "${name}.audience" is required when there is no guard-wide "audience"`);
  const client = s.client ?? defaults.client;
  const introspection = s.introspection ?? defaults.introspection;
  const sessions = s.sessions ?? defaults.sessions;
  const clientIds = stringList(`${name}.clientIds`, s.clientIds);
  if ((introspection as { opaque?: unknown } | undefined)?.opaque === true) {
    const option = s.introspection === undefined ? 'introspection.opaque' : `${name}.introspection.opaque`;
    throw new TypeError(`tokengate: option "${option}" needs a single issuer: an opaque token names no issuer to pick; use one guard per issuer for opaque tokens`);
  }
  return {
    issuer,
    token: {
      ...defaults.token,
      issuer,
      audiences: s.audience === undefined ? defaults.token.audiences : audiences(`${name}.audience`, s.audience),
      algorithms: s.algorithms === undefined ? defaults.token.algorithms : algorithmList(`${name}.algorithms`, s.algorithms),
      clientIds: clientIds === undefined ? defaults.token.clientIds : new Set(clientIds),
    },
    jwksUri: s.jwksUri === undefined ? defaults.jwksUri : url(`${name}.jwksUri`, s.jwksUri, false),
    introspection: introspection === undefined ? undefined : resolveIntrospection(introspection, client),
    sessions: sessions === undefined ? undefined : resolveSessions(sessions, issuer),
    client: client === undefined ? undefined : resolveClient(s.client === undefined ? 'client' : `${name}.client`, client),
  };
}

/** The guard options {@link resolveIssuers} reads. */
interface SeveralIssuersInput {
  issuer?: unknown;
  issuers?: unknown;
  maxIssuers?: unknown;
  jwksUri?: unknown;
  endpoints?: unknown;
  backendSessions?: unknown;
}

/** Options that name one issuer's endpoints or state, refused with several issuers. */
function refuseSingleIssuerOptions(input: SeveralIssuersInput): void {
  if (input.jwksUri !== undefined) throw new TypeError('tokengate: option "jwksUri" names one issuer\'s keys: with several issuers, give it per issuer in "issuers"');
  const endpoints = input.endpoints as Record<string, unknown> | undefined;
  for (const name of ['token', 'revocation', 'endSession']) {
    if (endpoints?.[name] !== undefined) throw new TypeError(`tokengate: option "endpoints.${name}" names one issuer's endpoint: with several issuers, each comes from its issuer's discovery`);
  }
  if (input.backendSessions !== undefined) throw new TypeError('tokengate: option "backendSessions" works with a single issuer: use one guard per issuer for backend sessions');
}

/**
 * Reads the `issuer`, `issuers` and `maxIssuers` options: one issuer (a string), a list (strings,
 * or `issuers` with per-issuer settings), or a function. Throws a `TypeError` for an empty list, a
 * duplicate, both `issuer` and `issuers`, or a guard-wide option that can only name one issuer.
 */
export function resolveIssuers(input: SeveralIssuersInput, defaults: IssuerDefaults): IssuerChoice {
  const { issuer, issuers } = input;
  if (issuer !== undefined && issuers !== undefined) throw new TypeError('tokengate: give either "issuer" or "issuers", not both: list every issuer in "issuers"');
  if (input.maxIssuers !== undefined && typeof issuer !== 'function') throw new TypeError('tokengate: option "maxIssuers" applies only to the function form of "issuer"');
  if (typeof issuer === 'string' || (issuer === undefined && issuers === undefined)) return { kind: 'one' };
  refuseSingleIssuerOptions(input);
  if (typeof issuer === 'function') {
    const max = integer('maxIssuers', input.maxIssuers, 100, 1);
    if (!defaults.hasAudience) throw new TypeError('tokengate: option "audience" is required with the function form of "issuer"');
    const select = (iss: string): ResolvedIssuer | undefined => {
      const answer: unknown = (issuer as IssuerSelector)(iss);
      if (answer === false) return undefined;
      if (answer === true) return resolveIssuer('issuer()', { issuer: iss }, defaults);
      if (answer === null || typeof answer !== 'object') throw new TypeError('tokengate: the "issuer" function must return true, false or issuer settings');
      const settings = answer as IssuerSettings;
      if (settings.issuer !== iss) throw new TypeError('tokengate: the settings the "issuer" function returns must name the issuer it was asked about');
      return resolveIssuer('issuer()', settings, defaults);
    };
    return { kind: 'select', select, max };
  }
  const fromIssuer = Array.isArray(issuer);
  const list: unknown = fromIssuer ? (issuer as unknown[]).map((i) => ({ issuer: i })) : issuers;
  const name = fromIssuer ? 'issuer' : 'issuers';
  if (!Array.isArray(list)) throw new TypeError('tokengate: option "issuer" must be an issuer URL, an array of them, or a function; "issuers" an array of issuer settings');
  if (list.length === 0) throw new TypeError(`tokengate: option "${name}" must not be empty`);
  const resolved = list.map((settings: IssuerSettings, i) => resolveIssuer(`${name}[${i}]`, settings, defaults));
  const seen = new Set<string>();
  for (const [i, { issuer: url }] of resolved.entries()) {
    if (seen.has(url)) throw new TypeError(`tokengate: option "${name}[${i}]" repeats the issuer "${url}"`);
    seen.add(url);
  }
  return { kind: 'list', issuers: resolved };
}
