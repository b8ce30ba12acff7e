'use strict';
// Pieces shared by bench/run.js (the macro benchmark) and bench/profile.js.

const { spawn, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');
const autocannon = require('autocannon');
const { badSignature, WARM, COLD_START } = require('./tokens');

const ROOT = path.join(__dirname, '..', '..');
const CONTESTANTS_DIR = path.join(__dirname, '..', 'contestants');
/** Where each framework's contestants come in the tables. */
const FRAMEWORK_ORDER = { express: 0, koa: 10, fastify: 20 };
const WORKLOADS = ['warm', 'cold', 'reject', 'malformed'];

/** Reads `--name value` / `--name=value` flags, then BENCH_NAME env vars, then the default. */
function option(argv, name, fallback) {
  const flag = `--${name}`;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === flag && i + 1 < argv.length) return argv[i + 1];
    if (argv[i].startsWith(`${flag}=`)) return argv[i].slice(flag.length + 1);
  }
  const env = process.env[`BENCH_${name.toUpperCase().replace(/-/g, '_')}`];
  return env !== undefined && env !== '' ? env : fallback;
}

/**
 * Every contestant file in bench/contestants/ (plus `extra` files, comma-separated paths, for A/B
 * experiments such as a patched build): baselines first, then ours, then peers; Express, then Koa, then Fastify.
 * A contestant module exports { name, framework: 'express' | 'koa' | 'fastify', baseline?, ours?, reference?, nodeArgs?, create(env) }.
 * A `reference` contestant is a yardstick, not a library (e.g. the least a node:crypto verifier can
 * do): measured and compared with the baseline, but neither a peer nor ours. With `authless: true`
 * (e.g. an empty async middleware) it is preflighted like a baseline: 200 to everything.
 */
function loadContestants(only, extra) {
  const files = fs
    .readdirSync(CONTESTANTS_DIR)
    .filter((f) => /\.(c?js)$/.test(f) && !f.startsWith('_'))
    .map((f) => path.join(CONTESTANTS_DIR, f));
  if (extra) files.push(...extra.split(',').filter(Boolean).map((f) => path.resolve(f)));
  const list = files.map((file) => {
    const mod = require(file);
    const id = path.basename(file).replace(/\.c?js$/, '');
    return { id, file, name: mod.name || id, framework: mod.framework, baseline: !!mod.baseline, ours: !!mod.ours, reference: !!mod.reference, authless: !!mod.authless, nodeArgs: mod.nodeArgs || [] };
  });
  const rank = (c) => (FRAMEWORK_ORDER[c.framework] ?? 30) + (c.baseline ? 0 : c.ours ? 1 : 2);
  list.sort((a, b) => rank(a) - rank(b) || a.name.localeCompare(b.name));
  if (!only) return list;
  const wanted = new Set([...only.split(','), ...(extra ? extra.split(',').map((f) => path.basename(f).replace(/\.c?js$/, '')) : [])].map((s) => s.trim()));
  // The bare framework of every chosen contestant is kept: every figure is a ratio to one.
  const chosen = list.filter((c) => !c.baseline && (wanted.has(c.id) || wanted.has(c.name)));
  return list.filter((c) => chosen.includes(c) || (c.baseline && chosen.some((x) => x.framework === c.framework)));
}

/** Pins every thread of this process to `cpu` (taskset -a -p). Returns false when taskset is missing. */
function pinSelf(cpu) {
  try {
    execFileSync('taskset', ['-a', '-cp', String(cpu), String(process.pid)], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** The commit measured and whether lib/ or adapters/ differ from it (best effort; read before the run). */
function provenance(buildDir) {
  const git = (...args) => {
    try {
      return execFileSync('git', args, { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    } catch {
      return undefined;
    }
  };
  const external = path.resolve(buildDir) !== path.join(ROOT, 'dist');
  if (external) {
    // Another build (BENCH_TOKENGATE_DIR): the repository's HEAD says nothing about it.
    return { commit: process.env.BENCH_TOKENGATE_COMMIT || 'unknown', libDirty: false, build: buildDir };
  }
  return {
    commit: git('rev-parse', '--short', 'HEAD'),
    libDirty: (git('status', '--porcelain', '--', 'lib', 'adapters') || '') !== '',
    build: 'dist',
  };
}

function machineInfo() {
  const cpus = os.cpus();
  return {
    cpuModel: cpus[0] ? cpus[0].model.trim() : 'unknown',
    cpus: cpus.length,
    cpuMHz: cpus[0] ? cpus[0].speed : undefined,
    memoryGiB: +(os.totalmem() / 2 ** 30).toFixed(1),
    node: process.version,
    v8: process.versions.v8,
    openssl: process.versions.openssl,
    platform: `${os.type()} ${os.release()} ${os.arch()}`,
    date: new Date().toISOString(),
  };
}

/** Starts one contestant process pinned to `cpu`. Resolves to a handle with stats() and stop(). */
function startContestant(contestant, { cpu, env, nodeArgs = [] }) {
  const args = [...(contestant.nodeArgs || []), ...nodeArgs, path.join(__dirname, 'server.js'), contestant.file];
  const child = spawn('taskset', ['-c', String(cpu), process.execPath, ...args], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    env: { ...process.env, NODE_ENV: 'development', ...env },
    cwd: ROOT,
  });
  let nextId = 0;
  const waiting = new Map();
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${contestant.name} did not start within 20 s`)), 20_000);
    child.once('exit', (code) => reject(new Error(`${contestant.name} exited with code ${code} before listening`)));
    child.on('message', (msg) => {
      if (msg.type === 'ready') {
        clearTimeout(timer);
        resolve({
          contestant,
          port: msg.port,
          pid: msg.pid,
          stats() {
            const id = nextId++;
            return new Promise((done) => {
              waiting.set(id, done);
              child.send({ type: 'stats', id });
            });
          },
          async stop() {
            if (child.exitCode === null && child.connected) child.send({ type: 'exit' });
            const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
            await exited;
            clearTimeout(t);
          },
        });
      } else if (msg.type === 'stats') {
        const done = waiting.get(msg.id);
        waiting.delete(msg.id);
        if (done) done({ cpu: msg.user + msg.system, count: msg.count, rss: msg.rss, hrUs: msg.hrUs, at: process.hrtime.bigint() });
      }
    });
  });
}

/** One GET /api/hello. Resolves to the status code. */
function get(port, authorization) {
  return new Promise((resolve, reject) => {
    const headers = authorization === undefined ? {} : { authorization };
    const req = http.get({ host: '127.0.0.1', port, path: '/api/hello', headers, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    });
    req.on('error', reject);
    req.setTimeout(10_000, () => req.destroy(new Error('preflight request timed out')));
  });
}

/**
 * Checks that a contestant answers every workload as it must: 200 for valid tokens (and for
 * everything, on a baseline), 401 for a bad signature and for no token, and one consistent non-200,
 * non-5xx status for malformed tokens (tokengate: 401). Returns { ok, problems, expected }.
 */
async function preflight(handle, pool) {
  const c = handle.contestant;
  const problems = [];
  const expected = {};
  const check = async (label, auth, want) => {
    const got = await get(handle.port, auth);
    const okay = typeof want === 'function' ? want(got) : got === want;
    if (!okay) problems.push(`${label}: answered ${got}, expected ${typeof want === 'function' ? want.description : want}`);
    return got;
  };
  const preflightTokens = pool.tokens.slice(WARM, COLD_START);
  if (c.baseline || c.authless) {
    for (const w of WORKLOADS) expected[w] = 200;
    await check('warm token', `Bearer ${pool.tokens[0]}`, 200);
    await check('malformed token', 'Bearer not-a-jwt', 200);
    return { ok: problems.length === 0, problems, expected };
  }
  for (const t of preflightTokens.slice(0, 3)) await check('valid token', `Bearer ${t}`, 200);
  await check('valid token (again)', `Bearer ${preflightTokens[0]}`, 200);
  await check('bad signature, same kid', `Bearer ${badSignature(pool.tokens, 7)}`, 401);
  await check('bad signature, same kid (again)', `Bearer ${badSignature(pool.tokens, 7)}`, 401);
  await check('no Authorization header', undefined, 401);
  const malformedWant = c.ours ? 401 : Object.assign((s) => s !== 200 && s < 500, { description: 'a non-200 4xx' });
  const m1 = await check('malformed token', 'Bearer not-a-jwt-0', malformedWant);
  const m2 = await check('malformed token (2)', 'Bearer not-a-jwt-1', malformedWant);
  if (m1 !== m2) problems.push(`malformed tokens answered inconsistently: ${m1} and ${m2}`);
  expected.warm = 200;
  expected.cold = 200;
  expected.reject = 401;
  expected.malformed = m1;
  return { ok: problems.length === 0, problems, expected };
}

/**
 * A request generator per workload. Cold and reject advance a per-contestant cursor so that a
 * process never sees the same cold token twice (until the pool wraps, which is reported).
 */
function makeSource(pool, cursors, contestantId) {
  const tokens = pool.tokens;
  const cold = tokens.length - COLD_START;
  const cur = (cursors[contestantId] ??= { cold: 0, reject: 0, malformed: 0, warm: 0 });
  return {
    warm: () => tokens[cur.warm++ % WARM],
    cold: () => tokens[COLD_START + (cur.cold++ % cold)],
    reject: () => badSignature(tokens, cur.reject++),
    malformed: () => `not-a-jwt-${(cur.malformed++).toString(36)}`,
    wrapped: () => cur.cold > cold,
    cursor: cur,
  };
}

/** Runs autocannon against a contestant for `seconds`. */
function load({ port, connections, seconds, next }) {
  return autocannon({
    url: `http://127.0.0.1:${port}/api/hello`,
    connections,
    pipelining: 1,
    duration: seconds,
    timeout: 10,
    requests: [
      {
        method: 'GET',
        path: '/api/hello',
        setupRequest(req) {
          req.headers.authorization = `Bearer ${next()}`;
          return req;
        },
      },
    ],
  });
}

/**
 * Warm-up, then a measured run with the server's own CPU and request counters around it.
 *
 * The machine is shared, so each cell first waits (up to `quietWait` seconds) until neither core is
 * busy with someone else's work, and a cell during which another process took more than `maxForeign`
 * of either core is measured again (up to `retries` times; the least disturbed attempt is kept).
 */
async function runCell(handle, opts) {
  const { retries = 1, maxForeign = 0.15 } = opts;
  let best;
  for (let attempt = 0; attempt <= retries; attempt++) {
    const cell = await measureCell(handle, opts);
    cell.attempt = attempt + 1;
    if (best === undefined || foreignOf(cell) < foreignOf(best)) best = cell;
    if (!(foreignOf(cell) > maxForeign)) break;
  }
  return best;
}

const foreignOf = (cell) => Math.max(cell.foreign.serverCore ?? 0, cell.foreign.loadCore ?? 0);

async function measureCell(handle, { workload, source, connections, seconds, warmup, expected, cores = { server: 1, load: 0 }, quietWait = 20 }) {
  const next = source[workload];
  const waitedMs = await waitForQuiet(cores, quietWait);
  if (warmup > 0) await load({ port: handle.port, connections, seconds: warmup, next });
  const before = await handle.stats();
  const statBefore = procStat();
  const loadBefore = process.cpuUsage();
  const result = await load({ port: handle.port, connections, seconds, next });
  const loadCpu = process.cpuUsage(loadBefore);
  const statAfter = procStat();
  const after = await handle.stats();
  const served = after.count - before.count; // stats travel over IPC, so every counted request is load
  const wallUs = Number(after.at - before.at) / 1000;
  const cpuUs = after.cpu - before.cpu;
  const loadUs = loadCpu.user + loadCpu.system;
  const statuses = {};
  for (const [code, { count }] of Object.entries(result.statusCodeStats || {})) statuses[code] = count;
  const total = result.requests.total;
  const wrong = total - (statuses[expected] || 0);
  const serverTask = taskShare(statBefore, statAfter, cores.server);
  const loadTask = taskShare(statBefore, statAfter, cores.load);
  return {
    rps: total / result.duration,
    requests: total,
    seconds: result.duration,
    latencyMs: { p50: result.latency.p50, p99: result.latency.p99, mean: result.latency.average, max: result.latency.max },
    cpuUsPerRequest: cpuUs / Math.max(1, served),
    serverCoreUse: cpuUs / wallUs,
    // The load generator's own core: near 1.0 with serverCoreUse well below 1.0 means the load
    // generator, not the server, was the bottleneck of this cell.
    loadCoreUse: loadUs / wallUs,
    // Whole-core busy fractions from /proc/stat: these include the kernel's loopback TCP work
    // (softirq), which no process is charged for.
    serverCoreBusy: busy(statBefore, statAfter, cores.server),
    loadCoreBusy: busy(statBefore, statAfter, cores.load),
    // Task time on each core that was not ours: other processes sharing the machine.
    foreign: {
      serverCore: serverTask === undefined ? undefined : round3(Math.max(0, serverTask - cpuUs / wallUs)),
      loadCore: loadTask === undefined ? undefined : round3(Math.max(0, loadTask - loadUs / wallUs)),
    },
    waitedForQuietMs: waitedMs,
    served,
    statuses,
    expected,
    wrong,
    errors: result.errors,
    timeouts: result.timeouts,
    rssMiB: +(after.rss / 2 ** 20).toFixed(1),
    // The measured window on the server's monotonic clock (µs), to cut a --cpu-prof profile to it.
    serverWindowUs: [before.hrUs, after.hrUs],
  };
}

/** Waits until both cores are nearly idle (nothing of ours runs between cells), at most `seconds`. */
async function waitForQuiet(cores, seconds) {
  const started = Date.now();
  while (Date.now() - started < seconds * 1000) {
    const a = procStat();
    await new Promise((r) => setTimeout(r, 250));
    const b = procStat();
    const s = busy(a, b, cores.server);
    const l = busy(a, b, cores.load);
    if (s === undefined || l === undefined || (s < 0.1 && l < 0.1)) break;
  }
  return Date.now() - started;
}

/** Fraction of a core spent in user, nice and system time (tasks, not interrupts). */
function taskShare(a, b, cpu) {
  if (!a || !b || !a[cpu] || !b[cpu]) return undefined;
  const d = b[cpu].map((v, i) => v - a[cpu][i]);
  const total = d.reduce((x, y) => x + y, 0);
  return total > 0 ? (d[0] + d[1] + d[2]) / total : undefined;
}

const round3 = (x) => Math.round(x * 1000) / 1000;

/** Runs every workload in turn on a fresh process, so that the JIT has compiled every path before anything is measured. */
async function warmProcess(handle, { source, connections, seconds }) {
  let i = 0;
  const kinds = WORKLOADS.map((w) => source[w]);
  await load({ port: handle.port, connections, seconds, next: () => kinds[i++ % kinds.length]() });
}

/** Per-core jiffies from /proc/stat (Linux), or undefined. */
function procStat() {
  try {
    const out = {};
    for (const line of fs.readFileSync('/proc/stat', 'utf8').split('\n')) {
      const m = /^cpu(\d+)\s+(.*)$/.exec(line);
      if (m) out[m[1]] = m[2].trim().split(/\s+/).map(Number);
    }
    return out;
  } catch {
    return undefined;
  }
}

/** Busy fraction of one core between two /proc/stat samples (idle and iowait count as not busy). */
function busy(a, b, cpu) {
  if (!a || !b || !a[cpu] || !b[cpu]) return undefined;
  const d = b[cpu].map((v, i) => v - a[cpu][i]);
  const total = d.reduce((x, y) => x + y, 0);
  return total > 0 ? Math.round((1 - (d[3] + d[4]) / total) * 1000) / 1000 : undefined;
}

function median(values) {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const mid = v.length >> 1;
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

module.exports = {
  ROOT,
  WORKLOADS,
  option,
  loadContestants,
  pinSelf,
  machineInfo,
  provenance,
  startContestant,
  preflight,
  makeSource,
  runCell,
  warmProcess,
  load,
  median,
};
