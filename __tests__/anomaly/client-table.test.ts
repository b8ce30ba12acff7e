import { clientAddressOf } from '../../lib/verify/anomaly';
import { ClientTable, CROSSED, OVER, WITHIN } from '../../lib/verify/client-table';

const seeds = () => new Int32Array([0x1234567, -0x7654321, 0x2468ace]);
const T0 = Date.UTC(2026, 10, 23, 12, 0, 0);

test('counts distinct clients over a sliding window, exactly up to the limit, and tells the crossing once', () => {
  const table = new ClientTable(100, 2, 10, T0, seeds());
  expect(table.record('AT.1', 'a', T0)).toBe(WITHIN);
  expect(table.record('AT.1', 'a', T0 + 1000)).toBe(WITHIN);
  expect(table.record('AT.1', 'b', T0 + 2000)).toBe(WITHIN);
  expect(table.record('AT.1', 'c', T0 + 3000)).toBe(CROSSED);
  expect(table.record('AT.1', 'd', T0 + 4000)).toBe(OVER);
  expect(table.record('AT.1', 'a', T0 + 5000)).toBe(OVER);
  // Other tokens are counted apart.
  expect(table.record('AT.2', 'c', T0 + 5000)).toBe(WITHIN);
  // 'a' was seen at 5 s, 'c' at 3 s and 'd' at 4 s: at 13.5 s only 'a' and 'd' are within 10 s; with 'b' back, three again.
  expect(table.record('AT.1', 'a', T0 + 13_500)).toBe(WITHIN);
  expect(table.record('AT.1', 'b', T0 + 13_600)).toBe(CROSSED);
});

test('a client seen again just inside the window still counts; just outside it does not', () => {
  const table = new ClientTable(10, 1, 60, T0, seeds());
  table.record('t', 'a', T0);
  expect(table.record('t', 'b', T0 + 59_900)).toBe(CROSSED);
  const later = new ClientTable(10, 1, 60, T0, seeds());
  later.record('t', 'a', T0);
  expect(later.record('t', 'b', T0 + 60_000)).toBe(WITHIN);
});

test('memory is fixed: a flood of tokens evicts the least recently seen, counts the loss, and never invents an anomaly', () => {
  const table = new ClientTable(64, 2, 300, T0, seeds());
  const before = process.memoryUsage().arrayBuffers;
  let found = 0;
  for (let i = 0; i < 200_000; i++) found += table.record(`AT.${i}`, `client-${i % 7}`, T0 + i) === WITHIN ? 0 : 1;
  expect(found).toBe(0);
  expect(table.evicted).toBeGreaterThan(199_000);
  expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(64 * 1024);
});

test('a busy token keeps its place against tokens seen once', () => {
  const table = new ClientTable(8, 1, 300, T0, seeds());
  table.record('busy', 'a', T0);
  for (let i = 0; i < 1000; i++) {
    table.record(`once-${i}`, 'x', T0 + i * 10);
    table.record('busy', 'a', T0 + i * 10 + 5);
  }
  expect(table.record('busy', 'b', T0 + 20_000)).toBe(CROSSED);
});

test('the client address: the socket, or with trustProxy hops the X-Forwarded-For entry that many hops before it', () => {
  const req = (xff: string | string[] | undefined, remoteAddress: string | undefined = '10.0.0.9') => ({ headers: { 'x-forwarded-for': xff }, socket: { remoteAddress } });
  expect(clientAddressOf(req('198.51.100.1'), 0)).toBe('10.0.0.9');
  expect(clientAddressOf(req('198.51.100.1, 10.0.0.2'), 1)).toBe('10.0.0.2');
  expect(clientAddressOf(req('198.51.100.1, 10.0.0.2'), 2)).toBe('198.51.100.1');
  expect(clientAddressOf(req(['203.0.113.5', '198.51.100.1, 10.0.0.2']), 3)).toBe('203.0.113.5');
  expect(clientAddressOf(req('198.51.100.1'), 5)).toBe('198.51.100.1');
  expect(clientAddressOf(req(undefined), 1)).toBe('10.0.0.9');
  expect(clientAddressOf(req(' , '), 1)).toBe('10.0.0.9');
  expect(clientAddressOf({ headers: {} }, 0)).toBeUndefined();
});
