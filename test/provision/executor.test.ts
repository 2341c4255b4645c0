// The executor with fake BMCs on a fake clock: the whole lifecycle, its failure paths, pacing and
// operator actions, through the same registry the netboot path uses.
import t from 'tap';
import { BmcError } from '../../agent/errors.js';
import { decideBoot } from '../../agent/nodes/bootPlan.js';
import { bmcNode, harness, SETTINGS, withoutBmc } from './harness.js';

const HAPPY = ['discovered→verified', 'verified→provisioning', 'provisioning→installing', 'installing→installed', 'installed→handed-over'];

t.test('happy path: inventory, identity, one-shot PXE right before the power cycle, netboot, install, hand-over', async (t) => {
  const h = await harness([bmcNode(1)]);
  h.executor.reconcileAll();
  await h.clock.advance(60_000);
  await h.executor.settled();
  t.same(h.states('n1'), HAPPY);
  t.same(h.rack.server('n1').calls, ['inventory', 'setOneShotPxe:uefi', 'powerCycle']);
  const record = h.record('n1');
  t.equal(record.generation, 1);
  t.equal(record.lifecycle?.step, undefined, 'idle once handed over');
  const changes = h.reports.filter((r) => r.case === 'stateChange').map((r) => `${r.value.from}→${r.value.to}`);
  t.same(changes, HAPPY, 'every transition is a StateChange report');
  const steps = record.timeline.filter((s) => s.step === 'lifecycle-step').map((s) => s.detail.step);
  t.same(steps.slice(0, 4), ['inventory', 'power', 'netboot', 'install'], 'every step is a timeline step');
  t.ok(record.timeline.some((s) => s.step === 'identity-check' && s.detail.ok === true));
  t.same(
    record.timeline.filter((s) => s.step === 'bmc-call').map((s) => s.detail.operation),
    ['inventory', 'set-one-shot-pxe', 'power-cycle'],
  );
  h.executor.reconcileAll();
  await h.clock.advance(120_000);
  t.same(h.states('n1'), HAPPY, 'a handed-over node is left alone');
  await h.executor.close();
});

t.test('identity mismatch: held and reported, never powered on, and the netboot path never installs it', async (t) => {
  const h = await harness([bmcNode(1), bmcNode(2)]);
  h.rack.factory(bmcNode(1), { username: '', password: '' });
  h.rack.server('n1').inventory = { ...h.rack.server('n1').inventory, serial: 'OTHER-SERIAL' };
  h.rack.factory(bmcNode(2), { username: '', password: '' });
  h.rack.server('n2').inventory = { ...h.rack.server('n2').inventory, nics: [{ id: 'nic0', mac: '52:54:00:99:99:99' }] };
  h.executor.reconcileAll();
  await h.clock.advance(300_000);
  for (const id of ['n1', 'n2']) {
    t.same(h.states(id), ['discovered→held'], id);
    t.same(h.rack.server(id).calls, ['inventory'], `${id}: no one-shot, no power call`);
    const spec = bmcNode(Number(id.slice(1)));
    t.equal(decideBoot(spec, h.record(id)).kind, 'discovery', `${id}: a PXE boot gets no install script`);
    t.equal(decideBoot({ ...spec, generation: 9 }, h.record(id)).kind, 'discovery', `${id}: not even for a newer generation`);
  }
  t.match(h.record('n1').lifecycle, { failure: { step: 'inventory', reason: /serial mismatch.*SN-n1.*OTHER-SERIAL/ } });
  t.match(h.record('n2').lifecycle?.failure?.reason, /MAC mismatch/);
  const held = h.reports.find((r) => r.case === 'stateChange' && r.value.to === 'held');
  t.match(held?.value, { nodeId: 'n1', reason: /serial mismatch/ }, 'reported upstream with the reason');
  await h.executor.close();
});

t.test('a BMC that drops the override: retried; one that always drops it: failed at power, never cycled', async (t) => {
  const h = await harness([bmcNode(1), bmcNode(2)]);
  h.rack.factory(bmcNode(1), { username: '', password: '' });
  h.rack.server('n1').overrideFailures = 1;
  h.rack.factory(bmcNode(2), { username: '', password: '' });
  h.rack.server('n2').overrideFailures = 99;
  h.executor.reconcileAll();
  await h.clock.advance(120_000);
  t.same(h.states('n1'), HAPPY, 'n1 installs after one retry');
  t.same(h.rack.server('n1').calls, ['inventory', 'setOneShotPxe:uefi', 'setOneShotPxe:uefi', 'powerCycle']);
  t.same(h.states('n2'), ['discovered→verified', 'verified→failed']);
  t.same(h.rack.server('n2').calls.filter((c) => c === 'setOneShotPxe:uefi').length, SETTINGS.maxAttempts);
  t.notOk(h.rack.server('n2').calls.includes('powerCycle'), 'no power cycle without a confirmed one-shot');
  t.match(h.record('n2').lifecycle, { failure: { step: 'power', reason: /MASKIN_ERR_BMC|read back/ }, lastError: /read back/ });
  const failed = h.reports.find((r) => r.case === 'stateChange' && r.value.nodeId === 'n2' && r.value.to === 'failed');
  t.equal(failed?.case === 'stateChange' ? failed.value.step : '', 'power', 'the report names the failed step');
  const n2Steps = h
    .record('n2')
    .timeline.filter((s) => s.step === 'lifecycle-step')
    .map((s) => `${String(s.detail.step)}#${String(s.detail.attempt)}`);
  t.same(n2Steps, ['inventory#1', 'power#1', 'power#2', 'power#3', 'idle#0']);
  await h.executor.close();
});

t.test('a machine that never reaches the installer: power-cycled maxAttempts times, then failed at netboot', async (t) => {
  const h = await harness([bmcNode(1)]);
  h.behaviour.set('n1', { handsOver: false });
  h.executor.reconcileAll();
  await h.clock.advance(10 * 60_000);
  t.same(h.states('n1'), ['discovered→verified', 'verified→provisioning', 'provisioning→failed']);
  t.equal(h.rack.server('n1').calls.filter((c) => c === 'powerCycle').length, 3);
  t.match(h.record('n1').lifecycle, { failure: { step: 'netboot', reason: /never reached the installer.*after 3 attempt/ } });
  t.equal(h.clock.pending(), 0, 'no timer left: never looped forever');
  await h.executor.close();
});

t.test('an installer that never reports: failed at install; an unreachable Talos API: failed at handover', async (t) => {
  const h = await harness([bmcNode(1), bmcNode(2)]);
  h.behaviour.set('n1', { scriptAfterMs: 1_000, handsOver: true });
  h.behaviour.set('n2', { scriptAfterMs: 1_000, installMs: 1_000, handsOver: false });
  h.executor.reconcileAll();
  await h.clock.advance(30 * 60_000);
  t.equal(h.record('n1').state, 'failed');
  t.equal(h.record('n1').lifecycle?.failure?.step, 'install');
  t.equal(h.rack.server('n1').calls.filter((c) => c === 'powerCycle').length, 3);
  t.same(h.states('n2').slice(-1), ['installed→failed']);
  t.match(h.record('n2').lifecycle?.failure, { step: 'handover', reason: /Talos API port/ });
  await h.executor.close();
});

t.test('BMC errors: unreachable retried with backoff, auth fails at once', async (t) => {
  const h = await harness([bmcNode(1), bmcNode(2)]);
  h.rack.factory(bmcNode(1), { username: '', password: '' });
  h.rack.server('n1').inventoryErrors = [new BmcError('unreachable', 'x', 'inventory', 'ECONNREFUSED'), new BmcError('busy', 'x', 'inventory', '503')];
  h.rack.factory(bmcNode(2), { username: '', password: '' });
  h.rack.server('n2').inventoryErrors = [new BmcError('auth', 'x', 'inventory', '401')];
  h.executor.reconcileAll();
  await h.clock.advance(500);
  t.equal(h.record('n1').lifecycle?.attempt, 2, 'second try waits out its backoff');
  t.equal(h.rack.server('n1').calls.length, 1);
  await h.clock.advance(60_000);
  t.same(h.states('n1'), HAPPY);
  t.same(h.states('n2'), ['discovered→failed']);
  t.equal(h.rack.server('n2').calls.length, 1, 'auth errors are not retried');
  await h.executor.close();
});

t.test('generation bump: reprovisioning → provisioning → … → handed-over at the new generation', async (t) => {
  const h = await harness([bmcNode(1, { wipe: 'on-reprovision' })]);
  h.executor.reconcileAll();
  await h.clock.advance(60_000);
  t.equal(h.record('n1').state, 'handed-over');
  h.setManifest([bmcNode(1, { generation: 2, wipe: 'on-reprovision' })]);
  h.executor.reconcileAll();
  await h.clock.advance(60_000);
  t.same(h.states('n1').slice(HAPPY.length), [
    'handed-over→reprovisioning',
    'reprovisioning→provisioning',
    'provisioning→installing',
    'installing→installed',
    'installed→handed-over',
  ]);
  t.equal(h.record('n1').generation, 2);
  t.equal(h.record('n1').installedGeneration, 2);
  t.same(
    h.rack.server('n1').calls,
    ['inventory', 'setOneShotPxe:uefi', 'powerCycle', 'inventory', 'setOneShotPxe:uefi', 'powerCycle'],
    'identity checked again before reinstalling',
  );
  await h.executor.close();
});

t.test('the concurrency limit and stagger pace power-ons across the rack', async (t) => {
  const specs = Array.from({ length: 24 }, (_, i) => bmcNode(i + 1));
  const h = await harness(specs, { latency: { min: 50, max: 300 }, settings: { concurrency: 4, staggerMs: 100 } });
  const starts: number[] = [];
  const original = h.rack.factory.bind(h.rack);
  h.rack.factory = (node, creds) => {
    const d = original(node, creds);
    const set = d.setOneShotPxe.bind(d);
    return {
      ...d,
      setOneShotPxe: async (mode) => {
        starts.push(h.clock.now());
        await set(mode);
      },
    };
  };
  h.executor.reconcileAll();
  await h.clock.advance(10 * 60_000);
  t.equal(specs.filter((s) => h.record(s.id).state === 'handed-over').length, 24, 'every node handed over');
  t.equal(h.rack.peakInFlight, 4, 'never more than 4 power sequences at once (and the limit was reached)');
  t.equal(h.executor.peakPowerOns(), 4);
  const gaps = starts.slice(1).map((s, i) => s - starts[i]!);
  t.ok(
    gaps.every((g) => g >= 100),
    `starts at least the stagger apart (min gap ${Math.min(...gaps)} ms)`,
  );
  await h.executor.close();
});

t.test('manual actions: provision a failed node, reprovision a handed-over one, power off mid-provisioning; refusals', async (t) => {
  const h = await harness([bmcNode(1), bmcNode(2), bmcNode(3), withoutBmc(bmcNode(4))]);
  h.behaviour.set('n1', { handsOver: false });
  h.executor.reconcileAll();
  await h.clock.advance(10 * 60_000);
  t.equal(h.record('n1').state, 'failed');
  t.equal(h.record('n2').state, 'handed-over');
  t.same(h.executor.manual('n2', 'provision'), {
    accepted: false,
    refusal: 'wrong-state',
    reason: 'the node is handed-over; use reprovision to install it again',
  });
  t.same(h.executor.manual('nope', 'provision'), { accepted: false, refusal: 'unknown-node', reason: 'no node nope in the manifest' });
  t.match(h.executor.manual('n4', 'power-off'), { accepted: false, refusal: 'no-bmc', reason: /no BMC/ });

  h.behaviour.set('n1', { scriptAfterMs: 1_000, installMs: 5_000, handsOver: true });
  t.same(h.executor.manual('n1', 'provision'), { accepted: true });
  t.same(h.executor.manual('n2', 'reprovision'), { accepted: true });
  await h.clock.advance(60_000);
  t.equal(h.record('n1').state, 'handed-over', 'the failed node provisioned on request');
  t.same(h.states('n1').slice(-6), ['failed→discovered', ...HAPPY]);
  t.same(h.states('n2').slice(-5), [
    'handed-over→reprovisioning',
    'reprovisioning→provisioning',
    'provisioning→installing',
    'installing→installed',
    'installed→handed-over',
  ]);
  t.ok(
    h.record('n1').timeline.some((s) => s.step === 'operator-action' && s.detail.action === 'provision'),
    'recorded in the timeline',
  );
  t.ok(
    h.reports.some((r) => r.case === 'step' && r.value.nodeId === 'n2' && r.value.step === 'operator-action'),
    'and reported',
  );

  h.behaviour.set('n3', { handsOver: false });
  t.same(h.executor.manual('n3', 'reprovision'), { accepted: true });
  await h.clock.advance(1_500);
  t.equal(h.record('n3').state, 'provisioning');
  t.same(h.executor.manual('n3', 'power-off'), { accepted: true });
  await h.clock.advance(10 * 60_000);
  t.equal(h.record('n3').state, 'failed', 'powering off stops the lifecycle');
  t.match(h.record('n3').lifecycle?.failure, { step: 'netboot', reason: /powered off by the operator/ });
  t.equal(h.rack.server('n3').calls.at(-1), 'powerOff', 'and nothing powered it back on');
  t.equal(h.rack.server('n3').power, 'off');
  await h.executor.close();
});

t.test('nodes without a BMC, or desired discovery: the executor does nothing', async (t) => {
  const h = await harness([withoutBmc(bmcNode(1)), bmcNode(2, { desired: 'discovery' })]);
  h.executor.reconcileAll();
  await h.clock.advance(10 * 60_000);
  t.equal(h.nodes.get('n1'), undefined, 'no record created');
  t.same(h.states('n2'), []);
  t.equal(h.rack.servers.size, 0, 'no driver ever built');
  await h.executor.close();
});

t.test('missing credentials: failed at inventory, naming the fix; no password in any log line, report or record', async (t) => {
  const PASSWORD = 'hunter2-very-secret';
  const h = await harness([bmcNode(1), bmcNode(2, { bmc: { ...bmcNode(2).bmc!, credentialsRef: 'missing' } })], {
    credentials: (node) => {
      if (node.bmc?.credentialsRef === 'missing')
        throw new (class extends Error {})('BMC credentials "missing" are not defined in the environment. Fix: add an entry');
      const creds = { username: 'root' } as { username: string; password: string };
      Object.defineProperty(creds, 'password', { value: PASSWORD, enumerable: false });
      return creds;
    },
  });
  h.rack.factory(bmcNode(1), { username: '', password: '' });
  h.rack.server('n1').inventoryErrors = [new BmcError('auth', 'https://198.18.80.1', 'inventory', 'HTTP 401 for user root')];
  h.executor.reconcileAll();
  await h.clock.advance(60_000);
  t.equal(h.record('n1').state, 'failed');
  t.equal(h.record('n2').state, 'failed');
  t.match(h.record('n2').lifecycle?.failure, { step: 'inventory', reason: /"missing".*Fix/ });
  const everything = JSON.stringify([
    h.logs,
    h.reports.map((r) => ({ ...r.value, generation: String((r.value as { generation?: bigint }).generation) })),
    h.nodes.list(),
  ]);
  t.ok(everything.includes('HTTP 401'), 'the failure itself is visible');
  t.notOk(everything.includes(PASSWORD), 'the password is nowhere');
  await h.executor.close();
});

t.test('a BMC that never answers: each call bounded, retried, failed; stopping the agent never waits for it', async (t) => {
  const h = await harness([bmcNode(1)], { latency: { min: 1e9, max: 1e9 } });
  h.executor.reconcileAll();
  await h.clock.advance(60_000);
  t.equal(h.record('n1').state, 'failed');
  t.match(h.record('n1').lifecycle?.failure, { step: 'inventory', reason: /no answer within 5000 ms.*after 3 attempt/ });
  t.equal(h.rack.server('n1').calls.length, 3);

  const h2 = await harness([bmcNode(1)], { latency: { min: 1e9, max: 1e9 } });
  h2.executor.reconcileAll();
  await h2.clock.advance(10);
  t.equal(h2.rack.server('n1').calls.length, 1, 'a call is hanging');
  await h2.executor.close();
  t.pass('close() returned without the clock moving');
});

t.test('after an agent restart a node resumes from its recorded state and attempt, not from scratch', async (t) => {
  const h = await harness([bmcNode(1), bmcNode(2)]);
  h.behaviour.set('n1', { handsOver: false });
  h.executor.reconcileAll();
  await h.clock.advance(1_000);
  t.equal(h.record('n1').state, 'provisioning');
  await h.clock.advance(60_000);
  t.match(h.record('n1').lifecycle, { step: 'netboot', attempt: 2 }, 'second power cycle, awaiting netboot');
  t.equal(h.record('n2').state, 'handed-over');
  await h.restart();
  h.executor.reconcileAll();
  await h.clock.advance(10 * 60_000);
  t.equal(h.record('n1').state, 'failed');
  t.equal(h.rack.server('n1').calls.filter((c) => c === 'powerCycle').length, 3, 'the attempt count survived the restart: 3 cycles in all');
  t.equal(h.rack.server('n1').calls.filter((c) => c === 'inventory').length, 1, 'no second identity check for a node already verified');
  t.same(h.rack.server('n2').calls, ['inventory', 'setOneShotPxe:uefi', 'powerCycle'], 'a handed-over node is not touched after the restart');
  await h.executor.close();
});
