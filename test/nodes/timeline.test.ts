// Where a step lands on a timeline, as a table: ordinary steps append; a refusal coalesces with
// the earlier one of the same name, reason and endpoint, counted in place, notable at powers of two.
import t from 'tap';
import type { StepName, TimelineStep } from '../../agent/nodes/model.js';
import { msSinceLast, placeStep, proxyIgnoredHint, PROXY_IGNORED_OFFERS } from '../../agent/nodes/timeline.js';

const T0 = '2026-01-01T00:00:00.000Z';
const T1 = '2026-01-01T00:01:00.000Z';
const served: TimelineStep = { at: T0, step: 'script-served', detail: { kind: 'install' } };
const refused = (reason: string, count?: number, extra: Record<string, unknown> = {}): TimelineStep => ({
  at: T0,
  step: 'config-refused',
  detail: { reason, from: '198.18.9.66', ...extra, ...(count !== undefined ? { count } : {}) },
});

/** [name, timeline, step, detail, expected: `append` | `update@<index>`, notable, the placed detail] */
const rows: [string, TimelineStep[], StepName, Record<string, unknown>, string, boolean, Record<string, unknown>][] = [
  ['an ordinary step appends', [served], 'dhcp-ack', { ip: '198.18.9.101' }, 'append', true, { ip: '198.18.9.101' }],
  ['an ordinary step never coalesces', [served], 'script-served', { kind: 'install' }, 'append', true, { kind: 'install' }],
  [
    'a first refusal appends with a count',
    [served],
    'config-refused',
    { reason: 'unknown', from: 'a' },
    'append',
    true,
    { reason: 'unknown', from: 'a', count: 1 },
  ],
  [
    'the same refusal again: counted in place',
    [refused('unknown', 1), served],
    'config-refused',
    { reason: 'unknown', from: 'b' },
    'update@0',
    true,
    { reason: 'unknown', from: 'b', count: 2, lastAt: T1 },
  ],
  [
    'third of a kind: not notable',
    [refused('unknown', 2)],
    'config-refused',
    { reason: 'unknown', from: 'c' },
    'update@0',
    false,
    { reason: 'unknown', from: 'c', count: 3, lastAt: T1 },
  ],
  [
    'fourth: notable (power of two)',
    [refused('unknown', 3)],
    'config-refused',
    { reason: 'unknown' },
    'update@0',
    true,
    { reason: 'unknown', count: 4, lastAt: T1 },
  ],
  [
    'a step written before counts existed counts as one',
    [{ at: T0, step: 'config-refused', detail: { reason: 'unknown' } }],
    'config-refused',
    { reason: 'unknown' },
    'update@0',
    true,
    { reason: 'unknown', count: 2, lastAt: T1 },
  ],
  ['another reason: its own step', [refused('unknown', 9)], 'config-refused', { reason: 'expired' }, 'append', true, { reason: 'expired', count: 1 }],
  [
    'another endpoint: its own step',
    [refused('unknown', 9)],
    'config-refused',
    { reason: 'unknown', endpoint: 'events' },
    'append',
    true,
    { reason: 'unknown', endpoint: 'events', count: 1 },
  ],
  [
    'the same endpoint again: counted',
    [refused('unknown', 1, { endpoint: 'events' })],
    'config-refused',
    { reason: 'unknown', endpoint: 'events' },
    'update@0',
    true,
    { reason: 'unknown', endpoint: 'events', count: 2, lastAt: T1 },
  ],
  [
    'another refusal step with the same reason: its own step',
    [refused('wrong-address', 3)],
    'script-refused',
    { reason: 'wrong-address', from: 'x' },
    'append',
    true,
    { reason: 'wrong-address', from: 'x', count: 1 },
  ],
  [
    'the latest of two matching steps is the one counted',
    [refused('unknown', 5), served, refused('unknown', 1)],
    'config-refused',
    { reason: 'unknown' },
    'update@2',
    true,
    { reason: 'unknown', count: 2, lastAt: T1 },
  ],
];

for (const [name, timeline, step, detail, want, notable, placedDetail] of rows) {
  t.test(name, async (t) => {
    const before = JSON.stringify(timeline);
    const placed = placeStep(timeline, step, detail, T1);
    t.equal(placed.kind === 'update' ? `update@${placed.index}` : 'append', want);
    t.equal(placed.notable, notable, 'notable');
    t.same(placed.entry.detail, placedDetail);
    t.equal(placed.entry.step, step);
    t.equal(placed.entry.at, placed.kind === 'update' ? timeline[placed.index]!.at : T1, 'an update keeps the first time; lastAt is the latest');
    t.equal(JSON.stringify(timeline), before, 'the timeline given is not changed');
  });
}

t.test('a flood of n refusals is about log2(n) notable placements', async (t) => {
  let timeline: TimelineStep[] = [served];
  let notable = 0;
  for (let i = 0; i < 100_000; i++) {
    const placed = placeStep(timeline, 'script-refused', { reason: 'wrong-address', from: `198.18.9.${i % 250}` }, T1);
    if (placed.notable) notable++;
    timeline = placed.kind === 'update' ? timeline.map((s, j) => (j === placed.index ? placed.entry : s)) : [...timeline, placed.entry];
  }
  t.equal(timeline.length, 2, 'the node keeps its own step and one refusal step');
  t.equal(timeline[1]!.detail.count, 100_000);
  t.equal(notable, 17, '1, 2, 4, …, 65536');
});

t.test('script-served carries the time since the last DHCP ACK', async (t) => {
  const ack = (at: string): TimelineStep => ({ at, step: 'dhcp-ack', detail: { ip: '198.18.9.101' } });
  const timeline = [
    ack('2026-12-02T10:00:00.000Z'),
    { at: '2026-12-02T10:00:05.000Z', step: 'script-served', detail: {} } as TimelineStep,
    ack('2026-12-02T10:01:00.000Z'),
  ];
  const placed = placeStep(timeline, 'script-served', { mac: '52:54:00:aa:00:01' }, '2026-12-02T10:01:12.345Z');
  t.same(placed.entry.detail, { mac: '52:54:00:aa:00:01', afterDhcpAckMs: 12_345 }, 'from the latest ACK');
  t.same(placeStep([], 'script-served', {}, '2026-12-02T10:01:12.345Z').entry.detail, {}, 'no ACK on the timeline: no gap');
  t.same(placeStep([ack('2026-12-02T10:02:00.000Z')], 'script-served', {}, '2026-12-02T10:01:00.000Z').entry.detail, {}, 'a clock step backwards: no gap');
  t.same(placeStep(timeline, 'boot-local-served', {}, '2026-12-02T10:01:00.500Z').entry.detail, { afterDhcpAckMs: 500 }, 'boot-local-served too');
  t.equal(msSinceLast(timeline, 'dhcp-ack', 'not a time'), undefined);
  const again = [...timeline, { at: '2026-12-02T10:01:00.200Z', step: 'script-served', detail: { kind: 'wait-image' } } as TimelineStep];
  t.same(placeStep(again, 'script-served', {}, '2026-12-02T10:01:10.300Z').entry.detail, {}, 'a second request after the same ACK (wait-image) gets none');
});

t.test('a run of proxy offers with nothing else from the machine gets one hint', async (t) => {
  const at = '2026-12-02T10:00:00.000Z';
  const step = (name: TimelineStep['step'], detail: Record<string, unknown> = {}): TimelineStep => ({ at, step: name, detail });
  const offer = step('dhcp-offer', { proxy: true });
  const run = (n: number): TimelineStep[] => Array.from({ length: n }, () => [step('dhcp-discover', { proxy: true }), offer]).flat();
  t.equal(proxyIgnoredHint(run(PROXY_IGNORED_OFFERS - 1)), undefined, 'not yet');
  t.match(proxyIgnoredHint(run(PROXY_IGNORED_OFFERS)), { hint: 'proxy-offer-ignored', offers: PROXY_IGNORED_OFFERS });
  t.equal(proxyIgnoredHint(run(PROXY_IGNORED_OFFERS + 1)), undefined, 'once per run');
  t.equal(proxyIgnoredHint([...run(2), step('dhcp-ack', { proxy: true }), ...run(2)]), undefined, 'a port-4011 ACK between: the machine took an offer');
  t.equal(proxyIgnoredHint([...run(2), step('tftp-transfer'), ...run(2)]), undefined, 'a TFTP transfer between');
  t.equal(proxyIgnoredHint(Array.from({ length: 8 }, () => step('dhcp-offer', { ip: '198.18.9.5' }))), undefined, 'full-mode offers never');
});
