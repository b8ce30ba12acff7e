import { isB64Token } from './bearer';
import { Discovery } from './discovery';
import { AuthError, MalformedRequestError, type AuthErrorCode } from './errors';
import { createGuard } from './guard';
import { createHttpClient, withDeadline, type HttpClient } from './http';
import { KeySet, type VerificationKey } from './jwks';
import { checkClaims, checkHeader, decodeJwt, isOktaOrgIssuer, orgServerMessage, ownClaim, printable, verifySignature, type DecodedJwt, type JwtClaims, type JwtHeader } from './jwt';
import { resolveOptions, type Algorithm, type ResolvedOptions } from './options';
import { checkPolicy, definePolicy } from './policy';
import { SESSION_ID_SHAPE, usableSessionId } from './okta-sessions';
import { buildResult } from './result';

/** What {@link diagnose} checks a token against: the options of the guard that rejects it. */
export interface DoctorOptions {
  /** The guard's `issuer`. Required. */
  issuer: string;
  /** The guard's `audience`. Required. */
  audience: string | readonly string[];
  /** The guard's `jwksUri`. Default: from discovery. */
  jwksUri?: string;
  /** The guard's `algorithms`. Default `['RS256']`. */
  algorithms?: readonly Algorithm[];
  /** The guard's `clockTolerance`, in seconds. Default 30. */
  clockTolerance?: number;
  /** Scopes a route requires (its policy's `scopes`). Default: none checked. */
  scopes?: readonly string[];
  /** The claim strict session checking reads (`sessions.claim`). Default: not checked. */
  sessionClaim?: string;
  /** HTTP client for discovery and the JWKS. Default: {@link createHttpClient}, closed afterwards. */
  http?: HttpClient;
  /** Clock, milliseconds since the epoch. Default `Date.now`. */
  clock?: () => number;
}

/** One line of the report, in the order the guard checks. */
export type DoctorCheckId =
  | 'format' | 'algorithm' | 'header' | 'issuer' | 'audience' | 'expiry' | 'clock' | 'claims'
  | 'keys' | 'kid' | 'signature' | 'scopes' | 'session' | 'guard';

/** The outcome of one check. `skip` means an earlier failure left nothing to check. */
export interface DoctorCheck {
  id: DoctorCheckId;
  status: 'pass' | 'fail' | 'skip';
  /** What was found; for a failure, the guard's own message plus what the token and the options hold. */
  message: string;
  /** The error code the guard answers with, for a failure. */
  code?: AuthErrorCode;
  /** What to do about a failure. */
  fix?: string;
}

/** What {@link diagnose} found. Holds the token's header and claims, never the token or its signature. */
export interface DoctorReport {
  /** True when every check passed and the guard accepts the token. */
  ok: boolean;
  issuer: string;
  audiences: string[];
  /** The decoded protected header, when the token is a JWT. */
  header?: JwtHeader;
  /** The decoded claims, when the token is a JWT. */
  claims?: JwtClaims;
  checks: DoctorCheck[];
}

/**
 * Explains why a guard with these options accepts or rejects a token. Each check is the library's
 * own (`decodeJwt`, `checkHeader`, `checkClaims`, the key set, `verifySignature`, `checkPolicy`);
 * after a failure the offending value is set aside so that the following checks still report, and
 * the `guard` check is the verdict of a real {@link createGuard}`().verifyToken()`.
 *
 * Rejects with a `TypeError` for invalid options, as `createGuard` does. Discovery and the JWKS are
 * fetched; a token whose `kid` is unknown causes one refetch.
 *
 * Does NOT call introspection or the Okta Sessions API: revocation and session liveness are not
 * diagnosed, only whether the token carries the session claim.
 *
 * @example
 * const report = await diagnose(token, { issuer: 'https://example.okta.com/oauth2/default', audience: 'api://default' });
 * for (const check of report.checks) if (check.status === 'fail') console.log(check.message, check.fix);
 */
export async function diagnose(token: string, options: DoctorOptions): Promise<DoctorReport> {
  const { scopes, sessionClaim, ...guardOptions } = options;
  const resolved = resolveOptions({ ...guardOptions, cache: false, keySet: { cooldown: 0 } });
  const policy = scopes === undefined ? undefined : definePolicy({ scopes });
  if (sessionClaim !== undefined && (typeof sessionClaim !== 'string' || sessionClaim.length === 0)) {
    throw new TypeError('tokengate: the session claim must be a non-empty string');
  }
  const ownsHttp = options.http === undefined;
  const http = withDeadline(options.http ?? createHttpClient());
  const report: DoctorReport = { ok: false, issuer: resolved.issuer, audiences: [...resolved.audiences], checks: [] };
  const add = (check: DoctorCheck) => report.checks.push(check);
  try {
    let decoded: DecodedJwt | undefined;
    try {
      if (!isB64Token(token)) throw new MalformedRequestError('The token contains characters outside the RFC 6750 b64token set');
      decoded = decodeJwt(token);
      add(pass('format', 'a compact JWS whose header and payload are JSON objects'));
    } catch (error) {
      add(failure('format', error, FIXES.ERR_TOKEN_MALFORMED));
    }
    if (decoded !== undefined) {
      report.header = decoded.header;
      report.claims = decoded.claims;
      const now = Math.floor(resolved.clock() / 1000);
      const [algorithm, header] = headerChecks(decoded.header, resolved);
      add(algorithm);
      add(header);
      for (const check of claimChecks(decoded.claims, resolved, now)) add(check);
      const keyable = algorithm.status === 'pass' && (decoded.header.kid === undefined || typeof decoded.header.kid === 'string');
      for (const check of await keyChecks(decoded, resolved, http, keyable)) add(check);
      if (policy !== undefined) add(scopeCheck(token, decoded, policy));
      if (sessionClaim !== undefined) add(sessionCheck(decoded.claims, sessionClaim));
    } else {
      for (const id of ['algorithm', 'header', 'issuer', 'audience', 'expiry', 'clock', 'claims', 'keys', 'kid', 'signature'] as const) {
        add(skip(id, 'the token could not be decoded'));
      }
    }
    add(await guardCheck(token, guardOptions, http, policy));
  } finally {
    if (ownsHttp) await http.close?.();
  }
  report.ok = report.checks.every((check) => check.status === 'pass');
  return report;
}

/** `checkHeader`, re-run after setting each failing parameter aside. */
function headerChecks(header: JwtHeader, options: ResolvedOptions): DoctorCheck[] {
  const probe: Record<string, unknown> = { ...header };
  const found: Partial<Record<'algorithm' | 'header', AuthError[]>> = {};
  for (let round = 0; round < 8; round++) {
    try {
      checkHeader(probe as JwtHeader, options);
      break;
    } catch (error) {
      if (!(error instanceof AuthError)) throw error;
      const row = error.code === 'ERR_ALG_NOT_ALLOWED' ? 'algorithm' : 'header';
      (found[row] ??= []).push(error);
      if (error.code === 'ERR_ALG_NOT_ALLOWED') probe.alg = [...options.algorithms][0];
      else if (error.code === 'ERR_CRIT_UNSUPPORTED') delete probe.crit;
      else if (error.code === 'ERR_TOKEN_TYPE_INVALID') delete probe.typ;
      else delete probe.kid;
    }
  }
  const alg = typeof header.alg === 'string' ? printable(header.alg) : String(header.alg);
  return [
    found.algorithm === undefined
      ? pass('algorithm', `alg ${alg} is allowed`)
      : failed('algorithm', found.algorithm, algorithmFix(header.alg)),
    found.header === undefined
      ? pass('header', `typ ${header.typ === undefined ? '(none)' : JSON.stringify(header.typ)}, no crit, kid ${header.kid === undefined ? '(none)' : JSON.stringify(header.kid)}`)
      : failed('header', found.header),
  ];
}

type ClaimRow = 'issuer' | 'audience' | 'expiry' | 'clock' | 'claims';

/** `checkClaims`, re-run after setting each failing claim aside, so that every problem is reported at once. */
function claimChecks(claims: JwtClaims, options: ResolvedOptions, now: number): DoctorCheck[] {
  const probe: Record<string, unknown> = { ...claims };
  const found: Partial<Record<ClaimRow, AuthError[]>> = {};
  let unknownProblem = false;
  for (let round = 0; round < 16 && !unknownProblem; round++) {
    try {
      checkClaims(probe as JwtClaims, options, now);
      break;
    } catch (error) {
      if (!(error instanceof AuthError)) throw error;
      const claim = (error as { claim?: string }).claim;
      let row: ClaimRow;
      switch (error.code) {
        case 'ERR_ISSUER_INVALID':
        case 'ERR_ORG_AUTHORIZATION_SERVER':
          row = 'issuer';
          probe.iss = options.issuer;
          break;
        case 'ERR_AUDIENCE_INVALID':
          row = 'audience';
          probe.aud = [...options.audiences][0];
          break;
        case 'ERR_TOKEN_EXPIRED':
          row = 'expiry';
          probe.exp = now + 3600;
          break;
        case 'ERR_TOKEN_NOT_YET_VALID':
          row = 'clock';
          if (probe.nbf !== undefined) delete probe.nbf;
          else delete probe.iat;
          break;
        default:
          row = claim === 'exp' ? 'expiry' : 'claims';
          if (claim === 'exp') probe.exp = now + 3600;
          else if (claim !== undefined) delete probe[claim];
          else unknownProblem = true;
      }
      const list = (found[row] ??= []);
      if (!list.some((known) => known.message === error.message)) list.push(error);
    }
  }
  const audiences = [...options.audiences].map((a) => JSON.stringify(a)).join(', ');
  const given = (name: string) => (claims[name] === undefined ? '(none)' : JSON.stringify(claims[name]));
  return [
    found.issuer === undefined
      ? pass('issuer', `iss is ${given('iss')}`)
      : failed('issuer', found.issuer, found.issuer[0].code === 'ERR_ISSUER_INVALID' ? issuerFix(claims.iss, options.issuer) : undefined, `the token's iss is ${given('iss')}; --issuer is ${JSON.stringify(options.issuer)}`),
    found.audience === undefined
      ? pass('audience', `aud ${given('aud')} names ${audiences.includes(',') ? 'one of ' : ''}${audiences}`)
      : failed('audience', found.audience, FIXES.ERR_AUDIENCE_INVALID, `the token's aud is ${given('aud')}; --audience is ${audiences}`),
    found.expiry === undefined
      ? pass('expiry', `expires in ${duration(claims.exp - now)} (${isoTime(claims.exp)})`)
      : failed('expiry', found.expiry, FIXES.ERR_TOKEN_EXPIRED, expiryDetail(claims.exp, now)),
    found.clock === undefined
      ? pass('clock', 'iat and nbf are not in the future')
      : failed('clock', found.clock, FIXES.ERR_TOKEN_NOT_YET_VALID, skewDetail(now)),
    found.claims === undefined ? pass('claims', 'sub, jti, scp, scope, cid, client_id and uid have the right types') : failed('claims', found.claims),
  ];
}

/** The key set (discovery, JWKS), the key for the token's `kid` after one refetch, and the signature. */
async function keyChecks(decoded: DecodedJwt, options: ResolvedOptions, http: HttpClient, keyable: boolean): Promise<DoctorCheck[]> {
  const discovery = new Discovery(options.issuer, http, options.keySet);
  const keys = new KeySet(options, http, discovery, () => undefined);
  try {
    await keys.ready();
  } catch (error) {
    return [failure('keys', error, FIXES.ERR_KEYS_UNAVAILABLE), skip('kid', 'no key set'), skip('signature', 'no key set')];
  }
  const uri = options.jwksUri ?? (await discovery.get()).jwks_uri;
  const held = () => keys.stats().kids.map((kid) => JSON.stringify(kid)).join(', ');
  const checks = [pass('keys', `${keys.stats().kids.length} usable key(s) at ${uri}: ${held()}`)];
  if (!keyable) {
    return [...checks, skip('kid', 'no key may be looked up for this alg or kid'), skip('signature', 'no key to verify with')];
  }
  let key: VerificationKey;
  try {
    key = await keys.keyFor(decoded.header);
  } catch (error) {
    if (error instanceof AuthError && error.code === 'ERR_KEY_UNKNOWN' && isOktaOrgIssuer(options.issuer, options.issuer)) {
      checks.push({ id: 'kid', status: 'fail', code: 'ERR_ORG_AUTHORIZATION_SERVER', message: orgServerMessage(), fix: FIXES.ERR_ORG_AUTHORIZATION_SERVER });
    } else {
      checks.push(failure('kid', error, error instanceof AuthError ? fixFor(error.code) : undefined, `after a refetch the key set holds ${held()}`));
    }
    return [...checks, skip('signature', 'no key to verify with')];
  }
  checks.push(pass('kid', `${decoded.header.kid === undefined ? 'no kid; the single key' : `kid ${JSON.stringify(decoded.header.kid)}`} for ${decoded.header.alg} is in the key set`));
  checks.push(
    verifySignature(decoded.header.alg, key.key, decoded.signingInput, decoded.signature)
      ? pass('signature', `verifies with that key (${decoded.header.alg})`)
      : { id: 'signature', status: 'fail', code: 'ERR_SIGNATURE_INVALID', message: 'The token signature is invalid', fix: FIXES.ERR_SIGNATURE_INVALID },
  );
  return checks;
}

function scopeCheck(token: string, decoded: DecodedJwt, policy: NonNullable<ReturnType<typeof definePolicy>>): DoctorCheck {
  const result = buildResult(token, structuredClone(decoded.header), structuredClone(decoded.claims));
  const granted = result.scopes.length === 0 ? 'none' : result.scopes.join(', ');
  try {
    checkPolicy(result, policy);
    return pass('scopes', `${policy.scopes!.join(', ')} granted`);
  } catch (error) {
    return failure('scopes', error, `Request ${policy.scopes!.join(' ')} in the token request's "scope", and let the authorization server's access policy grant them to this client`, `granted: ${granted}`);
  }
}

/** The rule strict session checking applies before it asks Okta: a plain Okta session id ({@link SESSION_ID_SHAPE}). */
function sessionCheck(claims: JwtClaims, claim: string): DoctorCheck {
  const value = ownClaim(claims, claim);
  if (usableSessionId(value)) return pass('session', `the session claim "${claim}" is present`);
  return {
    id: 'session',
    status: 'fail',
    code: 'ERR_SESSION_CLAIM_MISSING',
    message: `The token carries no usable "${claim}" claim (${SESSION_ID_SHAPE}), which strict session checking needs to find its Okta session`,
    fix: FIXES.ERR_SESSION_CLAIM_MISSING.replace('{claim}', claim),
  };
}

/** The verdict of a real guard with the same options: what the API answers. */
async function guardCheck(token: string, options: Omit<DoctorOptions, 'scopes' | 'sessionClaim'>, http: HttpClient, policy: ReturnType<typeof definePolicy>): Promise<DoctorCheck> {
  const guard = createGuard({ ...options, http, cache: false });
  try {
    const result = await guard.verifyToken(token, policy);
    return pass('guard', `createGuard().verifyToken() accepts the token (subject ${JSON.stringify(result.subject ?? null)})`);
  } catch (error) {
    if (!(error instanceof AuthError)) throw error;
    return { id: 'guard', status: 'fail', code: error.code, message: `the guard answers ${error.status}: ${error.message}` };
  } finally {
    await guard.close();
  }
}

function pass(id: DoctorCheckId, message: string): DoctorCheck {
  return { id, status: 'pass', message };
}

function skip(id: DoctorCheckId, message: string): DoctorCheck {
  return { id, status: 'skip', message };
}

function failed(id: DoctorCheckId, errors: AuthError[], fix?: string, detail?: string): DoctorCheck {
  const code = errors[0].code;
  const message = errors.map((error) => error.message).join('; ') + (detail === undefined ? '' : ` (${detail})`);
  return { id, status: 'fail', code, message, fix: fix ?? fixFor(code) };
}

function failure(id: DoctorCheckId, error: unknown, fix?: string, detail?: string): DoctorCheck {
  if (error instanceof AuthError) return failed(id, [error], fix, detail);
  throw error;
}

function algorithmFix(alg: unknown): string {
  if (typeof alg !== 'string' || alg.toLowerCase() === 'none' || /^HS/i.test(alg)) {
    return 'Unsigned and shared-secret (HMAC) tokens are never accepted: the issuer must sign access tokens with an asymmetric key (Okta signs with RS256)';
  }
  return `If your issuer signs with ${printable(alg)}, allow it: algorithms: ['${printable(alg)}'] (--algorithms ${printable(alg)}). Allow only what the issuer really uses`;
}

function issuerFix(iss: unknown, expected: string): string {
  return typeof iss === 'string'
    ? `Set the issuer option to exactly ${JSON.stringify(printable(iss))} if that is the issuer this API trusts (trailing slash included), or get a token from ${expected}`
    : 'The token has no issuer: it is not an access token from an OpenID Provider';
}

const FIXES = {
  ERR_TOKEN_MALFORMED:
    'Pass the access token itself: three base64url parts separated by dots, without "Bearer ". An opaque token (such as one from the Okta org authorization server) can be validated only by introspection (introspection.opaque: true)',
  ERR_TOKEN_TYPE_INVALID: 'Send the access token, not an ID token or another kind of JWT; if the guard requires "typ", the issuer must set it',
  ERR_CRIT_UNSUPPORTED: 'tokengate implements no critical header extensions: issue access tokens without "crit"',
  ERR_ORG_AUTHORIZATION_SERVER:
    'Get the token from a custom authorization server (https://{org}/oauth2/default or /oauth2/{id}) and use that as the issuer, or validate org tokens by introspection (introspection.opaque: true)',
  ERR_AUDIENCE_INVALID:
    "Request the token for this API's audience (in Okta: the custom authorization server's Audience setting; elsewhere the resource indicator), or add the token's audience to the audience option if this API should accept it",
  ERR_TOKEN_EXPIRED: 'Get a new token (refresh it before exp). If it expired only just now, check that this machine\'s clock is synchronised (NTP)',
  ERR_TOKEN_NOT_YET_VALID:
    "The issuer's clock is ahead of this machine's, or this one is behind: synchronise both with NTP. clockTolerance (default 30 s, at most 300) absorbs small skew",
  ERR_CLAIM_INVALID: 'The issuer produced a claim of the wrong type or left out exp: fix the claim in the authorization server (for Okta, in its claims or token inline hook)',
  ERR_KEYS_UNAVAILABLE:
    'Check --issuer (its /.well-known/openid-configuration must name exactly the same issuer) or give --jwks-uri, and that this machine can reach the issuer',
  ERR_KEY_UNKNOWN:
    'The token was signed with a key the issuer does not publish: it comes from another issuer or environment, or its key was rotated out. Get a fresh token from this issuer',
  ERR_SIGNATURE_INVALID:
    'The token was altered, or signed by a different key under the same kid (another environment?). Get a fresh token from the issuer; never edit tokens by hand',
  ERR_SESSION_CLAIM_MISSING:
    'Add the claim with an Okta Token Inline Hook: answer com.okta.access.patch with { "op": "add", "path": "/claims/{claim}", "value": data.context.session.id }, or set sessions.claim to the claim your tokens carry',
} satisfies Partial<Record<AuthErrorCode, string>>;

/** The fix for an error code, when there is one to give. */
function fixFor(code: AuthErrorCode): string | undefined {
  return (FIXES as Partial<Record<AuthErrorCode, string>>)[code];
}

function expiryDetail(exp: unknown, now: number): string | undefined {
  return typeof exp === 'number' && Number.isFinite(exp) ? `exp ${isoTime(exp)}, ${duration(now - exp)} ago` : undefined;
}

function skewDetail(now: number): string {
  return `this machine's clock reads ${isoTime(now)}`;
}

function isoTime(seconds: number): string {
  const date = new Date(seconds * 1000);
  return Number.isNaN(date.getTime()) ? String(seconds) : date.toISOString();
}

/** A duration in seconds as `1 d 2 h`, `3 h 5 min`, `4 min 10 s` or `12 s`. */
function duration(seconds: number): string {
  let rest = Math.max(0, Math.round(seconds));
  const units: Array<[string, number]> = [['d', 86_400], ['h', 3600], ['min', 60], ['s', 1]];
  const parts: string[] = [];
  for (const [unit, size] of units) {
    if (rest >= size || (unit === 's' && parts.length === 0)) {
      parts.push(`${Math.floor(rest / size)} ${unit}`);
      rest %= size;
    }
    if (parts.length === 2) break;
  }
  return parts.join(' ');
}

/**
 * Renders a report for a terminal: the decoded header and claims (never the signature), one line
 * per check with `PASS`, `FAIL` or `SKIP`, the fix under each failure, and a closing verdict.
 */
export function formatReport(report: DoctorReport): string {
  const lines = [`tokengate doctor: issuer ${report.issuer}, audience ${report.audiences.join(', ')}`];
  if (report.header !== undefined) lines.push(`header  ${JSON.stringify(report.header)}`);
  if (report.claims !== undefined) lines.push(`claims  ${JSON.stringify(report.claims, null, 2).replace(/\n/g, '\n        ')}`);
  lines.push('');
  const width = Math.max(...report.checks.map((check) => check.id.length));
  for (const check of report.checks) {
    lines.push(`${check.status.toUpperCase()}  ${check.id.padEnd(width)}  ${check.code === undefined ? '' : `${check.code}: `}${check.message}`);
    if (check.fix !== undefined) lines.push(`${' '.repeat(width + 8)}fix: ${check.fix}`);
  }
  const failedChecks = report.checks.filter((check) => check.status === 'fail');
  lines.push('');
  lines.push(
    report.ok
      ? `All ${report.checks.length} checks pass: tokengate accepts this token.`
      : `${failedChecks.length} of ${report.checks.length} checks fail: tokengate rejects this token.`,
  );
  return `${lines.join('\n')}\n`;
}
