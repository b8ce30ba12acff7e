import type { Dispatcher } from 'undici';
import { settleWithin } from '../util/deadline';

/**
 * The one HTTP client every outgoing call goes through (discovery, JWKS, introspection, the token
 * and revocation endpoints, the Okta APIs). Inject your own through the `http` option; the default
 * is {@link createHttpClient}.
 */
export interface HttpClient {
  /** Performs one request. Rejects with {@link HttpError} on network failure, timeout or oversize body. */
  request(request: HttpRequest): Promise<HttpResponse>;
  /** Releases pooled connections. */
  close?(): Promise<void>;
}

/** One outgoing request. */
export interface HttpRequest {
  method: 'GET' | 'POST' | 'DELETE';
  url: string;
  headers?: Record<string, string>;
  body?: string;
  /** Whole-request deadline, connection to last body byte, in seconds. */
  timeout: number;
  /** Largest body accepted, in bytes; a larger one fails with reason `too_large`. */
  maxBytes: number;
}

/** A response whose body was read in full. Header names are lower-case. */
export interface HttpResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Why an outgoing request failed before a response could be used. */
export type HttpFailure = 'timeout' | 'network' | 'too_large';

/** A failed outgoing request. The message names the URL, never a credential. */
export class HttpError extends Error {
  /** What went wrong. */
  readonly reason: HttpFailure;
  constructor(reason: HttpFailure, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'HttpError';
    this.reason = reason;
  }
}

/** Options of {@link createHttpClient}. */
export interface HttpClientOptions {
  /** Most requests in flight per origin; more wait their turn (within their deadline). Default 8. */
  connections?: number;
  /**
   * Idle keep-alive time of pooled connections, in seconds. Default: the global pool's (undici's
   * 4 s). Given, the client gets its own undici `Agent` (loaded then, not before), with
   * `connections` connections per origin.
   */
  keepAlive?: number;
}

/**
 * Creates the default client: Node's global `fetch` and its keep-alive pool (so a dispatcher your
 * app sets with undici's `setGlobalDispatcher`, e.g. a proxy, applies), at most `connections`
 * requests in flight per origin, an `AbortSignal` deadline over the whole exchange (waiting for a
 * turn included), no redirects, and a streamed byte limit. With `keepAlive`, the client gets its
 * own undici `Agent`; undici is loaded then, not before (a module kept off the heap keeps every
 * request's garbage collection cheaper). Global `fetch` keeps the calls
 * visible to nock in every test file, so test suites can mock the issuer.
 *
 * @example
 * const guard = createGuard({ issuer, audience, http: createHttpClient({ connections: 16 }) });
 */
export function createHttpClient(options: HttpClientOptions = {}): HttpClient {
  const limit = options.connections ?? 8;
  if (!Number.isInteger(limit) || limit < 1) throw new TypeError('tokengate: createHttpClient() option "connections" must be a whole number of at least 1');
  let dispatcher: Dispatcher | undefined;
  if (options.keepAlive !== undefined) {
    if (!(options.keepAlive > 0)) throw new TypeError('tokengate: createHttpClient() option "keepAlive" must be a number of seconds above 0');
    const { Agent } = require('undici') as typeof import('undici');
    const keepAlive = options.keepAlive * 1000;
    dispatcher = new Agent({ connections: limit, keepAliveTimeout: keepAlive, keepAliveMaxTimeout: keepAlive });
  }
  const lanes = new Map<string, Lane>();
  return {
    async request(req) {
      const signal = AbortSignal.timeout(Math.max(1, Math.round(req.timeout * 1000)));
      let release: () => void;
      try {
        release = await turn(lanes, new URL(req.url).origin, limit, signal);
      } catch (error) {
        throw failure(error, signal, req.url);
      }
      try {
        return await exchange(req, signal, dispatcher);
      } finally {
        release();
      }
    },
    close: () => dispatcher?.close() ?? Promise.resolve(),
  };
}

/** Requests in flight to one origin, and those waiting for a turn. */
interface Lane {
  running: number;
  waiting: Array<() => void>;
}

/** Resolves to the release of a turn once fewer than `limit` requests to the origin are in flight; rejects if the deadline passes first. */
function turn(lanes: Map<string, Lane>, origin: string, limit: number, signal: AbortSignal): Promise<() => void> {
  let lane = lanes.get(origin);
  if (lane === undefined) {
    lane = { running: 0, waiting: [] };
    lanes.set(origin, lane);
  }
  const own = lane;
  const release = (): void => {
    const next = own.waiting.shift();
    if (next !== undefined) return next();
    own.running--;
    if (own.running === 0 && lanes.get(origin) === own) lanes.delete(origin);
  };
  if (own.running < limit) {
    own.running++;
    return Promise.resolve(release);
  }
  return new Promise((resolve, reject) => {
    const go = (): void => {
      signal.removeEventListener('abort', abort);
      resolve(release);
    };
    const abort = (): void => {
      own.waiting.splice(own.waiting.indexOf(go), 1);
      reject(signal.reason);
    };
    own.waiting.push(go);
    signal.addEventListener('abort', abort, { once: true });
  });
}

/** One fetch, its status, headers and size-limited body. */
async function exchange(req: HttpRequest, signal: AbortSignal, dispatcher: Dispatcher | undefined): Promise<HttpResponse> {
  let response: Response;
  try {
    const init = { method: req.method, headers: req.headers, body: req.body, redirect: 'manual', signal, ...(dispatcher && { dispatcher }) };
    // undici 7's Dispatcher type is not the one @types/node 20 bundles for the global fetch.
    response = await fetch(req.url, init as unknown as RequestInit);
  } catch (error) {
    throw failure(error, signal, req.url);
  }
  try {
    const declared = Number(response.headers.get('content-length'));
    if (declared > req.maxBytes) {
      throw new HttpError('too_large', `${req.url} announced ${declared} bytes, over the limit of ${req.maxBytes}`);
    }
    const body = await readLimited(response, req.maxBytes, req.url);
    const headers: Record<string, string> = {};
    response.headers.forEach((value, name) => {
      headers[name] = value;
    });
    return { status: response.status, headers, body };
  } catch (error) {
    await response.body?.cancel().catch(() => undefined);
    throw error instanceof HttpError ? error : failure(error, signal, req.url);
  }
}

function failure(error: unknown, signal: AbortSignal, url: string): HttpError {
  if (signal.aborted) return new HttpError('timeout', `${url} did not answer in time`, { cause: error });
  return new HttpError('network', `${url} could not be reached`, { cause: error });
}

async function readLimited(response: Response, maxBytes: number, url: string): Promise<string> {
  if (!response.body) return '';
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      await reader.cancel();
      throw new HttpError('too_large', `${url} sent more than ${maxBytes} bytes`);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks, total).toString('utf8');
}

/**
 * Wraps a client so that every request settles by its deadline (plus 50 ms), whatever the client
 * does: an injected client that never answers cannot hold a single-flight fetch forever.
 */
export function withDeadline(client: HttpClient): HttpClient {
  return {
    request(req) {
      return settleWithin(() => client.request(req), req.timeout * 1000 + 50, () => new HttpError('timeout', `${req.url} did not answer in time`));
    },
    close: () => client.close?.() ?? Promise.resolve(),
  };
}
