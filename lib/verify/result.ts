import type { JwtClaims, JwtHeader } from '../jose/compact';
import { clientIdOf } from '../util/claims';

/**
 * What a successful verification yields; set on `req.auth` (Express) or `ctx.state.auth` (Koa).
 * Frozen, and shared between requests that present the same token. `token` is not enumerable, so
 * logging or serialising the result does not print it.
 */
export interface AuthResult {
  /** The access token itself (non-enumerable). */
  readonly token: string;
  /** The token's protected header. */
  readonly header: Readonly<JwtHeader>;
  /** The token's claims, verified. */
  readonly claims: Readonly<JwtClaims>;
  /** `sub`: for Okta, often the user's login; see `claims.uid` for the user id. */
  readonly subject: string | undefined;
  /** Granted scopes, from Okta's `scp` array and the RFC 9068 `scope` string alike. */
  readonly scopes: readonly string[];
  /** The client the token was issued to (`cid`, else `client_id`). */
  readonly clientId: string | undefined;
  /**
   * The configured issuer that accepted the token (its verified `iss`). With several issuers this
   * tells the route which one; a policy's `issuer` can require one.
   */
  readonly issuer: string;
  /** `exp`, seconds since the epoch; `undefined` only for an opaque token whose introspection answer has none. */
  readonly expiresAt: number | undefined;
}

/** Builds the frozen result of a token verified for `issuer`. */
export function buildResult(token: string, header: JwtHeader, claims: JwtClaims, issuer: string): AuthResult {
  const result = {
    header: deepFreeze(header),
    claims: deepFreeze(claims),
    subject: claims.sub,
    scopes: Object.freeze(scopesOf(claims)),
    clientId: clientIdOf(claims),
    issuer,
    expiresAt: claims.exp,
  };
  Object.defineProperty(result, 'token', { value: token, enumerable: false });
  return Object.freeze(result) as AuthResult;
}

/** Most `scp` arrays are this short: below it, duplicates are found without building a Set. */
const SHORT_SCP = 32;

/** The token's scopes, each once, in order: `scp` (array or string), then the `scope` string. */
function scopesOf(claims: JwtClaims): string[] {
  const scp = claims.scp as unknown;
  // A miss verifies a new token every request: the usual Okta shape costs one small array.
  if (Array.isArray(scp) && claims.scope === undefined && scp.length <= SHORT_SCP) {
    const scopes: string[] = [];
    for (let i = 0; i < scp.length; i++) if (!scopes.includes(scp[i])) scopes.push(scp[i]);
    return scopes;
  }
  const scopes = new Set<string>();
  if (Array.isArray(scp)) for (const s of scp) scopes.add(s);
  else if (typeof scp === 'string') for (const s of scp.split(' ')) if (s) scopes.add(s);
  if (typeof claims.scope === 'string') for (const s of claims.scope.split(' ')) if (s) scopes.add(s);
  return [...scopes];
}

/** Freezes parsed JSON in place, walking it without the arrays `Object.values` would allocate. */
function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) deepFreeze(value[i]);
    } else {
      const record = value as Record<string, unknown>;
      for (const key in record) if (Object.hasOwn(record, key)) deepFreeze(record[key]);
    }
  }
  return value;
}
