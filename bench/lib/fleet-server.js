'use strict';
// One instance of the fleet benchmark (bench/fleet.js): `node fleet-server.js poll|shared|push`.
// Serves GET /api/strict (a `session: 'strict'` route), GET /api/bare (bare Express, no guard: the
// throughput reference) and, in push mode, POST /ssf (the SSF receiver). Every mode but poll shares
// verdicts and the denylist through the benchmark's redis-server (FLEET_REDIS_PORT).
// Reads the dev issuer from BENCH_ISSUER / BENCH_AUDIENCE / BENCH_API_TOKEN, the (compressed)
// session timings from FLEET_TTL / FLEET_STALE / FLEET_RETRY (seconds). Counts the Sessions API
// calls its guard sends and the 429s it gets back, from the guard's HTTP client.
const http = require('node:http');
const express = require('express');
const tokengate = require('./tokengate');

const MODES = ['poll', 'shared', 'push'];
const mode = process.argv[2];
if (!MODES.includes(mode)) throw new Error(`fleet-server: unknown mode ${JSON.stringify(mode)} (${MODES.join(', ')})`);

const counts = { sessionCalls: 0, http429: 0, sessionErrors: 0 };

/** The default HTTP client, wrapped only to count what goes to the Sessions API and what comes back. */
function countingClient(client) {
  return {
    async request(req) {
      const isSession = req.method === 'GET' && /\/api\/v1\/sessions\/[^/?]+$/.test(req.url);
      if (!isSession) return client.request(req);
      counts.sessionCalls++;
      try {
        const res = await client.request(req);
        if (res.status === 429) counts.http429++;
        return res;
      } catch (error) {
        counts.sessionErrors++;
        throw error;
      }
    },
    close: () => client.close(),
  };
}

async function main() {
  const { createGuard, createHttpClient } = tokengate.lib();
  const { protect, ssfReceiver } = tokengate.express();
  let redis;
  const shared = {};
  if (mode !== 'poll') {
    const Redis = require('ioredis');
    const { redisAnswerStore, redisRevocationStore } = tokengate.redis();
    redis = new Redis({ host: '127.0.0.1', port: Number(process.env.FLEET_REDIS_PORT), maxRetriesPerRequest: 1 });
    shared.revocation = { store: redisRevocationStore(redis) };
    shared.store = redisAnswerStore(redis);
  }
  const guard = createGuard({
    issuer: process.env.BENCH_ISSUER,
    audience: process.env.BENCH_AUDIENCE,
    sessions: {
      apiToken: process.env.BENCH_API_TOKEN,
      cacheTtl: Number(process.env.FLEET_TTL),
      staleIfError: Number(process.env.FLEET_STALE),
      retryAfter: Number(process.env.FLEET_RETRY),
      cacheMax: 100_000,
      pushed: mode === 'push',
      store: shared.store,
    },
    revocation: shared.revocation,
    http: countingClient(createHttpClient()),
  });
  const app = express();
  app.get('/api/bare', (_req, res) => res.json({ hello: 'world' }));
  app.get('/api/strict', protect(guard, { session: 'strict' }), (_req, res) => res.json({ hello: 'world' }));
  if (mode === 'push') app.post('/ssf', ssfReceiver(guard, { audience: process.env.FLEET_SSF_AUDIENCE }));
  await guard.ready();
  const server = http.createServer(app);
  server.keepAliveTimeout = 65_000;
  server.listen(0, '127.0.0.1', () => process.send({ type: 'ready', port: server.address().port }));
  process.on('message', (msg) => {
    if (msg && msg.type === 'stats') {
      const cpu = process.cpuUsage();
      process.send({ type: 'stats', ...counts, cpuUs: cpu.user + cpu.system, guard: guard.stats() });
    }
  });
  const stop = async () => {
    server.close();
    server.closeAllConnections();
    await guard.close();
    redis?.disconnect();
    process.exit(0);
  };
  process.on('disconnect', stop);
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main().catch((error) => {
  console.error(`[fleet-server ${mode}]`, error);
  process.exit(1);
});
