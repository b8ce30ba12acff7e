'use strict';
// `npm run bench:strict` — issue 4's workload: a strict-session route (`session: 'strict'`) against
// a loopback Okta whose Sessions API answers after 50 ms, next to bare Express, in alternating
// rounds. Reports the throughput ratio (target >= 0.90x bare, warm: 50 tokens / 50 sessions reused)
// and the Sessions API calls per session id per 30 s TTL window (must be <= 1). Per round it also
// shows server CPU per request (its ratio does not depend on the load generator keeping up), the
// Sessions API calls made during the strict cell, and how many requests waited for one: a cell that
// crosses the end of the cached answers' TTL (about every third round) shows them.
// BENCH_ROUNDS (5), BENCH_DURATION seconds per cell (5).
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

const stats = (child) => new Promise((resolve) => {
  child.once('message', (msg) => resolve({ cpu: msg.user + msg.system, waited: msg.waited }));
  child.send({ type: 'stats' });
});

async function load(port, tokens) {
  const requests = tokens.map((token) => ({ method: 'GET', path: '/api/hello', headers: { authorization: `Bearer ${token}` } }));
  const result = await autocannon({ url: `http://127.0.0.1:${port}`, connections: 32, duration: DURATION, requests });
  if (result.non2xx > 0 || result.errors > 0) throw new Error(`wrong answers: ${result.non2xx} non-2xx, ${result.errors} errors`);
  return result;
}

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
      const result = await load(servers[mode].port, tokens);
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
  const windows = new Map();
  for (const call of calls) {
    const key = `${call.sid}:${Math.floor((call.at - calls[0].at) / (TTL * 1000))}`;
    windows.set(key, (windows.get(key) ?? 0) + 1);
  }
  const maxPerWindow = Math.max(...windows.values());
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
      `at most ${maxPerWindow} per session id per ${TTL} s window (must be <= 1)`,
  ];
  console.log(lines.join('\n'));
  fs.mkdirSync(path.join(__dirname, 'results'), { recursive: true });
  fs.writeFileSync(path.join(__dirname, 'results', 'strict-session.json'), JSON.stringify({ date: new Date().toISOString(), node: process.version, rounds, median, cpuMedian, sessionCalls: calls.length, maxCallsPerSessionPerWindow: maxPerWindow }, null, 2));
  for (const server of Object.values(servers)) server.child.kill();
  await dev.close();
  if (median < 0.9 || maxPerWindow > 1) process.exitCode = 1;
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
