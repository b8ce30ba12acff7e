import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createGuard, createHttpClient, HttpError, type HttpClient } from 'tokengate';
import { OktaModel } from 'tokengate/testing';

/** A real server on 127.0.0.1, so the default client's own fetch/undici path is exercised. */
let server: Server;
let base: string;
let client: HttpClient;
let inFlight = 0;
let mostInFlight = 0;

beforeAll(async () => {
  server = createServer((req, res) => {
    switch (req.url) {
      case '/ok':
        res.setHeader('content-type', 'application/json');
        res.end('{"ok":true}');
        return;
      case '/big-declared':
        res.setHeader('content-length', '5000');
        res.end('x'.repeat(5000));
        return;
      case '/big-chunked':
        res.write('x'.repeat(3000));
        res.end('x'.repeat(3000));
        return;
      case '/hold':
        inFlight++;
        mostInFlight = Math.max(mostInFlight, inFlight);
        setTimeout(() => {
          inFlight--;
          res.end('held');
        }, 150).unref();
        return;
      case '/slow':
        setTimeout(() => res.end('late'), 2000).unref();
        return;
      case '/redirect':
        res.statusCode = 302;
        res.setHeader('location', 'http://127.0.0.1:1/elsewhere');
        res.end();
        return;
      default:
        res.statusCode = 404;
        res.end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  client = createHttpClient();
});
afterAll(async () => {
  await client.close?.();
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

const get = (path: string, extra: { timeout?: number; maxBytes?: number } = {}) =>
  client.request({ method: 'GET', url: `${base}${path}`, timeout: extra.timeout ?? 2, maxBytes: extra.maxBytes ?? 4096 });

test('reads a JSON body with lower-case headers', async () => {
  const res = await get('/ok');
  expect(res).toMatchObject({ status: 200, body: '{"ok":true}', headers: { 'content-type': 'application/json' } });
});

test('refuses a body whose Content-Length is over maxBytes', async () => {
  await expect(get('/big-declared')).rejects.toMatchObject({ reason: 'too_large' });
});

test('stops reading a chunked body once it passes maxBytes', async () => {
  await expect(get('/big-chunked')).rejects.toMatchObject({ reason: 'too_large' });
});

test('gives up at the deadline', async () => {
  const started = Date.now();
  const error = await get('/slow', { timeout: 0.2 }).catch((e) => e);
  expect(error).toBeInstanceOf(HttpError);
  expect(error.reason).toBe('timeout');
  expect(Date.now() - started).toBeLessThan(1000);
});

test('does not follow redirects', async () => {
  await expect(get('/redirect')).resolves.toMatchObject({ status: 302 });
});

test('a refused connection is a network failure', async () => {
  await expect(client.request({ method: 'GET', url: 'http://127.0.0.1:1/', timeout: 2, maxBytes: 10 })).rejects.toMatchObject({ reason: 'network' });
});

test('a guard verifies against a real loopback issuer over HTTP', async () => {
  const issuerServer = createServer((req, res) => {
    const answer = live.handle({ method: req.method ?? 'GET', path: new URL(req.url ?? '/', 'http://x').pathname, headers: req.headers, body: '' });
    res.writeHead(answer.status, answer.headers).end(answer.body);
  });
  await new Promise<void>((resolve) => issuerServer.listen(0, '127.0.0.1', resolve));
  const port = (issuerServer.address() as AddressInfo).port;
  const live = new OktaModel({ issuer: `http://127.0.0.1:${port}/oauth2/default` });
  const guard = createGuard({ issuer: live.issuer, audience: live.audience });
  try {
    await expect(guard.verifyToken(live.token())).resolves.toMatchObject({ subject: 'alice@example.com' });
    expect(live.calls).toMatchObject({ discovery: 1, jwks: 1 });
  } finally {
    await guard.close();
    issuerServer.closeAllConnections();
    await new Promise((resolve) => issuerServer.close(resolve));
  }
});

test('at most `connections` requests are in flight per origin; the others wait their turn', async () => {
  const narrow = createHttpClient({ connections: 2 });
  mostInFlight = 0;
  const answers = await Promise.all(Array.from({ length: 5 }, () => narrow.request({ method: 'GET', url: `${base}/hold`, timeout: 3, maxBytes: 100 })));
  expect(answers.map((a) => a.body)).toEqual(['held', 'held', 'held', 'held', 'held']);
  expect(mostInFlight).toBe(2);
  // A request whose deadline passes while it waits for a turn fails as a timeout, and frees nothing it did not hold.
  const first = narrow.request({ method: 'GET', url: `${base}/hold`, timeout: 3, maxBytes: 100 });
  const second = narrow.request({ method: 'GET', url: `${base}/hold`, timeout: 3, maxBytes: 100 });
  const late = narrow.request({ method: 'GET', url: `${base}/hold`, timeout: 0.05, maxBytes: 100 }).catch((e) => e);
  expect(await late).toMatchObject({ reason: 'timeout' });
  await expect(Promise.all([first, second])).resolves.toHaveLength(2);
  await expect(narrow.request({ method: 'GET', url: `${base}/ok`, timeout: 1, maxBytes: 100 })).resolves.toMatchObject({ status: 200 });
  await narrow.close?.();
});

test('keepAlive gives the client its own undici pool', async () => {
  const own = createHttpClient({ keepAlive: 5, connections: 4 });
  await expect(own.request({ method: 'GET', url: `${base}/ok`, timeout: 2, maxBytes: 100 })).resolves.toMatchObject({ status: 200, body: '{"ok":true}' });
  await own.close?.();
});

test('bad client options throw at creation', () => {
  expect(() => createHttpClient({ connections: 0 })).toThrow('"connections" must be a whole number of at least 1');
  expect(() => createHttpClient({ keepAlive: -1 })).toThrow('"keepAlive" must be a number of seconds above 0');
});
