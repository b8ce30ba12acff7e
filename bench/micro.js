'use strict';
// Micro benchmark: `npm run bench:micro` (node --expose-gc bench/micro.js).
//
// 1. Per-token cost on one core of tokengate's verification (guard.verifyToken on never-seen tokens,
//    on cache hits, on bad signatures and on malformed tokens) next to raw `crypto.verify` and jose's
//    `jwtVerify`. Wall time and process CPU time (all threads, so jose's WebCrypto thread-pool work
//    counts) per token, median of several repetitions.
// 2. Memory of the verified-token cache: heap bytes per entry with 10k and 100k entries, and the
//    total at the default bound (cache.max 10000).
//
// Options (flag or env): --n/BENCH_MICRO_N never-seen tokens per repetition (20000),
// --reps/BENCH_MICRO_REPS (3), --cpu/BENCH_MICRO_CPU core to pin to (1), --out (bench/results/micro.json).

const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const jose = require('jose');
const tokengate = require('./lib/tokengate');
const { createGuard } = tokengate.lib();
const { startIssuer, issuerUrl, AUDIENCE } = require('./lib/issuer');
const { loadPool, badSignature, WARM, COLD_START } = require('./lib/tokens');
const h = require('./lib/harness');

const MEMORY_SIZES = [10_000, 100_000];

async function main() {
  const argv = process.argv.slice(2);
  const n = Number(h.option(argv, 'n', 20_000));
  const reps = Number(h.option(argv, 'reps', 3));
  const cpu = Number(h.option(argv, 'cpu', 1));
  const out = path.resolve(h.option(argv, 'out', path.join(__dirname, 'results', 'micro.json')));
  if (typeof global.gc !== 'function') throw new Error('run with node --expose-gc (npm run bench:micro does)');
  const log = (msg) => process.stderr.write(`[micro] ${msg}\n`);

  const issuer = issuerUrl();
  const needed = COLD_START + Math.max(MEMORY_SIZES[MEMORY_SIZES.length - 1], n * 2) + 2000;
  const pool = await loadPool({ issuer, audience: AUDIENCE, needed, log });
  const pinned = h.pinSelf(cpu);
  const machine = h.machineInfo();
  const provenance = h.provenance(tokengate.dir);
  log(`${machine.cpuModel}, node ${machine.node}, pinned to core ${cpu}: ${pinned}`);
  const iss = await startIssuer({ issuer, publicJwk: pool.publicJwk });

  const cold = pool.tokens.slice(COLD_START);
  const warm = pool.tokens.slice(0, WARM);
  // Never-seen slices: repetition r uses cold[r*n, (r+1)*n) on a fresh guard, warm-up uses the tail.
  const slice = (r) => cold.slice((r % 2) * n, (r % 2) * n + n);
  const warmupTokens = cold.slice(cold.length - 2000);

  const publicKey = crypto.createPublicKey({ key: pool.publicJwk, format: 'jwk' });
  const cryptoKey = await jose.importJWK(pool.publicJwk, 'RS256');
  const joseOptions = { issuer, audience: AUDIENCE, algorithms: ['RS256'] };

  const split = (t) => {
    const dot = t.lastIndexOf('.');
    return { input: Buffer.from(t.slice(0, dot)), sig: Buffer.from(t.slice(dot + 1), 'base64url') };
  };

  const newGuard = async (options = {}) => {
    const guard = createGuard({ issuer, audience: AUDIENCE, ...options });
    await guard.ready();
    return guard;
  };

  /** A guard that has verified the warm tokens, and requests (as Node gives them) presenting them round-robin. */
  const warmRequests = async () => {
    const guard = await newGuard();
    for (const t of warm) await guard.verifyToken(t);
    const reqs = warm.map((t) => ({ method: 'GET', url: '/api/hello', headers: { authorization: `Bearer ${t}` }, rawHeaders: ['Host', 'x', 'Authorization', `Bearer ${t}`] }));
    return { guard, items: Array.from({ length: n * 10 }, (_, i) => reqs[i % WARM]) };
  };

  /** Measures `run(items)`; returns per-item wall and CPU microseconds. */
  const measure = async (items, run) => {
    const cpu0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    await run(items);
    const wall = Number(process.hrtime.bigint() - t0) / 1000;
    const c = process.cpuUsage(cpu0);
    return { wallUs: wall / items.length, cpuUs: (c.user + c.system) / items.length };
  };

  const cases = [
    {
      name: 'crypto.verify RS256 (pre-split input)',
      kind: 'reference',
      prepare: async (r) => slice(r).map(split),
      run: async (items) => {
        for (const { input, sig } of items) if (!crypto.verify('sha256', input, publicKey, sig)) throw new Error('bad');
      },
    },
    {
      name: 'split + base64url + JSON.parse + crypto.verify',
      kind: 'reference',
      prepare: async (r) => slice(r),
      run: async (items) => {
        for (const t of items) {
          const a = t.indexOf('.');
          const b = t.indexOf('.', a + 1);
          JSON.parse(Buffer.from(t.slice(0, a), 'base64url').toString());
          JSON.parse(Buffer.from(t.slice(a + 1, b), 'base64url').toString());
          if (!crypto.verify('sha256', Buffer.from(t.slice(0, b)), publicKey, Buffer.from(t.slice(b + 1), 'base64url'))) throw new Error('bad');
        }
      },
    },
    {
      name: 'jose jwtVerify (CryptoKey, iss/aud checks)',
      kind: 'reference',
      prepare: async (r) => slice(r),
      run: async (items) => {
        for (const t of items) await jose.jwtVerify(t, cryptoKey, joseOptions);
      },
    },
    {
      name: 'tokengate verifyToken, never-seen token',
      kind: 'tokengate',
      prepare: async (r) => ({ guard: await newGuard(), items: slice(r) }),
      run: async ({ guard, items }) => {
        for (const t of items) await guard.verifyToken(t);
      },
    },
    {
      name: 'tokengate verifyToken, never-seen, cache: false',
      kind: 'tokengate',
      prepare: async (r) => ({ guard: await newGuard({ cache: false }), items: slice(r) }),
      run: async ({ guard, items }) => {
        for (const t of items) await guard.verifyToken(t);
      },
    },
    {
      name: 'tokengate verifyToken, cache hit (50 tokens)',
      kind: 'tokengate',
      prepare: async () => {
        const guard = await newGuard();
        for (const t of warm) await guard.verifyToken(t);
        return { guard, items: Array.from({ length: n * 10 }, (_, i) => warm[i % WARM]) };
      },
      run: async ({ guard, items }) => {
        for (const t of items) await guard.verifyToken(t);
      },
    },
    {
      name: 'tokengate verify(request), cache hit (50 tokens)',
      kind: 'tokengate',
      prepare: warmRequests,
      run: async ({ guard, items }) => {
        for (const r of items) await guard.verify(r);
      },
    },
    {
      // What the Express and Koa adapters call, where the guard has it.
      name: 'tokengate handle(request), cache hit (50 tokens)',
      kind: 'tokengate',
      optional: (guard) => typeof guard.handle !== 'function',
      prepare: warmRequests,
      run: async ({ guard, items }) => {
        for (const r of items) await guard.handle(r);
      },
    },
    {
      // A DPoP-bound token already verified, each request with a fresh ES256 proof (made before the
      // clock starts): what a DPoP request costs on top of a cache hit (proof signature, htm/htu/ath,
      // thumbprint, replay check). Tokens and proofs from the testing kit's dev issuer.
      name: 'tokengate verify(request), DPoP: cached token + fresh ES256 proof',
      kind: 'tokengate',
      optional: () => typeof tokengate.testing().createDpopProof !== 'function',
      prepare: async () => {
        const { startDevIssuer, createKeyPair, createDpopProof } = tokengate.testing();
        const dev = await startDevIssuer();
        const { privateKey } = createKeyPair('ES256');
        const token = dev.okta.token({}, { dpop: privateKey });
        const guard = createGuard({ issuer: dev.issuer, audience: dev.okta.audience, dpop: { origins: 'https://api.example.com' } });
        const close = guard.close.bind(guard);
        guard.close = async () => {
          await close();
          await dev.close();
        };
        const items = Array.from({ length: Math.min(n, 5000) }, () => {
          const proof = createDpopProof({ privateKey, method: 'GET', url: 'https://api.example.com/api/hello', accessToken: token });
          return { method: 'GET', url: '/api/hello', headers: { authorization: `DPoP ${token}`, dpop: proof, host: 'api.example.com' }, rawHeaders: ['Host', 'api.example.com', 'Authorization', `DPoP ${token}`, 'DPoP', proof] };
        });
        // The token's verdict is cached by one request with a proof of its own.
        await guard.verify({ ...items[0], headers: { ...items[0].headers, dpop: createDpopProof({ privateKey, method: 'GET', url: 'https://api.example.com/api/hello', accessToken: token }) }, rawHeaders: undefined });
        return { guard, items };
      },
      run: async ({ guard, items }) => {
        for (const r of items) await guard.verify(r);
      },
    },
    {
      name: 'tokengate verifyToken, bad signature (401)',
      kind: 'tokengate',
      prepare: async (r) => ({ guard: await newGuard(), items: Array.from({ length: n }, (_, i) => badSignature(pool.tokens, r * n + i)) }),
      run: async ({ guard, items }) => {
        for (const t of items) await guard.verifyToken(t).then(() => { throw new Error('accepted a bad signature'); }, (e) => { if (e.status !== 401) throw e; });
      },
    },
    {
      name: 'tokengate verifyToken, malformed "not-a-jwt-N" (401)',
      kind: 'tokengate',
      prepare: async (r) => ({ guard: await newGuard(), items: Array.from({ length: n * 5 }, (_, i) => `not-a-jwt-${(r * n * 5 + i).toString(36)}`) }),
      run: async ({ guard, items }) => {
        for (const t of items) await guard.verifyToken(t).then(() => { throw new Error('accepted garbage'); }, (e) => { if (e.status !== 401) throw e; });
      },
    },
  ];

  const timing = [];
  const probe = await newGuard();
  for (const c of cases.filter((x) => x.optional && x.optional(probe))) log(`skipped: ${c.name} (not in this build)`);
  await probe.close();
  for (const c of cases.filter((x) => !x.optional || !x.optional(probe))) {
    // Warm-up on other tokens, so the JIT has seen the path before the clock starts.
    const w = await c.prepare(0);
    const warmItems = Array.isArray(w) ? warmupTokens.map((t) => (c.name.startsWith('crypto.verify') ? split(t) : t)) : { ...w, items: w.items.slice(0, 2000) };
    await c.run(warmItems);
    if (!Array.isArray(w)) await w.guard.close();
    const samples = [];
    for (let r = 0; r < reps; r++) {
      const prepared = await c.prepare(r);
      global.gc();
      samples.push(await measure(Array.isArray(prepared) ? prepared : prepared.items, Array.isArray(prepared) ? c.run : (items) => c.run({ ...prepared, items })));
      if (!Array.isArray(prepared)) await prepared.guard.close();
    }
    const row = {
      name: c.name,
      kind: c.kind,
      wallUs: round2(h.median(samples.map((s) => s.wallUs))),
      cpuUs: round2(h.median(samples.map((s) => s.cpuUs))),
      samples: samples.map((s) => ({ wallUs: round2(s.wallUs), cpuUs: round2(s.cpuUs) })),
    };
    timing.push(row);
    log(`${c.name.padEnd(52)} ${row.wallUs.toFixed(2).padStart(8)} µs wall ${row.cpuUs.toFixed(2).padStart(8)} µs CPU per token`);
  }

  // Memory of the verified-token cache.
  const memory = [];
  const heap = () => {
    global.gc();
    global.gc();
    const m = process.memoryUsage();
    return { heap: m.heapUsed, external: m.external + m.arrayBuffers };
  };
  for (const size of MEMORY_SIZES) {
    const guard = await newGuard(size === 10_000 ? {} : { cache: { max: size } });
    // Token strings are copied into fresh flat strings, and the harness keeps no reference to them,
    // so what stays alive is what the cache holds (the token string is part of every entry).
    const source = cold.slice(0, size);
    await guard.verifyToken(Buffer.from(warm[0], 'latin1').toString('latin1'));
    const before = heap();
    for (let i = 0; i < size; i++) await guard.verifyToken(Buffer.from(source[i], 'latin1').toString('latin1'));
    const after = heap();
    const cacheSize = guard.cache ? guard.cache.size : undefined; // private in TypeScript, plain JS here
    const tokenChars = source.reduce((s, t) => s + t.length, 0) / size;
    const row = {
      entries: size,
      cacheSize,
      cacheMax: size,
      bytesPerEntry: Math.round((after.heap - before.heap) / size),
      externalBytesPerEntry: Math.round((after.external - before.external) / size),
      totalMiB: round2((after.heap - before.heap) / 2 ** 20),
      averageTokenChars: Math.round(tokenChars),
    };
    memory.push(row);
    log(`cache with ${size} entries: ${row.bytesPerEntry} B/entry on the heap (token ${row.averageTokenChars} chars), ${row.totalMiB} MiB`);
    await guard.close();
  }
  const defaultBound = memory.find((m) => m.cacheMax === 10_000);

  const result = {
    command: `npm run bench:micro -- ${argv.join(' ')}`.trim(),
    machine,
    tokengate: provenance,
    config: { n, reps, cpu, pinned },
    timing,
    memory,
    defaultBound: { cacheMax: 10_000, totalMiB: defaultBound.totalMiB, bytesPerEntry: defaultBound.bytesPerEntry },
  };
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, JSON.stringify(result, null, 2) + '\n');
  process.stdout.write(markdown(result));
  log(`wrote ${path.relative(process.cwd(), out)}`);
  await iss.close();
}

function markdown(r) {
  const ref = r.timing[0].cpuUs;
  const lines = ['', `### Per-token cost on one core (median of ${r.config.reps}; RS256, 2048-bit key)`, ''];
  lines.push('| operation | wall µs/token | CPU µs/token | CPU × crypto.verify |');
  lines.push('|---|---:|---:|---:|');
  for (const t of r.timing) lines.push(`| ${t.name} | ${t.wallUs.toFixed(1)} | ${t.cpuUs.toFixed(1)} | ${(t.cpuUs / ref).toFixed(2)} |`);
  lines.push('', '### Verified-token cache memory (V8 heap, after GC)', '');
  lines.push('| entries | bytes/entry | total MiB | token length (chars) |');
  lines.push('|---:|---:|---:|---:|');
  for (const m of r.memory) lines.push(`| ${m.entries} | ${m.bytesPerEntry} | ${m.totalMiB} | ${m.averageTokenChars} |`);
  lines.push('');
  lines.push(`At the default bound (cache.max 10000): ${r.defaultBound.totalMiB} MiB. Machine: ${r.machine.cpuModel}, Node ${r.machine.node}, ${r.machine.date.slice(0, 10)}; pinned to core ${r.config.cpu}; tokengate ${r.tokengate.commit}${r.tokengate.libDirty ? ' (+ uncommitted lib changes)' : ''}.`);
  lines.push('');
  return lines.join('\n');
}

const round2 = (x) => Math.round(x * 100) / 100;

main().catch((error) => {
  console.error(`[micro] ${error.stack || error}`);
  process.exit(1);
});
