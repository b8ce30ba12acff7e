import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type nockType from 'nock';
import { OktaModel, type OktaModelOptions } from './model';

/**
 * The nock versions `mockOkta()` works with on Node 20 under Jest (the `nock` peer range): 14.x, and
 * exactly 15.0.0. 15.0.1 is ESM-only (Jest cannot `require()` it on Node 20) and, like 15.0.2, fails
 * every request (`Promise.withResolvers is not a function`); 15.0.6 and later need Node 22.
 */
export const SUPPORTED_NOCK = '^14.0.0 || 15.0.0';

const INSTALL_NOCK = 'npm i -D nock@~14.0.17';

type Nock = typeof nockType;
let loadedNock: Nock | undefined;

/** Whether a nock version is in {@link SUPPORTED_NOCK} (a prerelease never is). */
function isSupportedNock(version: string): boolean {
  const parts = /^(\d+)\.(\d+)\.(\d+)$/.exec(version);
  return parts !== null && (parts[1] === '14' || version === '15.0.0');
}

/** The installed nock's version, read without loading nock; `undefined` when it cannot be found. */
function installedNockVersion(): string | undefined {
  try {
    return String((require('nock/package.json') as { version?: unknown }).version);
  } catch {
    // nock 15.0.1+ does not export ./package.json: look for it above the entry point.
  }
  try {
    let dir = dirname(require.resolve('nock'));
    for (let depth = 0; depth < 4; depth++, dir = dirname(dir)) {
      try {
        const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: unknown; version?: unknown };
        if (pkg.name === 'nock') return String(pkg.version);
      } catch {
        // no package.json at this level
      }
    }
  } catch {
    // not installed
  }
  return undefined;
}

/**
 * Loads nock on first use, so that the rest of `tokengate/testing` (`startDevIssuer()`, the model,
 * the key helpers) works without it. Throws an `Error` naming the installed version and the one to
 * install when nock is missing, outside {@link SUPPORTED_NOCK}, or cannot be loaded.
 */
function loadNock(): Nock {
  if (loadedNock !== undefined) return loadedNock;
  const version = installedNockVersion();
  if (version !== undefined && !isSupportedNock(version)) {
    throw new Error(
      `tokengate/testing: mockOkta() needs nock ${SUPPORTED_NOCK} (what works on Node 20 under Jest), but nock ${version} is installed. Install a supported version: ${INSTALL_NOCK}`,
    );
  }
  let loaded: unknown;
  try {
    loaded = require('nock');
  } catch (error) {
    const reason = error instanceof Error ? error.message.split('\n')[0] : String(error);
    throw new Error(
      version === undefined
        ? `tokengate/testing: mockOkta() needs nock (an optional peer dependency), which could not be loaded (${reason}). Install it: ${INSTALL_NOCK}`
        : `tokengate/testing: nock ${version} is installed but could not be loaded (${reason}). mockOkta() needs nock ${SUPPORTED_NOCK}: ${INSTALL_NOCK}`,
      { cause: error },
    );
  }
  // An ES module loaded through require() comes as a namespace whose default export is nock.
  const nock = (typeof loaded === 'function' ? loaded : (loaded as { default?: unknown } | undefined)?.default) as Nock | undefined;
  if (typeof nock !== 'function' || typeof nock.removeInterceptor !== 'function') {
    throw new Error(`tokengate/testing: the module loaded as nock${version === undefined ? '' : ` ${version}`} is not nock's API. mockOkta() needs nock ${SUPPORTED_NOCK}: ${INSTALL_NOCK}`);
  }
  loadedNock = nock;
  return nock;
}

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
 * `{issuer}/v1/keys`, introspection, revocation, the token endpoint, the logout endpoint, and the
 * Sessions API; see {@link OktaModel}. Works with `nock.disableNetConnect()`. Its interceptors are
 * optional, so `nock.isDone()` and `nock.pendingMocks()` are about your own mocks only. Needs nock
 * {@link SUPPORTED_NOCK} (loaded on the first call); throws an `Error` saying which to install otherwise.
 *
 * @example
 * const okta = mockOkta();
 * const session = okta.session();
 * const token = okta.token({ sid: session.id, scp: ['orders:read'] });
 * okta.endSession(session.id); // a strict route now refuses the token
 * okta.close();
 */
export function mockOkta(options: OktaModelOptions = {}): MockOkta {
  const nock = loadNock();
  const model = new OktaModel(options);
  const origin = model.orgUrl;
  const timers = new Set<NodeJS.Timeout>();
  const scope = nock(origin).persist();
  // Only this model's own paths: other requests to the org (a user's own mocks, another mock on
  // another authorization server of the same org) fall through to whatever else is set up.
  // Optional: they stand for an org that answers whatever is asked, so `nock.isDone()` and
  // `nock.pendingMocks()` speak only of the mocks the suite set up itself.
  const interceptors = (['get', 'post', 'delete'] as const).map((method) =>
    scope[method]((path: string) => model.route(method.toUpperCase(), new URL(path, origin).pathname) !== undefined).optionally(),
  );
  for (const interceptor of interceptors) {
    interceptor.reply(function (uri, body, callback) {
      const url = new URL(uri, origin);
      const answer = model.handle({
        method: this.req.method,
        path: url.pathname,
        query: url.search.slice(1),
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
      model.push.close();
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      for (const interceptor of interceptors) nock.removeInterceptor(interceptor);
    },
  });
}
