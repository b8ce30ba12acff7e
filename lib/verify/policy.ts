import { ClaimCheckFailedError, InsufficientScopeError, IssuerNotAllowedError } from '../errors';
import type { JwtClaims } from '../jose/compact';
import { ownClaim } from '../util/claims';
import type { AuthResult } from './result';

/**
 * What one route asks of a token beyond the guard-wide checks. A route without a policy pays for
 * nothing extra.
 *
 * @example
 * protect(guard, { scopes: ['orders:read'], claims: { tenant: 'acme', amr: (v) => Array.isArray(v) && v.includes('mfa') } })
 */
export interface Policy {
  /** Scopes the token must all carry; otherwise 403 `insufficient_scope` with the `scope` attribute. */
  scopes?: readonly string[];
  /**
   * Claim checks, all required; otherwise 403 `ERR_CLAIM_CHECK_FAILED`. A string, number or boolean
   * must equal the claim, or be one of its elements when the claim is an array; a function gets the
   * claim's value and all claims and must return `true`.
   */
  claims?: Readonly<Record<string, ClaimExpectation>>;
  /**
   * `true`: ask the issuer's introspection endpoint (RFC 7662) whether the token is still active;
   * inactive → 401 `ERR_TOKEN_INACTIVE`. Needs the guard's `introspection` option. Default `false`.
   */
  introspect?: boolean;
  /**
   * `'strict'`: the Okta session named by the token's session claim must be alive
   * (`GET /api/v1/sessions/{id}`), so a token stops working as soon as its session ends. Needs the
   * guard's `sessions` option. `'off'` (the default) does not look.
   */
  session?: 'strict' | 'off';
  /**
   * What happens when introspection or the Sessions API cannot answer (and nothing usable is
   * cached): `'closed'` (default) → 503 with `Retry-After`; `'open'` → the request goes through and
   * a `fail-open` event is emitted. Never applies to the key set: an unverifiable signature is never let through.
   */
  failMode?: 'closed' | 'open';
  /**
   * Sender-constrained tokens (DPoP, RFC 9449). `'allowed'` (the default): `Authorization: DPoP`
   * with a valid `DPoP` proof, or `Bearer` for a token not bound to a key; `'required'`: only
   * DPoP-bound tokens with their proof; `'off'`: only `Bearer`. Whatever the mode, a bound token
   * (`cnf.jkt`) sent as `Bearer` is refused (401 `ERR_DPOP_BOUND_TOKEN_AS_BEARER`).
   * @see https://www.rfc-editor.org/rfc/rfc9449
   */
  dpop?: 'required' | 'allowed' | 'off';
  /**
   * What a token the `anomaly` detector flags (presented by more distinct clients within its window
   * than `anomaly.maxClients`) gets: `'report'` (the default) → the request goes through, and the
   * crossing is told as a `token.anomaly` event; `'refuse'` → 401 `ERR_TOKEN_ANOMALY` while the token
   * stays past the limit. Needs the guard's `anomaly` option.
   */
  onAnomaly?: 'report' | 'refuse';
  /**
   * The issuer(s) this route accepts, among those the guard accepts (compared exactly with
   * `auth.issuer`); a token of another → 403 `ERR_ISSUER_NOT_ALLOWED`, checked before any liveness
   * call. Default: every issuer of the guard. Stored as an array.
   */
  issuer?: string | readonly string[];
}

/** One expected claim value, or a predicate over it. */
export type ClaimExpectation = string | number | boolean | ((value: unknown, claims: Readonly<JwtClaims>) => boolean);

/** RFC 6749 section 3.3 `scope-token`. */
const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]+$/;
const POLICY_KEYS = ['scopes', 'claims', 'introspect', 'session', 'failMode', 'dpop', 'onAnomaly', 'issuer'];
const compiled = new WeakMap<object, Policy>();

/**
 * Validates a policy once and returns it frozen; every mistake is a `TypeError` naming the field.
 * Adapters call it when a route is mounted, so mistakes surface at start-up.
 */
export function definePolicy(policy: Policy | undefined): Policy | undefined {
  if (policy === undefined) return undefined;
  const known = compiled.get(policy);
  if (known !== undefined) return known;
  if (policy === null || typeof policy !== 'object') throw new TypeError('tokengate: a policy must be an object');
  for (const key of Object.keys(policy)) {
    if (!POLICY_KEYS.includes(key)) throw new TypeError(`tokengate: unknown policy field "${key}"; known: ${POLICY_KEYS.join(', ')}`);
  }
  if (policy.scopes !== undefined && (!Array.isArray(policy.scopes) || !policy.scopes.every((s) => typeof s === 'string' && SCOPE_TOKEN.test(s)))) {
    throw new TypeError('tokengate: policy "scopes" must be an array of scope names (RFC 6749 scope-tokens: printable ASCII without spaces, quotes or backslashes)');
  }
  if (policy.claims !== undefined) {
    if (policy.claims === null || typeof policy.claims !== 'object') throw new TypeError('tokengate: policy "claims" must be an object');
    for (const [name, expected] of Object.entries(policy.claims)) {
      if (!['string', 'number', 'boolean', 'function'].includes(typeof expected)) {
        throw new TypeError(`tokengate: policy claim "${name}" must be a string, number, boolean or predicate function`);
      }
    }
  }
  if (policy.introspect !== undefined && typeof policy.introspect !== 'boolean') throw new TypeError('tokengate: policy "introspect" must be a boolean');
  if (policy.session !== undefined && policy.session !== 'strict' && policy.session !== 'off') {
    throw new TypeError('tokengate: policy "session" must be "strict" or "off"');
  }
  if (policy.failMode !== undefined && policy.failMode !== 'closed' && policy.failMode !== 'open') {
    throw new TypeError('tokengate: policy "failMode" must be "closed" or "open"');
  }
  if (policy.dpop !== undefined && policy.dpop !== 'required' && policy.dpop !== 'allowed' && policy.dpop !== 'off') {
    throw new TypeError('tokengate: policy "dpop" must be "required", "allowed" or "off"');
  }
  if (policy.onAnomaly !== undefined && policy.onAnomaly !== 'report' && policy.onAnomaly !== 'refuse') {
    throw new TypeError('tokengate: policy "onAnomaly" must be "report" or "refuse"');
  }
  const issuers = typeof policy.issuer === 'string' ? [policy.issuer] : policy.issuer;
  if (issuers !== undefined && (!Array.isArray(issuers) || issuers.length === 0 || !issuers.every((i) => typeof i === 'string' && i.length > 0))) {
    throw new TypeError('tokengate: policy "issuer" must be an issuer URL or a non-empty array of them');
  }
  const frozen: Policy = Object.freeze({
    scopes: policy.scopes === undefined ? undefined : Object.freeze([...policy.scopes]),
    claims: policy.claims === undefined ? undefined : Object.freeze({ ...policy.claims }),
    introspect: policy.introspect,
    session: policy.session,
    failMode: policy.failMode,
    dpop: policy.dpop,
    onAnomaly: policy.onAnomaly,
    issuer: issuers === undefined ? undefined : Object.freeze([...issuers]),
  });
  compiled.set(policy, frozen);
  compiled.set(frozen, frozen);
  return frozen;
}

/** Overlays a route's policy on the guard-wide one: each field the route sets wins. */
export function mergePolicies(base: Policy | undefined, route: Policy | undefined): Policy | undefined {
  if (base === undefined) return route;
  if (route === undefined) return base;
  const merged: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(route)) if (value !== undefined) merged[key] = value;
  return definePolicy(merged as Policy);
}

/** Applies a validated policy's issuer, scope and claim checks to a verified result. */
export function checkPolicy(result: AuthResult, policy: Policy): void {
  if (policy.issuer !== undefined && !(policy.issuer as readonly string[]).includes(result.issuer)) {
    throw new IssuerNotAllowedError('The token comes from an issuer this route does not accept');
  }
  if (policy.scopes !== undefined) {
    for (const scope of policy.scopes) {
      if (!result.scopes.includes(scope)) {
        const missing = policy.scopes.filter((s) => !result.scopes.includes(s));
        throw new InsufficientScopeError(policy.scopes, `The token lacks the scope${missing.length > 1 ? 's' : ''} ${missing.join(', ')}`);
      }
    }
  }
  if (policy.claims !== undefined) {
    for (const name in policy.claims) {
      const expected = policy.claims[name];
      const actual = ownClaim(result.claims, name);
      let ok: boolean;
      if (typeof expected === 'function') {
        try {
          ok = expected(actual, result.claims) === true;
        } catch {
          ok = false;
        }
      } else {
        ok = Array.isArray(actual) ? actual.includes(expected) : actual === expected;
      }
      if (!ok) throw new ClaimCheckFailedError(name, `The token's "${name}" claim does not satisfy this route`);
    }
  }
}
