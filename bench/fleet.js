'use strict';
// `npm run bench:fleet` — strict sessions at fleet scale (issue 15 §4). N instance processes
// (bench/lib/fleet-server.js) behind one real redis-server started here, M active Okta sessions on
// the kit's dev issuer, whose Sessions API is rate-limited as Okta's is (X-Rate-Limit-* headers,
// 429 E0000047 past the limit). Per mode — poll (every instance asks Okta itself, today's
// behaviour), shared (verdicts shared through redisAnswerStore) and push (shared, plus
// `sessions.pushed` and the SSF receiver: the kit's transmitter pushes session-revoked) — it
// reports the Sessions API calls per minute and per session per TTL, the 429s, the time from a
// session's end at Okta to a refusal on every instance, and the strict route's throughput against
// bare Express on one instance.
//
// Time is compressed by --speedup: cacheTtl, staleIfError, retryAfter and Okta's rate-limit
// window (60 s) all shrink by the same factor, so a run of a minute per mode stands for
// --speedup minutes of a fleet, and the rate is still --rate-limit calls per (compressed) minute.
// The headline figures are counts, which do not depend on this machine's speed.
const { fork } = require('node:child_process');
const path = require('node:path');
const fs = require('node:fs');
const { parseArgs } = require('node:util');
const autocannon = require('autocannon');
const Redis = require('ioredis');
const tokengate = require('./lib/tokengate');
const { startRedis } = require('./lib/redis-server');
const { steadyLoad, timeRefusal, percentile } = require('./lib/fleet-load');
const { median, provenance } = require('./lib/harness');

const MODES = ['poll', 'shared', 'push'];
const SSF_AUDIENCE = 'https://bench.example/ssf';

const { values: flags } = parseArgs({
  options: {
    processes: { type: 'string', default: '8' },
    sessions: { type: 'string', default: '2000' },
    'rate-limit': { type: 'string', default: '600' },
    mode: { type: 'string', default: 'all' },
    ttl: { type: 'string', default: '300' },
    'push-ttl': { type: 'string', default: '3600' },
    speedup: { type: 'string', default: '10' },
    duration: { type: 'string' },
    revocations: { type: 'string', default: '10' },
    'throughput-seconds': { type: 'string', default: '2' },
    out: { type: 'string', default: path.join(__dirname, 'results', 'fleet.json') },
  },
});

function number(name, min) {
  const value = Number(flags[name]);
  if (!Number.isFinite(value) || value < min) throw new Error(`--${name} must be a number of at least ${min} (got ${flags[name]})`);
  return value;
}

const processes = number('processes', 1);
const sessions = number('sessions', 1);
const rateLimit = number('rate-limit', 1);
const ttl = number('ttl', 1);
const pushTtl = number('push-ttl', 1);
const speedup = number('speedup', 1);
const compressedTtl = ttl / speedup;
const duration = flags.duration === undefined ? 3 * compressedTtl : number('duration', 2 * compressedTtl);
const revocations = number('revocations', 0);
const throughputSeconds = number('throughput-seconds', 0);
const modes = flags.mode === 'all' ? MODES : [flags.mode];
if (!modes.every((m) => MODES.includes(m))) throw new Error(`--mode must be poll, shared, push or all (got ${flags.mode})`);

/** Starts one instance; resolves to { child, port }. */
function startInstance(mode, env) {
  return new Promise((resolve, reject) => {
    const child = fork(path.join(__dirname, 'lib', 'fleet-server.js'), [mode], { env: { ...process.env, ...env }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    child.once('message', (msg) => resolve({ child, port: msg.port }));
    child.once('exit', (code) => reject(new Error(`fleet-server ${mode} exited (${code})`)));
  });
}

const stats = (child) => new Promise((resolve) => {
  child.once('message', resolve);
  child.send({ type: 'stats' });
});

/** Median ratio of the strict route's throughput to bare Express's on one instance, over three alternating pairs. */
async function throughput(port, tokens) {
  if (throughputSeconds === 0) return { ratio: null, pairs: [] };
  const run = async (route) => {
    const requests = tokens.map((token) => ({ method: 'GET', path: route, headers: { authorization: `Bearer ${token}` } }));
    const result = await autocannon({ url: `http://127.0.0.1:${port}`, duration: throughputSeconds, connections: 8, requests });
    return { rps: result.requests.total / throughputSeconds, non2xx: result.non2xx };
  };
  const pairs = [];
  for (let i = 0; i < 3; i++) {
    const bare = await run('/api/bare');
    const strict = await run('/api/strict');
    pairs.push({ bareRps: Math.round(bare.rps), strictRps: Math.round(strict.rps), strictNon2xx: strict.non2xx, ratio: strict.rps / bare.rps });
  }
  return { ratio: median(pairs.map((p) => p.ratio)), pairs };
}

async function runMode(mode, dev, redisPort, cleanup) {
  const { okta } = dev;
  const flush = new Redis({ host: '127.0.0.1', port: redisPort });
  await flush.flushall();
  flush.disconnect();
  const list = Array.from({ length: sessions }, (_, i) => okta.session({ userId: `00ubench${String(i).padStart(6, '0')}`, login: `user${i}@bench.example`, expiresIn: 7200 }));
  const tokens = list.map((s) => okta.token({ sid: s.id, uid: s.userId, sub: s.login }));
  const modeTtl = mode === 'push' ? pushTtl / speedup : compressedTtl;
  const env = {
    BENCH_ISSUER: dev.issuer,
    BENCH_AUDIENCE: okta.audience,
    BENCH_API_TOKEN: okta.apiToken,
    FLEET_REDIS_PORT: String(redisPort),
    FLEET_TTL: String(modeTtl),
    FLEET_STALE: String(120 / speedup),
    FLEET_RETRY: String(5 / speedup),
    FLEET_SSF_AUDIENCE: SSF_AUDIENCE,
  };
  const instances = [];
  cleanup.instances = instances;
  for (let i = 0; i < processes; i++) instances.push(await startInstance(mode, env));
  const ports = instances.map((s) => s.port);
  let stream;
  if (mode === 'push') {
    // Okta pushes to one URL: the first instance stands for the load balancer in front of the fleet.
    stream = okta.push.stream({ url: `http://127.0.0.1:${ports[0]}/ssf`, audience: SSF_AUDIENCE, shape: 'ssf' });
    // One push before the run, so the receiver has the transmitter's keys (as it would in steady state).
    okta.endSession(okta.session().id);
    await okta.push.settle();
  }
  okta.rateLimit('sessions', { limit: rateLimit, resetIn: 60 / speedup });
  okta.resetCalls();
  const revoked = new Set();
  const revokedAt = Array.from({ length: revocations }, (_, r) => compressedTtl + (r * (duration - 2 * compressedTtl)) / Math.max(1, revocations - 1 || 1));
  const deadline = 2 * compressedTtl + 120 / speedup + 1;
  const began = performance.now();
  let steadyCalls;
  const steady = setTimeout(() => (steadyCalls = okta.calls.sessions), compressedTtl * 1000);
  const load = steadyLoad({ ports, tokens, ttl: compressedTtl, seconds: duration, skip: (i) => revoked.has(i) });
  const refusals = await Promise.all(revokedAt.map(async (at, r) => {
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, at * 1000 - (performance.now() - began))));
    const i = Math.floor(((r + 0.5) * sessions) / revocations);
    revoked.add(i);
    return timeRefusal({ ports, token: tokens[i], end: () => okta.endSession(list[i].id), deadline });
  }));
  const { counts, latencies } = await load;
  clearTimeout(steady);
  const windowSeconds = duration - compressedTtl;
  const windowCalls = okta.calls.sessions - (steadyCalls ?? 0);
  const perInstance = await Promise.all(instances.map((s) => stats(s.child)));
  const live = tokens.filter((_, i) => !revoked.has(i)).slice(0, 100);
  const tp = await throughput(ports[0], live);
  if (stream !== undefined) okta.push.remove(stream);
  for (const s of instances) s.child.kill();
  cleanup.instances = [];
  const timed = refusals.filter((v) => v !== null).sort((a, b) => a - b);
  return {
    oktaCallsPerMinute: Math.round((windowCalls / windowSeconds) * (60 / speedup)),
    callsPerSessionPerTtl: Number((windowCalls / (sessions * (windowSeconds / compressedTtl))).toFixed(3)),
    http429: perInstance.reduce((a, s) => a + s.http429, 0),
    revocationToRefusalMs: { p50: round(percentile(timed, 50)), p99: round(percentile(timed, 99)), max: round(timed.at(-1) ?? null), timedOut: refusals.length - timed.length, count: refusals.length },
    throughputRatio: tp.ratio === null ? null : Number(tp.ratio.toFixed(3)),
    sessionsApiCalls: { steadyWindow: windowCalls, total: okta.calls.sessions, byInstance: perInstance.map((s) => s.sessionCalls) },
    requests: counts,
    latencyMs: { p50: round(percentile(latencies, 50)), p99: round(percentile(latencies, 99)) },
    throughput: tp.pairs,
    cacheTtlSeconds: modeTtl,
  };
}

const round = (v) => (v === null ? null : Math.round(v));

function table(results) {
  const cell = (v) => (v === null || v === undefined ? 'n/a' : String(v));
  const lines = [
    `${processes} processes × ${sessions} sessions, rate limit ${rateLimit}/min, cacheTtl ${ttl} s (push: ${pushTtl} s backstop), time ×${speedup} (TTL ${compressedTtl} s, run ${duration} s per mode), ${revocations} revocations`,
    '',
    '| mode | Okta calls/min | calls/session/TTL | 429s | revocation→refusal p50 / p99 / max ms | throughput ratio (strict/bare) | 503s | request p50 / p99 ms |',
    '|---|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const [mode, r] of Object.entries(results)) {
    const rev = r.revocationToRefusalMs;
    lines.push(`| ${mode} | ${r.oktaCallsPerMinute} | ${r.callsPerSessionPerTtl} | ${r.http429} | ${cell(rev.p50)} / ${cell(rev.p99)} / ${cell(rev.max)}${rev.timedOut ? ` (${rev.timedOut} never)` : ''} | ${cell(r.throughputRatio)} | ${r.requests.unavailable} | ${cell(r.latencyMs.p50)} / ${cell(r.latencyMs.p99)} |`);
  }
  return lines.join('\n');
}

async function main() {
  const cleanup = { instances: [] };
  let redis;
  let dev;
  const stopAll = async () => {
    for (const s of cleanup.instances) s.child.kill();
    await dev?.close();
    await redis?.stop();
  };
  process.once('SIGINT', () => {
    stopAll().finally(() => process.exit(130));
  });
  try {
    redis = await startRedis();
    const { startDevIssuer } = require(path.join(tokengate.dir, 'lib', 'testing', 'index.js'));
    dev = await startDevIssuer({ port: process.env.BENCH_ISSUER_PORT === undefined ? 0 : Number(process.env.BENCH_ISSUER_PORT) });
    const results = {};
    for (const mode of modes) {
      results[mode] = await runMode(mode, dev, redis.port, cleanup);
      console.error(`${mode}: ${JSON.stringify({ ...results[mode], throughput: undefined })}`);
    }
    console.log(table(results));
    const behind = Object.entries(results).filter(([, r]) => r.requests.dropped > 0.005 * (r.requests.sent + r.requests.dropped));
    if (behind.length > 0) console.log(`\nThe load generator fell behind in ${behind.map(([m]) => m).join(', ')} (requests dropped: see fleet.json): the machine is too busy for this scale; those figures do not stand for the fleet.`);
    const report = {
      date: new Date().toISOString(),
      node: process.version,
      ...provenance(tokengate.dir),
      parameters: { processes, sessions, rateLimitPerMinute: rateLimit, cacheTtlSeconds: ttl, pushBackstopTtlSeconds: pushTtl, speedup, compressedTtlSeconds: compressedTtl, durationSeconds: duration, revocations, throughputSeconds },
      modes: results,
    };
    fs.mkdirSync(path.dirname(flags.out), { recursive: true });
    fs.writeFileSync(flags.out, `${JSON.stringify(report, null, 2)}\n`);
  } finally {
    await stopAll();
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
