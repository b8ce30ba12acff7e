'use strict';
// The fleet benchmark's load: every session visits the instances in turn (a round-robin balancer
// with steady users), one visit per 1.05 × TTL / N, each session starting at its own moment of the
// first TTL. So every instance sees every session a little less than once per TTL and each of
// poll mode's visits finds its answer due for renewal: that is what an instance pays for a session
// seen at least once per TTL (more visits cost no more calls), at the least load; and the
// probes that time a revocation until every instance refuses the session's token.
const { Pool } = require('undici');

const TICK_MS = 5;
const PROBE_MS = 20;
/** How much longer than TTL / N a session waits between visits (exactly TTL would land each poll-mode visit on its answer's last moment). */
const STRETCH = 1.05;

/** GET `path` from `pool` with the token; resolves to the status (0 on a network error). */
async function get(pool, path, token) {
  try {
    const { statusCode, body } = await pool.request({ method: 'GET', path, headers: { authorization: `Bearer ${token}` } });
    await body.dump();
    return statusCode;
  } catch {
    return 0;
  }
}

/** One connection pool per instance (undici: a load generator that costs less CPU per request than node:http). */
const pools = (ports, connections) => ports.map((port) => new Pool(`http://127.0.0.1:${port}`, { connections }));

const percentile = (sorted, p) => (sorted.length === 0 ? null : sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]);

/**
 * Steady load on `ports` for `tokens` (one per session) over `seconds`, each session once per
 * 1.05 × `ttl / ports.length` seconds; `skip(i)` says a session is revoked (its refusals are expected).
 * Resolves to the counts by outcome and the latencies of answered requests (ms, sorted).
 */
function steadyLoad({ ports, tokens, ttl, seconds, skip, maxInFlight = 4000 }) {
  const agents = pools(ports, 16);
  const period = ((STRETCH * ttl) / ports.length) * 1000;
  // Session i starts at a moment of the first TTL of its own; order the sessions by their place in a period.
  const start = tokens.map((_, i) => ((i * 7919) % tokens.length) / tokens.length * ttl * 1000);
  const order = tokens.map((_, i) => i).sort((a, b) => (start[a] % period) - (start[b] % period));
  const counts = { sent: 0, ok: 0, refused: 0, expectedRefusals: 0, unavailable: 0, other: 0, dropped: 0 };
  const latencies = [];
  let inFlight = 0;
  const began = performance.now();
  let cycle = 0;
  let cursor = 0;
  return new Promise((resolve) => {
    const send = (i, visit) => {
      if (inFlight >= maxInFlight) {
        counts.dropped++;
        return;
      }
      const index = (i + visit) % ports.length;
      inFlight++;
      counts.sent++;
      const sentAt = performance.now();
      get(agents[index], '/api/strict', tokens[i]).then((status) => {
        inFlight--;
        latencies.push(performance.now() - sentAt);
        if (status === 200) counts.ok++;
        else if (status === 401 && skip(i)) counts.expectedRefusals++;
        else if (status === 401) counts.refused++;
        else if (status === 503) counts.unavailable++;
        else counts.other++;
      });
    };
    const tick = () => {
      const now = performance.now() - began;
      while (cycle * period <= now && cycle * period < seconds * 1000) {
        for (; cursor < order.length; cursor++) {
          const i = order[cursor];
          const offset = start[i] % period;
          if (cycle * period + offset > now) break;
          const first = Math.floor(start[i] / period);
          if (cycle >= first && cycle * period + offset < seconds * 1000) send(i, cycle - first);
        }
        if (cursor < order.length) break;
        cycle++;
        cursor = 0;
      }
      if (now < seconds * 1000) return;
      clearInterval(timer);
      const drain = setInterval(() => {
        if (inFlight > 0) return;
        clearInterval(drain);
        for (const agent of agents) agent.destroy();
        latencies.sort((a, b) => a - b);
        resolve({ counts, latencies });
      }, 20);
    };
    const timer = setInterval(tick, TICK_MS);
  });
}

/**
 * Ends a session at Okta with `end()` and probes every instance with its token every 20 ms until
 * each answers 401: resolves to the ms from the end to the last instance's first refusal, or
 * `null` if some instance still served it after `deadline` seconds.
 */
async function timeRefusal({ ports, token, end, deadline }) {
  const agents = pools(ports, 1);
  const began = performance.now();
  end();
  const firsts = await Promise.all(agents.map(async (agent) => {
    while (performance.now() - began < deadline * 1000) {
      const status = await get(agent, '/api/strict', token);
      if (status === 401) return performance.now() - began;
      await new Promise((resolve) => setTimeout(resolve, PROBE_MS));
    }
    return null;
  }));
  await Promise.all(agents.map((agent) => agent.destroy()));
  return firsts.includes(null) ? null : Math.max(...firsts);
}

module.exports = { get, steadyLoad, timeRefusal, percentile };
