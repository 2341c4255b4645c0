import t from 'tap';
import pino from 'pino';
import { Registry } from 'prom-client';
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
  t.same(
    n1.timeline.map((s) => s.step),
    ['dhcp-discover', 'tftp-transfer'],
  );
  reg.transition(n1, 'installing', 'test', 1);
  t.equal(n1.timeline.at(-1)?.step, 'state-changed');
  t.same(
    reg.list().map((r) => [r.id, r.known]),
    [
      ['mac-52-54-00-00-00-09', false],
      ['n1', true],
    ],
  );
  await reg.flush();
  const again = await NodeRegistry.open(deps);
  t.equal(again.get('n1')?.state, 'installing');
  t.equal(again.get('n1')?.generation, 1);
  t.equal(again.get('n1')?.timeline.length, 3);
});

t.test('the timeline is bounded', async (t) => {
  const { store } = await tempAgentStore(t, 'reg');
  const reg = await NodeRegistry.open({
    store: store.sublevel<NodeRecord>('nodes'),
    directory: () => directoryOf(manifest),
    leases: { ipOf: () => undefined, macOf: () => undefined },
    now: () => new Date(),
    log: pino({ level: 'silent' }),
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
    store: store.sublevel<NodeRecord>('nodes'),
    directory: () => directoryOf(manifest),
    leases: { ipOf: () => undefined, macOf: () => undefined },
    now: () => new Date(),
    log: pino({ level: 'silent' }),
    reports: (body) => reports.push(body),
  });
  reg.record({ mac: 'aa:bb:cc:dd:ee:01' }, 'dhcp-discover', { firmware: 'uefi', clientArch: 7, ip: '198.18.0.5' });
  reg.record({ mac: 'aa:bb:cc:dd:ee:01' }, 'dhcp-ack', { firmware: 'uefi', clientArch: 7, ip: '198.18.0.5' });
  reg.updateFacts('aa:bb:cc:dd:ee:01', { serial: 'S1' });
  reg.updateFacts('aa:bb:cc:dd:ee:01', { serial: 'S1' });
  reg.transition(reg.get('n1')!, 'installing', 'test', 1);
  t.same(
    reports.map((r) => r.case),
    ['step', 'discovery', 'step', 'discovery', 'stateChange'],
    'unchanged facts are not reported again; state-changed is a StateChange, not a step',
  );
  const change = reports.at(-1)!;
  t.equal(change.case === 'stateChange' && change.value.to, 'installing');
  const fact = reports[3]!;
  t.same(fact.case === 'discovery' && fact.value.facts, { firmware: 'uefi', clientArch: '7', ip: '198.18.0.5', serial: 'S1' });
  await reg.flush();
});

t.test('lifecycle: transitions notify listeners and report the failed step; progress and notes are timeline steps', async (t) => {
  const { store } = await tempAgentStore(t, 'reglc');
  const reports: ReportBody[] = [];
  const deps = {
    store: store.sublevel<NodeRecord>('nodes'),
    directory: () => directoryOf(manifest),
    leases: { ipOf: () => undefined, macOf: () => undefined },
    now: () => new Date('2026-11-24T00:00:00Z'),
    log: pino({ level: 'silent' }),
    reports: (body: ReportBody) => reports.push(body),
  };
  const reg = await NodeRegistry.open(deps);
  const seen: string[] = [];
  reg.onTransition((record, from, to) => seen.push(`${record.id}:${from}→${to}`));
  const n1 = reg.recordFor('aa:bb:cc:dd:ee:01');
  reg.transition(n1, 'installing', 'script served', 1);
  reg.markConfigFetched(n1);
  reg.transition(n1, 'installed', 'installer reported success');
  t.equal(n1.installedGeneration, 1, 'the generation it was installed at');
  reg.transition(n1, 'reprovisioning', 'operator asked to reprovision');
  t.equal(n1.configFetchedAt, undefined, 'reinstalling the same generation starts the netboot evidence afresh');
  reg.transition(n1, 'failed', 'never reached the installer', 1, 'netboot');
  t.same(seen, ['n1:discovered→installing', 'n1:installing→installed', 'n1:installed→reprovisioning', 'n1:reprovisioning→failed']);
  const failed = reports.filter((r) => r.case === 'stateChange').at(-1);
  t.match(failed?.value, { to: 'failed', step: 'netboot', reason: 'never reached the installer' });
  t.match(reports.filter((r) => r.case === 'stateChange')[0]?.value, { step: '' }, 'other transitions name no step');

  reg.setProvisionProgress(n1, { step: 'power', since: '2026-11-24T00:00:00Z', attempt: 1 });
  reg.setProvisionProgress(n1, { step: 'power', since: '2026-11-24T00:00:00Z', attempt: 1, lastError: 'busy' });
  reg.setProvisionProgress(n1, { step: 'power', since: '2026-11-24T00:00:01Z', attempt: 2, lastError: 'busy' });
  reg.note(n1, 'bmc-call', { operation: 'power-cycle', ok: true });
  const tail = n1.timeline.slice(-3).map((s) => `${s.step}:${JSON.stringify(s.detail)}`);
  t.same(
    tail,
    [
      'lifecycle-step:{"step":"power","attempt":1}',
      'lifecycle-step:{"step":"power","attempt":2,"error":"busy"}',
      'bmc-call:{"operation":"power-cycle","ok":true}',
    ],
    'a new step or attempt is a step; an error alone is not',
  );
  t.ok(
    reports.some((r) => r.case === 'step' && r.value.step === 'bmc-call'),
    'and reported',
  );
  await reg.flush();
  const again = await NodeRegistry.open(deps);
  t.match(again.get('n1'), { state: 'failed', installedGeneration: 1, lifecycle: { step: 'power', attempt: 2, lastError: 'busy' } }, 'persisted');
});

t.test('refusals coalesce: a flood leaves the timeline alone, is counted, and never makes an unknown record', async (t) => {
  const { store } = await tempAgentStore(t, 'regref');
  const reports: ReportBody[] = [];
  const registry = new Registry();
  const reg = await NodeRegistry.open({
    store: store.sublevel<NodeRecord>('nodes'),
    directory: () => directoryOf(manifest),
    leases: { ipOf: () => undefined, macOf: (ip: string) => (ip === '198.18.0.11' ? 'aa:bb:cc:dd:ee:01' : undefined) },
    now: () => new Date('2026-11-24T00:00:00Z'),
    log: pino({ level: 'silent' }),
    reports: (body) => reports.push(body),
    registry,
  });
  for (let i = 0; i < 10; i++) reg.record({ mac: 'aa:bb:cc:dd:ee:01' }, 'dhcp-ack', { i });
  const before = reports.length;
  for (let i = 0; i < 2000; i++) {
    reg.record({ ip: '198.18.0.11' }, 'config-refused', { reason: 'unknown', from: '198.18.0.11' });
    reg.record({ ip: '198.18.0.11' }, 'config-refused', { reason: 'unknown', endpoint: 'events', from: '198.18.0.11' });
    reg.record({ mac: 'aa:bb:cc:dd:ee:01' }, 'script-refused', { reason: 'wrong-address', from: '198.18.0.66' });
  }
  const tl = reg.get('n1')!.timeline;
  t.equal(tl.length, 13, "the node's 10 steps and one step per refusal kind");
  t.same(
    tl.slice(10).map((s) => [s.step, s.detail.endpoint ?? '', s.detail.count]),
    [
      ['config-refused', '', 2000],
      ['config-refused', 'events', 2000],
      ['script-refused', '', 2000],
    ],
  );
  t.equal(reports.length - before, 3 * 11, 'reported at counts 1, 2, 4, …, 1024 only');
  reg.record({ mac: '52:54:00:00:00:77' }, 'script-refused', { reason: 'no-lease', from: '198.18.0.66' });
  reg.record({ ip: '198.18.0.99' }, 'config-refused', { reason: 'unknown', from: '198.18.0.99' });
  t.equal(reg.get('mac-52-54-00-00-00-77'), undefined, 'a refusal makes no record for an unknown machine');
  const metrics = await registry.metrics();
  t.match(metrics, /maskin_node_refusals_total\{step="config-refused",reason="unknown"\} 4001/);
  t.match(metrics, /maskin_node_refusals_total\{step="script-refused",reason="wrong-address"\} 2000/);
  t.match(metrics, /maskin_node_refusals_total\{step="script-refused",reason="no-lease"\} 1/);
  await reg.flush();
});

t.test('records of unknown machines are bounded, least recently active first, also across a reopen; manifest nodes never', async (t) => {
  const { store } = await tempAgentStore(t, 'regunk');
  const registry = new Registry();
  const reports: [ReportBody, boolean][] = [];
  let clock = Date.parse('2026-11-24T00:00:00Z');
  const deps = {
    store: store.sublevel<NodeRecord>('nodes'),
    directory: () => directoryOf(manifest),
    leases: { ipOf: () => undefined, macOf: () => undefined },
    now: () => new Date((clock += 1000)),
    log: pino({ level: 'silent' }),
    reports: (body: ReportBody, options?: { unknownMachine?: boolean }) => reports.push([body, options?.unknownMachine === true]),
    maxUnknown: 3,
  };
  const reg = await NodeRegistry.open({ ...deps, registry });
  const junk = (i: number): string => `52:54:00:00:01:${i.toString(16).padStart(2, '0')}`;
  reg.record({ mac: 'aa:bb:cc:dd:ee:01' }, 'dhcp-discover', { ip: '198.18.0.5' });
  for (let i = 1; i <= 3; i++) reg.record({ mac: junk(i) }, 'dhcp-discover', { ip: `198.18.0.${100 + i}` });
  reg.record({ mac: junk(1) }, 'dhcp-ack', {});
  reg.record({ mac: junk(4) }, 'dhcp-discover', {});
  t.same(
    reg.list().map((r) => r.id),
    ['mac-52-54-00-00-01-01', 'mac-52-54-00-00-01-03', 'mac-52-54-00-00-01-04', 'n1'],
    'the least recently active unknown record went (01 was seen again after 02)',
  );
  t.equal(reg.count(), 4);
  for (let i = 5; i <= 200; i++) reg.updateFacts(junk(i), { serial: `S${i}` });
  t.equal(reg.count(), 4, 'a flood keeps the bound');
  t.ok(reg.get('n1'), 'the manifest node stays');
  t.ok(
    reports.every(([r, unknownMachine]) => unknownMachine === ((r.value as { nodeId?: string } | undefined)?.nodeId !== 'n1')),
    "unknown machines' reports are marked, manifest nodes' are not",
  );
  t.match(await registry.metrics(), /maskin_nodes_unknown_evicted_total 197\n[\s\S]*maskin_nodes_unknown 3\n/);
  await reg.flush();
  const again = await NodeRegistry.open({ ...deps, maxUnknown: 2 });
  t.same(
    again.list().map((r) => r.id),
    ['mac-52-54-00-00-01-c7', 'mac-52-54-00-00-01-c8', 'n1'],
    'a lower bound at reopen drops the least recently active',
  );
  await again.flush();
  t.same(
    (await NodeRegistry.open({ ...deps, maxUnknown: 5 })).list().map((r) => r.id),
    ['mac-52-54-00-00-01-c7', 'mac-52-54-00-00-01-c8', 'n1'],
    'evicted records are gone from the store',
  );
});
