'use strict';
// Child process for the strict-session benchmark: `node strict-server.js bare|floor|resident|lax|otel|strict`,
// under `taskset -c 1` (or valgrind, for bench/instructions.js). `lax` is the same guard on a route
// without the session check; `otel` is `lax` instrumented by tokengate/otel. `floor` is no guard, only what any middleware doing protect()'s job
// must do on an Express request: read the Authorization header, the URL and the raw header list,
// and set req.auth. `resident` is the strict server's guard, loaded and kept busy on GET /warm (a
// strict route), while /api/hello runs the floor middleware: what holding the guard costs the
// requests that do not use it (bench:strict only: its trickle is what uses the guard). Reads the dev issuer from BENCH_ISSUER / BENCH_AUDIENCE / BENCH_API_TOKEN.
const http = require('node:http');
const express = require('express');
const tokengate = require('./tokengate');

const mode = process.argv[2];
const app = express();
let guard;
// When each Sessions API call went out, per session id, as the guard sent it: the default client,
// wrapped only to note the time (the issuer's receive times would add transport jitter).
const sent = [];
const floorAuth = Object.freeze({ subject: 'floor' });
const floor = (req, _res, next) => {
  const header = req.headers.authorization;
  if (typeof header !== 'string' || req.url.length === 0 || req.rawHeaders.length === 0) return next(new Error('unexpected request'));
  req.auth = floorAuth;
  next();
};
const hello = (_req, res) => res.json({ hello: 'world' });
if (mode === 'strict' || mode === 'lax' || mode === 'otel' || mode === 'resident') {
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
  // servers run about 50 times slower under valgrind; otherwise the defaults apply (the sessions' 30 s TTL).
  const timeout = process.env.BENCH_UPSTREAM_TIMEOUT === undefined ? undefined : Number(process.env.BENCH_UPSTREAM_TIMEOUT);
  guard = createGuard({
    issuer: process.env.BENCH_ISSUER,
    audience: process.env.BENCH_AUDIENCE,
    keySet: { timeout },
    sessions: { apiToken: process.env.BENCH_API_TOKEN, cacheTtl: Number(process.env.BENCH_SESSION_TTL ?? 30), timeout },
    http: recording,
  });
  if (mode === 'otel') {
    // `lax` with tokengate/otel attached, read by OpenTelemetry's Prometheus exporter (never scraped here).
    const { MeterProvider } = require('@opentelemetry/sdk-metrics');
    const { PrometheusExporter } = require('@opentelemetry/exporter-prometheus');
    const meterProvider = new MeterProvider({ readers: [new PrometheusExporter({ preventServerStart: true })] });
    tokengate.otel().instrument(guard, { meter: meterProvider.getMeter('tokengate') });
  }
  const { protect } = tokengate.express();
  if (mode === 'resident') {
    app.get('/api/hello', floor, hello);
    app.get('/warm', protect(guard, { session: 'strict' }), hello);
  } else {
    app.get('/api/hello', protect(guard, mode === 'strict' ? { session: 'strict' } : undefined), hello);
  }
} else if (mode === 'floor') {
  app.get('/api/hello', floor, hello);
} else if (mode === 'bare') {
  app.get('/api/hello', hello);
} else {
  throw new Error(`strict-server: unknown mode ${JSON.stringify(mode)} (bare, floor, resident, lax, otel or strict)`);
}
const server = http.createServer(app);
server.keepAliveTimeout = 65_000;
server.listen(0, '127.0.0.1', () => process.send({ type: 'ready', port: server.address().port }));
process.on('message', (msg) => {
  if (msg && msg.type === 'stats') {
    const cpu = process.cpuUsage();
    // waited: requests of strict routes that waited for the Sessions API (session-cache misses).
    process.send({ type: 'stats', user: cpu.user, system: cpu.system, waited: guard?.stats().sessions?.misses ?? 0, sentCount: sent.length, sent: msg.sent ? sent : undefined });
  }
});
process.on('disconnect', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
