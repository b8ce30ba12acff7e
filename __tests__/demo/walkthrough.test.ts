import { startDemo, walkThrough, type Demo } from '../../demo/walkthrough';

let demo: Demo;
beforeAll(async () => {
  demo = await startDemo();
});
afterAll(async () => {
  await demo.close();
});

test('npm start: every step of the walk-through behaves as the table says', async () => {
  const steps = await walkThrough(demo);
  expect(steps.length).toBeGreaterThanOrEqual(18);
  expect(steps.filter((s) => s.got !== s.expected)).toEqual([]);
  // The lax route's blind spot is shown, and the strict route closes it.
  expect(steps.find((s) => s.step === '4. Okta session ended: lax route')).toMatchObject({ got: 200 });
  expect(steps.find((s) => s.step === '4. Okta session ended: strict route')).toMatchObject({ got: 401 });
});

test("--serve's /metrics: both guards' decisions in Prometheus text format, told apart by tokengate_guard", async () => {
  const text = await (await fetch(`${demo.expressUrl}/metrics`)).text();
  const line = (...parts: string[]) => text.split('\n').find((l) => l.startsWith('tokengate_decisions_total{') && parts.every((p) => l.includes(p)));
  expect(line('tokengate_guard="express"', 'tokengate_decision="allow"')).toMatch(/ [1-9]\d*$/);
  expect(line('tokengate_guard="koa"', 'error_type="ERR_TOKEN_REVOKED"')).toMatch(/ [1-9]\d*$/);
  expect(line('tokengate_guard="express"', 'error_type="ERR_SESSION_ENDED"')).toMatch(/ 1$/);
  expect(text).toMatch(/^tokengate_upstream_calls_total\{tokengate_guard="express",tokengate_upstream_service="sessions",tokengate_upstream_result="ok"[^}]*\} [1-9]/m);
});
