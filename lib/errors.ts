/**
 * Error classes. Every failure of {@link Guard.verify} is an {@link AuthError} with a stable `code`,
 * an HTTP `status`, the RFC 6750 `error` value (when one applies) and ready-made response `headers`,
 * which Express's and Koa's default error handlers already render.
 *
 * Messages say what was wrong and what to do; they never contain the token.
 *
 * @see https://www.rfc-editor.org/rfc/rfc6750#section-3
 */

/** Every stable error code tokengate produces. `switch (err.code)` narrows on it. */
export type AuthErrorCode =
  | 'ERR_TOKEN_MISSING'
  | 'ERR_REQUEST_MALFORMED'
  | 'ERR_MULTIPLE_TOKENS'
  | 'ERR_TOKEN_IN_QUERY'
  | 'ERR_TOKEN_TOO_LARGE'
  | 'ERR_TOKEN_MALFORMED'
  | 'ERR_ALG_NOT_ALLOWED'
  | 'ERR_TOKEN_TYPE_INVALID'
  | 'ERR_CRIT_UNSUPPORTED'
  | 'ERR_KEY_UNKNOWN'
  | 'ERR_SIGNATURE_INVALID'
  | 'ERR_ISSUER_INVALID'
  | 'ERR_ISSUER_UNKNOWN'
  | 'ERR_ISSUER_NOT_ALLOWED'
  | 'ERR_AUDIENCE_INVALID'
  | 'ERR_TOKEN_EXPIRED'
  | 'ERR_TOKEN_NOT_YET_VALID'
  | 'ERR_TOKEN_TOO_OLD'
  | 'ERR_CLAIM_INVALID'
  | 'ERR_CLIENT_NOT_ALLOWED'
  | 'ERR_ORG_AUTHORIZATION_SERVER'
  | 'ERR_INSUFFICIENT_SCOPE'
  | 'ERR_CLAIM_CHECK_FAILED'
  | 'ERR_KEYS_UNAVAILABLE'
  | 'ERR_GUARD_CLOSED'
  | 'ERR_TOKEN_REVOKED'
  | 'ERR_REVOCATION_UNAVAILABLE'
  | 'ERR_REFRESH_FAILED'
  | 'ERR_REFRESH_UNAVAILABLE'
  | 'ERR_BACKEND_SESSION_INVALID'
  | 'ERR_CSRF_REJECTED'
  | 'ERR_TOKEN_INACTIVE'
  | 'ERR_SESSION_CLAIM_MISSING'
  | 'ERR_SESSION_ENDED'
  | 'ERR_SESSION_NOT_ACTIVE'
  | 'ERR_INTROSPECTION_UNAVAILABLE'
  | 'ERR_SESSIONS_UNAVAILABLE'
  | 'ERR_SESSION_STORE_UNAVAILABLE'
  | 'ERR_DPOP_REQUIRED'
  | 'ERR_DPOP_BOUND_TOKEN_AS_BEARER'
  | 'ERR_DPOP_KEY_MISMATCH'
  | 'ERR_DPOP_PROOF_MISSING'
  | 'ERR_DPOP_PROOF_MALFORMED'
  | 'ERR_DPOP_PROOF_ALG'
  | 'ERR_DPOP_PROOF_KEY'
  | 'ERR_DPOP_PROOF_SIGNATURE'
  | 'ERR_DPOP_PROOF_MISMATCH'
  | 'ERR_DPOP_PROOF_STALE'
  | 'ERR_DPOP_PROOF_REPLAYED'
  | 'ERR_DPOP_NONCE'
  | 'ERR_TOKEN_ANOMALY';

/** The RFC 6750 section 3.1 error values, and RFC 9449's two for DPoP proofs. */
export type BearerErrorValue = 'invalid_request' | 'invalid_token' | 'insufficient_scope' | 'invalid_dpop_proof' | 'use_dpop_nonce';

/**
 * The challenges of a route that accepts DPoP (RFC 9449 section 7.1), set on an error by the guard:
 * `algs` for the `DPoP` challenge, whether the `Bearer` one is offered too, and which of the two
 * carries the error (the scheme the request used).
 */
export interface DpopChallenge {
  algs: string;
  bearer: boolean;
  errorInDpop: boolean;
}

/** What every {@link AuthError} subclass constructor accepts besides its message. */
export interface AuthErrorOptions {
  /** The underlying error, kept for logs and debugging. */
  cause?: unknown;
}

/**
 * Base class of every error tokengate rejects a request with.
 *
 * `status` and `statusCode` are the HTTP status; `expose` says whether the message is safe to send
 * to the client (true below 500); `headers` holds `WWW-Authenticate` (and `Retry-After` for 503).
 * The header is filled in by the guard, which knows the realm; {@link AuthError.challenge} builds it.
 */
export abstract class AuthError extends Error {
  /** Stable machine-readable code, listed in the README. */
  abstract readonly code: AuthErrorCode;
  /** HTTP status the error maps to. */
  abstract readonly status: 400 | 401 | 403 | 503;
  /** RFC 6750 `error` value, or `undefined` where the RFC wants none (no credentials, 503). */
  readonly error: BearerErrorValue | undefined = undefined;
  /** Response headers: `WWW-Authenticate`, and `Retry-After` for upstream failures. */
  headers: Record<string, string> = {};

  constructor(message: string, options?: AuthErrorOptions) {
    // Rejections are expected outcomes, not bugs: no stack trace is captured (it would cost more
    // than the checks that reject). An upstream failure's `cause` keeps its own stack.
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    Error.stackTraceLimit = limit;
    this.name = new.target.name;
  }

  /** Same as `status`, for frameworks that read `statusCode`. */
  get statusCode(): number {
    return this.status;
  }

  /** Whether the message may be shown to the client (Koa and http-errors convention). */
  get expose(): boolean {
    return this.status < 500;
  }

  /** Set by the guard on a route that accepts DPoP: the answer then offers the `DPoP` challenge too. */
  dpop: DpopChallenge | undefined = undefined;

  /**
   * Builds the `WWW-Authenticate` value for this error in the given realm: the `Bearer` challenge
   * (RFC 6750) and, on a route that accepts DPoP, the `DPoP` challenge (RFC 9449), the error in the
   * one of the scheme the request used.
   * @see https://www.rfc-editor.org/rfc/rfc6750#section-3
   * @see https://www.rfc-editor.org/rfc/rfc9449#section-7.1
   */
  challenge(realm: string): string {
    const params = this.error === undefined ? '' : `, error="${this.error}", error_description="${quotable(this.message)}"${this.extraParams()}`;
    const bearer = `Bearer realm="${quotable(realm)}"`;
    const dpop = this.dpop;
    if (dpop === undefined) return bearer + params;
    const proof = `DPoP algs="${dpop.algs}"${dpop.errorInDpop ? params : ''}`;
    return dpop.bearer ? `${bearer}${dpop.errorInDpop ? '' : params}, ${proof}` : proof;
  }

  /** More challenge parameters after `error_description` (`scope` for insufficient_scope). */
  protected extraParams(): string {
    return '';
  }
}

/**
 * RFC 6750 allows only %x20-21 / %x23-5B / %x5D-7E inside `error_description`: drop quotes,
 * backslashes and anything outside printable ASCII.
 */
function quotable(text: string): string {
  return text.replace(/[^\x20\x21\x23-\x5B\x5D-\x7E]/g, '');
}

/** No bearer token in the request. 401 with a bare challenge, as RFC 6750 section 3.1 asks. */
export class MissingTokenError extends AuthError {
  readonly code = 'ERR_TOKEN_MISSING';
  readonly status = 401;
}

/** Base of the 400 `invalid_request` errors. */
export abstract class InvalidRequestError extends AuthError {
  readonly status = 400;
  override readonly error = 'invalid_request';
}

/** The `Authorization` header names Bearer but is not `Bearer <token>` with a valid token68 value. */
export class MalformedRequestError extends InvalidRequestError {
  readonly code = 'ERR_REQUEST_MALFORMED';
}

/** More than one credential: several `Authorization` headers, a list of them, or header plus query. */
export class MultipleTokensError extends InvalidRequestError {
  readonly code = 'ERR_MULTIPLE_TOKENS';
}

/** A token sent as the `access_token` query parameter, which tokengate refuses (RFC 6750 section 2.3, RFC 9700). */
export class TokenInQueryError extends InvalidRequestError {
  readonly code = 'ERR_TOKEN_IN_QUERY';
}

/** Base of the 401 `invalid_token` errors. */
export abstract class InvalidTokenError extends AuthError {
  readonly status = 401;
  override readonly error = 'invalid_token';
}

/** The token is longer than `maxTokenLength`; it was not parsed. */
export class TokenTooLargeError extends InvalidTokenError {
  readonly code = 'ERR_TOKEN_TOO_LARGE';
}

/** The token is not a compact JWS: wrong number of parts, bad base64url, or a header/payload that is not a JSON object. */
export class MalformedTokenError extends InvalidTokenError {
  readonly code = 'ERR_TOKEN_MALFORMED';
}

/** The header `alg` is not in the allow-list (or does not match the key's type). */
export class AlgorithmNotAllowedError extends InvalidTokenError {
  readonly code = 'ERR_ALG_NOT_ALLOWED';
}

/** The header `typ` is not the one required (RFC 9068 `at+jwt` when `typ` is set), or names another kind of JWT. */
export class TokenTypeError extends InvalidTokenError {
  readonly code = 'ERR_TOKEN_TYPE_INVALID';
}

/** The header lists `crit` extensions, none of which tokengate implements (RFC 7515 section 4.1.11). */
export class UnsupportedCriticalHeaderError extends InvalidTokenError {
  readonly code = 'ERR_CRIT_UNSUPPORTED';
}

/** No key in the issuer's key set matches the token's `kid` (and `alg`), even after a refetch. */
export class UnknownKeyError extends InvalidTokenError {
  readonly code = 'ERR_KEY_UNKNOWN';
}

/** The signature does not verify with the issuer's key. */
export class InvalidSignatureError extends InvalidTokenError {
  readonly code = 'ERR_SIGNATURE_INVALID';
}

/** `iss` is missing or is not exactly the configured issuer. */
export class IssuerMismatchError extends InvalidTokenError {
  readonly code = 'ERR_ISSUER_INVALID';
}

/**
 * With several issuers: the token's `iss` (read before anything is fetched) is missing, or names no
 * configured issuer, or the `issuer` function refused it. Nothing was fetched for it.
 */
export class UnknownIssuerError extends InvalidTokenError {
  readonly code = 'ERR_ISSUER_UNKNOWN';
}

/** `aud` is missing or names none of the configured audiences. */
export class AudienceMismatchError extends InvalidTokenError {
  readonly code = 'ERR_AUDIENCE_INVALID';
}

/** `exp` has passed (beyond `clockTolerance`). */
export class TokenExpiredError extends InvalidTokenError {
  readonly code = 'ERR_TOKEN_EXPIRED';
}

/** `nbf` or `iat` lies in the future (beyond `clockTolerance`). */
export class TokenNotYetValidError extends InvalidTokenError {
  readonly code = 'ERR_TOKEN_NOT_YET_VALID';
}

/** `iat` is older than `maxTokenAge`. */
export class TokenTooOldError extends InvalidTokenError {
  readonly code = 'ERR_TOKEN_TOO_OLD';
}

/** A registered or required claim is missing or has the wrong type. `claim` names it. */
export class ClaimInvalidError extends InvalidTokenError {
  readonly code = 'ERR_CLAIM_INVALID';
  /** The claim at fault. */
  readonly claim: string;
  constructor(claim: string, message: string, options?: AuthErrorOptions) {
    super(message, options);
    this.claim = claim;
  }
}

/** The token's client (`cid` or `client_id`) is not in `clientIds`. */
export class ClientNotAllowedError extends InvalidTokenError {
  readonly code = 'ERR_CLIENT_NOT_ALLOWED';
}

/**
 * The token was issued by an Okta org authorization server (issuer without `/oauth2/...`), whose
 * signing keys Okta does not publish: it cannot be validated locally. Use a custom authorization
 * server, or introspection.
 */
export class OrgAuthorizationServerError extends InvalidTokenError {
  readonly code = 'ERR_ORG_AUTHORIZATION_SERVER';
}

/** Introspection (RFC 7662) says the token is not active: revoked, expired, or unknown to the issuer. */
export class TokenInactiveError extends InvalidTokenError {
  readonly code = 'ERR_TOKEN_INACTIVE';
}

/** A route with strict session checking got a token without the claim that carries the Okta session id. */
export class SessionClaimMissingError extends InvalidTokenError {
  readonly code = 'ERR_SESSION_CLAIM_MISSING';
  /** The claim that was expected (the `sessions.claim` option). */
  readonly claim: string;
  constructor(claim: string, message: string) {
    super(message);
    this.claim = claim;
  }
}

/** The Okta session the token belongs to has ended (the Sessions API answers 404). */
export class SessionEndedError extends InvalidTokenError {
  readonly code = 'ERR_SESSION_ENDED';
}

/** The Okta session exists but its status is not accepted (e.g. `MFA_REQUIRED`). `sessionStatus` names it. */
export class SessionNotActiveError extends InvalidTokenError {
  readonly code = 'ERR_SESSION_NOT_ACTIVE';
  /** The status Okta reported. */
  readonly sessionStatus: string;
  constructor(sessionStatus: string, message: string) {
    super(message);
    this.sessionStatus = sessionStatus;
  }
}

/** The token, its Okta session or its user was logged out: it is on the denylist. */
export class TokenRevokedError extends InvalidTokenError {
  readonly code = 'ERR_TOKEN_REVOKED';
}

/** The refresh token was refused by the issuer (expired, revoked, or reused after rotation); sign in again. */
export class RefreshFailedError extends InvalidTokenError {
  readonly code = 'ERR_REFRESH_FAILED';
}

/** The session cookie names no live backend session (unknown, expired, or logged out). */
export class BackendSessionInvalidError extends InvalidTokenError {
  readonly code = 'ERR_BACKEND_SESSION_INVALID';
}

/** A route that requires DPoP (`dpop: 'required'`) got a token without a proof, or a token not bound to a key. */
export class DpopRequiredError extends InvalidTokenError {
  readonly code = 'ERR_DPOP_REQUIRED';
}

/** A DPoP-bound token (`cnf.jkt`) came with the `Bearer` scheme: without its proof it is refused (RFC 9449 section 7.2). */
export class DpopBoundTokenAsBearerError extends InvalidTokenError {
  readonly code = 'ERR_DPOP_BOUND_TOKEN_AS_BEARER';
}

/** The proof's key is not the one the token is bound to (its JWK thumbprint is not `cnf.jkt`), or the token is bound to none. */
export class DpopKeyMismatchError extends InvalidTokenError {
  readonly code = 'ERR_DPOP_KEY_MISMATCH';
}

/** Base of the 401 `invalid_dpop_proof` errors (RFC 9449 section 7.1). */
export abstract class DpopProofError extends AuthError {
  readonly status = 401;
  override readonly error: BearerErrorValue = 'invalid_dpop_proof';
}

/** `Authorization: DPoP` came without a `DPoP` proof header. */
export class DpopProofMissingError extends DpopProofError {
  readonly code = 'ERR_DPOP_PROOF_MISSING';
}

/** The proof is not one compact JWS of `typ` `dpop+jwt` with `jti`, `htm`, `htu` and `iat`; or several came; or it is too long. */
export class DpopProofMalformedError extends DpopProofError {
  readonly code = 'ERR_DPOP_PROOF_MALFORMED';
}

/** The proof's `alg` is not in `dpop.algorithms` (symmetric algorithms and `none` never are), or does not fit its key. */
export class DpopProofAlgorithmError extends DpopProofError {
  readonly code = 'ERR_DPOP_PROOF_ALG';
}

/** The proof's `jwk` header is missing, not a supported public key, or carries private key material. */
export class DpopProofKeyError extends DpopProofError {
  readonly code = 'ERR_DPOP_PROOF_KEY';
}

/** The proof's signature does not verify with its own `jwk`. */
export class DpopProofSignatureError extends DpopProofError {
  readonly code = 'ERR_DPOP_PROOF_SIGNATURE';
}

/** The proof is for another request: `htm` is not the method, `htu` not the URL, or `ath` not the hash of the access token. */
export class DpopProofMismatchError extends DpopProofError {
  readonly code = 'ERR_DPOP_PROOF_MISMATCH';
}

/** The proof's `iat` lies outside the accepted window (`dpop.proofMaxAge`, `clockTolerance`). */
export class DpopProofStaleError extends DpopProofError {
  readonly code = 'ERR_DPOP_PROOF_STALE';
}

/** The proof's `jti` was seen before: a replayed proof. */
export class DpopProofReplayedError extends DpopProofError {
  readonly code = 'ERR_DPOP_PROOF_REPLAYED';
}

/** Server nonces are on (`dpop.nonces`) and the proof has no current `nonce`: retry with the one in the `DPoP-Nonce` header. */
export class DpopNonceError extends DpopProofError {
  readonly code = 'ERR_DPOP_NONCE';
  override readonly error: BearerErrorValue = 'use_dpop_nonce';
  constructor(message: string, nonce: string) {
    super(message);
    this.headers = { 'DPoP-Nonce': nonce };
  }
}

/**
 * The token was presented by more distinct clients within `anomaly.window` than
 * `anomaly.maxClients` allows, on a route with `onAnomaly: 'refuse'`: it may have been copied. It is
 * refused while that lasts; a fresh token from a new sign-in is not affected.
 */
export class TokenAnomalyError extends InvalidTokenError {
  readonly code = 'ERR_TOKEN_ANOMALY';
}

/** Base of the 403 `insufficient_scope` errors. */
export abstract class ForbiddenError extends AuthError {
  readonly status = 403;
  override readonly error = 'insufficient_scope';
}

/** The token lacks scopes the route requires. `scopes` lists all the route requires. */
export class InsufficientScopeError extends ForbiddenError {
  readonly code = 'ERR_INSUFFICIENT_SCOPE';
  /** Every scope the route requires (the challenge's `scope` attribute). */
  readonly scopes: readonly string[];
  constructor(scopes: readonly string[], message: string) {
    super(message);
    this.scopes = scopes;
  }
  protected override extraParams(): string {
    return `, scope="${quotable(this.scopes.join(' '))}"`;
  }
}

/** A route's `claims` check failed. `claim` names the claim. */
export class ClaimCheckFailedError extends ForbiddenError {
  readonly code = 'ERR_CLAIM_CHECK_FAILED';
  /** The claim whose check failed. */
  readonly claim: string;
  constructor(claim: string, message: string) {
    super(message);
    this.claim = claim;
  }
}

/** The route's policy `issuer` does not include the issuer of the token (which the guard accepts). */
export class IssuerNotAllowedError extends ForbiddenError {
  readonly code = 'ERR_ISSUER_NOT_ALLOWED';
}

/**
 * Base of the 503 errors: an upstream the check depends on is down, slow, or answers garbage.
 * Never the caller's fault, so never a 401. `retryAfter` (seconds) becomes `Retry-After`.
 */
export abstract class UpstreamUnavailableError extends AuthError {
  readonly status = 503;
  /** Seconds after which a retry may succeed. */
  readonly retryAfter: number;
  constructor(message: string, retryAfter: number, options?: AuthErrorOptions) {
    super(message, options);
    this.retryAfter = Math.max(1, Math.ceil(retryAfter));
    this.headers = { 'Retry-After': String(this.retryAfter) };
  }
  override challenge(): string {
    return '';
  }
}

/** No signing key could be had: discovery or the JWKS endpoint is unreachable, slow, or broken. */
export class KeysUnavailableError extends UpstreamUnavailableError {
  readonly code = 'ERR_KEYS_UNAVAILABLE';
}

/** The introspection endpoint is down, slow, rate-limited or answers garbage, and the route fails closed. */
export class IntrospectionUnavailableError extends UpstreamUnavailableError {
  readonly code = 'ERR_INTROSPECTION_UNAVAILABLE';
}

/** Okta's Sessions API is down, slow, rate-limited or answers garbage, nothing usable is cached, and the route fails closed. */
export class SessionsUnavailableError extends UpstreamUnavailableError {
  readonly code = 'ERR_SESSIONS_UNAVAILABLE';
}

/** The guard was closed (the service is shutting down); requests still arriving get a 503. */
export class GuardClosedError extends UpstreamUnavailableError {
  readonly code = 'ERR_GUARD_CLOSED';
}

/** The shared denylist store has been unreachable for longer than `revocation.staleFor`. */
export class RevocationUnavailableError extends UpstreamUnavailableError {
  readonly code = 'ERR_REVOCATION_UNAVAILABLE';
}

/** The backend-session store (`backendSessions.store`) failed or did not answer; the request may be retried. */
export class SessionStoreUnavailableError extends UpstreamUnavailableError {
  readonly code = 'ERR_SESSION_STORE_UNAVAILABLE';
}

/** The issuer's token endpoint could not be reached (or failed) while refreshing. */
export class RefreshUnavailableError extends UpstreamUnavailableError {
  readonly code = 'ERR_REFRESH_UNAVAILABLE';
}

/**
 * An unsafe request (POST, PUT, PATCH, DELETE) authenticated by a session cookie came from another
 * site: `Sec-Fetch-Site` is cross-site, or `Origin` is not an allowed origin. 403, no challenge.
 */
export class CsrfRejectedError extends AuthError {
  readonly code = 'ERR_CSRF_REJECTED';
  readonly status = 403;
  override challenge(): string {
    return '';
  }
}

/**
 * Every concrete {@link AuthError}, as a union: `switch (error.code)` on an `AnyAuthError` narrows
 * `error` to the class of that code (a type test keeps this list and the classes in step).
 */
export type AnyAuthError =
  | MissingTokenError
  | MalformedRequestError
  | MultipleTokensError
  | TokenInQueryError
  | TokenTooLargeError
  | MalformedTokenError
  | AlgorithmNotAllowedError
  | TokenTypeError
  | UnsupportedCriticalHeaderError
  | UnknownKeyError
  | InvalidSignatureError
  | IssuerMismatchError
  | UnknownIssuerError
  | AudienceMismatchError
  | TokenExpiredError
  | TokenNotYetValidError
  | TokenTooOldError
  | ClaimInvalidError
  | ClientNotAllowedError
  | OrgAuthorizationServerError
  | TokenInactiveError
  | SessionClaimMissingError
  | SessionEndedError
  | SessionNotActiveError
  | TokenRevokedError
  | RefreshFailedError
  | BackendSessionInvalidError
  | InsufficientScopeError
  | ClaimCheckFailedError
  | IssuerNotAllowedError
  | KeysUnavailableError
  | IntrospectionUnavailableError
  | SessionsUnavailableError
  | GuardClosedError
  | RevocationUnavailableError
  | SessionStoreUnavailableError
  | RefreshUnavailableError
  | CsrfRejectedError
  | DpopRequiredError
  | DpopBoundTokenAsBearerError
  | DpopKeyMismatchError
  | DpopProofMissingError
  | DpopProofMalformedError
  | DpopProofAlgorithmError
  | DpopProofKeyError
  | DpopProofSignatureError
  | DpopProofMismatchError
  | DpopProofStaleError
  | DpopProofReplayedError
  | DpopNonceError
  | TokenAnomalyError;

/**
 * A logout token or request the issuer sent (back-channel logout, Universal Logout) was not
 * acceptable. Not an {@link AuthError}: it answers the issuer, not a user. `status` is the answer to give.
 */
export class LogoutTokenError extends Error {
  readonly status: 400 | 401 | 404 | 422;
  constructor(status: 400 | 401 | 404 | 422, message: string) {
    super(message);
    this.name = 'LogoutTokenError';
    this.status = status;
  }
}

/**
 * The error codes of RFC 8935 section 2.4 (the IANA "Security Event Token Error Codes"), which a
 * SET Recipient answers a refused Security Event Token with.
 * @see https://www.rfc-editor.org/rfc/rfc8935#section-2.4
 */
export type SecurityEventErrorCode = 'invalid_request' | 'invalid_key' | 'invalid_issuer' | 'invalid_audience' | 'authentication_failed' | 'access_denied';

/**
 * A Security Event Token pushed to the SSF receiver (RFC 8935) was refused. Not an {@link AuthError}:
 * it answers the transmitter, not a user. `status` is the answer to give (400 with the `err` code as
 * RFC 8935 section 2.3 asks, or the HTTP status of a request that is no SET transmission at all: 405,
 * 413, 415), `err` the RFC 8935 code.
 */
export class SecurityEventError extends Error {
  readonly status: 400 | 405 | 413 | 415;
  readonly err: SecurityEventErrorCode;
  constructor(err: SecurityEventErrorCode, message: string, status: 400 | 405 | 413 | 415 = 400) {
    super(message);
    this.name = 'SecurityEventError';
    this.err = err;
    this.status = status;
  }
}

/**
 * An Okta Event Hook request was refused. Not an {@link AuthError}: it answers Okta. `status` is the
 * answer to give: 400 (not JSON, no `data.events`, a bad verification challenge), 401 (the secret
 * header is missing or wrong), 405 (neither GET nor POST), 413 (over the size limit). Okta does not
 * retry a 4xx answer.
 */
export class EventHookError extends Error {
  readonly status: 400 | 401 | 405 | 413;
  constructor(status: 400 | 401 | 405 | 413, message: string) {
    super(message);
    this.name = 'EventHookError';
    this.status = status;
  }
}

/** The JSON body of an {@link AuthError}, as the adapters and the ready-made routes answer it (see {@link errorAnswer}). */
export interface ErrorBody {
  /** The RFC 6750 `error` value, when one applies. */
  error?: BearerErrorValue;
  /** The stable tokengate code. */
  code: AuthErrorCode;
  /** The message (as RFC 6749 section 5.2 names it), for errors whose `expose` is true (below 500); upstream details stay in your logs. */
  error_description?: string;
}

/**
 * The HTTP answer to a rejection: `status`, `headers` (`WWW-Authenticate`, `Retry-After`, and a
 * clearing `Set-Cookie` for an ended backend session) and a small JSON body. What the Express and
 * Koa adapters send by default; use it to answer from another framework or a raw `node:http` server.
 */
export function errorAnswer(error: AuthError): { status: number; headers: Readonly<Record<string, string>>; body: ErrorBody } {
  const body: ErrorBody = error.error === undefined ? { code: error.code } : { error: error.error, code: error.code };
  if (error.expose) body.error_description = error.message;
  return { status: error.status, headers: error.headers, body };
}
