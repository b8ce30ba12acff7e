import type { AuthErrorCode } from '../errors';
import type { Algorithm } from '../jose/algorithms';
import type { JwtClaims, JwtHeader } from '../jose/compact';
import type { HttpClient } from '../issuer/http';

/** What `diagnose` checks a token against: the options of the guard that rejects it. */
export interface DoctorOptions {
  /**
   * The guard's `issuer`, or its list of issuers. Required. With a list, the token's `iss` picks the
   * issuer whose discovery and keys are checked; a token naming none fails the `issuer` check with
   * `ERR_ISSUER_UNKNOWN` and nothing is fetched, as the guard does.
   */
  issuer: string | readonly string[];
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
  /** HTTP client for discovery and the JWKS. Default: `createHttpClient`, closed afterwards. */
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

/** What `diagnose` found. Holds the token's header and claims, never the token or its signature. */
export interface DoctorReport {
  /** True when every check passed and the guard accepts the token. */
  ok: boolean;
  /** The issuer the token was checked against: the one its `iss` names, else the first configured. */
  issuer: string;
  /** Every configured issuer, when there are several. */
  issuers?: string[];
  audiences: string[];
  /** The decoded protected header, when the token is a JWT. */
  header?: JwtHeader;
  /** The decoded claims, when the token is a JWT. */
  claims?: JwtClaims;
  checks: DoctorCheck[];
}

