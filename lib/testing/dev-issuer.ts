import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { OktaModel, type OktaModelOptions } from './model';

/** A running development issuer. See {@link startDevIssuer}. */
export interface DevIssuer {
  /** The issuer URL (`http://127.0.0.1:{port}/oauth2/default`). */
  readonly issuer: string;
  /** The Okta state behind it: mint tokens, create and end sessions, make endpoints fail. */
  readonly okta: OktaModel;
  /** Stops the server. */
  close(): Promise<void>;
}

/**
 * Serves the same Okta model as {@link mockOkta} over real HTTP on loopback: discovery, keys,
 * token (refresh and client credentials), introspection, revocation, logout and the Sessions API, all
 * state in memory. For demos, local development and tools that run outside a test runner; needs no nock.
 * `port` 0 (the default) picks a free one.
 *
 * @example
 * const dev = await startDevIssuer();
 * const guard = createGuard({ issuer: dev.issuer, audience: dev.okta.audience });
 */
export async function startDevIssuer(options: Omit<OktaModelOptions, 'issuer'> & { port?: number; path?: string } = {}): Promise<DevIssuer> {
  let okta: OktaModel | undefined;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > 65_536) req.destroy();
      else chunks.push(chunk);
    });
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      const answer = okta!.handle({
        method: req.method ?? 'GET',
        path: url.pathname,
        query: url.search.slice(1),
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      });
      const send = () => {
        if (answer.error !== undefined) {
          req.socket.destroy();
          return;
        }
        res.writeHead(answer.status, answer.headers).end(answer.body);
      };
      if (answer.delay !== undefined && answer.delay > 0) setTimeout(send, answer.delay).unref();
      else send();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;
  const { port: _port, path = '/oauth2/default', ...modelOptions } = options;
  try {
    okta = new OktaModel({ ...modelOptions, issuer: `http://127.0.0.1:${port}${path}` });
  } catch (error) {
    server.close();
    throw error;
  }
  return {
    issuer: okta.issuer,
    okta,
    close: () =>
      new Promise<void>((resolve) => {
        okta!.push.close();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
