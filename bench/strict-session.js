'use strict';
// `npm run bench:strict` — a strict-session route (`session: 'strict'`) against
// a loopback Okta whose Sessions API answers after 50 ms, next to bare Express. Reports the
// throughput of the strict route against `resident` (target >= 0.97x, warm: 50 tokens / 50
// sessions reused), its ratio to bare Express, and the most Sessions API calls for one session id
// in any 30 s window, from the times each strict server's guard sent them (must be <= 1).
//
// `resident` is the reference: the floor route (below) in a process that also holds the strict
// server's guard, kept busy by its trickle on a strict route of its own (what holding the guard
// costs requests that do not use it). `floor`, for context: no tokengate, a middleware that only
// reads what protect() must read and sets req.auth (what any middleware doing this job on Express
// gives up).
//
// Method. This machine's speed drifts by up to 40 % within minutes, and two processes of the same
// server differ by up to 8 % for their whole life (JIT and heap luck). So every kind runs as
// BENCH_PROCESSES processes (2), all under `taskset -c 1`, and the rounds are short: each round
// (BENCH_ROUNDS, 10) loads every process once for BENCH_DURATION seconds (2); rounds come in pairs,
// the second in the reverse order of the first, so every process's mean place in a pair is the
// middle, and the order rotates by one each pair. CPU per request counts a server's own trickle
// too (for resident, on its strict route: slightly more than its floor route's cost). A
// round's ratio is a kind's mean throughput over its processes against bare Express's in the same
// round; the verdict is the median over rounds. Server CPU per request is reported beside it (its
// ratio does not depend on the load generator keeping up), and per process, to show the spread.
// Every server gets a trickle the whole time (20 requests/s, every session once in 2.5 s), as a
// service with steady users does: without it a strict server would sit idle while the others are
// measured and its cached session answers would expire unused, which no busy service sees.
// The loopback Okta runs in a child process of its own on core 0 (bench/lib/strict-issuer.js): in
// the load generator's process its 50 ms answers came late by whatever autocannon was doing, so
// a renewal under load took longer than the call it replaced, for a reason real Okta does not have.
// This process (load generator) should run on core 0.
const { fork } = require('node:child_process');
const path = require('node:path');
const fs = require('node:fs');
const autocannon = require('autocannon');
const { median } = require('./lib/harness');

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 10);
const DURATION = Number(process.env.BENCH_DURATION ?? 2);
const PROCESSES = Number(process.env.BENCH_PROCESSES ?? 2);
const WARMUP = 8;
const TTL = 30;
const KINDS = ['bare', 'floor', 'resident', 'strict'];
const TARGET = 0.97;
// One trickle run sends every token once (`amount`), in order, at 20 requests/s: a run of a fixed
// duration would stop at the same token each time and the last ones would never be asked for.
const TRICKLE = { connections: 1, overallRate: 20 };

for (const [name, value] of Object.entries({ BENCH_ROUNDS: ROUNDS, BENCH_DURATION: DURATION, BENCH_PROCESSES: PROCESSES })) {
  if (!Number.isInteger(value) || value < 1) throw new Error(`${name} must be a whole number of at least 1`);
}

/** Forks `bench/lib/<file>` under `taskset -c <core>`; resolves with its first IPC message. */
function forkPinned(file, args, core, env) {
  return new Promise((resolve, reject) => {
    const child = fork(path.join(__dirname, 'lib', file), args, {
      env: { ...process.env, ...env },
      execPath: 'taskset',
      execArgv: ['-c', String(core), process.execPath],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    child.once('message', (msg) => resolve({ child, msg }));
    child.once('exit', (code) => reject(new Error(`${file} ${args.join(' ')} exited (${code})`)));
  });
}

const startIssuer = () => forkPinned('strict-issuer.js', [], 0).then(({ child, msg }) => ({ child, ...msg }));

const start = (kind, index, env) => forkPinned('strict-server.js', [kind], 1, env).then(({ child, msg }) => ({ kind, index, child, port: msg.port }));

const stats = (child, sent = false) => new Promise((resolve) => {
  child.once('message', (msg) => resolve({ cpu: msg.user + msg.system, waited: msg.waited, sentCount: msg.sentCount, sent: msg.sent }));
  child.send({ type: 'stats', sent });
});

async function load(port, tokens, duration, options = { connections: 32 }, route = '/api/hello') {
  const requests = tokens.map((token) => ({ method: 'GET', path: route, headers: { authorization: `Bearer ${token}` } }));
  const result = await autocannon({ url: `http://127.0.0.1:${port}`, duration, requests, ...options });
  if (result.non2xx > 0 || result.errors > 0) throw new Error(`wrong answers on ${route}: ${result.non2xx} non-2xx, ${result.errors} errors`);
  return result;
}

const mean = (values) => values.reduce((a, b) => a + b, 0) / values.length;

async function main() {
  const issuer = await startIssuer();
  const { tokens } = issuer;
  const env = { BENCH_ISSUER: issuer.issuer, BENCH_AUDIENCE: issuer.audience, BENCH_API_TOKEN: issuer.apiToken };
  const servers = [];
  let trickling = true;
  let trickles = [];
  try {
    for (let i = 0; i < PROCESSES; i++) for (const kind of KINDS) servers.push(await start(kind, i, env));
    // Preflight and warm-up: every token answers 200 on every server (and on the resident guard's
    // route). A server's trickle starts as soon as it is warm: the others' warm-ups take longer than
    // a TTL, and its cached answers must not expire unused meanwhile. A trickle that fails stops the
    // run at the next cell (its error is the run's).
    let trickleError;
    const trickle = async (server) => {
      const route = server.kind === 'resident' ? '/warm' : '/api/hello';
      while (trickling) await load(server.port, tokens, 60, { ...TRICKLE, amount: tokens.length }, route);
    };
    for (const server of servers) {
      if (server.kind === 'resident') await load(server.port, tokens, 1, undefined, '/warm');
      await load(server.port, tokens, WARMUP);
      trickles.push(trickle(server).catch((error) => {
        trickleError ??= error;
        trickling = false;
      }));
    }
    const rounds = [];
    for (let round = 0; round < ROUNDS; round++) {
      // Rounds come in pairs, the second the first reversed: every server's mean place in a pair is
      // the middle, and the rotation moves on by one each pair.
      const order = servers.map((_, i) => servers[(i + Math.floor(round / 2)) % servers.length]);
      if (round % 2 === 1) order.reverse();
      const cells = new Map();
      for (const server of order) {
        if (trickleError !== undefined) throw trickleError;
        const before = await stats(server.child);
        const result = await load(server.port, tokens, DURATION);
        const after = await stats(server.child);
        cells.set(server, {
          rps: result.requests.total / DURATION,
          cpuUs: (after.cpu - before.cpu) / result.requests.total,
          sessionCalls: after.sentCount - before.sentCount,
          waited: after.waited - before.waited,
        });
      }
      const row = {};
      for (const kind of KINDS) {
        const own = servers.filter((s) => s.kind === kind).map((s) => cells.get(s));
        row[kind] = { rps: mean(own.map((c) => c.rps)), cpuUs: mean(own.map((c) => c.cpuUs)), perProcessCpuUs: own.map((c) => c.cpuUs) };
        if (kind === 'strict') Object.assign(row[kind], { sessionCalls: own.reduce((a, c) => a + c.sessionCalls, 0), waited: own.reduce((a, c) => a + c.waited, 0) });
      }
      for (const kind of KINDS) {
        row[kind].ratio = row[kind].rps / row.bare.rps;
        row[kind].cpuRatio = row.bare.cpuUs / row[kind].cpuUs;
      }
      row.strict.toResident = row.strict.rps / row.resident.rps;
      row.strict.cpuToResident = row.resident.cpuUs / row.strict.cpuUs;
      rounds.push(row);
    }
    trickling = false;
    await Promise.all(trickles);
    if (trickleError !== undefined) throw trickleError;
    const summary = Object.fromEntries(KINDS.map((kind) => [kind, {
      ratio: median(rounds.map((r) => r[kind].ratio)),
      cpuRatio: median(rounds.map((r) => r[kind].cpuRatio)),
      perProcessCpuUs: servers.filter((s) => s.kind === kind).map((s) => median(rounds.map((r) => r[kind].perProcessCpuUs[s.index]))),
    }]));
    summary.strict.toResident = median(rounds.map((r) => r.strict.toResident));
    summary.strict.cpuToResident = median(rounds.map((r) => r.strict.cpuToResident));
    // Most calls for one session id inside any 30 s window, per server with a guard (each has its
    // own), from the times its HTTP client was handed them, and the closest two calls for one
    // session id. The guard reads the same clock after handing a call over, so no tolerance.
    let maxPerWindow = 0;
    let closest = Infinity;
    let sentTotal = 0;
    for (const server of servers.filter((s) => s.kind === 'strict' || s.kind === 'resident')) {
      const { sent } = await stats(server.child, true);
      sentTotal += sent.length;
      const bySid = new Map();
      for (const { sid, at } of sent) bySid.set(sid, [...(bySid.get(sid) ?? []), at]);
      for (const times of bySid.values()) {
        times.sort((a, b) => a - b);
        for (let i = 0; i < times.length; i++) {
          maxPerWindow = Math.max(maxPerWindow, times.filter((t) => t >= times[i] && t < times[i] + TTL * 1000).length);
          if (i > 0) closest = Math.min(closest, times[i] - times[i - 1]);
        }
      }
    }
    const f = (n) => n.toFixed(3);
    const lines = [
      `${PROCESSES} processes per kind, ${ROUNDS} rounds of ${DURATION} s cells; rps and CPU are means over a kind's processes`,
      '',
      `| round | bare rps | strict rps | ratio | CPU µs/req bare / strict | CPU ratio | Sessions API calls in strict cells | requests that waited for them | floor ratio | resident ratio | strict / resident | CPU strict / resident |`,
      `|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|`,
      ...rounds.map(
        (r, i) =>
          `| ${i + 1} | ${Math.round(r.bare.rps)} | ${Math.round(r.strict.rps)} | ${f(r.strict.ratio)} | ${Math.round(r.bare.cpuUs)} / ${Math.round(r.strict.cpuUs)} | ${f(r.strict.cpuRatio)} | ` +
          `${r.strict.sessionCalls} | ${r.strict.waited} | ${f(r.floor.ratio)} | ${f(r.resident.ratio)} | ${f(r.strict.toResident)} | ${f(r.strict.cpuToResident)} |`,
      ),
      '',
      ...KINDS.map((kind) => `${kind.padEnd(8)} median ratio ${f(summary[kind].ratio)}, CPU ratio ${f(summary[kind].cpuRatio)}, CPU µs/req per process ${summary[kind].perProcessCpuUs.map((v) => v.toFixed(1)).join(' / ')}`),
      '',
      `strict: median ${f(summary.strict.toResident)} of resident in the same round (target >= ${TARGET}; CPU ${f(summary.strict.cpuToResident)}), ${f(summary.strict.ratio)} of bare Express; context: floor ${f(summary.floor.ratio)}, resident ${f(summary.resident.ratio)}. ` +
        `Sessions API calls of the strict and resident servers: ${sentTotal} for 50 session ids each, at most ${maxPerWindow} per session id in any ${TTL} s window ` +
        `(must be <= 1; closest two calls for one session id ${Number.isFinite(closest) ? `${(closest / 1000).toFixed(3)} s` : 'n/a'} apart, as sent)`,
    ];
    console.log(lines.join('\n'));
    fs.mkdirSync(path.join(__dirname, 'results'), { recursive: true });
    fs.writeFileSync(
      path.join(__dirname, 'results', 'strict-session.json'),
      JSON.stringify({ date: new Date().toISOString(), node: process.version, processes: PROCESSES, roundSeconds: DURATION, rounds, summary, target: TARGET, median: summary.strict.toResident, sessionCalls: sentTotal, maxCallsPerSessionPerWindow: maxPerWindow, closestCallsMs: closest }, null, 2),
    );
    if (summary.strict.toResident < TARGET || maxPerWindow > 1) process.exitCode = 1;
  } finally {
    trickling = false;
    await Promise.allSettled(trickles);
    for (const server of servers) server.child.kill();
    issuer.child.disconnect();
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
