/**
 * `tokengate/testing`: a mocked Okta for test suites, and a dev issuer over real HTTP.
 * `mockOkta()` needs `nock` ({@link SUPPORTED_NOCK}, an optional peer dependency; loaded only when
 * `mockOkta()` is called, `nock.disableNetConnect()` recommended). Nothing else here needs nock.
 */
export { mockOkta, SUPPORTED_NOCK, type MockOkta } from './mock-okta';
export { startDevIssuer, type DevIssuer } from './dev-issuer';
export { createDpopProof, dpopThumbprint, publicJwk, type DpopProofOptions } from './dpop';
export { MockPush, type PushDelivery, type MockStream, type MockStreamOptions, type MockEventHook, type MockEventHookOptions, type MockUser } from './push';
export {
  OktaModel,
  signCompact,
  createKeyPair,
  type KeyPairOptions,
  type OktaModelOptions,
  type TokenOptions,
  type MockEndpoint,
  type MockSession,
  type FailureMode,
  type ModelRequest,
  type ModelResponse,
  type RecordedRequest,
} from './model';
