'use strict';
// `npm run bench:instructions` — machine instructions per request, counted by valgrind's callgrind
// over every thread of the server (GC helpers included), for bare Express and tokengate routes
// (bench/lib/strict-server.js: `bare`, `floor` = only what any middleware doing protect()'s job
// must do, `lax` = protect(), `strict` = session: 'strict' against the
// loopback dev issuer, Sessions API 50 ms away). Time on this machine moves by up to 40 % within a
// run; instruction counts do not, so a change of 1 % shows here when a throughput run cannot see it.
// GC and JIT timing still move a run's total by up to about ±10 000 instructions; the breakdown by
// kind of work (inline-cache misses, hidden-class building, GC, ...) is steadier than the total.
//
// Each server runs under callgrind (about 50x slower), gets BENCH_WARMUP_REQUESTS (8000) requests,
// its counters are zeroed, then BENCH_REQUESTS (4000) are counted, BENCH_CONNECTIONS (4) at once, 50 tokens of 50
// sessions round-robin. As many servers run at once as the machine has cores (counts do not depend
// on contention, but a server sharing a core runs long enough for its session answers to reach
// their TTL, and the renewals then land among the counted requests). Needs valgrind
// (`apt-get install valgrind`). Usage: node bench/instructions.js [mode ...] (default: bare strict).
// A mode `<contestant>:<workload>` (e.g. `tokengate-express:cold`, `floor-node-crypto:reject`,
// `bare-express:malformed`) instead counts a contestant of `npm run bench` (bench/lib/server.js)
// under one of its workloads, with the macro benchmark's issuer, token pool and request sources:
// every request of a cold or reject run carries a token that server has never seen. Such a run
// accepts whatever status the contestant gives the workload's first request, and then only it.
// Writes bench/results/instructions.json.
const { spawn, execFile, execFileSync } = require('node:child_process');
const { promisify } = require('node:util');
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');
const tokengate = require('./lib/tokengate');
const { startIssuer, issuerUrl, AUDIENCE } = require('./lib/issuer');
const { loadPool, COLD_START } = require('./lib/tokens');
const h = require('./lib/harness');

const WARMUP = Number(process.env.BENCH_WARMUP_REQUESTS ?? 8000);
const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 4000);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 4);
const exec = promisify(execFile);
const MODES = process.argv.slice(2).length > 0 ? process.argv.slice(2) : ['bare', 'strict'];

/** What a function of the profile does, by its name: V8's runtime, GC, builtins, the JIT's code... */
function kindOf(name) {
  if (/^0x[0-9a-f]+$/.test(name)) return 'JavaScript (JIT code)';
  if (/Marking|Scaveng|Sweep|Heap::|heap::|Evacuat|MemoryChunk|Remembered|WriteBarrier|MemoryAllocator|Ephemeron/.test(name)) return 'garbage collection';
  if (/LookupIterator|IC::|IC_Miss|StubCache|FeedbackNexus|FieldIndex|LoadHandler|PrototypeIterator|Builtins_\w*IC/.test(name)) return 'inline-cache misses';
  if (/MigrateToMap|DescriptorArray|Map::|TransitionsAccessor|MakePrototypesFast|TransitionArray|PrototypeInfo/.test(name)) return 'hidden classes';
  if (/compiler::|Compile|Parser|Bytecode|Scanner|Maglev|baseline/i.test(name)) return 'compilation';
  if (/^Builtins_/.test(name)) return 'other builtins';
  if (/llhttp|node::|uv_|libc|malloc|free|mem(cpy|move|chr|set)|writev|epoll/.test(name)) return 'Node and libc';
  return 'other V8';
}

/**
 * Self cost per function, read from callgrind's own output (the cost lines of each `fn=`; the line
 * after a `calls=` is the callee's inclusive cost and is skipped), so the kinds add up to the total.
 */
function breakdown(file) {
  const names = new Map();
  const name = (spec) => {
    const match = /^\((\d+)\)(?: (.*))?$/.exec(spec);
    if (!match) return spec;
    if (match[2] !== undefined) names.set(match[1], match[2]);
    return names.get(match[1]);
  };
  const kinds = {};
  let fn = '';
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (line.startsWith('fn=')) fn = name(line.slice(3));
    else if (line.startsWith('cfn=')) name(line.slice(4));
    else if (line.startsWith('calls=')) i++;
    else if (/^[+\-*0-9]/.test(line)) {
      const cost = Number(line.split(' ')[1] ?? 0);
      const kind = kindOf(fn);
      kinds[kind] = (kinds[kind] ?? 0) + cost;
    }
  }
  return kinds;
}

/** What a mode runs: a strict-server mode with the dev issuer's tokens, or a contestant under a workload. */
function serverOf(mode, dev, bench) {
  const [name, workload] = mode.split(':');
  if (workload === undefined) {
    let next = 0;
    return { file: 'strict-server.js', arg: mode, env: dev.env, token: () => dev.tokens[next++ % dev.tokens.length] };
  }
  const contestant = h.loadContestants().find((c) => c.id === name);
  if (contestant === undefined || contestant.framework !== 'express') throw new Error(`${mode}: no Express contestant "${name}" in bench/contestants/`);
  if (!h.WORKLOADS.includes(workload)) throw new Error(`${mode}: unknown workload "${workload}" (${h.WORKLOADS.join(', ')})`);
  return { file: 'server.js', arg: contestant.file, env: bench.env, token: h.makeSource(bench.pool, bench.cursors, name)[workload] };
}

async function count(mode, server, dir) {
  const out = path.join(dir, `callgrind-${mode.replace(':', '-')}.out`);
  const child = spawn('valgrind', ['--tool=callgrind', '--smc-check=all', `--callgrind-out-file=${out}`, process.execPath, path.join(__dirname, 'lib', server.file), server.arg], {
    env: { ...process.env, ...server.env },
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk) => (stderr = (stderr + chunk).slice(-4000)));
  const port = await new Promise((resolve, reject) => {
    child.once('message', (msg) => resolve(msg.port));
    child.once('exit', (code) => reject(new Error(`${mode} server under valgrind exited (${code}): ${stderr}`)));
  });
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONNECTIONS });
  try {
    let expected;
    const one = () =>
      new Promise((resolve, reject) => {
        http.get({ host: '127.0.0.1', port, path: '/api/hello', agent, headers: { authorization: `Bearer ${server.token()}` } }, (res) => {
          expected ??= server.file === 'server.js' && res.statusCode < 500 ? res.statusCode : 200;
          res.resume();
          res.on('end', () => (res.statusCode === expected ? resolve() : reject(new Error(`${mode}: status ${res.statusCode}, expected ${expected}`))));
        }).on('error', reject);
      });
    const run = async (n) => {
      let left = n;
      await Promise.all(Array.from({ length: CONNECTIONS }, async () => {
        while (left-- > 0) await one();
      }));
    };
    // Sessions API calls the server sent so far (the strict server records them).
    const sessionCalls = () =>
      new Promise((resolve) => {
        child.once('message', (msg) => resolve(msg.sent?.length ?? 0));
        child.send({ type: 'stats', sent: true });
      });
    await run(WARMUP);
    // Each dump writes a part file and zeroes the counters: part 1 is the warm-up, part 2 the counted requests.
    await exec('callgrind_control', ['--dump', String(child.pid)]);
    const callsBefore = await sessionCalls();
    await run(REQUESTS);
    const callsDuring = (await sessionCalls()) - callsBefore;
    await exec('callgrind_control', ['--dump', String(child.pid)]);
    const dumps = fs.readdirSync(dir).filter((f) => f.startsWith(`${path.basename(out)}.`)).sort();
    if (dumps.length !== 2) throw new Error(`${mode}: expected two callgrind dumps (warm-up, counted), found ${dumps.length}`);
    const file = path.join(dir, dumps[1]);
    const total = Number(/^summary: (\d+)/m.exec(fs.readFileSync(file, 'utf8'))?.[1]);
    const kinds = breakdown(file);
    const sum = Object.values(kinds).reduce((a, b) => a + b, 0);
    if (Math.abs(sum - total) > total * 0.001) throw new Error(`${mode}: the kinds add up to ${sum}, the dump's total is ${total}`);
    const perRequest = (n) => Math.round(n / REQUESTS);
    return { mode, instructions: perRequest(total), status: expected, sessionCallsCounted: callsDuring, kinds: Object.fromEntries(Object.entries(kinds).map(([k, v]) => [k, perRequest(v)])) };
  } finally {
    agent.destroy();
    child.kill('SIGKILL');
  }
}

async function main() {
  try {
    execFileSync('valgrind', ['--version'], { stdio: 'ignore' });
  } catch {
    throw new Error('bench:instructions needs valgrind (apt-get install valgrind)');
  }
  const { startDevIssuer } = require(path.join(tokengate.dir, 'lib', 'testing', 'index.js'));
  const dev = await startDevIssuer();
  dev.okta.latency('sessions', 50);
  const tokens = Array.from({ length: 50 }, () => dev.okta.token({ sid: dev.okta.session({ expiresIn: 7200 }).id }));
  // Renewals come once per session per TTL of wall time: under callgrind's slowdown a 30 s TTL would
  // renew about 50 times as often per request as at full speed, so the count uses the longest TTL
  // allowed, 300 s, and reports the Sessions API calls among the counted requests (a run longer than
  // the TTL has some; bench:strict measures renewals at full speed). Upstream calls get 60 s.
  const env = { BENCH_ISSUER: dev.issuer, BENCH_AUDIENCE: dev.okta.audience, BENCH_API_TOKEN: dev.okta.apiToken, BENCH_SESSION_TTL: '300', BENCH_UPSTREAM_TIMEOUT: '60' };
  // The contestants' modes: the macro benchmark's issuer and pool (cold and reject tokens never repeat within a server).
  let bench;
  let iss;
  if (MODES.some((m) => m.includes(':'))) {
    const issuer = issuerUrl();
    const pool = await loadPool({ issuer, audience: AUDIENCE, needed: COLD_START + WARMUP + REQUESTS, log: (msg) => process.stderr.write(`[instructions] ${msg}\n`) });
    iss = await startIssuer({ issuer, publicJwk: pool.publicJwk });
    bench = { pool, cursors: {}, env: { NODE_ENV: 'development', BENCH_ISSUER: iss.issuer, BENCH_AUDIENCE: AUDIENCE, BENCH_JWKS_URI: iss.jwksUri } };
  }
  const devServers = { env, tokens };
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tokengate-callgrind-'));
  try {
    const results = new Array(MODES.length);
    let next = 0;
    const worker = async () => {
      while (next < MODES.length) {
        const i = next++;
        results[i] = await count(MODES[i], serverOf(MODES[i], devServers, bench), dir);
      }
    };
    await Promise.all(Array.from({ length: Math.min(MODES.length, os.availableParallelism()) }, worker));
    const base = results.find((r) => r.mode === 'bare');
    const kinds = [...new Set(results.flatMap((r) => Object.keys(r.kinds)))].sort((a, b) => (base?.kinds[b] ?? 0) - (base?.kinds[a] ?? 0));
    const delta = (r, n, b) => (base && r !== base ? ` (${n - b >= 0 ? '+' : ''}${n - b})` : '');
    console.log([
      `instructions per request (callgrind, every thread; ${REQUESTS} requests after ${WARMUP} of warm-up)`,
      '',
      `| kind of work | ${results.map((r) => r.mode).join(' | ')} |`,
      `|---|${results.map(() => '---:').join('|')}|`,
      ...kinds.map((k) => `| ${k} | ${results.map((r) => `${r.kinds[k] ?? 0}${delta(r, r.kinds[k] ?? 0, base?.kinds[k] ?? 0)}`).join(' | ')} |`),
      `| **total** | ${results.map((r) => `${r.instructions}${delta(r, r.instructions, base?.instructions ?? 0)}`).join(' | ')} |`,
      `| status answered | ${results.map((r) => r.status).join(' | ')} |`,
      `| Sessions API calls among the counted requests | ${results.map((r) => r.sessionCallsCounted).join(' | ')} |`,
    ].join('\n'));
    fs.mkdirSync(path.join(__dirname, 'results'), { recursive: true });
    fs.writeFileSync(path.join(__dirname, 'results', 'instructions.json'), JSON.stringify({ date: new Date().toISOString(), node: process.version, warmup: WARMUP, requests: REQUESTS, results }, null, 2));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
    await dev.close();
    await iss?.close();
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
