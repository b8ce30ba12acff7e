import { ClaimCheckFailedError, InsufficientScopeError } from './errors';
import type { JwtClaims } from './jwt';
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
}

/** One expected claim value, or a predicate over it. */
export type ClaimExpectation = string | number | boolean | ((value: unknown, claims: Readonly<JwtClaims>) => boolean);

const POLICY_KEYS = ['scopes', 'claims'];
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
  if (policy.scopes !== undefined && (!Array.isArray(policy.scopes) || !policy.scopes.every((s) => typeof s === 'string' && s.length > 0 && !s.includes(' ')))) {
    throw new TypeError('tokengate: policy "scopes" must be an array of non-empty scope names without spaces');
  }
  if (policy.claims !== undefined) {
    if (policy.claims === null || typeof policy.claims !== 'object') throw new TypeError('tokengate: policy "claims" must be an object');
    for (const [name, expected] of Object.entries(policy.claims)) {
      if (!['string', 'number', 'boolean', 'function'].includes(typeof expected)) {
        throw new TypeError(`tokengate: policy claim "${name}" must be a string, number, boolean or predicate function`);
      }
    }
  }
  const frozen = Object.freeze({
    scopes: policy.scopes === undefined ? undefined : Object.freeze([...policy.scopes]),
    claims: policy.claims === undefined ? undefined : Object.freeze({ ...policy.claims }),
  });
  compiled.set(policy, frozen);
  compiled.set(frozen, frozen);
  return frozen;
}

/** Applies a validated policy's scope and claim checks to a verified result. */
export function checkPolicy(result: AuthResult, policy: Policy): void {
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
      const actual = result.claims[name];
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
