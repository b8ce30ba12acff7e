import { constants, verify as cryptoVerify, type KeyObject } from 'node:crypto';
import {
  AlgorithmNotAllowedError,
  AudienceMismatchError,
  ClaimInvalidError,
  ClientNotAllowedError,
  IssuerMismatchError,
  MalformedTokenError,
  OrgAuthorizationServerError,
  TokenExpiredError,
  TokenNotYetValidError,
  TokenTooOldError,
  TokenTypeError,
  UnsupportedCriticalHeaderError,
} from './errors';
import { normalizeTyp, type Algorithm, type ResolvedOptions } from './options';

/** The protected header of a JWS, as sent. */
export interface JwtHeader {
  alg: Algorithm;
  kid?: string;
  typ?: string;
  [parameter: string]: unknown;
}

/** The claims of an access token, as sent. Okta's `scp`, `cid` and `uid` are typed for convenience. */
export interface JwtClaims {
  iss: string;
  aud: string | string[];
  exp: number;
  sub?: string;
  iat?: number;
  nbf?: number;
  jti?: string;
  scp?: string[];
  scope?: string;
  cid?: string;
  client_id?: string;
  uid?: string;
  [claim: string]: unknown;
}

/** A compact JWS split into its parts. Nothing in it is verified yet. */
export interface DecodedJwt {
  header: JwtHeader;
  claims: JwtClaims;
  /** `base64url(header) + '.' + base64url(payload)`: the bytes the signature covers. */
  signingInput: string;
  signature: Buffer;
}

const BASE64URL = /^[A-Za-z0-9_-]+$/;
const ACCEPTED_TYP_BY_DEFAULT = new Set(['jwt', 'at+jwt']);

/**
 * Splits a compact JWS and parses its header and payload. Throws {@link MalformedTokenError}
 * unless it has exactly three base64url parts whose first two are non-empty JSON objects. An empty
 * signature passes here so that `alg: none` is refused by name in {@link checkHeader}.
 *
 * Does NOT check the signature or any claim.
 * @see https://www.rfc-editor.org/rfc/rfc7515#section-7.1
 */
export function decodeJwt(token: string): DecodedJwt {
  const first = token.indexOf('.');
  const second = first < 0 ? -1 : token.indexOf('.', first + 1);
  if (second < 0 || token.indexOf('.', second + 1) >= 0) {
    throw new MalformedTokenError('The token is not a JWT: it must have three dot-separated parts');
  }
  const head = token.slice(0, first);
  const body = token.slice(first + 1, second);
  const sig = token.slice(second + 1);
  if (!base64url(head) || !base64url(body) || (sig.length > 0 && (!base64url(sig) || !canonical(sig)))) {
    throw new MalformedTokenError('The token is not a JWT: its header and payload must be non-empty base64url without padding');
  }
  const header = parseObject(head, 'header') as JwtHeader;
  const claims = parseObject(body, 'payload') as JwtClaims;
  return { header, claims, signingInput: token.slice(0, second), signature: Buffer.from(sig, 'base64url') };
}

function base64url(part: string): boolean {
  return part.length % 4 !== 1 && BASE64URL.test(part);
}

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/**
 * True when the unused low bits of the last character are zero, so that each signature has one
 * spelling only (the signature is not itself signed, and a second spelling would be a second token).
 */
function canonical(part: string): boolean {
  const spare = part.length % 4 === 2 ? 0b1111 : part.length % 4 === 3 ? 0b11 : 0;
  return spare === 0 || (ALPHABET.indexOf(part[part.length - 1]) & spare) === 0;
}

function parseObject(part: string, what: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
  } catch (error) {
    throw new MalformedTokenError(`The token's ${what} is not valid JSON`, { cause: error });
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new MalformedTokenError(`The token's ${what} is not a JSON object`);
  }
  return value as Record<string, unknown>;
}

/**
 * Checks the protected header before any key is looked up: `alg` in the allow-list (never `none`
 * or HMAC), no `crit` extensions (tokengate implements none), and `typ` as an access token's.
 *
 * Does NOT use `jwk`, `jku`, `x5u` or `x5c`: keys come only from the issuer's key set.
 * @see https://www.rfc-editor.org/rfc/rfc8725#section-3.1
 */
export function checkHeader(header: JwtHeader, options: ResolvedOptions): void {
  checkSignedHeader(header, options.algorithms);
  const typ = header.typ as string | undefined;
  if (options.typ !== undefined) {
    if (typ === undefined || normalizeTyp(typ) !== options.typ) {
      throw new TokenTypeError(`The token header "typ" must be "${options.typ}"${typ === undefined ? ', and it has none' : `, not "${printable(typ)}"`}`);
    }
  } else if (typ !== undefined && !ACCEPTED_TYP_BY_DEFAULT.has(normalizeTyp(typ))) {
    throw new TokenTypeError(`The token header "typ" is "${printable(typ)}": that kind of JWT is not an access token`);
  }
}

/**
 * The header checks every JWT from the issuer gets, whatever its kind (access token, logout
 * token): `alg` in the allow-list, no `crit`, `kid` and `typ` strings when present. Each kind
 * checks its own `typ` value.
 */
export function checkSignedHeader(header: JwtHeader, algorithms: ReadonlySet<Algorithm>): void {
  const alg = header.alg;
  if (typeof alg !== 'string' || !algorithms.has(alg)) {
    throw new AlgorithmNotAllowedError(
      `The token is signed with ${typeof alg === 'string' ? `"${printable(alg)}"` : 'no algorithm'}; allowed: ${[...algorithms].join(', ')}`,
    );
  }
  if (header.crit !== undefined) {
    throw new UnsupportedCriticalHeaderError('The token header lists "crit" extensions, which are not supported');
  }
  if (header.kid !== undefined && typeof header.kid !== 'string') {
    throw new MalformedTokenError('The token header "kid" must be a string');
  }
  if (header.typ !== undefined && typeof header.typ !== 'string') throw new TokenTypeError('The token header "typ" must be a string');
}

/**
 * Checks the claims that need no key: `iss` exact, `aud` any-of, `exp` required, `nbf` and `iat`
 * with `clockTolerance`, `maxTokenAge`, `requiredClaims`, `clientIds`, and the types of `sub`,
 * `jti`, `scp`, `scope`. `now` is in seconds. With `refresh`, for a silent refresh that must know
 * every other check passes: a token expired up to `refresh.window` seconds longer is accepted, and
 * `maxTokenAge` (an age-based expiry, which the refresh renews) is not applied.
 *
 * Does NOT check the signature, scopes a route requires, or revocation.
 * @see https://www.rfc-editor.org/rfc/rfc9068#section-4
 */
export function checkClaims(claims: JwtClaims, options: ResolvedOptions, now: number, refresh?: { window: number }): void {
  if (claims.iss !== options.issuer) {
    if (typeof claims.iss === 'string' && isOktaOrgIssuer(claims.iss, options.issuer)) {
      throw new OrgAuthorizationServerError(orgServerMessage());
    }
    throw new IssuerMismatchError(
      typeof claims.iss === 'string' ? `The token's issuer "${printable(claims.iss)}" is not accepted here` : 'The token has no "iss" claim',
    );
  }
  const aud = claims.aud;
  if (typeof aud === 'string' ? !options.audiences.has(aud) : !Array.isArray(aud) || !aud.some((a) => options.audiences.has(a))) {
    throw new AudienceMismatchError('The token is not meant for this API: its "aud" names none of the accepted audiences');
  }
  const tolerance = options.clockTolerance;
  if (claims.exp === undefined) throw new ClaimInvalidError('exp', 'The token has no "exp" claim; access tokens must expire');
  number(claims, 'exp');
  if (now >= claims.exp + tolerance + (refresh?.window ?? 0)) {
    throw new TokenExpiredError(`The token expired ${Math.round(now - claims.exp)} seconds ago`);
  }
  checkOtherClaims(claims, options, now, refresh === undefined);
}

/**
 * The claim checks besides `iss`, `aud` and `exp`: `nbf`, `iat`, `maxTokenAge` (unless `maxAge` is
 * false), claim types, `requiredClaims` and `clientIds`. Also what a token accepted on
 * introspection alone must pass, its claims built from the answer.
 */
export function checkOtherClaims(claims: Readonly<JwtClaims>, options: ResolvedOptions, now: number, maxAge = true): void {
  const tolerance = options.clockTolerance;
  if (claims.nbf !== undefined) {
    number(claims, 'nbf');
    if (claims.nbf > now + tolerance) throw new TokenNotYetValidError(`The token is not valid for another ${Math.round(claims.nbf - now)} seconds ("nbf")`);
  }
  if (claims.iat !== undefined) {
    number(claims, 'iat');
    if (claims.iat > now + tolerance) throw new TokenNotYetValidError(`The token was issued ${Math.round(claims.iat - now)} seconds in the future ("iat"); check the clocks`);
  }
  if (options.maxTokenAge !== undefined && maxAge) {
    if (claims.iat === undefined) throw new ClaimInvalidError('iat', 'The token has no "iat" claim, which "maxTokenAge" needs');
    if (now - claims.iat > options.maxTokenAge + tolerance) {
      throw new TokenTooOldError(`The token was issued ${Math.round(now - claims.iat)} seconds ago; at most ${options.maxTokenAge} are accepted`);
    }
  }
  for (const name of ['sub', 'jti', 'scope', 'cid', 'client_id', 'uid']) {
    if (claims[name] !== undefined && typeof claims[name] !== 'string') {
      throw new ClaimInvalidError(name, `The token's "${name}" claim must be a string`);
    }
  }
  if (claims.scp !== undefined && !(Array.isArray(claims.scp) && claims.scp.every((s) => typeof s === 'string')) && typeof claims.scp !== 'string') {
    throw new ClaimInvalidError('scp', 'The token\'s "scp" claim must be an array of strings');
  }
  for (const name of options.requiredClaims) {
    if (ownClaim(claims, name) === undefined) throw new ClaimInvalidError(name, `The token has no "${name}" claim, which is required`);
  }
  if (options.clientIds !== undefined) {
    const client = clientIdOf(claims);
    if (client === undefined || !options.clientIds.has(client)) {
      throw new ClientNotAllowedError(client === undefined ? 'The token names no client ("cid" or "client_id")' : `The client "${printable(client)}" is not allowed`);
    }
  }
}

/** The client a token was issued to: Okta's `cid`, else RFC 9068's `client_id`. */
export function clientIdOf(claims: Readonly<JwtClaims>): string | undefined {
  return claims.cid ?? claims.client_id;
}

/** A claim the token itself carries: never one inherited from `Object.prototype` (`constructor`, `toString`...). */
export function ownClaim(claims: Readonly<Record<string, unknown>>, name: string): unknown {
  return Object.hasOwn(claims, name) ? claims[name] : undefined;
}

function number(claims: JwtClaims, name: 'exp' | 'nbf' | 'iat'): void {
  if (typeof claims[name] !== 'number' || !Number.isFinite(claims[name])) {
    throw new ClaimInvalidError(name, `The token's "${name}" claim must be a number of seconds`);
  }
}

/**
 * True when `tokenIssuer` looks like an Okta org authorization server: an origin with no path, on an
 * Okta domain or on the host of the expected custom authorization server (`.../oauth2/{id}`).
 */
export function isOktaOrgIssuer(tokenIssuer: string, expected: string): boolean {
  let token: URL;
  let ours: URL;
  try {
    token = new URL(tokenIssuer);
    ours = new URL(expected);
  } catch {
    return false;
  }
  const bare = token.pathname === '/' || token.pathname === '';
  const oktaHost = /\.(okta|oktapreview|okta-emea|okta-gov)\.com$/.test(token.hostname);
  return bare && (oktaHost || (token.host === ours.host && ours.pathname.startsWith('/oauth2/')));
}

/** The one explanation given for org-authorization-server tokens. */
export function orgServerMessage(): string {
  return (
    'The token comes from an Okta org authorization server (issuer without /oauth2/...), whose signing keys Okta ' +
    'does not publish, so it cannot be validated locally. Issue tokens from a custom authorization server ' +
    '(https://{org}/oauth2/{id}), or validate them by introspection'
  );
}

/** Node signature parameters per JWS algorithm (RFC 7518 section 3). */
interface SignatureParams {
  hash: string | null;
  padding?: number;
  saltLength?: number;
  ieee?: number;
}

const PARAMS: Record<Algorithm, SignatureParams> = {
  RS256: { hash: 'sha256', padding: constants.RSA_PKCS1_PADDING },
  RS384: { hash: 'sha384', padding: constants.RSA_PKCS1_PADDING },
  RS512: { hash: 'sha512', padding: constants.RSA_PKCS1_PADDING },
  PS256: { hash: 'sha256', padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST },
  PS384: { hash: 'sha384', padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST },
  PS512: { hash: 'sha512', padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST },
  ES256: { hash: 'sha256', ieee: 64 },
  ES384: { hash: 'sha384', ieee: 96 },
  ES512: { hash: 'sha512', ieee: 132 },
  EdDSA: { hash: null },
  Ed25519: { hash: null },
};

/**
 * Verifies a JWS signature with `node:crypto`. The caller has already bound `alg` to the key's type
 * (see the key set); this checks the signature bytes only. ECDSA signatures must be the exact
 * IEEE P1363 length; RSA-PSS salts must equal the digest length.
 * @see https://www.rfc-editor.org/rfc/rfc7518#section-3
 */
export function verifySignature(alg: Algorithm, key: KeyObject, signingInput: string, signature: Buffer): boolean {
  const p = PARAMS[alg];
  if (p.ieee !== undefined) {
    if (signature.length !== p.ieee) return false;
    return cryptoVerify(p.hash, Buffer.from(signingInput), { key, dsaEncoding: 'ieee-p1363' }, signature);
  }
  if (p.padding !== undefined) {
    return cryptoVerify(p.hash, Buffer.from(signingInput), { key, padding: p.padding, saltLength: p.saltLength }, signature);
  }
  return cryptoVerify(null, Buffer.from(signingInput), key, signature);
}

/** Shortens and strips a value from a token before it goes into a message. */
export function printable(value: string): string {
  const clean = value.replace(/[^\x20-\x7E]/g, '?');
  return clean.length > 80 ? `${clean.slice(0, 77)}...` : clean;
}
