import { AuthError, LogoutTokenError, RevocationUnavailableError, UnknownKeyError } from '../errors';
import type { Algorithm } from '../jose/algorithms';
import { TIME_CHECKS, type TimeCheck, type TimeRules } from '../jose/claims';
import { decodeJwt, type JwtClaims } from '../jose/compact';
import { checkHeader, SIGNED_HEADER_CHECKS } from '../jose/header';
import { verifySignature } from '../jose/signature';
import type { KeySet } from '../issuer/key-set';
import type { SharedDenylist } from '../revocation/shared';
import { normalizeTyp } from '../util/claims';

/** Logout tokens older than this (seconds, from `iat`) are refused; Okta's global token revocation tokens live 5 minutes. */
export const LOGOUT_TOKEN_MAX_AGE = 300;
/** How long a logout token's `jti` is remembered past `iat` + {@link LOGOUT_TOKEN_MAX_AGE} + `clockTolerance`, seconds. */
const REPLAY_MARGIN = 600;

const [EXPIRY, , ISSUED_AT, MAX_AGE] = TIME_CHECKS;

/** What checking a JWT the issuer sends to this service needs. */
export interface LogoutTokenContext {
  issuer: string;
  algorithms: ReadonlySet<Algorithm>;
  /** Seconds. */
  clockTolerance: number;
  clock: () => number;
  keys: KeySet;
  /** Where one-time ids are claimed, here and on every instance sharing the store. */
  denylist: SharedDenylist;
}

/** Which kind of issuer JWT is checked, and how its faults are answered. */
export interface LogoutTokenKind {
  /** Accepted `typ` values (normalized); `undefined` admits a token without one. */
  typs: ReadonlyArray<string | undefined>;
  audience: string;
  /** For messages: "logout token", "global token revocation token". */
  what: string;
  /** The status of a refusal: 400, or 401 for a bearer. */
  status: 400 | 401;
}

/**
 * Verifies a JWT the issuer sent to this service (logout tokens): signature with the issuer's
 * keys, its own `typ` rules (never the access-token `typ` option), `iss`, `aud`, a fresh `iat`
 * (at most {@link LOGOUT_TOKEN_MAX_AGE} old), `exp` when present, and a `jti`. Rejects with
 * {@link LogoutTokenError}, or a 503 when the keys are out of reach. Marks nothing: see {@link claimLogoutToken}.
 */
export async function verifyLogoutToken(context: LogoutTokenContext, token: string, kind: LogoutTokenKind): Promise<JwtClaims> {
  const fail = (message: string): never => {
    throw new LogoutTokenError(kind.status, `Invalid ${kind.what}: ${message}`);
  };
  let decoded;
  try {
    decoded = decodeJwt(token);
    checkHeader(decoded.header, { algorithms: context.algorithms, typ: undefined }, SIGNED_HEADER_CHECKS);
  } catch (error) {
    return fail((error as Error).message);
  }
  const { header, claims, signingInput, signature } = decoded;
  const typ = typeof header.typ === 'string' ? normalizeTyp(header.typ) : undefined;
  if (!kind.typs.includes(typ)) fail(`"typ" must be ${kind.typs.filter(Boolean).join(' or ')}`);
  let key;
  try {
    key = await context.keys.keyFor(header);
  } catch (error) {
    if (error instanceof UnknownKeyError) fail('signed with an unknown key');
    throw error;
  }
  if (!verifySignature(header.alg, key.key, signingInput, signature)) fail('bad signature');
  if (claims.iss !== context.issuer) fail('wrong issuer');
  const aud = claims.aud as unknown;
  if (!(aud === kind.audience || (Array.isArray(aud) && aud.includes(kind.audience)))) fail('wrong audience');
  const now = context.clock() / 1000;
  const rules: TimeRules = { clockTolerance: context.clockTolerance, maxTokenAge: LOGOUT_TOKEN_MAX_AGE };
  const timely = (check: TimeCheck, message: (error: AuthError) => string): void => {
    try {
      check.run(claims, rules, now, undefined);
    } catch (error) {
      if (!(error instanceof AuthError)) throw error;
      fail(message(error));
    }
  };
  // `iat` is required here (MAX_AGE asks for it); `exp` is optional for logout tokens, and when
  // present must be a finite number of seconds that has not passed.
  timely(ISSUED_AT, () => '"iat" missing or not fresh');
  timely(MAX_AGE, () => '"iat" missing or not fresh');
  if (claims.exp !== undefined) timely(EXPIRY, (error) => (error.code === 'ERR_TOKEN_EXPIRED' ? 'expired' : '"exp" is not a number of seconds'));
  if (typeof claims.jti !== 'string' || claims.jti === '' || claims.jti.length > 256) fail('no usable "jti"');
  return claims;
}

/**
 * Records a verified logout token's `jti` as used, after every other check passed, here and in
 * the shared store (`claimOnce`). A replay is a {@link LogoutTokenError}. `shared`: the shared
 * record is required (503 {@link RevocationUnavailableError} when the store has none or cannot
 * answer); otherwise this process's record decides when the store cannot.
 */
export async function claimLogoutToken(context: LogoutTokenContext, claims: JwtClaims, kind: LogoutTokenKind, shared: boolean): Promise<void> {
  // Past iat + the maximum age the token is refused anyway: its exp (which may be anything, even
  // Infinity) does not make the record live longer.
  const until = ((claims.iat as number) + LOGOUT_TOKEN_MAX_AGE + context.clockTolerance + REPLAY_MARGIN) * 1000;
  let outcome: 'new' | 'seen' | 'local';
  try {
    outcome = await context.denylist.claimOnce(claims.jti!, until);
  } catch (error) {
    if (shared) throw new RevocationUnavailableError('The shared replay cache cannot answer; retry shortly', 1, { cause: error });
    outcome = 'local';
  }
  if (outcome === 'local') {
    if (shared) throw new RevocationUnavailableError('The revocation store has no claimOnce(), so a token used here could be replayed to another instance; refused', 1);
    outcome = await context.denylist.claimOnce(claims.jti!, until, true);
  }
  if (outcome === 'seen') throw new LogoutTokenError(kind.status, `Invalid ${kind.what}: replayed`);
}
