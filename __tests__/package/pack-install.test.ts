import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * The package as a user gets it: `npm pack` on the repository (its `prepack` builds dist/), the
 * tarball installed into an empty project that has tokengate's dependencies and express but no
 * nock, the README's quick start run from there, and a TypeScript consumer with `"module":
 * "commonjs"` (moduleResolution node10, so the subpaths resolve through `typesVersions`) compiled
 * with the repository's tsc, then one without `esModuleInterop` under each `moduleResolution` the
 * README names. No network: the tarball is unpacked into node_modules/tokengate (what
 * `npm install <tarball>` does, without a registry), and the dependencies are symlinks into this
 * repository's node_modules.
 */
const root = join(__dirname, '..', '..');
const readme = readFileSync(join(root, 'README.md'), 'utf8');
const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
const DEPENDENCIES = ['jose', 'lru-cache', 'undici', 'express', '@types'];

let dir: string;
let app: string;
let files: string[];
const children: ChildProcess[] = [];

/** Runs a command to completion; one that cannot finish fails the test instead of hanging it. */
function run(command: string, args: string[], cwd: string, timeout = 90_000): string {
  try {
    return execFileSync(command, args, { cwd, encoding: 'utf8', stdio: 'pipe', timeout, killSignal: 'SIGKILL' });
  } catch (error) {
    const e = error as { stdout?: string; stderr?: string; message: string };
    throw new Error(`${command} ${args.join(' ')} failed: ${e.message}\n${e.stdout ?? ''}\n${e.stderr ?? ''}`);
  }
}

/** The README's code block whose first line is `// {name}`. */
function readmeFile(name: string): string {
  const block = [...readme.matchAll(/```js\n([\s\S]*?)```/g)].map((m) => m[1]).find((code) => code.startsWith(`// ${name}`));
  if (block === undefined) throw new Error(`README.md has no \`\`\`js block starting with "// ${name}" (the Quick start)`);
  return block;
}

/** Starts `node {file}` in the app and resolves with the first stdout lines matching each pattern. */
function start(file: string, env: Record<string, string>, patterns: RegExp[]): Promise<RegExpMatchArray[]> {
  const child = spawn(process.execPath, [file], { cwd: app, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    const timer = setTimeout(() => fail(`timed out after 30 s`), 30_000);
    const fail = (why: string) => {
      clearTimeout(timer);
      reject(new Error(`node ${file}: ${why}\nstdout: ${out}\nstderr: ${err}`));
    };
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const matches = patterns.map((pattern) => out.match(pattern));
      if (matches.every((m) => m !== null)) {
        clearTimeout(timer);
        resolve(matches as RegExpMatchArray[]);
      }
    });
    child.stderr!.on('data', (chunk: Buffer) => (err += chunk.toString()));
    child.on('exit', (code, signal) => fail(`exited (${code ?? signal}) before printing ${patterns.join(', ')}`));
    child.on('error', (error) => fail(error.message));
  });
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'tokengate-pack-'));
  run('npm', ['pack', '--pack-destination', dir, '--silent', '--no-audit', '--no-fund'], root);
  const tarballs = readdirSync(dir).filter((f) => f.endsWith('.tgz'));
  if (tarballs.length !== 1) throw new Error(`npm pack made ${tarballs.length} tarballs in ${dir}`);
  const tarball = join(dir, tarballs[0]);
  files = run('tar', ['-tzf', tarball], dir).split('\n').filter(Boolean);

  app = join(dir, 'app');
  const installed = join(app, 'node_modules', 'tokengate');
  mkdirSync(installed, { recursive: true });
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'quick-start', version: '1.0.0', private: true }));
  run('tar', ['-xzf', tarball, '-C', installed, '--strip-components=1'], dir);
  for (const dep of DEPENDENCIES) symlinkSync(join(root, 'node_modules', dep), join(app, 'node_modules', dep), 'dir');
}, 120_000);

afterAll(() => {
  for (const child of children) child.kill('SIGKILL');
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

test('the tarball holds the build, the declarations, README and LICENSE, and nothing else', () => {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  for (const file of ['package.json', 'README.md', 'LICENSE', pkg.main, pkg.types, pkg.bin.tokengate]) expect(files).toContain(join('package', file));
  for (const [subpath, target] of Object.entries(pkg.exports as Record<string, string | { types: string; default: string }>)) {
    if (typeof target === 'string') continue;
    expect({ subpath, file: files.includes(join('package', target.default)) && files.includes(join('package', target.types)) }).toEqual({ subpath, file: true });
  }
  expect(files.filter((f) => !/^package\/(dist\/(lib|adapters|bin)\/|package\.json$|README\.md$|LICENSE$)/.test(f))).toEqual([]);
  expect(files.filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))).toEqual([]);
  expect(readFileSync(join(app, 'node_modules', 'tokengate', 'LICENSE'), 'utf8')).toMatch(/^MIT License\n\nCopyright \(c\) 2026 tokengate contributors\n/);
});

test("the README's quick start runs from the installed package: 401 without a token, 200 with the dev issuer's", async () => {
  // The project has no nock, and tokengate cannot reach one: the dev issuer must not need it.
  expect(existsSync(join(tmpdir(), 'node_modules'))).toBe(false);
  expect(() => require.resolve('nock', { paths: [join(app, 'node_modules', 'tokengate')] })).toThrow();

  writeFileSync(join(app, 'dev-issuer.js'), readmeFile('dev-issuer.js'));
  writeFileSync(join(app, 'server.js'), readmeFile('server.js'));
  const [[, issuer], [, audience], [, token]] = await start('dev-issuer.js', { PORT: '0' }, [/^ISSUER=(\S+)$/m, /^AUDIENCE=(\S+)$/m, /^TOKEN=(\S+)$/m]);
  const [[, url]] = await start('server.js', { ISSUER: issuer, AUDIENCE: audience, PORT: '0' }, [/listening on (http:\/\/127\.0\.0\.1:\d+)/]);

  const anonymous = await fetch(`${url}/me`, { signal: AbortSignal.timeout(10_000) });
  expect(anonymous.status).toBe(401);
  expect(anonymous.headers.get('www-authenticate')).toBe('Bearer realm="api", DPoP algs="ES256 ES384 PS256 RS256 EdDSA"');

  const signedIn = await fetch(`${url}/me`, { headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(10_000) });
  expect(signedIn.status).toBe(200);
  expect(await signedIn.json()).toEqual({ user: 'alice@example.com', scopes: ['openid', 'profile'] });
}, 120_000);

test('every entry point loads from plain Node, CommonJS and ESM; mockOkta() without nock, instrument() without @opentelemetry/api say what to install', () => {
  const cjs = `
    const t = require('tokengate'), e = require('tokengate/express'), k = require('tokengate/koa');
    const s = require('tokengate/testing'), r = require('tokengate/redis'), o = require('tokengate/otel');
    console.log([typeof t.createGuard, typeof e.protect, typeof k.protect, typeof s.startDevIssuer, typeof r.redisRevocationStore, typeof o.instrument].join(' '));
  `;
  expect(run(process.execPath, ['-e', cjs], app).trim()).toBe('function function function function function function');
  const otel = `
    const guard = require('tokengate').createGuard({ issuer: 'https://example.okta.com/oauth2/default', audience: 'api://default' });
    try { require('tokengate/otel').instrument(guard); } catch (error) { console.log(error.message); }
  `;
  expect(run(process.execPath, ['-e', otel], app)).toMatch(/instrument\(\) without a "meter" needs @opentelemetry\/api .*npm i @opentelemetry\/api/);
  const esm = `
    import { createGuard } from 'tokengate';
    import { protect } from 'tokengate/express';
    import { startDevIssuer, mockOkta } from 'tokengate/testing';
    console.log([typeof createGuard, typeof protect, typeof startDevIssuer, typeof mockOkta].join(' '));
  `;
  expect(run(process.execPath, ['--input-type=module', '-e', esm], app).trim()).toBe('function function function function');

  let stderr = '';
  try {
    execFileSync(process.execPath, ['-e', "require('tokengate/testing').mockOkta()"], { cwd: app, encoding: 'utf8', stdio: 'pipe', timeout: 30_000 });
  } catch (error) {
    stderr = String((error as { stderr?: string }).stderr);
  }
  expect(stderr).toMatch(/mockOkta\(\) needs nock .*npm i -D nock@~14\.0\.17/);
}, 60_000);

test('a TypeScript project with "module": "commonjs" (moduleResolution node10) compiles against the package', () => {
  const consumer = join(app, 'consumer');
  mkdirSync(consumer, { recursive: true });
  writeFileSync(
    join(consumer, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: { module: 'commonjs', moduleResolution: 'node10', target: 'ES2022', strict: true, esModuleInterop: true, skipLibCheck: false, noEmit: true, types: ['node'] },
      files: ['index.ts'],
    }),
  );
  writeFileSync(
    join(consumer, 'index.ts'),
    `import express from 'express';
import { createGuard, type AuthResult } from 'tokengate';
import { protect } from 'tokengate/express';
import { mockOkta, startDevIssuer, type DevIssuer, type MockOkta } from 'tokengate/testing';

// Unresolved types would be any, and any compiles: make that an error.
type IsAny<T> = 0 extends 1 & T ? true : false;
const resolved: [IsAny<typeof protect>, IsAny<typeof startDevIssuer>, IsAny<MockOkta>, IsAny<AuthResult>] = [false, false, false, false];

export async function main(): Promise<void> {
  const dev: DevIssuer = await startDevIssuer();
  const guard = createGuard({ issuer: dev.issuer, audience: dev.okta.audience });
  const app = express();
  app.get('/me', protect(guard, { scopes: ['orders:read'] }), (req, res) => {
    const subject: string | undefined = req.auth!.subject;
    res.json({ subject, resolved });
  });
  const okta: MockOkta = mockOkta();
  const token: string = okta.token({ scp: ['orders:read'] });
  console.log(token.length);
}
`,
  );
  run(process.execPath, [tsc, '-p', consumer], consumer);

  // The same project with a type error fails, so the check above is not vacuous.
  writeFileSync(join(consumer, 'index.ts'), `import { protect } from 'tokengate/express';\nprotect({ issuer: 42 });\n`);
  expect(() => run(process.execPath, [tsc, '-p', consumer], consumer)).toThrow(/TS2322|TS2769|TS2345/);
}, 90_000);

test('without esModuleInterop, the entry points compile under every moduleResolution: node10 (typesVersions), node16 and nodenext from CommonJS and ESM, bundler (exports)', () => {
  const consumer = join(app, 'interop');
  mkdirSync(consumer, { recursive: true });
  const source = `import { createGuard, AuthError, type AuthResult } from 'tokengate';
import { protect } from 'tokengate/express';
import { mockOkta, startDevIssuer } from 'tokengate/testing';
import { redisRevocationStore } from 'tokengate/redis';

type IsAny<T> = 0 extends 1 & T ? true : false;
export const resolved: [IsAny<typeof createGuard>, IsAny<typeof protect>, IsAny<typeof mockOkta>, IsAny<typeof redisRevocationStore>, IsAny<AuthResult>] = [false, false, false, false, false];
export const used = [AuthError, startDevIssuer];
`;
  writeFileSync(join(consumer, 'index.ts'), source);
  writeFileSync(join(consumer, 'index.mts'), source);
  const settings: Array<[string, string, string]> = [
    ['commonjs', 'node10', 'index.ts'],
    ['node16', 'node16', 'index.ts'],
    ['nodenext', 'nodenext', 'index.ts'],
    ['nodenext', 'nodenext', 'index.mts'],
    ['esnext', 'bundler', 'index.ts'],
  ];
  for (const [module, moduleResolution, file] of settings) {
    const compilerOptions = { module, moduleResolution, target: 'ES2022', strict: true, esModuleInterop: false, allowSyntheticDefaultImports: false, skipLibCheck: true, noEmit: true, types: ['node'] };
    writeFileSync(join(consumer, 'tsconfig.json'), JSON.stringify({ compilerOptions, files: [file] }));
    expect({ module, moduleResolution, file, output: run(process.execPath, [tsc, '-p', consumer], consumer) }).toEqual({ module, moduleResolution, file, output: '' });
  }
}, 120_000);
