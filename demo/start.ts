/**
 * `npm start`: runs the walk-through and prints it as a table; exits 0 only if every step behaved.
 * `npm start -- --serve` keeps the issuer and both APIs up and prints curl commands (metrics at the Express API's `/metrics`).
 */
import { startDemo, walkThrough, type Step } from './walkthrough';

function table(steps: Step[]): string {
  const rows = steps.map((s) => [s.got === s.expected ? 'ok' : 'FAIL', s.step, s.request, String(s.expected), String(s.got), s.why]);
  const head = ['', 'step', 'request', 'expected', 'got', 'why'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd();
  return [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

async function main(argv: string[]): Promise<number> {
  const serve = argv.includes('--serve');
  const demo = await startDemo(serve ? { issuer: 9400, express: 9401, koa: 9402 } : {});
  if (serve) {
    const { accessToken, session } = demo.dev.okta.login({ expiresIn: 3600 });
    console.log(`dev issuer  ${demo.dev.issuer}\nexpress API ${demo.expressUrl}\nkoa API     ${demo.koaUrl}\n`);
    console.log(`TOKEN='${accessToken}'`);
    console.log(`curl -i ${demo.expressUrl}/api/profile -H "Authorization: Bearer $TOKEN"    # lax: 200`);
    console.log(`curl -i ${demo.koaUrl}/api/payments -H "Authorization: Bearer $TOKEN"      # strict: 200 while the Okta session lives`);
    console.log(`curl -i -X DELETE ${demo.dev.okta.orgUrl}/api/v1/sessions/${session!.id} -H "Authorization: SSWS ${demo.dev.okta.apiToken}"   # sign out at Okta`);
    console.log(`curl -i ${demo.koaUrl}/api/payments -H "Authorization: Bearer $TOKEN"      # strict: 401 within 30 s`);
    console.log(`curl -s ${demo.expressUrl}/metrics | grep ^tokengate_                       # both guards' metrics (Prometheus text format)\n\nCtrl-C to stop.`);
    await new Promise<void>((resolve) => process.once('SIGINT', resolve));
    await demo.close();
    return 0;
  }
  try {
    const steps = await walkThrough(demo);
    console.log(table(steps));
    const failed = steps.filter((s) => s.got !== s.expected).length;
    console.log(failed === 0 ? `\nall ${steps.length} steps behaved as expected` : `\n${failed} of ${steps.length} steps did NOT behave as expected`);
    return failed === 0 ? 0 : 1;
  } finally {
    await demo.close();
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
