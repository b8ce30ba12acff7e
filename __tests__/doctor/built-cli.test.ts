import { execFile, execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OktaModel } from 'tokengate/testing';

const root = join(__dirname, '..', '..');
let dir: string;
let bin: string;
let server: Server;
let okta: OktaModel;

/**
 * The CLI as `npx tokengate` runs it: compiled by the build, started by plain Node from its shebang,
 * against an issuer served over real HTTP on 127.0.0.1 by the testing kit's Okta model.
 */
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tokengate-bin-'));
  execFileSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(root, 'tsconfig.build.json'), '--outDir', join(dir, 'dist')], { stdio: 'pipe' });
  bin = join(dir, 'dist', 'bin', 'tokengate.js');
  chmodSync(bin, 0o755);
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const answer = okta.handle({ method: req.method ?? 'GET', path: new URL(req.url ?? '/', 'http://127.0.0.1').pathname, headers: req.headers, body: Buffer.concat(chunks).toString() });
      res.writeHead(answer.status, answer.headers).end(answer.body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  okta = new OktaModel({ issuer: `http://127.0.0.1:${(server.address() as AddressInfo).port}/oauth2/default` });
}, 60_000);

afterAll(async () => {
  await new Promise((resolve) => server?.close(resolve));
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const env = { ...process.env, NODE_PATH: join(root, 'node_modules') };
    execFile(bin, args, { env, encoding: 'utf8', timeout: 20_000 }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : Number((error as { code?: unknown }).code), stdout, stderr });
    });
  });
}

test('the built CLI exits 0 for a good token and 1 for a wrong audience, printing neither token nor signature', async () => {
  const args = ['--issuer', okta.issuer, '--audience', okta.audience];
  const good = okta.token();
  const accepted = await run(['doctor', good, ...args]);
  expect(accepted).toMatchObject({ code: 0, stderr: '' });
  expect(accepted.stdout).toMatch(/^PASS  signature  verifies with that key \(RS256\)$/m);

  const wrong = okta.token({ aud: 'api://billing' });
  const refused = await run(['doctor', wrong, ...args]);
  expect(refused.code).toBe(1);
  expect(refused.stdout).toMatch(/^FAIL  audience   ERR_AUDIENCE_INVALID: .*the token's aud is "api:\/\/billing"; --audience is "api:\/\/default"/m);
  for (const token of [good, wrong]) {
    expect(accepted.stdout + refused.stdout).not.toContain(token.split('.')[2]);
  }
}, 30_000);

test('the built CLI answers bad arguments with the usage and exit 2, without a stack trace', async () => {
  const result = await run(['doctor', '--issuer', 'ftp://example.com']);
  expect(result.code).toBe(2);
  expect(result.stdout).toBe('');
  expect(result.stderr).toMatch(/^tokengate: no token given\n\nUsage: tokengate doctor/);
  expect(result.stderr).not.toMatch(/\n\s+at /);
}, 30_000);
