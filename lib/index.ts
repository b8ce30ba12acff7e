/**
 * tokengate: verify OAuth 2.0 / OpenID Connect access tokens from Okta or any OIDC issuer.
 * Framework adapters live in `tokengate/express`, `tokengate/koa` and `tokengate/fastify`; the mocked Okta for tests in
 * `tokengate/testing`; shared Redis stores in `tokengate/redis`.
 */
export { createGuard } from './guard/create';
export type { Guard, GuardStats, SharedAnswerStats } from './guard/types';
export type { Handled, RefreshHooks, TokenSet } from './verify/pipeline';
export type { GuardOptions, CacheOptions, KeySetOptions, Algorithm } from './options';
export type { DpopOptions } from './options/dpop';
export { SUPPORTED_ALGORITHMS } from './jose/algorithms';
export type { RequestLike } from './util/request';
export type { ClientCredentials, ClientAuthMethod } from './issuer/client-auth';
export type { IntrospectionOptions } from './liveness/introspection';
export type { SessionOptions } from './liveness/okta-sessions';
export type { AnswerStore } from './liveness/answer-store';
export type { AuthResult } from './verify/result';
export { definePolicy, type Policy, type ClaimExpectation } from './verify/policy';
export type { JwtHeader, JwtClaims } from './jose/compact';
export type { TokengateEvent, UpstreamService, UpstreamResult } from './events';
export type { AnomalyOptions } from './verify/anomaly';
export { createHttpClient, HttpError, type HttpClient, type HttpClientOptions, type HttpRequest, type HttpResponse, type HttpFailure } from './issuer/http';
export * from './errors';
export type { LogoutRequest, LogoutResult, StepOutcome } from './logout/logout';
export { type RevocationStore, type RevocationEntry, type RevocationKind, type RevocationOptions } from './revocation/denylist';
export { memoryRevocationStore } from './revocation/memory-store';
export { MemorySessionStore, type BackendSessionStore, type BackendSessionData, type BackendSessionOptions } from './sessions/store';
export { readBody, sessionLogin, logoutRoute, backchannelLogoutRoute, universalLogoutRoute, type Answer, type BodyRequest, type LogoutRouteOptions } from './routes/routes';
export { ssfReceiver, oktaEventHook, type PushRoute } from './routes/push';
export type { SsfReceiver, SsfReceiverOptions, CredentialChange, ReceivedOutcome } from './logout/ssf-receiver';
export type { OktaEventHookReceiver, OktaEventHookOptions, HookDelivery } from './logout/event-hook';
