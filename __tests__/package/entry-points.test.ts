import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = join(__dirname, '..', '..');

/**
 * Builds the package as it would be published and loads each entry point from plain Node
 * (CommonJS, outside Jest), the way a user's service does: the exports map, the declarations,
 * and jose (ESM-only) reached through require().
 */
test('the built package loads from CommonJS through its exports map', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tokengate-pkg-'));
  try {
    const pkg = join(dir, 'node_modules', 'tokengate');
    mkdirSync(pkg, { recursive: true });
    execFileSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(root, 'tsconfig.build.json'), '--outDir', join(pkg, 'dist')], { stdio: 'pipe' });
    cpSync(join(root, 'package.json'), join(pkg, 'package.json'));
    const script = `
      const Module = require('node:module');
      const path = require('node:path');
      process.env.NODE_PATH = path.join(${JSON.stringify(root)}, 'node_modules');
      Module._initPaths();
      const core = require('tokengate');
      const express = require('tokengate/express');
      const koa = require('tokengate/koa');
      const fastify = require('tokengate/fastify');
      const testing = require('tokengate/testing');
      const otel = require('tokengate/otel');
      const okta = testing.mockOkta();
      const guard = core.createGuard({ issuer: okta.issuer, audience: okta.audience });
      const metrics = otel.instrument(guard);
      guard.verifyToken(okta.token()).then(async (auth) => {
        metrics.detach();
        console.log(JSON.stringify({
          createGuard: typeof core.createGuard, AuthError: typeof core.AuthError,
          express: typeof express.protect, koa: typeof koa.protect, fastify: typeof fastify.tokengate, subject: auth.subject,
          allowed: guard.stats().decisions.allowed,
        }));
        await guard.close();
        okta.close();
      }, (error) => {
        console.error(error);
        process.exit(1);
      });
    `;
    // A child that cannot finish fails the test instead of hanging the suite.
    const out = execFileSync(process.execPath, ['-e', script], { cwd: dir, encoding: 'utf8', timeout: 60_000, killSignal: 'SIGKILL' });
    expect(JSON.parse(out)).toEqual({ createGuard: 'function', AuthError: 'function', express: 'function', koa: 'function', fastify: 'function', subject: 'alice@example.com', allowed: 1 });
    expect(() => require.resolve(join(pkg, 'dist', 'lib', 'index.d.ts'))).not.toThrow();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, 60_000);
