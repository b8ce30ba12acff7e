import { AlgorithmNotAllowedError, AuthError, SecurityEventError, UnknownKeyError, type SecurityEventErrorCode } from '../errors';
import type { Algorithm } from '../jose/algorithms';
import { TIME_CHECKS, type TimeRules } from '../jose/claims';
import { decodeJwt, type JwtClaims } from '../jose/compact';
import { checkHeader, SIGNED_HEADER_CHECKS } from '../jose/header';
import { verifySignature } from '../jose/signature';
import type { KeySet } from '../issuer/key-set';
import { normalizeTyp, printable } from '../util/claims';

const [EXPIRY, , ISSUED_AT, MAX_AGE] = TIME_CHECKS;

/** What a Security Event Token must be to be accepted from the transmitter. */
export interface SetExpectations {
  /** The transmitter's issuer: the SET's `iss`, exactly. */
  issuer: string;
  /** This receiver: the SET's `aud` must name one of them. */
  audiences: ReadonlySet<string>;
  algorithms: ReadonlySet<Algorithm>;
  /** Seconds. */
  clockTolerance: number;
  /** Oldest `iat` accepted, seconds ago. */
  maxAge: number;
  clock: () => number;
  /** The transmitter's keys (its `jwks_uri`). */
  keys: KeySet;
}

/** A verified SET: its claims, and its one event. */
export interface VerifiedSet {
  claims: JwtClaims & { jti: string; iat: number };
  /** The event type URI (the one member of `events`). */
  type: string;
  /** The event object. */
  event: Record<string, unknown>;
}

const refuse = (err: SecurityEventErrorCode, message: string): never => {
  throw new SecurityEventError(err, message);
};

/**
 * Verifies a Security Event Token pushed by a transmitter (RFC 8417 as SSF 1.0 profiles it), the
 * cheap checks before the signature, each failure a {@link SecurityEventError} carrying its RFC 8935
 * code: a compact JWS (`invalid_request`; an encrypted SET is not supported), `alg` in the allow-list
 * (`invalid_key`), no `crit` and header `typ` `secevent+jwt` (explicit typing, SSF 1.0 section
 * 4.1.1; `invalid_request`), `iss` the transmitter (`invalid_issuer`), `aud` this receiver
 * (`invalid_audience`), `iat` present, not in the future and at most `maxAge` old, `exp` (not
 * required; SSF forbids it) not passed, a `jti` of 1 to 256 characters, `events` holding exactly one
 * event object (`invalid_request`), then a key the transmitter publishes (`invalid_key`) and the
 * signature (`authentication_failed`). A transmitter that cannot be reached for its keys rejects with
 * the guard's 503 {@link AuthError}.
 *
 * Does NOT check that the `jti` is new (the receiver records it), the event's own claims, or `txn`.
 * @see https://www.rfc-editor.org/rfc/rfc8417
 * @see https://www.rfc-editor.org/rfc/rfc8935#section-2
 */
export async function verifySecurityEventToken(token: string, expect: SetExpectations): Promise<VerifiedSet> {
  let decoded;
  try {
    decoded = decodeJwt(token);
  } catch {
    const parts = token.split('.').length;
    return refuse('invalid_request', parts === 5 ? 'The SET is encrypted (JWE); only signed SETs are accepted' : 'The request body is not a SET: a compact JWS is expected');
  }
  const { header, claims, signingInput, signature } = decoded;
  try {
    checkHeader(header, { algorithms: expect.algorithms, typ: undefined }, SIGNED_HEADER_CHECKS);
  } catch (error) {
    if (error instanceof AlgorithmNotAllowedError) refuse('invalid_key', `The SET's signing algorithm is not accepted: ${error.message}`);
    refuse('invalid_request', `The SET header is not acceptable: ${(error as Error).message}`);
  }
  if (typeof header.typ !== 'string' || normalizeTyp(header.typ) !== 'secevent+jwt') {
    refuse('invalid_request', `The SET header "typ" must be "secevent+jwt"${typeof header.typ === 'string' ? `, not "${printable(header.typ)}"` : ''}`);
  }
  if (claims.iss !== expect.issuer) refuse('invalid_issuer', typeof claims.iss === 'string' ? `The SET issuer "${printable(claims.iss)}" is not this receiver's transmitter` : 'The SET has no "iss"');
  const aud = claims.aud as unknown;
  if (!(typeof aud === 'string' ? expect.audiences.has(aud) : Array.isArray(aud) && aud.some((a) => typeof a === 'string' && expect.audiences.has(a)))) {
    refuse('invalid_audience', 'The SET "aud" does not name this receiver');
  }
  const rules: TimeRules = { clockTolerance: expect.clockTolerance, maxTokenAge: expect.maxAge };
  const now = expect.clock() / 1000;
  try {
    ISSUED_AT.run(claims, rules, now, undefined);
    MAX_AGE.run(claims, rules, now, undefined);
    if (claims.exp !== undefined) EXPIRY.run(claims, rules, now, undefined);
  } catch (error) {
    if (!(error instanceof AuthError)) throw error;
    refuse('invalid_request', `The SET is not timely: ${error.message}`);
  }
  if (typeof claims.jti !== 'string' || claims.jti === '' || claims.jti.length > 256) refuse('invalid_request', 'The SET has no usable "jti"');
  const events = claims.events as unknown;
  if (events === null || typeof events !== 'object' || Array.isArray(events)) return refuse('invalid_request', 'The SET has no "events" object');
  const types = Object.keys(events);
  if (types.length !== 1) refuse('invalid_request', `The SET must carry exactly one event, not ${types.length}`);
  const event = (events as Record<string, unknown>)[types[0]];
  if (event === null || typeof event !== 'object' || Array.isArray(event)) refuse('invalid_request', 'The SET event must be an object');
  let key;
  try {
    key = await expect.keys.keyFor(header);
  } catch (error) {
    if (error instanceof UnknownKeyError) refuse('invalid_key', `The SET is signed with a key the transmitter does not publish: ${error.message}`);
    throw error;
  }
  if (!verifySignature(header.alg, key.key, signingInput, signature)) refuse('authentication_failed', 'The SET signature does not verify with the transmitter\'s key');
  return { claims: claims as VerifiedSet['claims'], type: types[0], event: event as Record<string, unknown> };
}
