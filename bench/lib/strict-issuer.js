'use strict';
// Child process for the strict-session benchmark: the loopback Okta (the testing kit's dev issuer,
// Sessions API answering after BENCH_SESSIONS_LATENCY ms, default 50) with BENCH_SESSIONS (50)
// sessions and one token each. It runs apart from the load generator so that a Sessions API answer
// is not held up behind autocannon's own work on the same event loop: Okta's latency does not grow
// with the load on the service that calls it. Sends { issuer, audience, apiToken, tokens } when ready.
const tokengate = require('./tokengate');

const latency = Number(process.env.BENCH_SESSIONS_LATENCY ?? 50);
const count = Number(process.env.BENCH_SESSIONS ?? 50);

tokengate.testing().startDevIssuer().then((dev) => {
  dev.okta.latency('sessions', latency);
  const tokens = Array.from({ length: count }, () => dev.okta.token({ sid: dev.okta.session({ expiresIn: 7200 }).id }));
  process.send({ type: 'ready', issuer: dev.issuer, audience: dev.okta.audience, apiToken: dev.okta.apiToken, tokens });
  const stop = () => dev.close().finally(() => process.exit(0));
  process.on('disconnect', stop);
  process.on('SIGINT', stop);
}, (error) => {
  console.error(error);
  process.exit(1);
});
