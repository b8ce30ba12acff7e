'use strict';
// Child process for the strict-session benchmark: `node strict-server.js bare|lax|strict`, under
// `taskset -c 1` (or valgrind, for bench/instructions.js). `lax` is the same guard on a route
// without the session check. Reads the dev issuer from BENCH_ISSUER / BENCH_AUDIENCE / BENCH_API_TOKEN.
const http = require('node:http');
const express = require('express');
const tokengate = require('./tokengate');

const mode = process.argv[2];
const app = express();
let guard;
// When each Sessions API call went out, per session id, as the guard sent it: the default client,
// wrapped only to note the time (the issuer's receive times would add transport jitter).
const sent = [];
if (mode === 'strict' || mode === 'lax') {
  const { createGuard, createHttpClient } = tokengate.lib();
  const client = createHttpClient();
  const recording = {
    request(req) {
      const match = /\/api\/v1\/sessions\/([^/?]+)$/.exec(req.url);
      if (match && req.method === 'GET') sent.push({ sid: decodeURIComponent(match[1]), at: Date.now() });
      return client.request(req);
    },
    close: () => client.close(),
  };
  // BENCH_SESSION_TTL and BENCH_UPSTREAM_TIMEOUT (seconds) are for bench/instructions.js, whose
  // servers run about 50 times slower under valgrind; otherwise the defaults apply (30 s TTL as in the issue).
  const timeout = process.env.BENCH_UPSTREAM_TIMEOUT === undefined ? undefined : Number(process.env.BENCH_UPSTREAM_TIMEOUT);
  guard = createGuard({
    issuer: process.env.BENCH_ISSUER,
    audience: process.env.BENCH_AUDIENCE,
    keySet: { timeout },
    sessions: { apiToken: process.env.BENCH_API_TOKEN, cacheTtl: Number(process.env.BENCH_SESSION_TTL ?? 30), timeout },
    http: recording,
  });
  app.get('/api/hello', tokengate.express().protect(guard, mode === 'strict' ? { session: 'strict' } : undefined), (_req, res) => res.json({ hello: 'world' }));
} else {
  app.get('/api/hello', (_req, res) => res.json({ hello: 'world' }));
}
const server = http.createServer(app);
server.keepAliveTimeout = 65_000;
server.listen(0, '127.0.0.1', () => process.send({ type: 'ready', port: server.address().port }));
process.on('message', (msg) => {
  if (msg && msg.type === 'stats') {
    const cpu = process.cpuUsage();
    // waited: requests of strict routes that waited for the Sessions API (session-cache misses).
    process.send({ type: 'stats', user: cpu.user, system: cpu.system, waited: guard?.stats().sessions?.misses ?? 0, sent: msg.sent ? sent : undefined });
  }
});
process.on('disconnect', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
