// An operator's action must not wait behind a pause the lifecycle is sleeping through (a retry
// backoff, the hand-over probe interval, the power gate), nor let what was planned after the
// pause (a power cycle, a probe) happen first.
import t from 'tap';
import { PowerGate } from '../../agent/provision/powerGate.js';
import { FakeClock, settle } from './fakeClock.js';
import { bmcNode, harness } from './harness.js';

t.test('power-off during a retry backoff: the machine goes off at once and is not power-cycled first', async (t) => {
  const h = await harness([bmcNode(1)], {
    settings: { backoffMs: 60_000, maxBackoffMs: 60_000, timeouts: { bmcCallMs: 5_000, netbootMs: 10_000, installMs: 120_000, handoverMs: 60_000 } },
  });
  h.behaviour.set('n1', { handsOver: false }); // powers on, never netboots
  h.executor.reconcileAll();
  await h.clock.advance(11_000); // netboot timed out: now in the 60 s backoff before try 2
  t.equal(h.record('n1').lifecycle?.step, 'power');
  t.equal(h.record('n1').lifecycle?.attempt, 2);
  const cycles = () => h.rack.server('n1').calls.filter((c) => c === 'powerCycle').length;
  t.equal(cycles(), 1);
  t.same(h.executor.manual('n1', 'power-off'), { accepted: true });
  await h.clock.advance(1_000);
  t.equal(h.rack.server('n1').power, 'off', 'off within a second, not after the backoff');
  t.equal(h.record('n1').state, 'failed');
  t.match(h.record('n1').lifecycle?.failure, { reason: /powered off by the operator/ });
  await h.clock.advance(5 * 60_000);
  t.equal(cycles(), 1, 'the retry planned after the backoff never ran');
  t.equal(h.rack.server('n1').power, 'off');
  await h.executor.close();
});

t.test('power gate: a waiter that gives up does not swallow the next release', async (t) => {
  const clock = new FakeClock();
  const gate = new PowerGate(1, 0, clock);
  const first = await gate.acquire(new AbortController().signal);
  const quitter = new AbortController();
  const gaveUp = gate.acquire(quitter.signal);
  let second: (() => void) | undefined;
  void gate.acquire(new AbortController().signal).then((release) => (second = release));
  await settle();
  quitter.abort();
  t.equal(await gaveUp, undefined, 'the aborted waiter gets no slot');
  first!();
  await settle();
  t.type(second, 'function', 'the waiter still queued gets the freed slot');
});

t.test('reprovision while hand-over probes pause: no stale probe runs after the operator action', async (t) => {
  const h = await harness([bmcNode(1)], { settings: { probeIntervalMs: 60_000 } });
  h.behaviour.set('n1', { scriptAfterMs: 1_000, installMs: 5_000, handsOver: false });
  h.executor.reconcileAll();
  await h.clock.advance(10_000);
  t.equal(h.record('n1').state, 'installed');
  t.equal(h.record('n1').lifecycle?.step, 'handover');
  h.behaviour.set('n1', { scriptAfterMs: 1_000, installMs: 5_000, handsOver: true });
  t.same(h.executor.manual('n1', 'reprovision'), { accepted: true });
  await h.clock.advance(500);
  t.ok(
    h.states('n1').includes('reprovisioning→provisioning'),
    `the reprovision power-cycled without waiting out the probe pause (${h.states('n1').join(', ')})`,
  );
  await h.clock.advance(60_000);
  t.equal(h.record('n1').state, 'handed-over');
  t.same(h.states('n1').slice(-5), [
    'installed→reprovisioning',
    'reprovisioning→provisioning',
    'provisioning→installing',
    'installing→installed',
    'installed→handed-over',
  ]);
  await h.executor.close();
});
