'use strict';
// Child process for the strict-session benchmark: `node strict-server.js bare|strict`, under
// `taskset -c 1`. Reads the dev issuer from BENCH_ISSUER / BENCH_AUDIENCE / BENCH_API_TOKEN.
const http = require('node:http');
const express = require('express');
const tokengate = require('./tokengate');

const mode = process.argv[2];
const app = express();
let guard;
if (mode === 'strict') {
  guard = tokengate.lib().createGuard({
    issuer: process.env.BENCH_ISSUER,
    audience: process.env.BENCH_AUDIENCE,
    sessions: { apiToken: process.env.BENCH_API_TOKEN, cacheTtl: 30 },
  });
  app.get('/api/hello', tokengate.express().protect(guard, { session: 'strict' }), (_req, res) => res.json({ hello: 'world' }));
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
    process.send({ type: 'stats', user: cpu.user, system: cpu.system, waited: guard?.stats().sessions?.misses ?? 0 });
  }
});
process.on('disconnect', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
