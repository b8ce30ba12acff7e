'use strict';
// Child process that serves one contestant: `node bench/lib/server.js bench/contestants/<name>.js`.
// Started by the harness under `taskset -c <server core>` with an IPC channel. It reports
// { type: 'ready', port } once listening, and answers { type: 'stats', id } with its own CPU time
// and request count, so the measurement itself never goes through the HTTP server under load.

const http = require('node:http');
const path = require('node:path');

async function main() {
  const file = path.resolve(process.argv[2]);
  const contestant = require(file);
  const env = {
    issuer: process.env.BENCH_ISSUER,
    audience: process.env.BENCH_AUDIENCE,
    jwksUri: process.env.BENCH_JWKS_URI,
  };
  const app = await contestant.create(env);
  const handler = typeof app.callback === 'function' ? app.callback() : app;
  let count = 0;
  const server = http.createServer((req, res) => {
    count++;
    handler(req, res);
  });
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  server.listen(0, '127.0.0.1', () => {
    process.send({ type: 'ready', port: server.address().port, pid: process.pid });
  });
  process.on('message', (msg) => {
    if (msg && msg.type === 'stats') {
      const cpu = process.cpuUsage();
      process.send({ type: 'stats', id: msg.id, user: cpu.user, system: cpu.system, count, rss: process.memoryUsage.rss(), hrUs: Number(process.hrtime.bigint() / 1000n) });
    } else if (msg && msg.type === 'exit') {
      server.close();
      server.closeAllConnections();
      // process.exit() lets --cpu-prof write its profile.
      setImmediate(() => process.exit(0));
    }
  });
  process.on('disconnect', () => process.exit(0));
}

main().catch((error) => {
  console.error(`[server ${process.argv[2]}]`, error);
  process.exit(1);
});
