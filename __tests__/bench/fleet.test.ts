import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const root = join(__dirname, '..', '..');
let dir: string;

/** bench:fleet loads the built package: build it into a directory of its own, as the benchmark's BENCH_TOKENGATE_DIR allows. */
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'tokengate-fleet-'));
  execFileSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(root, 'tsconfig.build.json'), '--outDir', join(dir, 'dist')], { stdio: 'pipe' });
}, 90_000);

afterAll(() => {
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

test('bench:fleet at tiny scale writes its report, and shared verdicts cost at most 1.05 Sessions API calls per session per TTL with no 429', async () => {
  const out = join(dir, 'fleet.json');
  const args = ['--processes', '2', '--sessions', '20', '--mode', 'shared', '--speedup', '100', '--duration', '7', '--revocations', '2', '--throughput-seconds', '0', '--out', out];
  await promisify(execFile)(process.execPath, [join(root, 'bench', 'fleet.js'), ...args], {
    cwd: root,
    env: { ...process.env, BENCH_TOKENGATE_DIR: join(dir, 'dist'), NODE_PATH: join(root, 'node_modules') },
    timeout: 60_000,
  });
  const report = JSON.parse(readFileSync(out, 'utf8'));
  expect(report.parameters).toMatchObject({ processes: 2, sessions: 20, rateLimitPerMinute: 600, cacheTtlSeconds: 300, speedup: 100, compressedTtlSeconds: 3, durationSeconds: 7, revocations: 2 });
  expect(Object.keys(report.modes)).toEqual(['shared']);
  const shared = report.modes.shared;
  expect(shared).toMatchObject({
    oktaCallsPerMinute: expect.any(Number),
    callsPerSessionPerTtl: expect.any(Number),
    http429: 0,
    revocationToRefusalMs: { p50: expect.any(Number), p99: expect.any(Number), max: expect.any(Number), timedOut: 0, count: 2 },
    throughputRatio: null,
  });
  expect(shared.callsPerSessionPerTtl).toBeGreaterThan(0.5);
  expect(shared.callsPerSessionPerTtl).toBeLessThanOrEqual(1.05);
  expect(shared.requests.other + shared.requests.refused + shared.requests.unavailable).toBe(0);
}, 70_000);
