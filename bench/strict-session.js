'use strict';
// `npm run bench:strict` — issue 4's workload: a strict-session route (`session: 'strict'`) against
// a loopback Okta whose Sessions API answers after 50 ms, next to bare Express, in alternating
// rounds. Reports the throughput ratio (target >= 0.90x bare, warm: 50 tokens / 50 sessions reused)
// and the most Sessions API calls for one session id in any 30 s window, from the times the guard
// sent them (must be <= 1). Per round it also shows server CPU per request (its ratio does not
// depend on the load generator keeping up), the Sessions API calls made during the strict cell, and
// how many requests waited for one (about every third round crosses the end of the cached answers'
// TTL; renewals should keep that near 0). BENCH_ROUNDS (5), BENCH_DURATION seconds per cell (5).
// Servers run under `taskset -c 1`; this process (load generator and issuer) should run on core 0.
const { fork } = require('node:child_process');
const path = require('node:path');
const fs = require('node:fs');
const autocannon = require('autocannon');
const tokengate = require('./lib/tokengate');

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const DURATION = Number(process.env.BENCH_DURATION ?? 5);
const TTL = 30;

function start(mode, env) {
  return new Promise((resolve, reject) => {
    const child = fork(path.join(__dirname, 'lib', 'strict-server.js'), [mode], {
      env: { ...process.env, ...env },
      execPath: 'taskset',
      execArgv: ['-c', '1', process.execPath],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    child.once('message', (msg) => resolve({ child, port: msg.port }));
    child.once('exit', (code) => reject(new Error(`${mode} server exited (${code})`)));
  });
}

const stats = (child, sent = false) => new Promise((resolve) => {
  child.once('message', (msg) => resolve({ cpu: msg.user + msg.system, waited: msg.waited, sent: msg.sent }));
  child.send({ type: 'stats', sent });
});

async function load(port, tokens, options = { connections: 32 }) {
  const requests = tokens.map((token) => ({ method: 'GET', path: '/api/hello', headers: { authorization: `Bearer ${token}` } }));
  const result = await autocannon({ url: `http://127.0.0.1:${port}`, duration: DURATION, requests, ...options });
  if (result.non2xx > 0 || result.errors > 0) throw new Error(`wrong answers: ${result.non2xx} non-2xx, ${result.errors} errors`);
  return result;
}

// Both servers get a trickle (20 requests/s each, every session once in 2.5 s) during every cell,
// as a service with steady users does: without it the strict server would sit idle while bare
// Express is measured, and its cached session answers would expire unused, which no busy service
// sees. Every cell carries both trickles, so neither server is favoured (about 0.5 % of the core).
const TRICKLE = { connections: 1, overallRate: 20 };

async function main() {
  const { startDevIssuer } = require(path.join(tokengate.dir, 'lib', 'testing', 'index.js'));
  const dev = await startDevIssuer();
  dev.okta.latency('sessions', 50);
  const calls = [];
  const handle = dev.okta.handle.bind(dev.okta);
  dev.okta.handle = (request) => {
    const match = /^\/api\/v1\/sessions\/(.+)$/.exec(request.path);
    if (match) calls.push({ sid: match[1], at: Date.now() });
    return handle(request);
  };
  const tokens = Array.from({ length: 50 }, () => dev.okta.token({ sid: dev.okta.session({ expiresIn: 7200 }).id }));
  const env = { BENCH_ISSUER: dev.issuer, BENCH_AUDIENCE: dev.okta.audience, BENCH_API_TOKEN: dev.okta.apiToken };
  const servers = { bare: await start('bare', env), strict: await start('strict', env) };
  // Preflight and warm-up: every token answers 200 on both.
  for (const server of Object.values(servers)) await load(server.port, tokens);
  const rounds = [];
  for (let round = 0; round < ROUNDS; round++) {
    const row = {};
    for (const mode of round % 2 === 0 ? ['bare', 'strict'] : ['strict', 'bare']) {
      const before = await stats(servers[mode].child);
      const callsBefore = calls.length;
      const [result] = await Promise.all([load(servers[mode].port, tokens), load(servers.bare.port, tokens, TRICKLE), load(servers.strict.port, tokens, TRICKLE)]);
      const after = await stats(servers[mode].child);
      row[mode] = {
        rps: result.requests.average,
        p50: result.latency.p50,
        p99: result.latency.p99,
        cpuUs: (after.cpu - before.cpu) / result.requests.total,
        sessionCalls: calls.length - callsBefore,
        waited: after.waited - before.waited,
      };
    }
    row.ratio = row.strict.rps / row.bare.rps;
    row.cpuRatio = row.bare.cpuUs / row.strict.cpuUs;
    rounds.push(row);
  }
  const ratios = rounds.map((r) => r.ratio).sort((a, b) => a - b);
  const median = ratios[Math.floor(ratios.length / 2)];
  const cpuRatios = rounds.map((r) => r.cpuRatio).sort((a, b) => a - b);
  const cpuMedian = cpuRatios[Math.floor(cpuRatios.length / 2)];
  // Most calls for one session id inside any 30 s window, from the times the guard sent them
  // (1 ms of tolerance for the clock's resolution), and the closest two calls for one session id.
  const { sent } = await stats(servers.strict.child, true);
  const bySid = new Map();
  for (const { sid, at } of sent) bySid.set(sid, [...(bySid.get(sid) ?? []), at]);
  let maxPerWindow = 0;
  let closest = Infinity;
  for (const times of bySid.values()) {
    times.sort((a, b) => a - b);
    for (let i = 0; i < times.length; i++) {
      maxPerWindow = Math.max(maxPerWindow, times.filter((t) => t >= times[i] && t < times[i] + TTL * 1000 - 1).length);
      if (i > 0) closest = Math.min(closest, times[i] - times[i - 1]);
    }
  }
  const lines = [
    `| round | bare rps | strict rps | ratio | CPU µs/req bare / strict | CPU ratio | strict p50 / p99 ms | Sessions API calls | requests that waited for them |`,
    `|---|---:|---:|---:|---:|---:|---:|---:|---:|`,
    ...rounds.map(
      (r, i) =>
        `| ${i + 1} | ${Math.round(r.bare.rps)} | ${Math.round(r.strict.rps)} | ${r.ratio.toFixed(3)} | ${Math.round(r.bare.cpuUs)} / ${Math.round(r.strict.cpuUs)} | ${r.cpuRatio.toFixed(3)} | ` +
        `${r.strict.p50} / ${r.strict.p99} | ${r.strict.sessionCalls} | ${r.strict.waited} |`,
    ),
    '',
    `median ratio ${median.toFixed(3)} (target >= 0.90), median CPU ratio ${cpuMedian.toFixed(3)}; Sessions API calls: ${calls.length} for 50 session ids, ` +
      `at most ${maxPerWindow} per session id in any ${TTL} s window (must be <= 1; closest two calls for one session id ${Number.isFinite(closest) ? `${(closest / 1000).toFixed(3)} s` : 'n/a'} apart, as sent)`,
  ];
  console.log(lines.join('\n'));
  fs.mkdirSync(path.join(__dirname, 'results'), { recursive: true });
  fs.writeFileSync(path.join(__dirname, 'results', 'strict-session.json'), JSON.stringify({ date: new Date().toISOString(), node: process.version, rounds, median, cpuMedian, sessionCalls: calls.length, callsSent: sent.length, maxCallsPerSessionPerWindow: maxPerWindow, closestCallsMs: closest }, null, 2));
  for (const server of Object.values(servers)) server.child.kill();
  await dev.close();
  if (median < 0.9 || maxPerWindow > 1) process.exitCode = 1;
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
