import type { Algorithm } from '../../jose/algorithms';

/** Options of the Okta model shared by {@link mockOkta} and later transports. */
export interface OktaModelOptions {
  /** Issuer URL. Default: a fresh `https://dev-NNNNNN.okta.com/oauth2/default`. */
  issuer?: string;
  /** Default `aud` of minted tokens. Default `'api://default'`. */
  audience?: string;
  /** Default `cid` of minted tokens. Default: a fresh `0oa...` id. */
  clientId?: string;
  /** One published signing key per algorithm. Default `['RS256']`. */
  algorithms?: readonly Algorithm[];
  /** `Cache-Control: max-age` of the JWKS response, in seconds. Default 3600. */
  jwksMaxAge?: number;
  /** Clock for minted `iat`/`exp`, sessions and rate-limit windows, milliseconds since the epoch. Default `Date.now`. */
  clock?: () => number;
  /** Secret of the client (`clientId`) for `client_secret_basic` / `client_secret_post`. Default: a fresh random one. */
  clientSecret?: string;
  /** The Okta API token the Sessions API accepts as `SSWS <token>`. Default: a fresh random one. */
  apiToken?: string;
  /**
   * How long a rotated refresh token still works after its first use, in seconds (Okta's "grace
   * period for token rotation", 0 to 60). Default 30, Okta's default; 0 makes any reuse revoke the
   * token family at once.
   */
  refreshTokenGrace?: number;
  /** The client's sign-out redirect URIs, for `{issuer}/v1/logout`. Default: any absolute http(s) URI is accepted. */
  postLogoutRedirectUris?: readonly string[];
}
