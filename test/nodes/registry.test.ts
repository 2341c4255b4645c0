import t from 'tap';
import pino from 'pino';
import { NodeRegistry, TIMELINE_LIMIT, type ReportBody } from '../../agent/nodes/registry.js';
import { directoryOf, type Manifest } from '../../agent/manifest/model.js';
import type { NodeRecord } from '../../agent/nodes/model.js';
import { tempAgentStore } from '../fakes/tempStore.js';

const manifest: Manifest = {
  version: 1,
  images: [],
  settings: {},
  profiles: new Map(),
  nodes: [{ id: 'n1', macs: ['aa:bb:cc:dd:ee:01', 'aa:bb:cc:dd:ee:02'], profile: 'p', patches: [], desired: 'installed', generation: 1, bootLocal: 'exit' }],
};

t.test('steps are attributed by MAC or by leased IP, persisted, and survive reopen', async (t) => {
  const { store } = await tempAgentStore(t, 'reg');
  const deps = {
    store: store.sublevel<NodeRecord>('nodes'),
    directory: () => directoryOf(manifest),
    leases: { ipOf: () => undefined, macOf: (ip: string) => (ip === '198.18.0.11' ? 'aa:bb:cc:dd:ee:02' : undefined) },
    now: () => new Date('2026-11-24T00:00:00Z'),
    log: pino({ level: 'silent' }),
  };
  const reg = await NodeRegistry.open(deps);
  reg.record({ mac: 'AA:BB:CC:DD:EE:01' }, 'dhcp-discover', { clientArch: 7 });
  reg.record({ ip: '198.18.0.11' }, 'tftp-transfer', { file: 'snponly.efi' });
  reg.record({ ip: '198.18.0.99' }, 'tftp-transfer', { file: 'x' });
  reg.record({ mac: '52:54:00:00:00:09' }, 'dhcp-discover', {});
  const n1 = reg.get('n1')!;
  t.same(n1.timeline.map((s) => s.step), ['dhcp-discover', 'tftp-transfer']);
  reg.transition(n1, 'installing', 'test', 1);
  t.equal(n1.timeline.at(-1)?.step, 'state-changed');
  t.same(reg.list().map((r) => [r.id, r.known]), [['mac-52-54-00-00-00-09', false], ['n1', true]]);
  await reg.flush();
  const again = await NodeRegistry.open(deps);
  t.equal(again.get('n1')?.state, 'installing');
  t.equal(again.get('n1')?.generation, 1);
  t.equal(again.get('n1')?.timeline.length, 3);
});

t.test('the timeline is bounded', async (t) => {
  const { store } = await tempAgentStore(t, 'reg');
  const reg = await NodeRegistry.open({
    store: store.sublevel<NodeRecord>('nodes'), directory: () => directoryOf(manifest), leases: { ipOf: () => undefined, macOf: () => undefined },
    now: () => new Date(), log: pino({ level: 'silent' }),
  });
  for (let i = 0; i < TIMELINE_LIMIT + 20; i++) reg.record({ mac: 'aa:bb:cc:dd:ee:01' }, 'dhcp-discover', { i });
  const tl = reg.get('n1')!.timeline;
  t.equal(tl.length, TIMELINE_LIMIT);
  t.equal(tl[0]!.detail.i, 20, 'oldest left first');
  await reg.flush();
});

t.test('every reportable event goes to the report sink: steps, state changes, changed facts', async (t) => {
  const { store } = await tempAgentStore(t, 'reg');
  const reports: ReportBody[] = [];
  const reg = await NodeRegistry.open({
    store: store.sublevel<NodeRecord>('nodes'), directory: () => directoryOf(manifest), leases: { ipOf: () => undefined, macOf: () => undefined },
    now: () => new Date(), log: pino({ level: 'silent' }), reports: (body) => reports.push(body),
  });
  reg.record({ mac: 'aa:bb:cc:dd:ee:01' }, 'dhcp-discover', { firmware: 'uefi', clientArch: 7, ip: '198.18.0.5' });
  reg.record({ mac: 'aa:bb:cc:dd:ee:01' }, 'dhcp-ack', { firmware: 'uefi', clientArch: 7, ip: '198.18.0.5' });
  reg.updateFacts('aa:bb:cc:dd:ee:01', { serial: 'S1' });
  reg.updateFacts('aa:bb:cc:dd:ee:01', { serial: 'S1' });
  reg.transition(reg.get('n1')!, 'installing', 'test', 1);
  t.same(reports.map((r) => r.case), ['step', 'discovery', 'step', 'discovery', 'stateChange'], 'unchanged facts are not reported again; state-changed is a StateChange, not a step');
  const change = reports.at(-1)!;
  t.equal(change.case === 'stateChange' && change.value.to, 'installing');
  const fact = reports[3]!;
  t.same(fact.case === 'discovery' && fact.value.facts, { firmware: 'uefi', clientArch: '7', ip: '198.18.0.5', serial: 'S1' });
  await reg.flush();
});
