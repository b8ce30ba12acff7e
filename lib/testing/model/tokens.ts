import { randomBytes, randomUUID, type KeyObject } from 'node:crypto';
import { dpopThumbprint } from '../dpop';
import type { Algorithm } from '../../jose/algorithms';
import { newKey, signCompact, type KeyRing } from './keys';

/** Options of {@link OktaModel.token}. */
export interface TokenOptions {
  /** Sign with the newest published key of this algorithm. Default: the first configured algorithm. */
  alg?: Algorithm;
  /** Lifetime in seconds (sets `exp` = `iat` + this). Default 3600. */
  expiresIn?: number;
  /** Header fields to set or, with `undefined`, remove (`kid`, `typ`, even `alg`: the signature then uses the key's real algorithm). */
  header?: Record<string, unknown>;
  /** Sign with a fresh key that is not in the JWKS (same `kid` as the published one unless `header.kid` says otherwise). */
  unpublishedKey?: boolean;
  /** Bind the token to this client key (DPoP, RFC 9449): `cnf.jkt` is its thumbprint. A private key gives its public half. */
  dpop?: KeyObject;
}

/** What the ledger needs of the model: who issues the tokens, their default audience and client, its keys and clock. */
export interface TokenContext {
  issuer: string;
  audience: string;
  clientId: string;
  keys: KeyRing;
  clock: () => number;
  /** How long a rotated refresh token may still be used, in seconds (Okta's grace period). */
  refreshGrace: () => number;
}

/** The tokens a sign-in or a refresh hands out. */
export interface IssuedTokens {
  accessToken: string;
  refreshToken: string;
  idToken: string;
}

/** A refresh token: its family, the claims of the access tokens it gets, and when it was used (with rotation). */
interface RefreshRecord {
  family: string;
  claims: Record<string, unknown>;
  usedAt?: number;
}

/**
 * Every token the model minted and what became of it: access tokens by `jti`, opaque tokens,
 * refresh tokens and their families, revocations. Answers what introspection says of a token.
 */
export class TokenLedger {
  private readonly minted = new Map<string, Record<string, unknown>>();
  private readonly opaque = new Map<string, Record<string, unknown>>();
  private readonly revoked = new Set<string>();
  private readonly refreshTokens = new Map<string, RefreshRecord>();
  private readonly revokedFamilies = new Set<string>();
  private readonly familyOf = new Map<string, string>();

  constructor(private readonly context: TokenContext) {}

  /** {@link OktaModel.token}: a signed, Okta-shaped access token, remembered by its `jti`. */
  accessToken(claims: Record<string, unknown>, options: TokenOptions): string {
    const alg = options.alg ?? this.context.keys.algorithms[0];
    const published = this.context.keys.newestFor(alg);
    if (published === undefined) throw new TypeError(`mockOkta: no published key for ${alg}; pass it in "algorithms"`);
    const key = options.unpublishedKey ? { ...newKey(alg, true), kid: published.kid } : published;
    const payload = this.claimsFor(options.dpop === undefined ? claims : { cnf: { jkt: dpopThumbprint(options.dpop) }, ...claims }, options.expiresIn);
    if (typeof payload.jti === 'string') this.minted.set(payload.jti, payload);
    const header = strip({ kid: key.kid, alg: key.alg, ...options.header });
    return signCompact(header, payload, key.alg, key.privateKey);
  }

  /** {@link OktaModel.logoutToken}: an OIDC Back-Channel Logout token, lasting 2 minutes. */
  logoutToken(claims: Record<string, unknown>, header: Record<string, unknown>): string {
    const now = Math.floor(this.context.clock() / 1000);
    const payload = strip({ iss: this.context.issuer, aud: this.context.clientId, iat: now, exp: now + 120, jti: randomUUID(), events: { 'http://schemas.openid.net/event/backchannel-logout': {} }, ...claims });
    const key = this.context.keys.newest();
    return signCompact(strip({ kid: key.kid, alg: key.alg, typ: 'logout+jwt', ...header }), payload, key.alg, key.privateKey);
  }

  /** {@link OktaModel.globalLogoutToken}: an Okta Universal Logout bearer, lasting 5 minutes. */
  globalLogoutToken(audience: string, claims: Record<string, unknown>, header: Record<string, unknown>): string {
    const now = Math.floor(this.context.clock() / 1000);
    const payload = strip({ iss: this.context.issuer, aud: audience, iat: now, exp: now + 300, jti: randomUUID(), ...claims });
    const key = this.context.keys.newest();
    return signCompact(strip({ kid: key.kid, alg: key.alg, typ: 'global-token-revocation+jwt', ...header }), payload, key.alg, key.privateKey);
  }

  /** {@link OktaModel.opaqueToken}: a random token whose claims only introspection knows. */
  opaqueToken(claims: Record<string, unknown>, expiresIn: number | undefined): string {
    const token = randomBytes(32).toString('base64url');
    this.opaque.set(token, this.claimsFor(claims, expiresIn));
    return token;
  }

  /** {@link OktaModel.revoke}: a refresh token revokes its family; any other token its `jti` (or itself, when unknown). */
  revoke(token: string): void {
    const refresh = this.refreshTokens.get(token);
    if (refresh !== undefined) {
      this.revokedFamilies.add(refresh.family);
      return;
    }
    const jti = this.lookup(token)?.jti;
    this.revoked.add(typeof jti === 'string' ? jti : token);
  }

  /**
   * An access token with `claims` in refresh-token family `family`, a refresh token of that family,
   * and an ID token. The refresh token keeps the claims without the per-token ones (`jti`, `iat`,
   * `exp`, `nbf`) and with the sign-in's `auth_time`, so that a refresh issues fresh tokens of the
   * same authentication.
   */
  issue(claims: Record<string, unknown>, family: string, expiresIn?: number): IssuedTokens {
    const accessToken = this.accessToken(claims, { expiresIn });
    const minted = this.lookup(accessToken)!;
    if (typeof minted.jti === 'string') this.familyOf.set(minted.jti, family);
    const refreshToken = randomBytes(32).toString('base64url');
    const { jti: _jti, iat: _iat, exp: _exp, nbf: _nbf, ...lasting } = claims;
    this.refreshTokens.set(refreshToken, { family, claims: { ...lasting, auth_time: minted.auth_time } });
    const now = Math.floor(this.context.clock() / 1000);
    const key = this.context.keys.newest();
    const idToken = signCompact(
      { kid: key.kid, alg: key.alg },
      strip({ iss: this.context.issuer, aud: this.context.clientId, sub: typeof claims.uid === 'string' ? claims.uid : '00u1a2b3c4d5e6f7g8h9', iat: now, exp: now + 3600, auth_time: minted.auth_time, jti: `ID.${randomUUID()}`, sid: claims.sid || undefined }),
      key.alg,
      key.privateKey,
    );
    return { accessToken, refreshToken, idToken };
  }

  /**
   * Redeems a refresh token for new tokens of its family, or says why it cannot be. With `rotate`,
   * each refresh token is replaced on use; the used one still works for the grace period (Okta's
   * default 30 s; see {@link TokenContext.refreshGrace}), and using it after that revokes the whole
   * family, as Okta does. Without `rotate`, the presented one stays the refresh token to use. With
   * `jkt` (a DPoP proof came with the request) the new access token is bound to that key.
   * @see https://developer.okta.com/docs/guides/refresh-tokens/main/#refresh-token-reuse-detection
   */
  redeem(presented: string, rotate: boolean, jkt?: string): { tokens: IssuedTokens; claims: Record<string, unknown> } | { invalid: string } {
    const record = this.refreshTokens.get(presented);
    if (record === undefined || this.revokedFamilies.has(record.family)) return { invalid: 'The refresh token is invalid or expired.' };
    const now = this.context.clock();
    if (record.usedAt !== undefined && now - record.usedAt > this.context.refreshGrace() * 1000) {
      this.revokedFamilies.add(record.family);
      return { invalid: 'The refresh token was already used; the token family is revoked.' };
    }
    if (rotate) record.usedAt ??= now;
    const tokens = this.issue(jkt === undefined ? record.claims : { ...record.claims, cnf: { jkt } }, record.family);
    if (!rotate) this.refreshTokens.delete(tokens.refreshToken);
    return { tokens, claims: record.claims };
  }

  /**
   * A client credentials access token for a service app at the custom authorization server, as
   * Okta mints it: `sub` and `cid` the client id, `scp` the granted scopes, no `uid` or `auth_time`;
   * with `jkt`, bound to that key (`cnf.jkt`).
   */
  serviceToken(clientId: string, scopes: string[], jkt?: string): string {
    return this.accessToken({ sub: clientId, cid: clientId, scp: scopes, uid: undefined, auth_time: undefined, cnf: jkt === undefined ? undefined : { jkt } }, {});
  }

  /**
   * The claims of an ID token this issuer signed for its client (`iss`, `aud`, signature by a
   * published key), whether or not it has expired: what `id_token_hint` needs. `undefined` otherwise.
   * @see https://openid.net/specs/openid-connect-rpinitiated-1_0.html#RPLogout
   */
  idTokenHint(token: string): Record<string, unknown> | undefined {
    const claims = this.context.keys.verify(token);
    return claims !== undefined && claims.iss === this.context.issuer && claims.aud === this.context.clientId ? claims : undefined;
  }

  /**
   * The introspection answer for a token (RFC 7662): `active: false` unless this model minted it and
   * it is neither expired nor revoked, by itself, its `jti` or its refresh-token family.
   * @see https://www.rfc-editor.org/rfc/rfc7662#section-2.2
   */
  introspect(token: string): Record<string, unknown> {
    const claims = this.lookup(token);
    const now = Math.floor(this.context.clock() / 1000);
    const family = this.familyOf.get(String(claims?.jti));
    if (claims === undefined || this.revoked.has(String(claims.jti ?? token)) || this.revoked.has(token) || (claims.exp as number) <= now || (family !== undefined && this.revokedFamilies.has(family))) {
      return { active: false };
    }
    return {
      active: true,
      scope: Array.isArray(claims.scp) ? claims.scp.join(' ') : claims.scope,
      username: claims.sub,
      exp: claims.exp,
      iat: claims.iat,
      sub: claims.sub,
      aud: claims.aud,
      iss: claims.iss,
      jti: claims.jti,
      token_type: 'Bearer',
      client_id: claims.cid,
      uid: claims.uid,
    };
  }

  /** The claims of a token this model minted (opaque, or a JWT whose `jti` it knows). */
  private lookup(token: string): Record<string, unknown> | undefined {
    const opaque = this.opaque.get(token);
    if (opaque !== undefined) return opaque;
    const parts = token.split('.');
    if (parts.length !== 3) return undefined;
    try {
      const jti = JSON.parse(Buffer.from(parts[1], 'base64url').toString()).jti;
      return typeof jti === 'string' ? this.minted.get(jti) : undefined;
    } catch {
      return undefined;
    }
  }

  /** Okta's access-token claims (`ver, jti, iss, aud, iat, exp, cid, uid, scp, auth_time, sub`), overridden by `claims`. */
  private claimsFor(claims: Record<string, unknown>, expiresIn: number | undefined): Record<string, unknown> {
    const now = Math.floor(this.context.clock() / 1000);
    const iat = typeof claims.iat === 'number' ? claims.iat : now;
    return strip({
      ver: 1,
      jti: `AT.${randomUUID()}`,
      iss: this.context.issuer,
      aud: this.context.audience,
      iat: now,
      exp: iat + (expiresIn ?? 3600),
      cid: this.context.clientId,
      uid: '00u1a2b3c4d5e6f7g8h9',
      scp: ['openid', 'profile'],
      auth_time: now,
      sub: 'alice@example.com',
      ...claims,
    });
  }
}

/** `record` without its `undefined` fields: a claim or header field set to `undefined` is left out. */
function strip(record: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(record).filter(([, value]) => value !== undefined));
}
