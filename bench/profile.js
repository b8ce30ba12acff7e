'use strict';
// CPU profile of one contestant under one workload: where a contestant's time goes.
//
//   npm run bench:profile -- --contestant tokengate-express --workload cold [--duration 10]
//
// Runs the contestant under `node --cpu-prof` (pinned like the macro benchmark), drives the workload
// with autocannon, then summarises the profile: top self-time functions, self time per package, and
// inclusive time of tokengate's own functions. Writes bench/results/profiles/<contestant>-<workload>
// .cpuprofile (open it in Chrome DevTools) and a markdown summary next to it.

const fs = require('node:fs');
const path = require('node:path');
const { startIssuer, issuerUrl, AUDIENCE } = require('./lib/issuer');
const { loadPool, COLD_START } = require('./lib/tokens');
const h = require('./lib/harness');

async function main() {
  const argv = process.argv.slice(2);
  const id = h.option(argv, 'contestant', 'tokengate-express');
  const workload = h.option(argv, 'workload', 'cold');
  const duration = Number(h.option(argv, 'duration', 10));
  const warmup = Number(h.option(argv, 'warmup', 2));
  const connections = Number(h.option(argv, 'connections', 32));
  const top = Number(h.option(argv, 'top', 25));
  const serverCpu = Number(h.option(argv, 'server-cpu', 1));
  const loadCpu = Number(h.option(argv, 'load-cpu', 0));
  const maxRps = Number(h.option(argv, 'max-rps', 16000));
  const dir = path.resolve(h.option(argv, 'dir', path.join(__dirname, 'results', 'profiles')));
  const log = (msg) => process.stderr.write(`[profile] ${msg}\n`);

  const contestant = h.loadContestants().find((c) => c.id === id || c.name === id);
  if (!contestant) throw new Error(`no contestant "${id}" in bench/contestants/`);
  if (!h.WORKLOADS.includes(workload)) throw new Error(`unknown workload "${workload}"`);
  const issuer = issuerUrl();
  const pool = await loadPool({ issuer, audience: AUDIENCE, needed: COLD_START + Math.ceil((duration + warmup) * maxRps * 1.05), log });
  h.pinSelf(loadCpu);
  const iss = await startIssuer({ issuer, publicJwk: pool.publicJwk });
  fs.mkdirSync(dir, { recursive: true });
  const base = `${contestant.id}-${workload}`;
  const profileFile = path.join(dir, `${base}.cpuprofile`);
  fs.rmSync(profileFile, { force: true });
  const env = { BENCH_ISSUER: iss.issuer, BENCH_AUDIENCE: AUDIENCE, BENCH_JWKS_URI: iss.jwksUri };
  const handle = await h.startContestant(contestant, {
    cpu: serverCpu,
    env,
    nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${dir}`, `--cpu-prof-name=${base}.cpuprofile`],
  });
  let cell;
  try {
    const p = await h.preflight(handle, pool);
    if (!p.ok) throw new Error(`preflight failed: ${p.problems.join('; ')}`);
    cell = await h.runCell(handle, {
      workload,
      source: h.makeSource(pool, {}, contestant.id),
      connections,
      seconds: duration,
      warmup,
      expected: p.expected[workload],
      cores: { server: serverCpu, load: loadCpu },
    });
    log(`${contestant.name} ${workload}: ${cell.rps.toFixed(0)} req/s, ${cell.cpuUsPerRequest.toFixed(0)} µs CPU/req (profiler on), answers ${JSON.stringify(cell.statuses)}`);
  } finally {
    await handle.stop();
    await iss.close();
  }
  const profile = JSON.parse(fs.readFileSync(profileFile, 'utf8'));
  const summary = summarise(profile, top, cell.serverWindowUs);
  const md = markdown(contestant, workload, cell, summary, path.relative(process.cwd(), profileFile));
  fs.writeFileSync(path.join(dir, `${base}.md`), md);
  process.stdout.write(md);
  log(`wrote ${path.relative(process.cwd(), profileFile)} and ${base}.md`);
}

/** Classifies a frame's script URL into a package name. */
function packageOf(url, functionName) {
  if (!url) return functionName.startsWith('(') ? functionName : '(native/V8 builtins)';
  if (url.startsWith('node:internal/crypto')) return 'node core: crypto';
  if (/^node:(_http|http|net|internal\/http|internal\/stream|internal\/streams|stream|internal\/net)/.test(url)) return 'node core: http, net, streams';
  if (url.startsWith('node:')) return 'node core: other';
  const nm = url.lastIndexOf('/node_modules/');
  if (nm >= 0) {
    const rest = url.slice(nm + 14).split('/');
    return rest[0].startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0];
  }
  if (url.includes('/dist/lib/') || url.includes('/dist/adapters/')) return 'tokengate';
  if (url.includes('/bench/')) return 'bench harness';
  return url.replace(/^file:\/\//, '');
}

function summarise(profile, top, [from, to] = [-Infinity, Infinity]) {
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of profile.nodes) for (const c of n.children || []) parent.set(c, n.id);
  // Sample i lasted timeDeltas[i + 1] (the gap to the next sample); the last one gets the mean.
  const deltas = profile.timeDeltas;
  const mean = (profile.endTime - profile.startTime) / Math.max(1, profile.samples.length);
  // Only the measured window counts: no start-up, preflight or warm-up.
  let total = 0;
  let clock = profile.startTime;
  const self = new Map();
  const inclusive = new Map();
  const byPackage = new Map();
  let idle = 0;
  let tokengateInclusive = 0;
  const label = (n) => {
    const f = n.callFrame;
    const file = f.url ? f.url.replace(/^.*\/(node_modules\/|dist\/)/, '$1').replace(/^file:\/\//, '') : '';
    return `${f.functionName || '(anonymous)'}${file ? ` ${file}:${f.lineNumber + 1}` : ''}`;
  };
  profile.samples.forEach((id, i) => {
    clock += deltas[i];
    if (clock < from || clock > to) return;
    const t = i + 1 < deltas.length ? deltas[i + 1] : mean;
    total += t;
    const n = nodes.get(id);
    const name = n.callFrame.functionName;
    if (name === '(idle)') {
      idle += t;
      return;
    }
    const key = label(n);
    self.set(key, (self.get(key) || 0) + t);
    const pkg = packageOf(n.callFrame.url, name);
    byPackage.set(pkg, (byPackage.get(pkg) || 0) + t);
    const seen = new Set();
    let inTokengate = false;
    for (let cur = id; cur !== undefined; cur = parent.get(cur)) {
      const m = nodes.get(cur);
      if (packageOf(m.callFrame.url, m.callFrame.functionName) !== 'tokengate') continue;
      inTokengate = true;
      const k = label(m);
      if (seen.has(k)) continue;
      seen.add(k);
      inclusive.set(k, (inclusive.get(k) || 0) + t);
    }
    if (inTokengate) tokengateInclusive += t;
  });
  const busy = total - idle;
  const sorted = (m, k) => [...m.entries()].sort((a, b) => b[1] - a[1]).slice(0, k).map(([name, us]) => ({ name, ms: +(us / 1000).toFixed(1), pct: +((100 * us) / busy).toFixed(1) }));
  return {
    totalMs: +(total / 1000).toFixed(0),
    busyMs: +(busy / 1000).toFixed(0),
    idlePct: +((100 * idle) / total).toFixed(1),
    tokengateInclusivePct: +((100 * tokengateInclusive) / busy).toFixed(1),
    selfTop: sorted(self, top),
    byPackage: sorted(byPackage, 15),
    tokengateInclusive: sorted(inclusive, 15),
  };
}

function markdown(contestant, workload, cell, s, file) {
  // Requests served in the measured window (the profile is cut to the same window).
  const perReq = (ms) => ((ms * 1000) / Math.max(1, cell.served)).toFixed(1);
  const lines = [
    '',
    `### CPU profile: ${contestant.name}, ${workload} workload`,
    '',
    `${cell.rps.toFixed(0)} req/s with the profiler on, ${cell.cpuUsPerRequest.toFixed(0)} µs server CPU per request ` +
      `(${perReq(s.busyMs)} µs/request of profiled busy time); ` +
      `measured window ${s.totalMs} ms of profile, busy ${s.busyMs} ms (idle ${s.idlePct} %). Time inside tokengate's own functions ` +
      `(inclusive of what they call): ${s.tokengateInclusivePct} % of busy time. Profile: \`${file}\`.`,
    '',
    '| self time by package | ms | % of busy | µs/request |',
    '|---|---:|---:|---:|',
    ...s.byPackage.map((x) => `| ${x.name} | ${x.ms} | ${x.pct} | ${perReq(x.ms)} |`),
    '',
    '| top self-time functions | ms | % of busy | µs/request |',
    '|---|---:|---:|---:|',
    ...s.selfTop.map((x) => `| \`${x.name}\` | ${x.ms} | ${x.pct} | ${perReq(x.ms)} |`),
    '',
    '| tokengate functions, inclusive | ms | % of busy | µs/request |',
    '|---|---:|---:|---:|',
    ...s.tokengateInclusive.map((x) => `| \`${x.name}\` | ${x.ms} | ${x.pct} | ${perReq(x.ms)} |`),
    '',
  ];
  return lines.join('\n');
}

main().catch((error) => {
  console.error(`[profile] ${error.stack || error}`);
  process.exit(1);
});
