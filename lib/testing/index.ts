/**
 * `tokengate/testing`: a mocked Okta for test suites. Needs `nock` (a peer dependency) and a test
 * runner that allows it (`nock.disableNetConnect()` is recommended).
 */
export { mockOkta, type MockOkta } from './mock-okta';
export { startDevIssuer, type DevIssuer } from './dev-issuer';
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
