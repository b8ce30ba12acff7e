import { MalformedRequestError } from '../errors';
import { printable } from '../util/claims';
import { decodeJwt, type DecodedJwt } from '../jose/compact';
import { createHttpClient, withDeadline } from '../issuer/http';
import { resolveOptions } from '../options';
import { isB64Token } from '../verify/bearer';
import { definePolicy } from '../verify/policy';
import { claimChecks, failure, guardCheck, headerChecks, keyChecks, pass, scopeCheck, sessionCheck, skip } from './checks';
import { FIXES, issuerFix } from './report';
import type { DoctorCheck, DoctorOptions, DoctorReport } from './types';

export { formatReport } from './report';
export type { DoctorCheck, DoctorCheckId, DoctorOptions, DoctorReport } from './types';

/**
 * Explains why a guard with these options accepts or rejects a token. Each check is the library's
 * own (`decodeJwt`, the header and claim check lists, the key set, `verifySignature`, `checkPolicy`),
 * each run on its own so that every problem is reported at once; the `guard` check is the verdict
 * of a real `createGuard().verifyToken()`.
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
  // Validates the whole configuration (a list too) the way createGuard does.
  resolveOptions({ ...guardOptions, cache: false, keySet: { cooldown: 0 } });
  const configured = typeof options.issuer === 'string' ? [options.issuer] : [...options.issuer];
  const named = issuerNamed(token, configured);
  const resolved = resolveOptions({ ...guardOptions, issuer: named ?? configured[0], cache: false, keySet: { cooldown: 0 } });
  const policy = scopes === undefined ? undefined : definePolicy({ scopes });
  if (sessionClaim !== undefined && (typeof sessionClaim !== 'string' || sessionClaim.length === 0)) {
    throw new TypeError('tokengate: the session claim must be a non-empty string');
  }
  const ownsHttp = options.http === undefined;
  const http = withDeadline(options.http ?? createHttpClient());
  const report: DoctorReport = { ok: false, issuer: resolved.issuer, audiences: [...resolved.token.audiences], checks: [] };
  if (configured.length > 1) report.issuers = configured;
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
      const [algorithm, header] = headerChecks(decoded.header, resolved.token);
      add(algorithm);
      add(header);
      for (const check of claimChecks(decoded.claims, resolved.token, now)) add(check.id === 'issuer' && named === undefined && configured.length > 1 ? unknownIssuerCheck(decoded.claims.iss, configured) : check);
      const keyable = algorithm.status === 'pass' && (decoded.header.kid === undefined || typeof decoded.header.kid === 'string');
      if (named === undefined && configured.length > 1) {
        for (const id of ['keys', 'kid', 'signature'] as const) add(skip(id, 'the token names none of the issuers: nothing is fetched for it'));
      } else {
        for (const check of await keyChecks(decoded, resolved, http, keyable)) add(check);
      }
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


/** The configured issuer the token's unverified `iss` names exactly, if any. */
function issuerNamed(token: string, configured: readonly string[]): string | undefined {
  try {
    const iss = decodeJwt(token).claims.iss;
    return configured.find((issuer) => issuer === iss);
  } catch {
    return undefined;
  }
}

/** The `issuer` row of a token whose `iss` names none of several issuers: what the guard answers. */
function unknownIssuerCheck(iss: unknown, configured: readonly string[]): DoctorCheck {
  const near = configured.find((issuer) => typeof iss === 'string' && issuer.replace(/\/$/, '') === iss.replace(/\/$/, ''));
  return {
    id: 'issuer',
    status: 'fail',
    code: 'ERR_ISSUER_UNKNOWN',
    message: `The token's issuer is not one this guard accepts (the token's iss is ${iss === undefined ? '(none)' : JSON.stringify(printable(String(iss)))}; --issuer is one of ${configured.map((issuer) => JSON.stringify(issuer)).join(', ')})`,
    fix: typeof iss !== 'string' || near !== undefined ? issuerFix(iss, near ?? configured[0]) : `Add ${JSON.stringify(printable(iss))} to the issuer list if this API trusts that issuer (trailing slash included), or get a token from one of ${configured.join(', ')}`,
  };
}
