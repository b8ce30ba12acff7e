import type { AuthErrorCode } from '../errors';
import { printable } from '../util/claims';
import type { DoctorReport } from './types';

/** The fix for an algorithm outside the allow-list. */
export function algorithmFix(alg: unknown): string {
  if (typeof alg !== 'string' || alg.toLowerCase() === 'none' || /^HS/i.test(alg)) {
    return 'Unsigned and shared-secret (HMAC) tokens are never accepted: the issuer must sign access tokens with an asymmetric key (Okta signs with RS256)';
  }
  return `If your issuer signs with ${printable(alg)}, allow it: algorithms: ['${printable(alg)}'] (--algorithms ${printable(alg)}). Allow only what the issuer really uses`;
}

/** The fix for an issuer mismatch. */
export function issuerFix(iss: unknown, expected: string): string {
  if (typeof iss === 'string' && iss.replace(/\/$/, '') === expected.replace(/\/$/, '')) {
    return `The token's issuer differs from --issuer only by a trailing slash: set the issuer option to exactly ${JSON.stringify(printable(iss))}`;
  }
  return typeof iss === 'string'
    ? `Set the issuer option to exactly ${JSON.stringify(printable(iss))} if that is the issuer this API trusts (trailing slash included), or get a token from ${expected}`
    : 'The token has no issuer: it is not an access token from an OpenID Provider';
}

/** What to do about each failure, by code. */
export const FIXES = {
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
export function fixFor(code: AuthErrorCode): string | undefined {
  return (FIXES as Partial<Record<AuthErrorCode, string>>)[code];
}

/** When an expired token expired. */
export function expiryDetail(exp: unknown, now: number): string | undefined {
  return typeof exp === 'number' && Number.isFinite(exp) ? `exp ${isoTime(exp)}, ${duration(now - exp)} ago` : undefined;
}

/** What this machine's clock says. */
export function skewDetail(now: number): string {
  return `this machine's clock reads ${isoTime(now)}`;
}

/** Seconds since the epoch as an ISO time. */
export function isoTime(seconds: number): string {
  const date = new Date(seconds * 1000);
  return Number.isNaN(date.getTime()) ? String(seconds) : date.toISOString();
}

/** A duration in seconds as `1 d 2 h`, `3 h 5 min`, `4 min 10 s` or `12 s`. */
export function duration(seconds: number): string {
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
