import { AlgorithmNotAllowedError, MalformedTokenError, TokenTypeError, UnsupportedCriticalHeaderError } from '../errors';
import { normalizeTyp, printable } from '../util/claims';
import type { Algorithm } from './algorithms';
import type { JwtHeader } from './compact';

/** What the header checks of an access token need: the allow-list and the required `typ` (normalized), if any. */
export interface HeaderRules {
  algorithms: ReadonlySet<Algorithm>;
  typ: string | undefined;
}

/** One named header check; the verifier stops at the first that throws, the doctor runs them all. */
export interface HeaderCheck {
  readonly id: 'algorithm' | 'crit' | 'kid' | 'typ';
  readonly run: (header: JwtHeader, rules: HeaderRules) => void;
}

const ACCEPTED_TYP_BY_DEFAULT = new Set(['jwt', 'at+jwt']);

/** `alg` in the allow-list: never `none` or HMAC (RFC 8725 section 3.1). */
function algorithm(header: JwtHeader, rules: HeaderRules): void {
  const alg = header.alg;
  if (typeof alg !== 'string' || !rules.algorithms.has(alg)) {
    throw new AlgorithmNotAllowedError(
      `The token is signed with ${typeof alg === 'string' ? `"${printable(alg)}"` : 'no algorithm'}; allowed: ${[...rules.algorithms].join(', ')}`,
    );
  }
}

/** No `crit` extensions: tokengate implements none. */
function crit(header: JwtHeader): void {
  if (header.crit !== undefined) throw new UnsupportedCriticalHeaderError('The token header lists "crit" extensions, which are not supported');
}

function kid(header: JwtHeader): void {
  if (header.kid !== undefined && typeof header.kid !== 'string') throw new MalformedTokenError('The token header "kid" must be a string');
}

function typString(header: JwtHeader): void {
  if (header.typ !== undefined && typeof header.typ !== 'string') throw new TokenTypeError('The token header "typ" must be a string');
}

/** An access token's `typ`: the required one, or by default none, `JWT` or `at+jwt` (Okta sends none). */
function accessTokenTyp(header: JwtHeader, rules: HeaderRules): void {
  const typ = header.typ;
  if (typ !== undefined && typeof typ !== 'string') return typString(header);
  if (rules.typ !== undefined) {
    if (typ === undefined || normalizeTyp(typ) !== rules.typ) {
      throw new TokenTypeError(`The token header "typ" must be "${rules.typ}"${typ === undefined ? ', and it has none' : `, not "${printable(typ)}"`}`);
    }
  } else if (typ !== undefined && !ACCEPTED_TYP_BY_DEFAULT.has(normalizeTyp(typ))) {
    throw new TokenTypeError(`The token header "typ" is "${printable(typ)}": that kind of JWT is not an access token`);
  }
}

/** The checks every JWT from the issuer gets, whatever its kind (access token, logout token); each kind checks its own `typ` value. */
export const SIGNED_HEADER_CHECKS: readonly HeaderCheck[] = [
  { id: 'algorithm', run: algorithm },
  { id: 'crit', run: crit },
  { id: 'kid', run: kid },
  { id: 'typ', run: typString },
];

/** An access token's header checks, in order. Does NOT use `jwk`, `jku`, `x5u` or `x5c`: keys come only from the issuer's key set. */
export const ACCESS_TOKEN_HEADER_CHECKS: readonly HeaderCheck[] = [...SIGNED_HEADER_CHECKS.slice(0, 3), { id: 'typ', run: accessTokenTyp }];

/**
 * Runs header checks in order, stopping at the first failure (an {@link AuthError}).
 * @see https://www.rfc-editor.org/rfc/rfc8725#section-3.1
 */
export function checkHeader(header: JwtHeader, rules: HeaderRules, checks: readonly HeaderCheck[] = ACCESS_TOKEN_HEADER_CHECKS): void {
  for (let i = 0; i < checks.length; i++) checks[i].run(header, rules);
}
