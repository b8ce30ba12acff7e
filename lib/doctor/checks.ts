import { AuthError } from '../errors';
import { createGuard } from '../guard/create';
import { CLAIM_CHECKS, type ClaimRules } from '../jose/claims';
import type { DecodedJwt, JwtClaims, JwtHeader } from '../jose/compact';
import { ACCESS_TOKEN_HEADER_CHECKS, type HeaderRules } from '../jose/header';
import { verifySignature } from '../jose/signature';
import { Discovery } from '../issuer/discovery';
import type { HttpClient } from '../issuer/http';
import { KeySet, type VerificationKey } from '../issuer/key-set';
import { SESSION_ID_SHAPE, usableSessionId } from '../liveness/okta-sessions';
import type { ResolvedOptions } from '../options';
import { ownClaim, printable } from '../util/claims';
import { isOktaOrgIssuer, ORG_SERVER_MESSAGE } from '../util/urls';
import { checkPolicy, type definePolicy } from '../verify/policy';
import { buildResult } from '../verify/result';
import { algorithmFix, duration, expiryDetail, FIXES, fixFor, isoTime, issuerFix, skewDetail } from './report';
import type { DoctorCheck, DoctorCheckId, DoctorOptions } from './types';

/** Every header check, each on its own: the algorithm row, and the rest (crit, kid, typ). */
export function headerChecks(header: JwtHeader, options: HeaderRules): DoctorCheck[] {
  const found: Partial<Record<'algorithm' | 'header', AuthError[]>> = {};
  for (const check of ACCESS_TOKEN_HEADER_CHECKS) {
    try {
      check.run(header, options);
    } catch (error) {
      if (!(error instanceof AuthError)) throw error;
      (found[check.id === 'algorithm' ? 'algorithm' : 'header'] ??= []).push(error);
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

/** The report row of a claim failure. */
function rowOf(error: AuthError): ClaimRow {
  switch (error.code) {
    case 'ERR_ISSUER_INVALID':
    case 'ERR_ORG_AUTHORIZATION_SERVER':
      return 'issuer';
    case 'ERR_AUDIENCE_INVALID':
      return 'audience';
    case 'ERR_TOKEN_EXPIRED':
      return 'expiry';
    case 'ERR_TOKEN_NOT_YET_VALID':
      return 'clock';
    default:
      return (error as { claim?: string }).claim === 'exp' ? 'expiry' : 'claims';
  }
}

/**
 * Every claim check, each on its own, so that every problem is reported at once. The type and
 * required-claim checks, which fail on one claim at a time, run again without it, to find the next.
 */
export function claimChecks(claims: JwtClaims, options: ClaimRules, now: number): DoctorCheck[] {
  const found: Partial<Record<ClaimRow, AuthError[]>> = {};
  for (const check of CLAIM_CHECKS) {
    const probe: Record<string, unknown> = { ...claims };
    for (let round = 0; round < 16; round++) {
      try {
        check.run(probe as JwtClaims, options, now, undefined);
        break;
      } catch (error) {
        if (!(error instanceof AuthError)) throw error;
        const list = (found[rowOf(error)] ??= []);
        if (!list.some((known) => known.message === error.message)) list.push(error);
        // Only the checks that look at claim after claim can have more to say without this one.
        const claim = (error as { claim?: string }).claim;
        if ((check.id !== 'types' && check.id !== 'required') || claim === undefined || !(claim in probe)) break;
        delete probe[claim];
      }
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
export async function keyChecks(decoded: DecodedJwt, options: ResolvedOptions, http: HttpClient, keyable: boolean): Promise<DoctorCheck[]> {
  const { limits, jwksUri } = options.keySet;
  const discovery = new Discovery(options.issuer, http, { timeout: limits.timeout, maxBytes: limits.maxBytes });
  const keys = new KeySet({ jwksUri, algorithms: options.token.algorithms, limits, clock: options.clock, onEvent: undefined }, http, discovery, () => undefined);
  try {
    await keys.ready();
  } catch (error) {
    return [failure('keys', error, FIXES.ERR_KEYS_UNAVAILABLE), skip('kid', 'no key set'), skip('signature', 'no key set')];
  }
  const uri = jwksUri ?? (await discovery.get()).jwks_uri;
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
      checks.push({ id: 'kid', status: 'fail', code: 'ERR_ORG_AUTHORIZATION_SERVER', message: ORG_SERVER_MESSAGE, fix: FIXES.ERR_ORG_AUTHORIZATION_SERVER });
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

/** The route's scopes, as its policy checks them. */
export function scopeCheck(token: string, decoded: DecodedJwt, policy: NonNullable<ReturnType<typeof definePolicy>>): DoctorCheck {
  const result = buildResult(token, structuredClone(decoded.header), structuredClone(decoded.claims), String(decoded.claims.iss));
  const granted = result.scopes.length === 0 ? 'none' : result.scopes.join(', ');
  try {
    checkPolicy(result, policy);
    return pass('scopes', `${policy.scopes!.join(', ')} granted`);
  } catch (error) {
    return failure('scopes', error, `Request ${policy.scopes!.join(' ')} in the token request's "scope", and let the authorization server's access policy grant them to this client`, `granted: ${granted}`);
  }
}

/** The rule strict session checking applies before it asks Okta: a plain Okta session id ({@link SESSION_ID_SHAPE}). */
export function sessionCheck(claims: JwtClaims, claim: string): DoctorCheck {
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
export async function guardCheck(token: string, options: Omit<DoctorOptions, 'scopes' | 'sessionClaim'>, http: HttpClient, policy: ReturnType<typeof definePolicy>): Promise<DoctorCheck> {
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

/** A passing row. */
export function pass(id: DoctorCheckId, message: string): DoctorCheck {
  return { id, status: 'pass', message };
}

/** A row an earlier failure left nothing to check for. */
export function skip(id: DoctorCheckId, message: string): DoctorCheck {
  return { id, status: 'skip', message };
}

/** A failing row: the errors' messages, the first one's code, and a fix. */
export function failed(id: DoctorCheckId, errors: AuthError[], fix?: string, detail?: string): DoctorCheck {
  const code = errors[0].code;
  const message = errors.map((error) => error.message).join('; ') + (detail === undefined ? '' : ` (${detail})`);
  return { id, status: 'fail', code, message, fix: fix ?? fixFor(code) };
}

/** A failing row for one error; anything but an AuthError is rethrown. */
export function failure(id: DoctorCheckId, error: unknown, fix?: string, detail?: string): DoctorCheck {
  if (error instanceof AuthError) return failed(id, [error], fix, detail);
  throw error;
}

