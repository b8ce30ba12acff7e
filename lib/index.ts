/**
 * tokengate: verify OAuth 2.0 / OpenID Connect access tokens from Okta or any OIDC issuer.
 * Framework adapters live in `tokengate/express` and `tokengate/koa`; the mocked Okta for tests in
 * `tokengate/testing`.
 */
export { createGuard, LogoutTokenError, type Guard, type GuardStats, type Handled, type RefreshHooks } from './guard';
export type { GuardOptions, CacheOptions, KeySetOptions, Algorithm } from './options';
export { SUPPORTED_ALGORITHMS } from './options';
export type { RequestLike } from './bearer';
export type { ClientCredentials, ClientAuthMethod } from './client-auth';
export type { IntrospectionOptions } from './introspection';
export type { SessionOptions } from './okta-sessions';
export type { AuthResult } from './result';
export { definePolicy, type Policy, type ClaimExpectation } from './policy';
export type { JwtHeader, JwtClaims } from './jwt';
export type { TokengateEvent } from './events';
export { createHttpClient, HttpError, type HttpClient, type HttpClientOptions, type HttpRequest, type HttpResponse, type HttpFailure } from './http';
export * from './errors';
export type { TokenSet } from './refresh';
export type { LogoutRequest, LogoutResult, StepOutcome } from './logout';
export { memoryRevocationStore, type RevocationStore, type RevocationEntry, type RevocationKind, type RevocationOptions } from './revocation';
export { MemorySessionStore, type BackendSessionStore, type BackendSessionData, type BackendSessionOptions } from './backend-session';
export { readBody, sessionLogin, logoutRoute, backchannelLogoutRoute, universalLogoutRoute, type Answer, type BodyRequest, type LogoutRouteOptions } from './handlers';
