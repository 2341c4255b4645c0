// Per-node console buffers (agent/console/buffer.ts): bounded by lines, bytes, nodes and rate.
import t from 'tap';
import { ConsoleBuffers, type ConsoleLimits } from '../../agent/console/buffer.js';
import type { ConsoleLine } from '../../agent/console/lines.js';

const line = (msg: string): ConsoleLine => ({ at: '2026-12-03T10:00:00.000Z', source: 'installer', level: 'info', msg });
const limits = (over: Partial<ConsoleLimits> = {}): ConsoleLimits => ({
  linesPerNode: 5,
  bytesPerNode: 10_000,
  nodes: 3,
  linesPerSecond: 10,
  burstLines: 100,
  ...over,
});

t.test('keeps the newest lines per node, oldest first, and counts the evicted', async (t) => {
  const b = new ConsoleBuffers(limits(), () => 0);
  for (let i = 0; i < 8; i++) b.append('n1', line(`l${i}`));
  const { lines, dropped } = b.lines('n1');
  t.same(
    lines.map((l) => l.msg),
    ['l3', 'l4', 'l5', 'l6', 'l7'],
  );
  t.equal(dropped, 3);
  t.same(
    b.lines('n1', 2).lines.map((l) => l.msg),
    ['l6', 'l7'],
  );
  t.same(b.totals(), { kept: 8, rateDropped: 0, evicted: 3 });
  t.same(b.lines('other'), { lines: [], dropped: 0 });
});

t.test('a byte bound evicts long lines too', async (t) => {
  const b = new ConsoleBuffers(limits({ linesPerNode: 1000, bytesPerNode: 200 }), () => 0);
  for (let i = 0; i < 10; i++) b.append('n1', line('x'.repeat(50)));
  t.ok(b.lines('n1').lines.length <= 2, 'at most 200 bytes of lines');
});

t.test('rate: a burst, then the sustained rate; the rest is dropped and counted', async (t) => {
  let now = 0;
  const b = new ConsoleBuffers(limits({ linesPerNode: 10_000, burstLines: 20, linesPerSecond: 10 }), () => now);
  let kept = 0;
  for (let i = 0; i < 100; i++) if (b.append('n1', line(`${i}`))) kept++;
  t.equal(kept, 20, 'the burst');
  now += 1000;
  for (let i = 0; i < 100; i++) if (b.append('n1', line(`${i}`))) kept++;
  t.equal(kept, 30, 'ten more after one second');
  t.equal(b.totals().rateDropped, 170);
  t.equal(b.append('n2', line('other node')), true, 'another node has its own bucket');
});

t.test('nodes: the least recently written goes first', async (t) => {
  const b = new ConsoleBuffers(limits(), () => 0);
  b.append('a', line('a'));
  b.append('b', line('b'));
  b.append('c', line('c'));
  b.append('a', line('a again'));
  b.append('d', line('d'));
  t.equal(b.nodeCount(), 3);
  t.same(b.lines('b').lines, [], 'b was the least recently written');
  t.equal(b.lines('a').lines.length, 2);
  b.forget('a');
  t.same(b.lines('a').lines, []);
});
