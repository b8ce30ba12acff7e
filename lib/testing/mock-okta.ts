import nock from 'nock';
import { OktaModel, type OktaModelOptions } from './model';

/**
 * A mocked Okta served by nock: everything {@link OktaModel} offers (tokens, keys, sessions,
 * introspection, failures, latency, rate limits, call counts), plus `close()` to take it away.
 */
export type MockOkta = OktaModel & {
  /** Removes this mock's interceptors and cancels answers still waiting on latency. */
  close(): void;
};

/**
 * Mocks an Okta org and its custom authorization server with nock: discovery, the JWKS at
 * `{issuer}/v1/keys`, introspection, revocation, the token endpoint (client credentials for the
 * Okta API), and the Sessions API. Works with `nock.disableNetConnect()`.
 *
 * @example
 * const okta = mockOkta();
 * const session = okta.session();
 * const token = okta.token({ sid: session.id, scp: ['orders:read'] });
 * okta.endSession(session.id); // a strict route now refuses the token
 * okta.close();
 */
export function mockOkta(options: OktaModelOptions = {}): MockOkta {
  const model = new OktaModel(options);
  const origin = model.orgUrl;
  const timers = new Set<NodeJS.Timeout>();
  const scope = nock(origin).persist();
  // Only this model's own paths: other requests to the org (a user's own mocks, another mock on
  // another authorization server of the same org) fall through to whatever else is set up.
  const interceptors = (['get', 'post', 'delete'] as const).map((method) =>
    scope[method]((path: string) => model.route(method.toUpperCase(), new URL(path, origin).pathname) !== undefined),
  );
  for (const interceptor of interceptors) {
    interceptor.reply(function (uri, body, callback) {
      const answer = model.handle({
        method: this.req.method,
        path: new URL(uri, origin).pathname,
        headers: this.req.headers,
        body: typeof body === 'string' ? body : body === undefined ? '' : JSON.stringify(body),
      });
      const send = () => {
        if (answer.error !== undefined) callback(answer.error, [0, '']);
        else callback(null, [answer.status, answer.body, answer.headers]);
      };
      if (answer.delay === undefined || answer.delay <= 0) return send();
      const timer = setTimeout(() => {
        timers.delete(timer);
        send();
      }, answer.delay);
      timer.unref();
      timers.add(timer);
    });
  }
  return Object.assign(model, {
    close() {
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      for (const interceptor of interceptors) nock.removeInterceptor(interceptor);
    },
  });
}
