'use strict';
// Macro benchmark: `npm run bench` [-- --rounds 3 --duration 5 --warmup 1 --quick ...]
//
// Every contestant is an HTTP server in its own process pinned to one core; autocannon runs in this
// process, pinned to the other core. Workloads x contestants are interleaved over several rounds and
// the figure that counts is each contestant's throughput ratio to the bare framework in the same
// round, median over rounds. Writes bench/results/latest.json and prints markdown.
//
// Options (flag or env): --rounds/BENCH_ROUNDS (3), --duration/BENCH_DURATION seconds per cell (5),
// --warmup/BENCH_WARMUP seconds before each cell (1), --connections/BENCH_CONNECTIONS (32),
// --workloads/BENCH_WORKLOADS (warm,cold,reject,malformed), --only/BENCH_ONLY (contestant ids),
// --extra/BENCH_EXTRA (more contestant files, comma-separated, e.g. an A/B variant of tokengate),
// --server-cpu/BENCH_SERVER_CPU (1), --load-cpu/BENCH_LOAD_CPU (0), --max-rps/BENCH_MAX_RPS
// (sizes the cold token pool, 12000),
// --process-warmup/BENCH_PROCESS_WARMUP seconds of mixed load on each fresh process (2),
// --retries/BENCH_RETRIES re-measurements of a cell disturbed by other processes (1),
// --max-foreign/BENCH_MAX_FOREIGN share of a core taken by others that makes a cell disturbed (0.15),
// --quiet-wait/BENCH_QUIET_WAIT seconds to wait for idle cores before each cell (60), --out/BENCH_OUT (bench/results/latest.json),
// --quick (1 round, 2 s cells, 0.5 s warm-up), --render <file.json> (print an earlier run's tables again).

const fs = require('node:fs');
const path = require('node:path');
const { startIssuer, issuerUrl, AUDIENCE } = require('./lib/issuer');
const { loadPool, COLD_START } = require('./lib/tokens');
const h = require('./lib/harness');
const tokengate = require('./lib/tokengate');

// Each workload's target: a share of the bare framework's throughput, or of the `floor` reference's
// (split + parse + one crypto.verify) of the same framework in the same run. A floor-relative target
// is skipped for a framework that has no floor contestant.
const TARGETS = { warm: { of: 'bare', ratio: 0.97 }, cold: { of: 'floor', ratio: 0.93 }, reject: { of: 'floor', ratio: 0.93 }, malformed: { of: 'bare', ratio: 0.95 } };

async function main() {
  const argv = process.argv.slice(2);
  const render = h.option(argv, 'render', undefined);
  if (render) return rerender(path.resolve(render));
  const quick = argv.includes('--quick') || process.env.BENCH_QUICK === '1';
  const config = {
    rounds: Number(h.option(argv, 'rounds', quick ? 1 : 3)),
    duration: Number(h.option(argv, 'duration', quick ? 2 : 5)),
    warmup: Number(h.option(argv, 'warmup', quick ? 0.5 : 1)),
    connections: Number(h.option(argv, 'connections', 32)),
    workloads: String(h.option(argv, 'workloads', h.WORKLOADS.join(','))).split(',').map((s) => s.trim()).filter(Boolean),
    only: h.option(argv, 'only', undefined),
    extra: h.option(argv, 'extra', undefined),
    serverCpu: Number(h.option(argv, 'server-cpu', 1)),
    loadCpu: Number(h.option(argv, 'load-cpu', 0)),
    maxRps: Number(h.option(argv, 'max-rps', 12000)),
    processWarmup: Number(h.option(argv, 'process-warmup', quick ? 1 : 2)),
    retries: Number(h.option(argv, 'retries', 1)),
    maxForeign: Number(h.option(argv, 'max-foreign', 0.15)),
    quietWait: Number(h.option(argv, 'quiet-wait', 60)),
  };
  const out = path.resolve(h.option(argv, 'out', path.join(__dirname, 'results', 'latest.json')));
  for (const w of config.workloads) if (!h.WORKLOADS.includes(w)) throw new Error(`unknown workload "${w}"`);
  if (!fs.existsSync(path.join(tokengate.dir, 'adapters', 'express.js'))) {
    throw new Error(`${tokengate.dir} has no build: run \`npm run build\` first (npm run bench does)`);
  }

  const contestants = h.loadContestants(config.only, config.extra);
  const log = (msg) => process.stderr.write(`[bench] ${msg}\n`);
  const issuer = issuerUrl();
  // Each round starts fresh processes, so the cold pool must cover one cell: warm-up plus measurement.
  const coldNeeded = Math.ceil((config.processWarmup / 4 + (config.duration + config.warmup) * (1 + config.retries)) * config.maxRps * 1.05);
  const pool = await loadPool({
    issuer,
    audience: AUDIENCE,
    needed: config.workloads.includes('cold') || config.workloads.includes('reject') ? COLD_START + coldNeeded : 0,
    log,
  });

  // Minting used every core; from now on this process (autocannon and the issuer) stays on one.
  const pinned = h.pinSelf(config.loadCpu);
  if (!pinned) log('WARNING: taskset is not available; nothing is pinned');
  const machine = h.machineInfo();
  const provenance = h.provenance(tokengate.dir);
  log(`${machine.cpuModel}, ${machine.cpus} cores, node ${machine.node}; servers on core ${config.serverCpu}, load on core ${config.loadCpu}`);

  const iss = await startIssuer({ issuer, publicJwk: pool.publicJwk });
  const env = { BENCH_ISSUER: iss.issuer, BENCH_AUDIENCE: AUDIENCE, BENCH_JWKS_URI: iss.jwksUri };
  let handles = [];
  let failed = false;
  try {
    const preflight = {};
    const cells = [];
    const totalCells = config.rounds * config.workloads.length * contestants.length;
    const started = Date.now();
    for (let round = 0; round < config.rounds; round++) {
      // Fresh processes every round: empty caches, independent samples, and the cold pool only has
      // to cover one round.
      handles = [];
      for (const c of contestants) handles.push(await h.startContestant(c, { cpu: config.serverCpu, env }));
      // Preflight: every contestant must answer every workload correctly, or nothing is measured.
      for (const handle of handles) {
        const p = await h.preflight(handle, pool);
        const id = handle.contestant.id;
        if (preflight[id] && p.ok && preflight[id].expected.malformed !== p.expected.malformed) {
          p.ok = false;
          p.problems.push(`malformed answer changed between rounds: ${preflight[id].expected.malformed} then ${p.expected.malformed}`);
        }
        preflight[id] ??= p;
        if (!p.ok) {
          failed = true;
          log(`PREFLIGHT FAILED for ${handle.contestant.name}:\n  ${p.problems.join('\n  ')}`);
        }
      }
      if (failed) throw new Error('preflight failed; nothing more is measured');
      if (round === 0) {
        log(`preflight passed for ${handles.length} contestants (malformed answered with: ${handles
          .filter((x) => !x.contestant.baseline && !x.contestant.authless)
          .map((x) => `${x.contestant.name} ${preflight[x.contestant.id].expected.malformed}`)
          .join(', ')})`);
      }
      const cursors = {};
      for (const handle of handles) {
        if (config.processWarmup > 0) {
          await h.warmProcess(handle, { source: h.makeSource(pool, cursors, handle.contestant.id), connections: config.connections, seconds: config.processWarmup });
        }
      }
      for (const workload of config.workloads) {
        // Rotate the order each round so that no contestant always runs first or last.
        const order = handles.map((_, i) => handles[(i + round) % handles.length]);
        for (const handle of order) {
          const c = handle.contestant;
          const source = h.makeSource(pool, cursors, c.id);
          const cell = await h.runCell(handle, {
            workload,
            source,
            connections: config.connections,
            seconds: config.duration,
            warmup: config.warmup,
            expected: preflight[c.id].expected[workload],
            cores: { server: config.serverCpu, load: config.loadCpu },
            retries: config.retries,
            maxForeign: config.maxForeign,
            quietWait: config.quietWait,
          });
          cell.round = round + 1;
          cell.workload = workload;
          cell.contestant = c.id;
          if (workload === 'cold' && !c.baseline && source.wrapped()) cell.coldPoolWrapped = true;
          cells.push(cell);
          const bad = cell.wrong + cell.errors + cell.timeouts;
          if (bad > 0) failed = true;
          log(
            `round ${round + 1} ${workload.padEnd(9)} ${c.name.padEnd(26)} ${cell.rps.toFixed(0).padStart(6)} req/s ` +
              `p50 ${cell.latencyMs.p50} ms p99 ${cell.latencyMs.p99} ms ${cell.cpuUsPerRequest.toFixed(0).padStart(4)} µs/req ` +
              `cores busy ${pct(cell.serverCoreBusy)}/${pct(cell.loadCoreBusy)}, others ${pct(cell.foreign.serverCore)}/${pct(cell.foreign.loadCore)}` +
              (cell.attempt > 1 ? ` (attempt ${cell.attempt})` : '') +
              (bad > 0 ? `  WRONG ANSWERS: ${JSON.stringify(cell.statuses)} expected ${cell.expected}, errors ${cell.errors}, timeouts ${cell.timeouts}` : '') +
              (cell.coldPoolWrapped ? '  (cold pool wrapped: raise --max-rps)' : '') +
              `  [${cells.length}/${totalCells}]`,
          );
        }
      }
      for (const handle of handles) await handle.stop();
      handles = [];
    }

    const summary = summarise(contestants, cells, config);
    const result = {
      command: `npm run bench -- ${argv.join(' ')}`.trim(),
      machine,
      tokengate: provenance,
      config: { ...config, pinned, coldPoolTokens: pool.tokens.length - COLD_START, elapsedSeconds: Math.round((Date.now() - started) / 1000) },
      issuerHits: iss.hits,
      contestants: contestants.map(({ id, name, framework, baseline, ours, reference, nodeArgs }) => ({ id, name, framework, baseline, ours, reference, nodeArgs, malformedStatus: preflight[id].expected.malformed })),
      targets: TARGETS,
      summary,
      checks: checks(contestants, summary, config),
      cells,
      valid: !failed,
    };
    fs.mkdirSync(path.dirname(out), { recursive: true });
    fs.writeFileSync(out, JSON.stringify(result, null, 2) + '\n');
    process.stdout.write(markdown(result));
    log(`wrote ${path.relative(process.cwd(), out)}`);
    if (failed) log('SOME CELLS HAD WRONG ANSWERS, ERRORS OR TIMEOUTS: see "statuses" in the JSON');
  } finally {
    for (const handle of handles) await handle.stop();
    await iss.close();
  }
  process.exitCode = failed ? 1 : 0;
}

/** `--render file.json`: summarises the cells of an earlier run again and prints the markdown. */
function rerender(file) {
  const result = JSON.parse(fs.readFileSync(file, 'utf8'));
  const contestants = result.contestants;
  result.summary = summarise(contestants, result.cells, result.config);
  result.checks = checks(contestants, result.summary, result.config);
  process.stdout.write(markdown(result));
}

/** Per workload and contestant: ratios to the same framework's baseline in the same round, medians. */
function summarise(contestants, cells, config) {
  const summary = {};
  const disturbed = (x) => Math.max(x.foreign.serverCore ?? 0, x.foreign.loadCore ?? 0) > config.maxForeign;
  for (const workload of config.workloads) {
    summary[workload] = {};
    for (const c of contestants) {
      const base = contestants.find((b) => b.baseline && b.framework === c.framework);
      const pairs = cells
        .filter((x) => x.workload === workload && x.contestant === c.id)
        .map((x) => ({ x, b: cells.find((y) => y.workload === workload && y.contestant === base.id && y.round === x.round) }))
        .filter(({ b }) => b !== undefined);
      // A round in which other processes took a core from either cell of the pair does not count,
      // unless every round was disturbed (then all count, and the summary says so).
      const clean = pairs.filter(({ x, b }) => !disturbed(x) && !disturbed(b));
      const used = clean.length > 0 ? clean : pairs;
      const ratios = used.map(({ x, b }) => x.rps / b.rps);
      // CPU ratio: the baseline's server CPU per request over ours. It does not depend on whether
      // the load generator kept the server busy (bare Koa can outrun one autocannon core).
      const cpuRatios = used.map(({ x, b }) => b.cpuUsPerRequest / x.cpuUsPerRequest);
      const mine = used.map(({ x }) => x);
      summary[workload][c.id] = {
        ratio: round3(h.median(ratios)),
        ratioMin: round3(Math.min(...ratios)),
        ratioMax: round3(Math.max(...ratios)),
        ratios: ratios.map(round3),
        cpuRatio: round3(h.median(cpuRatios)),
        roundsUsed: used.map(({ x }) => x.round),
        roundsExcluded: pairs.filter((p) => !used.includes(p)).map(({ x }) => x.round),
        allRoundsDisturbed: clean.length === 0 && pairs.length > 0,
        rps: Math.round(h.median(mine.map((x) => x.rps))),
        p50Ms: h.median(mine.map((x) => x.latencyMs.p50)),
        p99Ms: h.median(mine.map((x) => x.latencyMs.p99)),
        cpuUsPerRequest: Math.round(h.median(mine.map((x) => x.cpuUsPerRequest))),
        serverProcessCoreUse: round3(h.median(mine.map((x) => x.serverCoreUse))),
        serverCoreBusy: round3(h.median(mine.map((x) => x.serverCoreBusy))),
        loadCoreBusy: round3(h.median(mine.map((x) => x.loadCoreBusy))),
        coldPoolWrapped: mine.some((x) => x.coldPoolWrapped),
        // The load generator's core was full while the server's process was not: req/s is a floor.
        loadBound: h.median(mine.map((x) => x.loadCoreBusy)) > 0.9 && h.median(mine.map((x) => x.serverCoreUse)) < 0.9,
        status: mine[0] ? mine[0].expected : undefined,
        wrongAnswers: cells.filter((x) => x.workload === workload && x.contestant === c.id).reduce((n, x) => n + x.wrong + x.errors + x.timeouts, 0),
      };
    }
  }
  return summary;
}

/**
 * Our contestants against TARGETS, and whether each is ahead of every peer of the same framework.
 * Against the floor, the figure is the ratio of the two medians (each a median of per-round ratios to bare).
 */
function checks(contestants, summary, config) {
  const out = [];
  for (const ours of contestants.filter((c) => c.ours)) {
    for (const workload of config.workloads) {
      const s = summary[workload][ours.id];
      const peers = contestants.filter((p) => !p.baseline && !p.ours && !p.reference && p.framework === ours.framework);
      const bestPeer = peers.reduce((best, p) => (best && summary[workload][best.id].ratio >= summary[workload][p.id].ratio ? best : p), undefined);
      const target = TARGETS[workload];
      const floor = target.of === 'floor' ? contestants.find((p) => p.reference && p.framework === ours.framework) : undefined;
      const against = target.of === 'bare' ? s.ratio : floor && s.ratio / summary[workload][floor.id].ratio;
      out.push({
        contestant: ours.id,
        workload,
        ratio: s.ratio,
        cpuRatio: s.cpuRatio,
        target: target.ratio,
        targetOf: target.of,
        againstTarget: against,
        meetsTarget: against === undefined ? undefined : against >= target.ratio,
        bestPeer: bestPeer ? bestPeer.id : undefined,
        bestPeerRatio: bestPeer ? summary[workload][bestPeer.id].ratio : undefined,
        aheadOfPeers: bestPeer ? s.ratio > summary[workload][bestPeer.id].ratio : undefined,
      });
    }
  }
  return out;
}

function markdown(result) {
  const { summary, config, machine } = result;
  const names = Object.fromEntries(result.contestants.map((c) => [c.id, c.name]));
  const lines = [];
  lines.push('');
  lines.push(`### Throughput relative to the bare framework (median of ${config.rounds} round${config.rounds === 1 ? '' : 's'}; higher is better)`);
  lines.push('');
  lines.push(`| contestant | ${config.workloads.join(' | ')} |`);
  lines.push(`|---|${config.workloads.map(() => '---:').join('|')}|`);
  for (const c of result.contestants) {
    const row = config.workloads.map((w) => {
      const s = summary[w][c.id];
      return c.baseline ? `1.00 (${s.rps} req/s)` : `${s.ratio.toFixed(2)}×`;
    });
    lines.push(`| ${c.ours ? `**${c.name}**` : c.reference ? `*${c.name}*` : c.name} | ${row.join(' | ')} |`);
  }
  const bound = result.contestants.flatMap((c) => config.workloads.filter((w) => summary[w][c.id].loadBound).map((w) => `${c.name} (${w})`));
  if (bound.length) {
    lines.push('');
    lines.push(`Load-generator-bound (autocannon's core full, server's not; req/s is a floor, see the CPU ratio): ${bound.join(', ')}.`);
  }
  lines.push('');
  lines.push('### Details (medians over rounds; ratio range in brackets; CPU ratio = bare CPU µs/req ÷ this one\'s, same round)');
  lines.push('');
  lines.push('| workload | contestant | ratio [min–max] | CPU ratio | req/s | p50 ms | p99 ms | server CPU µs/req | answer |');
  lines.push('|---|---|---:|---:|---:|---:|---:|---:|---:|');
  for (const w of config.workloads) {
    for (const c of result.contestants) {
      const s = summary[w][c.id];
      const ratio = c.baseline ? '1.00' : `${s.ratio.toFixed(2)} [${s.ratioMin.toFixed(2)}–${s.ratioMax.toFixed(2)}]${s.roundsExcluded.length ? ` (${s.roundsUsed.length} rounds)` : ''}${s.allRoundsDisturbed ? ' (all rounds disturbed!)' : ''}`;
      const answer = `${s.status}${s.wrongAnswers ? ` (${s.wrongAnswers} wrong!)` : ''}${s.coldPoolWrapped ? ' (pool wrapped!)' : ''}`;
      lines.push(`| ${w} | ${c.ours ? `**${names[c.id]}**` : c.reference ? `*${names[c.id]}*` : names[c.id]} | ${ratio} | ${c.baseline ? '1.00' : s.cpuRatio.toFixed(2)} | ${s.rps} | ${s.p50Ms} | ${s.p99Ms} | ${s.cpuUsPerRequest} | ${answer} |`);
    }
  }
  lines.push('');
  lines.push('### Targets');
  lines.push('');
  lines.push('| contestant | workload | ratio to bare | CPU ratio | target | measured | best peer | ahead of peers | verdict |');
  lines.push('|---|---|---:|---:|---:|---:|---|---|---|');
  for (const x of result.checks) {
    const verdict = x.meetsTarget === undefined ? 'no floor' : x.meetsTarget && x.aheadOfPeers !== false ? 'met' : 'MISSED';
    const peer = x.bestPeer ? `${names[x.bestPeer]} ${x.bestPeerRatio.toFixed(2)}×` : '–';
    const ahead = x.aheadOfPeers === undefined ? '–' : x.aheadOfPeers ? 'yes' : 'NO';
    const measured = x.againstTarget === undefined ? '–' : `${x.againstTarget.toFixed(2)}×`;
    lines.push(`| ${names[x.contestant]} | ${x.workload} | ${x.ratio.toFixed(2)}× | ${x.cpuRatio.toFixed(2)}× | ≥ ${x.target}× ${x.targetOf} | ${measured} | ${peer} | ${ahead} | ${verdict} |`);
  }
  lines.push('');
  lines.push(
    `Machine: ${machine.cpuModel}, ${machine.cpus} cores, ${machine.platform}; Node ${machine.node}; ${machine.date.slice(0, 10)}. ` +
      `Servers pinned to core ${config.serverCpu}, autocannon to core ${config.loadCpu}; ${config.connections} connections, ` +
      `${config.duration} s per cell after ${config.warmup} s warm-up (fresh processes each round, ${config.processWarmup} s mixed warm-up each), ` +
      `${config.rounds} round(s). tokengate ${result.tokengate ? `${result.tokengate.commit}${result.tokengate.libDirty ? ' (+ uncommitted lib changes)' : ''}, build ${result.tokengate.build}` : ''}. Command: \`${result.command}\`. Rounds in which other processes took more than ` +
      `${pct(config.maxForeign)} of a core during either cell of a pair are left out of that pair's median.` +
      (result.valid ? '' : ' **RUN INVALID: some answers were wrong.**'),
  );
  lines.push('');
  return lines.join('\n');
}

const pct = (x) => (x === undefined ? '?' : `${Math.round(x * 100)}%`);
const round3 = (x) => (Number.isFinite(x) ? Math.round(x * 1000) / 1000 : x);

main().catch((error) => {
  console.error(`[bench] ${error.stack || error}`);
  process.exit(1);
});
