import type { Dispatcher } from 'undici';

/**
 * The one HTTP client every outgoing call goes through (discovery, JWKS, and later introspection and
 * the Okta APIs). Inject your own through the `http` option; the default is {@link createHttpClient}.
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

/** Options of {@link createHttpClient}. Either one gives the client its own undici connection pool. */
export interface HttpClientOptions {
  /** Largest number of pooled connections per origin. Default: Node's global pool (no limit). */
  connections?: number;
  /** Idle keep-alive time of pooled connections, in seconds. Default: Node's global pool (4 s). */
  keepAlive?: number;
}

/**
 * Creates the default client: Node's global `fetch` (its built-in keep-alive pool), an
 * `AbortSignal` deadline over the whole exchange, no redirects, and a streamed byte limit. With
 * `connections` or `keepAlive`, the client gets its own undici `Agent` pool instead; undici is
 * then loaded, not before (a module kept off the heap makes every request's GC cheaper, see the
 * README's Performance section). Global `fetch` keeps the calls visible to nock in every test
 * file, so test suites can mock the issuer.
 *
 * @example
 * const guard = createGuard({ issuer, audience, http: createHttpClient({ connections: 16 }) });
 */
export function createHttpClient(options: HttpClientOptions = {}): HttpClient {
  let dispatcher: Dispatcher | undefined;
  if (options.connections !== undefined || options.keepAlive !== undefined) {
    const { Agent } = require('undici') as typeof import('undici');
    const keepAlive = options.keepAlive === undefined ? undefined : options.keepAlive * 1000;
    dispatcher = new Agent({ connections: options.connections, keepAliveTimeout: keepAlive, keepAliveMaxTimeout: keepAlive });
  }
  return {
    async request(req) {
      const signal = AbortSignal.timeout(Math.max(1, Math.round(req.timeout * 1000)));
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
    },
    close: () => dispatcher?.close() ?? Promise.resolve(),
  };
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
      return new Promise<HttpResponse>((resolve, reject) => {
        const timer = setTimeout(() => reject(new HttpError('timeout', `${req.url} did not answer in time`)), req.timeout * 1000 + 50);
        timer.unref();
        client.request(req).then(
          (response) => {
            clearTimeout(timer);
            resolve(response);
          },
          (error: unknown) => {
            clearTimeout(timer);
            reject(error);
          },
        );
      });
    },
    close: () => client.close?.() ?? Promise.resolve(),
  };
}
