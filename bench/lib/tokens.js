'use strict';
// Pre-minted RS256 access tokens for the benchmarks, signed with node:crypto.
//
// Minting costs ~0.3 ms per token (an RSA private-key operation), and the cold workload needs one
// never-seen token per request, so the pool is minted once on all cores (worker threads) and kept
// in node_modules/.cache/tokengate-bench/ (or BENCH_TOKEN_CACHE), keyed by issuer and audience. Later runs reuse it and
// only mint what is missing. Tokens live for 7 days; an older pool is thrown away.
//
// Layout of the pool: [0, 50) warm tokens, [50, 60) preflight tokens, [60, ...) cold tokens.

const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { Worker, isMainThread, parentPort, workerData } = require('node:worker_threads');

const KID = 'bench-rs256-1';
const LIFETIME = 7 * 24 * 3600;
const WARM = 50;
const PREFLIGHT = 10;
const COLD_START = WARM + PREFLIGHT;
const CACHE_DIR = process.env.BENCH_TOKEN_CACHE ? path.resolve(process.env.BENCH_TOKEN_CACHE) : path.join(__dirname, '..', '..', 'node_modules', '.cache', 'tokengate-bench');

const b64u = (value) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');

/** Mints `count` tokens from index `start`. Runs in a worker or inline. */
function mintRange({ pem, issuer, audience, start, count, jtiPrefix, iat }) {
  const key = crypto.createPrivateKey(pem);
  const head = b64u({ kid: KID, alg: 'RS256' });
  const out = new Array(count);
  for (let i = 0; i < count; i++) {
    const n = start + i;
    const claims = {
      ver: 1,
      jti: `AT.${jtiPrefix}.${n.toString(36)}`,
      iss: issuer,
      aud: audience,
      iat,
      exp: iat + LIFETIME,
      cid: '0oabench1234567890x7',
      uid: `00u${(n % 9973).toString(36).padStart(6, '0')}bench`,
      scp: ['openid', 'profile', 'email', 'orders:read'],
      sub: `user${n % 9973}@example.com`,
    };
    const input = `${head}.${b64u(claims)}`;
    const sig = crypto.sign('sha256', Buffer.from(input), key).toString('base64url');
    out[i] = `${input}.${sig}`;
  }
  return out;
}

if (!isMainThread && workerData && workerData.mint) {
  parentPort.postMessage(mintRange(workerData.mint));
}

async function mintParallel(params, count, log) {
  const workers = Math.max(1, Math.min(os.availableParallelism ? os.availableParallelism() : os.cpus().length, 8));
  const chunk = Math.ceil(count / workers);
  const started = Date.now();
  const parts = await Promise.all(
    Array.from({ length: workers }, (_, w) => {
      const start = params.start + w * chunk;
      const n = Math.max(0, Math.min(chunk, params.start + count - start));
      if (n === 0) return [];
      return new Promise((resolve, reject) => {
        const worker = new Worker(__filename, { workerData: { mint: { ...params, start, count: n } } });
        worker.once('message', resolve);
        worker.once('error', reject);
      });
    }),
  );
  log(`minted ${count} RS256 tokens on ${workers} threads in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return parts.flat();
}

/**
 * Returns { pem, publicJwk, kid, tokens } with at least `needed` tokens for issuer/audience,
 * from the on-disk pool when it is fresh enough, minting the rest.
 */
async function loadPool({ issuer, audience, needed, log = () => {} }) {
  fs.mkdirSync(CACHE_DIR, { recursive: true });
  const tag = crypto.createHash('sha256').update(`${issuer}\n${audience}`).digest('hex').slice(0, 12);
  const metaFile = path.join(CACHE_DIR, `pool-${tag}.json`);
  const tokenFile = path.join(CACHE_DIR, `pool-${tag}.tokens`);
  const now = Math.floor(Date.now() / 1000);
  let meta;
  let tokens = [];
  try {
    meta = JSON.parse(fs.readFileSync(metaFile, 'utf8'));
    if (meta.iat + LIFETIME - now < 24 * 3600) throw new Error('pool too old');
    tokens = fs.readFileSync(tokenFile, 'latin1').split('\n');
    if (tokens[tokens.length - 1] === '') tokens.pop();
    if (tokens.length !== meta.count) throw new Error('pool truncated');
  } catch {
    meta = undefined;
    tokens = [];
  }
  if (meta === undefined) {
    // Generated as PEM, kept as PEM: exporting a KeyObject straight from the generator can deadlock
    // Node 20 (see createKeyPair() in lib/testing/model/keys.ts; this file does not load the built package).
    const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048, publicKeyEncoding: { type: 'spki', format: 'pem' }, privateKeyEncoding: { type: 'pkcs8', format: 'pem' } });
    meta = {
      issuer,
      audience,
      kid: KID,
      iat: now,
      jtiPrefix: crypto.randomBytes(6).toString('base64url'),
      pem: privateKey,
      count: 0,
    };
    fs.writeFileSync(tokenFile, '');
  }
  const want = Math.max(needed, COLD_START + 1000);
  if (tokens.length < want) {
    const extra = await mintParallel(
      { pem: meta.pem, issuer, audience, start: tokens.length, jtiPrefix: meta.jtiPrefix, iat: meta.iat },
      want - tokens.length,
      log,
    );
    fs.appendFileSync(tokenFile, extra.join('\n') + '\n', 'latin1');
    tokens = tokens.concat(extra);
    meta.count = tokens.length;
    fs.writeFileSync(metaFile, JSON.stringify(meta));
  } else {
    log(`reusing ${tokens.length} pre-minted tokens from ${path.relative(process.cwd(), tokenFile)}`);
  }
  const publicJwk = { ...crypto.createPublicKey(meta.pem).export({ format: 'jwk' }), kid: KID, alg: 'RS256', use: 'sig' };
  return { pem: meta.pem, publicJwk, kid: KID, tokens, iat: meta.iat };
}

/** Same header and payload, another token's signature: a bad signature under the same kid. */
function badSignature(tokens, i) {
  const a = tokens[COLD_START + (i % (tokens.length - COLD_START))];
  const b = tokens[COLD_START + ((i + 1) % (tokens.length - COLD_START))];
  return a.slice(0, a.lastIndexOf('.')) + b.slice(b.lastIndexOf('.'));
}

module.exports = { loadPool, badSignature, mintRange, KID, WARM, PREFLIGHT, COLD_START, CACHE_DIR };
