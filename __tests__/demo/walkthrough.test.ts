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
