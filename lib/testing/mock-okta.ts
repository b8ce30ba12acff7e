import nock from 'nock';
import { OktaModel, type FailureMode, type MockEndpoint, type OktaModelOptions, type TokenOptions } from './okta-model';

/** A mocked Okta authorization server served by nock. See {@link mockOkta}. */
export interface MockOkta {
  /** The issuer URL to give the guard. */
  readonly issuer: string;
  /** The JWKS URL (`{issuer}/v1/keys`). */
  readonly jwksUri: string;
  /** Default `aud` of minted tokens. */
  readonly audience: string;
  /** Default `cid` of minted tokens. */
  readonly clientId: string;
  /** Requests received per endpoint. */
  readonly calls: Readonly<Record<MockEndpoint, number>>;
  /** Key ids currently published, newest last. */
  readonly kids: string[];
  /** The JWK set as published (public keys only). */
  jwks(): { keys: Array<Record<string, unknown>> };
  /** Mints a signed Okta-shaped access token; `claims` override the defaults, `undefined` removes one. */
  token(claims?: Record<string, unknown>, options?: TokenOptions): string;
  /** Publishes new keys and signs with them; `removeOld` also withdraws the old ones. */
  rotateKeys(options?: { removeOld?: boolean }): void;
  /** Makes `discovery` or `jwks` fail: `'down'`, `'slow'` (never answers within `delay` ms, default 30000), `'garbage'`, or an HTTP status. */
  fail(endpoint: MockEndpoint, mode: FailureMode, options?: { times?: number; delay?: number }): void;
  /** Ends the failure of one endpoint, or of all. */
  recover(endpoint?: MockEndpoint): void;
  /** Sets the call counters back to zero. */
  resetCalls(): void;
  /** Removes this mock's interceptors. */
  close(): void;
}

/**
 * Mocks an Okta custom authorization server with nock: discovery, and the JWKS at `{issuer}/v1/keys`,
 * with real signing keys. Works with `nock.disableNetConnect()`; every call is counted.
 *
 * Does NOT (yet) mock introspection, the token endpoint or the sessions API.
 *
 * @example
 * const okta = mockOkta();
 * const app = express().use(protect({ issuer: okta.issuer, audience: okta.audience }));
 * await request(app).get('/').set('Authorization', `Bearer ${okta.token({ scp: ['orders:read'] })}`).expect(200);
 * okta.close();
 */
export function mockOkta(options: OktaModelOptions = {}): MockOkta {
  const model = new OktaModel(options);
  const origin = new URL(model.issuer).origin;
  const timers = new Set<NodeJS.Timeout>();
  const scope = nock(origin).persist();
  const interceptor = scope.get(() => true);
  interceptor.reply((uri, _body, callback) => {
    const answer = model.handle('GET', new URL(uri, origin).pathname);
    const send = () => {
      if (answer.error !== undefined) callback(answer.error, [0, '']);
      else callback(null, [answer.status, answer.body, answer.headers]);
    };
    if (answer.delay === undefined) return send();
    const timer = setTimeout(() => {
      timers.delete(timer);
      send();
    }, answer.delay);
    timer.unref();
    timers.add(timer);
  });
  return {
    issuer: model.issuer,
    jwksUri: model.jwksUri,
    audience: model.audience,
    clientId: model.clientId,
    calls: model.calls,
    get kids() {
      return model.kids;
    },
    jwks: () => model.jwks(),
    token: (claims, tokenOptions) => model.token(claims, tokenOptions),
    rotateKeys: (rotateOptions) => model.rotateKeys(rotateOptions),
    fail: (endpoint, mode, failOptions) => model.fail(endpoint, mode, failOptions),
    recover: (endpoint) => model.recover(endpoint),
    resetCalls: () => model.resetCalls(),
    close() {
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      nock.removeInterceptor(interceptor);
    },
  };
}
