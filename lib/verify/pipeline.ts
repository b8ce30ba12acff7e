import { MalformedTokenError, OrgAuthorizationServerError, RefreshFailedError, TokenExpiredError, TokenTooOldError } from '../errors';
import { checkClaims, OTHER_CLAIM_CHECKS, type ClaimRules } from '../jose/claims';
import type { JwtClaims, JwtHeader } from '../jose/compact';
import type { IssuedTokens, Refresher } from '../issuer/refresh';
import { Liveness } from '../liveness/liveness';
import type { SharedDenylist } from '../revocation/shared';
import { clientIdOf } from '../util/claims';
import type { RequestLike } from '../util/request';
import type { AnomalyDetector } from './anomaly';
import { extractBearer } from './bearer';
import { checkBearerUse, usesDpopScheme, type DpopMode, type DpopVerifier } from './dpop';
import { checkPolicy, definePolicy, mergePolicies, type Policy } from './policy';
import { buildResult, type AuthResult } from './result';
import type { Verifier } from './verifier';

/** Tokens from a refresh, the new access token already verified. */
export type TokenSet = IssuedTokens<AuthResult>;

/** Hooks for silent refresh with bearer tokens (the backend-session mode needs none). */
export interface RefreshHooks {
  /**
   * The refresh token to use when the access token has expired; `undefined` for none. Asked only
   * once the expired token is verified; `expired` holds its claims: look the refresh token up by
   * `expired.sub`, never by something the client sends.
   */
  getRefreshToken?: (expired: Readonly<JwtClaims>) => string | undefined | Promise<string | undefined>;
}

/** What {@link Guard.handle} resolves to. */
export interface Handled {
  auth: AuthResult;
  /** Set when the access token was refreshed: hand them to your storage (`onTokens`). */
  tokens?: TokenSet;
  /** Set when the request came with a backend-session cookie. */
  sessionId?: string;
}

/** What the request path is made of; a collaborator is undefined when its option is not given. */
export interface PipelineParts {
  verifier: Verifier;
  liveness: Liveness | undefined;
  refresher: Refresher<AuthResult> | undefined;
  denylist: SharedDenylist;
  /** The claim rules a token accepted on introspection alone must pass too. */
  rules: ClaimRules;
  maxTokenLength: number;
  /** `refreshWindow`, seconds. */
  refreshWindow: number;
  /** The guard-wide `policy`. */
  policy: Policy | undefined;
  /** DPoP proofs (RFC 9449). */
  dpop: DpopVerifier;
  clock: () => number;
  /** The token-replay detector; undefined without the `anomaly` option. */
  anomaly?: AnomalyDetector;
}

/** The access token of a request, and whether it came with the `DPoP` scheme. */
export interface Credential {
  token: string;
  dpop: boolean;
}

/** Whether a refresh may cure this failure: the token expired, or outlived `maxTokenAge` (an age-based expiry). */
export function refreshable(error: unknown): error is TokenExpiredError | TokenTooOldError {
  return error instanceof TokenExpiredError || error instanceof TokenTooOldError;
}

/** Whether a token failed only because it cannot be verified locally (not a JWT, or from an org authorization server). */
function notLocal(error: unknown): boolean {
  return error instanceof MalformedTokenError || error instanceof OrgAuthorizationServerError;
}

/**
 * One path per request: the access token (bearer or DPoP), the verifier (or introspection alone
 * for opaque tokens), how the token was sent (DPoP proof, or none for a token bound to no key), the
 * route's policy, then its liveness checks. {@link Pipeline.handleSync} is the same path for
 * what needs no waiting.
 */
export class Pipeline {
  private readonly compiled = new WeakMap<Policy, Policy>();
  private readonly defaultPolicy: Policy | undefined;
  /** Whether a token refused before its key may still be accepted on introspection alone. */
  private readonly opaque = (error: unknown): boolean => notLocal(error) && this.parts.liveness?.introspector?.opaque === true;

  constructor(private readonly parts: PipelineParts) {
    this.defaultPolicy = parts.policy === undefined ? undefined : this.compile(undefined);
  }

  /** A route's policy overlaid on the guard-wide one, validated and checked against what the guard can do. */
  compile(policy: Policy | undefined): Policy | undefined {
    if (policy === undefined && this.defaultPolicy !== undefined) return this.defaultPolicy;
    if (policy !== undefined) {
      const known = this.compiled.get(policy);
      if (known !== undefined) return known;
    }
    const merged = mergePolicies(this.parts.policy, definePolicy(policy));
    Liveness.require(this.parts.liveness, merged);
    if (merged?.onAnomaly === 'refuse' && this.parts.anomaly === undefined) throw new TypeError('tokengate: a policy asks for onAnomaly "refuse" but the guard has no "anomaly" option');
    if (policy !== undefined && merged !== undefined) this.compiled.set(policy, merged);
    return merged;
  }

  /** The bearer token of a request (RFC 6750), checked for size. */
  bearer(request: RequestLike): string {
    return extractBearer(request, this.parts.maxTokenLength);
  }

  /** How a route treats DPoP: its policy's `dpop`, `'allowed'` by default. */
  dpopMode(policy: Policy | undefined): DpopMode {
    return this.compile(policy)?.dpop ?? 'allowed';
  }

  /** The DPoP mode to build a challenge for: `'off'` for a policy that does not even compile, which has none to offer. */
  challengeMode(policy: Policy | undefined): DpopMode {
    try {
      return this.dpopMode(policy);
    } catch {
      return 'off';
    }
  }

  /** The access token of a request: `Authorization: DPoP` where the route allows DPoP, else the bearer token. */
  credential(request: RequestLike, policy: Policy | undefined): Credential {
    if (usesDpopScheme(request) && this.dpopMode(policy) !== 'off') return { token: this.parts.dpop.token(request, this.parts.maxTokenLength), dpop: true };
    return { token: this.bearer(request), dpop: false };
  }

  /**
   * Verifies a token, checks how it was sent (a DPoP proof for the `DPoP` scheme; no binding, and a
   * route that does not require DPoP, for a bearer token), then applies the route's policy and
   * liveness checks. Without a `request`, the token counts as sent as a bearer token.
   */
  async run(token: string, policy: Policy | undefined, request?: RequestLike, dpop = false): Promise<AuthResult> {
    const rules = this.compile(policy);
    const result = await this.authenticate(token);
    if (dpop) await this.parts.dpop.check(request!, result);
    else checkBearerUse(result, rules?.dpop ?? 'allowed');
    if (request !== undefined && this.parts.anomaly !== undefined) this.parts.anomaly.observe(request, result, rules?.onAnomaly === 'refuse');
    if (rules !== undefined) {
      checkPolicy(result, rules);
      if (Liveness.wanted(rules)) await this.parts.liveness!.check(result, rules);
    }
    return result;
  }

  /**
   * A bearer request without waiting: the result, a thrown AuthError, or `undefined` when something
   * must be waited for (a key, an introspection, a session answer not cached).
   */
  handleSync(request: RequestLike, policy: Policy | undefined): AuthResult | undefined {
    const rules = this.compile(policy);
    // Introspection, and DPoP proofs (the replay check may ask the shared store), are decided by run().
    if (rules?.introspect || (usesDpopScheme(request) && rules?.dpop !== 'off')) return undefined;
    const token = this.bearer(request);
    // A strict route is decided here only for a token already verified: a new one goes to run(),
    // which verifies it once while it asks Okta.
    const auth = this.parts.verifier.verifySync(token, rules?.session === 'strict', this.opaque);
    if (auth === undefined) return auth;
    checkBearerUse(auth, rules?.dpop ?? 'allowed');
    if (this.parts.anomaly !== undefined) this.parts.anomaly.observe(request, auth, rules?.onAnomaly === 'refuse');
    if (rules === undefined) return auth;
    checkPolicy(auth, rules);
    return !Liveness.wanted(rules) || this.parts.liveness!.checkSync(auth, rules) ? auth : undefined;
  }

  /**
   * What follows a bearer token's failure `error` in {@link Pipeline.run}: a refresh with `hooks`
   * when its only fault is expiry, or `error` rethrown.
   */
  async recover(token: string, policy: Policy | undefined, hooks: RefreshHooks | undefined, error: unknown): Promise<Handled> {
    if (!refreshable(error) || hooks?.getRefreshToken === undefined) throw error;
    // Only a genuine token whose only fault is expiry is refreshed, and before the hook is asked.
    const expired = await this.parts.verifier.verifyExpired(token, this.parts.refreshWindow);
    const refreshToken = await hooks.getRefreshToken(expired);
    if (refreshToken === undefined) throw error;
    const tokens = await this.refreshFor(expired, refreshToken);
    return { auth: await this.run(tokens.accessToken, policy), tokens };
  }

  /** Refreshes for an expired, verified token; the new access token must name the same user and client. */
  async refreshFor(expired: JwtClaims, refreshToken: string): Promise<TokenSet> {
    const tokens = await this.refresh(refreshToken);
    const fresh = tokens.auth.claims;
    if (fresh.sub !== expired.sub || clientIdOf(fresh) !== clientIdOf(expired)) {
      throw new RefreshFailedError('The refresh token belongs to another user or client than the expired access token; sign in again');
    }
    return tokens;
  }

  /** Exchanges a refresh token; needs the `client` option. */
  refresh(refreshToken: string): Promise<TokenSet> {
    const refresher = this.parts.refresher;
    if (refresher === undefined) return Promise.reject(new TypeError('tokengate: refreshing needs the "client" option'));
    return refresher.refresh(refreshToken);
  }

  /** A verified JWT; or, in introspection-only mode, a token the issuer says is active. */
  private async authenticate(token: string): Promise<AuthResult> {
    const introspector = this.parts.liveness?.introspector;
    try {
      return await this.parts.verifier.verify(token);
    } catch (error) {
      if (!notLocal(error) || !introspector?.opaque) throw error;
    }
    const answer = await introspector.introspect(token, undefined);
    // Accepted on introspection alone: the answer must also show the token is for this API.
    introspector.requireActive(answer, true);
    const { active: _active, ...claims } = answer.response as Record<string, unknown>;
    if (claims.sub === undefined && typeof claims.username === 'string') claims.sub = claims.username;
    // The guard's own claim rules hold for these tokens too: clientIds, requiredClaims, maxTokenAge, nbf, types.
    checkClaims(claims as JwtClaims, this.parts.rules, Math.floor(this.parts.clock() / 1000), undefined, OTHER_CLAIM_CHECKS);
    this.parts.denylist.check(claims);
    return buildResult(token, {} as JwtHeader, claims as JwtClaims, this.parts.rules.issuer);
  }
}
