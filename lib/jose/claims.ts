import {
  AudienceMismatchError,
  ClaimInvalidError,
  ClientNotAllowedError,
  IssuerMismatchError,
  OrgAuthorizationServerError,
  TokenExpiredError,
  TokenNotYetValidError,
  TokenTooOldError,
} from '../errors';
import { clientIdOf, ownClaim, printable } from '../util/claims';
import { isOktaOrgIssuer, ORG_SERVER_MESSAGE } from '../util/urls';
import type { JwtClaims } from './compact';

/** What the time checks need. Durations in seconds. */
export interface TimeRules {
  clockTolerance: number;
  maxTokenAge: number | undefined;
}

/** What the claim checks of an access token need (the `token` slice of the options). */
export interface ClaimRules extends TimeRules {
  issuer: string;
  audiences: ReadonlySet<string>;
  requiredClaims: readonly string[];
  clientIds: ReadonlySet<string> | undefined;
}

/**
 * One named claim check; the verifier stops at the first that throws, the doctor runs them all.
 * `now` is in seconds. `window`, for a silent refresh that must know every other check passes: a
 * token expired up to that many seconds longer is accepted, and `maxTokenAge` (an age-based expiry,
 * which the refresh renews) is not applied.
 */
export interface ClaimCheck {
  readonly id: 'issuer' | 'audience' | 'expiry' | 'notBefore' | 'issuedAt' | 'maxAge' | 'types' | 'required' | 'client';
  readonly run: (claims: Readonly<JwtClaims>, rules: ClaimRules, now: number, window: number | undefined) => void;
}

/** A time check: it needs only the clock rules, so every kind of token (and a cache hit) runs the same one. */
export interface TimeCheck {
  readonly id: 'expiry' | 'notBefore' | 'issuedAt' | 'maxAge';
  readonly run: (claims: Readonly<JwtClaims>, rules: TimeRules, now: number, window: number | undefined) => void;
}

function number(claims: Readonly<JwtClaims>, name: 'exp' | 'nbf' | 'iat'): void {
  if (typeof claims[name] !== 'number' || !Number.isFinite(claims[name])) {
    throw new ClaimInvalidError(name, `The token's "${name}" claim must be a number of seconds`);
  }
}

function issuer(claims: Readonly<JwtClaims>, rules: ClaimRules): void {
  if (claims.iss === rules.issuer) return;
  if (typeof claims.iss === 'string' && isOktaOrgIssuer(claims.iss, rules.issuer)) throw new OrgAuthorizationServerError(ORG_SERVER_MESSAGE);
  throw new IssuerMismatchError(typeof claims.iss === 'string' ? `The token's issuer "${printable(claims.iss)}" is not accepted here` : 'The token has no "iss" claim');
}

function audience(claims: Readonly<JwtClaims>, rules: ClaimRules): void {
  const aud = claims.aud;
  if (typeof aud === 'string' ? !rules.audiences.has(aud) : !Array.isArray(aud) || !aud.some((a) => rules.audiences.has(a))) {
    throw new AudienceMismatchError('The token is not meant for this API: its "aud" names none of the accepted audiences');
  }
}

/*
 * The time rules, on numbers of seconds: the one implementation behind the claim checks of every
 * kind of token and behind a cache hit, which keeps the numbers of a token that passed them once.
 */

/** `exp` passed no more than `clockTolerance` (plus `window`) ago. */
function notExpired(exp: number, rules: TimeRules, now: number, window = 0): void {
  if (now >= exp + rules.clockTolerance + window) throw new TokenExpiredError(`The token expired ${Math.round(now - exp)} seconds ago`);
}

/** `nbf` and `iat` (each may be absent) not later than `clockTolerance` from now. */
function notInFuture(nbf: number | undefined, iat: number | undefined, rules: TimeRules, now: number): void {
  if (nbf !== undefined && nbf > now + rules.clockTolerance) throw new TokenNotYetValidError(`The token is not valid for another ${Math.round(nbf - now)} seconds ("nbf")`);
  if (iat !== undefined && iat > now + rules.clockTolerance) {
    throw new TokenNotYetValidError(`The token was issued ${Math.round(iat - now)} seconds in the future ("iat"); check the clocks`);
  }
}

/** `iat` no older than `maxTokenAge` (plus `clockTolerance`), when that rule is set. */
function notTooOld(iat: number, rules: TimeRules, now: number): void {
  if (rules.maxTokenAge !== undefined && now - iat > rules.maxTokenAge + rules.clockTolerance) {
    throw new TokenTooOldError(`The token was issued ${Math.round(now - iat)} seconds ago; at most ${rules.maxTokenAge} are accepted`);
  }
}

/**
 * Every time rule, for a cache hit: `exp`, `nbf` and `iat` as the cache kept them (`nbf`, `iat`
 * undefined when the token has none; a token cached under `maxTokenAge` has an `iat`).
 */
export function checkTimes(exp: number, nbf: number | undefined, iat: number | undefined, rules: TimeRules, now: number): void {
  notExpired(exp, rules, now);
  notInFuture(nbf, iat, rules, now);
  if (iat !== undefined) notTooOld(iat, rules, now);
}

/** `exp` is required for access tokens, and passed no more than `clockTolerance` (plus the refresh window) ago. */
function expiry(claims: Readonly<JwtClaims>, rules: TimeRules, now: number, window?: number): void {
  if (claims.exp === undefined) throw new ClaimInvalidError('exp', 'The token has no "exp" claim; access tokens must expire');
  number(claims, 'exp');
  notExpired(claims.exp, rules, now, window);
}

function notBefore(claims: Readonly<JwtClaims>, rules: TimeRules, now: number): void {
  if (claims.nbf === undefined) return;
  number(claims, 'nbf');
  notInFuture(claims.nbf, undefined, rules, now);
}

function issuedAt(claims: Readonly<JwtClaims>, rules: TimeRules, now: number): void {
  if (claims.iat === undefined) return;
  number(claims, 'iat');
  notInFuture(undefined, claims.iat, rules, now);
}

/** `maxTokenAge`; not applied for a refresh (`window`), whose new token renews the age. */
function maxAge(claims: Readonly<JwtClaims>, rules: TimeRules, now: number, window?: number): void {
  if (rules.maxTokenAge === undefined || window !== undefined) return;
  if (claims.iat === undefined) throw new ClaimInvalidError('iat', 'The token has no "iat" claim, which "maxTokenAge" needs');
  notTooOld(claims.iat, rules, now);
}

const STRING_CLAIMS = ['sub', 'jti', 'scope', 'cid', 'client_id', 'uid'];

function types(claims: Readonly<JwtClaims>): void {
  for (const name of STRING_CLAIMS) {
    if (claims[name] !== undefined && typeof claims[name] !== 'string') throw new ClaimInvalidError(name, `The token's "${name}" claim must be a string`);
  }
  if (claims.scp !== undefined && !(Array.isArray(claims.scp) && claims.scp.every((s) => typeof s === 'string')) && typeof claims.scp !== 'string') {
    throw new ClaimInvalidError('scp', 'The token\'s "scp" claim must be an array of strings');
  }
}

function required(claims: Readonly<JwtClaims>, rules: ClaimRules): void {
  for (const name of rules.requiredClaims) {
    if (ownClaim(claims, name) === undefined) throw new ClaimInvalidError(name, `The token has no "${name}" claim, which is required`);
  }
}

function client(claims: Readonly<JwtClaims>, rules: ClaimRules): void {
  if (rules.clientIds === undefined) return;
  const id = clientIdOf(claims);
  if (id === undefined || !rules.clientIds.has(id)) {
    throw new ClientNotAllowedError(id === undefined ? 'The token names no client ("cid" or "client_id")' : `The client "${printable(id)}" is not allowed`);
  }
}

/**
 * The time checks, once for every kind of token and for cache hits: `exp`, `nbf`, `iat` not in the
 * future (each with `clockTolerance`), `maxTokenAge`.
 */
export const TIME_CHECKS: readonly TimeCheck[] = [
  { id: 'expiry', run: expiry },
  { id: 'notBefore', run: notBefore },
  { id: 'issuedAt', run: issuedAt },
  { id: 'maxAge', run: maxAge },
];

/**
 * The claim checks besides `iss`, `aud` and `exp`: what a token accepted on introspection alone
 * must pass too, its claims built from the answer.
 */
export const OTHER_CLAIM_CHECKS: readonly ClaimCheck[] = [
  ...TIME_CHECKS.slice(1),
  { id: 'types', run: types },
  { id: 'required', run: required },
  { id: 'client', run: client },
];

/**
 * Every claim check of an access token, in order: `iss` exact, `aud` any-of, the time checks, the
 * types of `sub`, `jti`, `scp`, `scope`, `cid`, `client_id`, `uid`, `requiredClaims`, `clientIds`.
 *
 * Does NOT check the signature, scopes a route requires, or revocation.
 * @see https://www.rfc-editor.org/rfc/rfc9068#section-4
 */
export const CLAIM_CHECKS: readonly ClaimCheck[] = [{ id: 'issuer', run: issuer }, { id: 'audience', run: audience }, TIME_CHECKS[0], ...OTHER_CLAIM_CHECKS];

/** Runs claim checks in order, stopping at the first failure (an {@link AuthError}). */
export function checkClaims(claims: Readonly<JwtClaims>, rules: ClaimRules, now: number, window?: number, checks: readonly ClaimCheck[] = CLAIM_CHECKS): void {
  for (let i = 0; i < checks.length; i++) checks[i].run(claims, rules, now, window);
}
