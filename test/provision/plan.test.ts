// The lifecycle plan as tables: every state × every event, then the cases that depend on more
// than the state (idle vs in flight, generations, retries running out, nodes the plan leaves alone).
import t from 'tap';
import { backoff, plan, refuseManual, refuseRescue, type Action, type DesiredNode, type ProvisionEvent } from '../../agent/provision/plan.js';
import type { ProvisionStep, NodeState } from '../../agent/nodes/model.js';

const limits = { maxAttempts: 3, backoffMs: 1000, maxBackoffMs: 60000, probeIntervalMs: 500 };
const desired = (over: Partial<DesiredNode> = {}): DesiredNode => ({ desired: 'installed', generation: 2, hasBmc: true, limits, ...over });

/** `→state@failedStep` transitions, `step#attempt` or `idle`, `wait ms`, other action kinds. */
const show = (a: Action): string =>
  a.kind === 'transition'
    ? `→${a.to}${a.failedStep ? `@${a.failedStep}` : ''}`
    : a.kind === 'step'
      ? a.step
        ? `${a.step}#${a.attempt}`
        : 'idle'
      : a.kind === 'wait'
        ? `wait ${a.ms}`
        : a.kind;

const BMC_STEPS: ReadonlySet<string> = new Set(['inventory', 'power']);
function eventNamed(name: string, step: ProvisionStep | undefined): ProvisionEvent {
  const bmcStep: ProvisionStep = step && BMC_STEPS.has(step) ? step : 'power';
  switch (name) {
    case 'identity-mismatch':
      return { kind: 'identity-mismatch', reason: 'serial X != Y' };
    case 'handover-refused':
      return { kind: 'handover-refused', reason: 'ECONNREFUSED' };
    case 'bmc-error':
      return { kind: 'bmc-error', step: bmcStep, retryable: true, message: 'busy' };
    case 'bmc-error fatal':
      return { kind: 'bmc-error', step: bmcStep, retryable: false, message: 'auth' };
    case 'timeout':
      return { kind: 'timeout', step: step ?? 'netboot', attempt: 1 };
    case 'provision':
    case 'reprovision':
    case 'power-off':
      return { kind: 'manual', action: name };
    default:
      return { kind: name } as ProvisionEvent;
  }
}

// Each state with the step it is normally at (in flight or awaited), attempt 1; same generation.
const STATE_BY_EVENT: [NodeState, ProvisionStep | undefined, string, string][] = [
  ['discovered', 'inventory', 'reconcile', ''],
  ['discovered', 'inventory', 'identity-ok', '→verified power#1 power-on-pxe'],
  ['discovered', 'inventory', 'identity-mismatch', '→held idle'],
  ['discovered', 'inventory', 'powered', ''],
  ['discovered', 'inventory', 'handover-ok', ''],
  ['discovered', 'inventory', 'handover-refused', ''],
  ['discovered', 'inventory', 'bmc-error', 'inventory#2 wait 1000 read-inventory'],
  ['discovered', 'inventory', 'bmc-error fatal', '→failed@inventory idle'],
  ['discovered', 'inventory', 'timeout', 'inventory#2 wait 1000 read-inventory'],
  ['discovered', 'inventory', 'provision', '→discovered inventory#1 read-inventory'],
  ['discovered', 'inventory', 'reprovision', ''],
  ['discovered', 'inventory', 'power-off', '→failed@inventory idle power-off'],
  ['verified', 'power', 'reconcile', ''],
  ['verified', 'power', 'identity-ok', ''],
  ['verified', 'power', 'identity-mismatch', ''],
  ['verified', 'power', 'powered', '→provisioning netboot#1'],
  ['verified', 'power', 'handover-ok', ''],
  ['verified', 'power', 'handover-refused', ''],
  ['verified', 'power', 'bmc-error', 'power#2 wait 1000 power-on-pxe'],
  ['verified', 'power', 'bmc-error fatal', '→failed@power idle'],
  ['verified', 'power', 'timeout', 'power#2 wait 1000 power-on-pxe'],
  ['verified', 'power', 'provision', ''],
  ['verified', 'power', 'reprovision', ''],
  ['verified', 'power', 'power-off', '→failed@power idle power-off'],
  ['provisioning', 'netboot', 'reconcile', ''],
  ['provisioning', 'netboot', 'identity-ok', ''],
  ['provisioning', 'netboot', 'identity-mismatch', ''],
  ['provisioning', 'netboot', 'powered', ''],
  ['provisioning', 'netboot', 'handover-ok', ''],
  ['provisioning', 'netboot', 'handover-refused', ''],
  ['provisioning', 'netboot', 'bmc-error', ''],
  ['provisioning', 'netboot', 'bmc-error fatal', ''],
  ['provisioning', 'netboot', 'timeout', 'power#2 wait 1000 power-on-pxe'],
  ['provisioning', 'netboot', 'provision', ''],
  ['provisioning', 'netboot', 'reprovision', ''],
  ['provisioning', 'netboot', 'power-off', '→failed@netboot idle power-off'],
  ['installing', 'install', 'reconcile', ''],
  ['installing', 'install', 'identity-ok', ''],
  ['installing', 'install', 'identity-mismatch', ''],
  ['installing', 'install', 'powered', ''],
  ['installing', 'install', 'handover-ok', ''],
  ['installing', 'install', 'handover-refused', ''],
  ['installing', 'install', 'bmc-error', ''],
  ['installing', 'install', 'bmc-error fatal', ''],
  ['installing', 'install', 'timeout', 'power#2 wait 1000 power-on-pxe'],
  ['installing', 'install', 'provision', ''],
  ['installing', 'install', 'reprovision', ''],
  ['installing', 'install', 'power-off', '→failed@install idle power-off'],
  ['installed', 'handover', 'reconcile', ''],
  ['installed', 'handover', 'identity-ok', ''],
  ['installed', 'handover', 'identity-mismatch', ''],
  ['installed', 'handover', 'powered', ''],
  ['installed', 'handover', 'handover-ok', '→handed-over idle'],
  ['installed', 'handover', 'handover-refused', 'wait 500 probe-handover'],
  ['installed', 'handover', 'bmc-error', ''],
  ['installed', 'handover', 'bmc-error fatal', ''],
  ['installed', 'handover', 'timeout', '→failed@handover idle'],
  ['installed', 'handover', 'provision', ''],
  ['installed', 'handover', 'reprovision', '→reprovisioning inventory#1 read-inventory'],
  ['installed', 'handover', 'power-off', '→failed@handover idle power-off'],
  ['handed-over', undefined, 'reconcile', ''],
  ['handed-over', undefined, 'identity-ok', ''],
  ['handed-over', undefined, 'identity-mismatch', ''],
  ['handed-over', undefined, 'powered', ''],
  ['handed-over', undefined, 'handover-ok', ''],
  ['handed-over', undefined, 'handover-refused', ''],
  ['handed-over', undefined, 'bmc-error', ''],
  ['handed-over', undefined, 'bmc-error fatal', ''],
  ['handed-over', undefined, 'timeout', ''],
  ['handed-over', undefined, 'provision', ''],
  ['handed-over', undefined, 'reprovision', '→reprovisioning inventory#1 read-inventory'],
  ['handed-over', undefined, 'power-off', 'power-off'],
  ['failed', undefined, 'reconcile', ''],
  ['failed', undefined, 'identity-ok', ''],
  ['failed', undefined, 'identity-mismatch', ''],
  ['failed', undefined, 'powered', ''],
  ['failed', undefined, 'handover-ok', ''],
  ['failed', undefined, 'handover-refused', ''],
  ['failed', undefined, 'bmc-error', ''],
  ['failed', undefined, 'bmc-error fatal', ''],
  ['failed', undefined, 'timeout', ''],
  ['failed', undefined, 'provision', '→discovered inventory#1 read-inventory'],
  ['failed', undefined, 'reprovision', '→reprovisioning inventory#1 read-inventory'],
  ['failed', undefined, 'power-off', 'power-off'],
  ['held', undefined, 'reconcile', ''],
  ['held', undefined, 'identity-ok', ''],
  ['held', undefined, 'identity-mismatch', ''],
  ['held', undefined, 'powered', ''],
  ['held', undefined, 'handover-ok', ''],
  ['held', undefined, 'handover-refused', ''],
  ['held', undefined, 'bmc-error', ''],
  ['held', undefined, 'bmc-error fatal', ''],
  ['held', undefined, 'timeout', ''],
  ['held', undefined, 'provision', '→discovered inventory#1 read-inventory'],
  ['held', undefined, 'reprovision', '→reprovisioning inventory#1 read-inventory'],
  ['held', undefined, 'power-off', 'power-off'],
  ['reprovisioning', 'inventory', 'reconcile', ''],
  ['reprovisioning', 'inventory', 'identity-ok', 'power#1 power-on-pxe'],
  ['reprovisioning', 'inventory', 'identity-mismatch', '→held idle'],
  ['reprovisioning', 'inventory', 'powered', ''],
  ['reprovisioning', 'inventory', 'handover-ok', ''],
  ['reprovisioning', 'inventory', 'handover-refused', ''],
  ['reprovisioning', 'inventory', 'bmc-error', 'inventory#2 wait 1000 read-inventory'],
  ['reprovisioning', 'inventory', 'bmc-error fatal', '→failed@inventory idle'],
  ['reprovisioning', 'inventory', 'timeout', 'inventory#2 wait 1000 read-inventory'],
  ['reprovisioning', 'inventory', 'provision', ''],
  ['reprovisioning', 'inventory', 'reprovision', ''],
  ['reprovisioning', 'inventory', 'power-off', '→failed@inventory idle power-off'],
  // Leaving rescue (desired installed again): one more PXE power cycle, then the netboot path decides.
  ['rescue', 'power', 'reconcile', ''],
  ['rescue', 'power', 'identity-ok', ''],
  ['rescue', 'power', 'identity-mismatch', ''],
  ['rescue', 'power', 'powered', 'netboot#1'],
  ['rescue', 'power', 'handover-ok', ''],
  ['rescue', 'power', 'handover-refused', ''],
  ['rescue', 'power', 'bmc-error', 'power#2 wait 1000 power-on-pxe'],
  ['rescue', 'power', 'bmc-error fatal', '→failed@power idle'],
  ['rescue', 'power', 'timeout', 'power#2 wait 1000 power-on-pxe'],
  ['rescue', 'power', 'provision', ''],
  ['rescue', 'power', 'reprovision', ''],
  ['rescue', 'power', 'power-off', 'idle power-off'],
  // A decommission called off (desired installed again) before or after the wipe: the same way out.
  ['decommissioning', 'power', 'reconcile', ''],
  ['decommissioning', 'power', 'identity-ok', ''],
  ['decommissioning', 'power', 'identity-mismatch', ''],
  ['decommissioning', 'power', 'powered', 'netboot#1'],
  ['decommissioning', 'power', 'handover-ok', ''],
  ['decommissioning', 'power', 'handover-refused', ''],
  ['decommissioning', 'power', 'bmc-error', 'power#2 wait 1000 power-on-pxe'],
  ['decommissioning', 'power', 'bmc-error fatal', '→failed@power idle'],
  ['decommissioning', 'power', 'timeout', 'power#2 wait 1000 power-on-pxe'],
  ['decommissioning', 'power', 'provision', ''],
  ['decommissioning', 'power', 'reprovision', ''],
  ['decommissioning', 'power', 'power-off', 'idle power-off'],
  ['decommissioned', 'power', 'reconcile', ''],
  ['decommissioned', 'power', 'identity-ok', ''],
  ['decommissioned', 'power', 'identity-mismatch', ''],
  ['decommissioned', 'power', 'powered', 'netboot#1'],
  ['decommissioned', 'power', 'handover-ok', ''],
  ['decommissioned', 'power', 'handover-refused', ''],
  ['decommissioned', 'power', 'bmc-error', 'power#2 wait 1000 power-on-pxe'],
  ['decommissioned', 'power', 'bmc-error fatal', '→failed@power idle'],
  ['decommissioned', 'power', 'timeout', 'power#2 wait 1000 power-on-pxe'],
  ['decommissioned', 'power', 'provision', ''],
  ['decommissioned', 'power', 'reprovision', ''],
  ['decommissioned', 'power', 'power-off', '→failed@power idle power-off'],
];

t.test('every state × every event', async (t) => {
  const states = new Set(STATE_BY_EVENT.map((r) => r[0]));
  t.equal(states.size, 12, 'all twelve states');
  t.equal(STATE_BY_EVENT.length, 12 * 12, 'each with all twelve events');
  for (const [state, step, name, expected] of STATE_BY_EVENT) {
    const out = plan(desired(), { state, generation: 2, ...(step ? { step } : {}), attempt: step ? 1 : 0, event: eventNamed(name, step) });
    t.equal(out.map(show).join(' '), expected, `${state}${step ? `/${step}` : ''} + ${name}`);
  }
});

// Desired rescue (the manifest's, or an operator's request): from every state but held into
// rescue and through PXE; a power-on that keeps failing leaves it idle in rescue, not failed.
const RESCUE_ROWS: [NodeState, ProvisionStep | undefined, string, string][] = [
  ['discovered', undefined, 'reconcile', '→rescue power#1 power-on-pxe'],
  ['discovered', undefined, 'powered', ''],
  ['discovered', undefined, 'bmc-error', ''],
  ['discovered', undefined, 'bmc-error fatal', ''],
  ['discovered', undefined, 'power-off', 'power-off'],
  ['installing', 'install', 'reconcile', '→rescue power#1 power-on-pxe'],
  ['installing', 'install', 'powered', ''],
  ['installing', 'install', 'bmc-error', ''],
  ['installing', 'install', 'bmc-error fatal', ''],
  ['installing', 'install', 'power-off', '→failed@install idle power-off'],
  ['installed', undefined, 'reconcile', '→rescue power#1 power-on-pxe'],
  ['installed', undefined, 'powered', ''],
  ['installed', undefined, 'bmc-error', ''],
  ['installed', undefined, 'bmc-error fatal', ''],
  ['installed', undefined, 'power-off', 'power-off'],
  ['handed-over', undefined, 'reconcile', '→rescue power#1 power-on-pxe'],
  ['handed-over', undefined, 'powered', ''],
  ['handed-over', undefined, 'bmc-error', ''],
  ['handed-over', undefined, 'bmc-error fatal', ''],
  ['handed-over', undefined, 'power-off', 'power-off'],
  ['failed', undefined, 'reconcile', '→rescue power#1 power-on-pxe'],
  ['failed', undefined, 'powered', ''],
  ['failed', undefined, 'bmc-error', ''],
  ['failed', undefined, 'bmc-error fatal', ''],
  ['failed', undefined, 'power-off', 'power-off'],
  ['held', undefined, 'reconcile', ''],
  ['held', undefined, 'powered', ''],
  ['held', undefined, 'bmc-error', ''],
  ['held', undefined, 'bmc-error fatal', ''],
  ['held', undefined, 'power-off', 'power-off'],
  ['rescue', 'power', 'reconcile', ''],
  ['rescue', 'power', 'powered', 'idle'],
  ['rescue', 'power', 'bmc-error', 'power#2 wait 1000 power-on-pxe'],
  ['rescue', 'power', 'bmc-error fatal', 'idle'],
  ['rescue', 'power', 'power-off', 'idle power-off'],
  ['rescue', undefined, 'reconcile', ''],
  ['rescue', undefined, 'powered', ''],
  ['rescue', undefined, 'bmc-error', ''],
  ['rescue', undefined, 'bmc-error fatal', ''],
  ['rescue', undefined, 'power-off', 'power-off'],
];

t.test('desired rescue: every state × the events that move it', async (t) => {
  for (const [state, step, name, expected] of RESCUE_ROWS) {
    const out = plan(desired({ desired: 'rescue' }), { state, generation: 2, ...(step ? { step } : {}), attempt: step ? 1 : 0, event: eventNamed(name, step) });
    t.equal(out.map(show).join(' '), expected, `rescue wanted, ${state}${step ? `/${step}` : ''} + ${name}`);
  }
  const exhausted = plan(desired({ desired: 'rescue' }), {
    state: 'rescue',
    generation: 2,
    step: 'power',
    attempt: 3,
    event: { kind: 'bmc-error', step: 'power', retryable: true, message: 'busy' },
  });
  t.same(
    exhausted,
    [{ kind: 'step', attempt: 0, failure: { step: 'power', reason: 'rescue: busy (after 3 attempt(s))' } }],
    'retries run out: idle in rescue with the failure',
  );
});

// Desired decommissioned: into decommissioning (never from held), through PXE into the wipe;
// once the wipe is reported, power-off and decommissioned; retries run out into idle, not failed.
const DECOMMISSION_ROWS: [NodeState, ProvisionStep | undefined, boolean, string, string][] = [
  ['installed', undefined, false, 'reconcile', '→decommissioning power#1 power-on-pxe'],
  ['installed', undefined, false, 'powered', ''],
  ['installed', undefined, false, 'bmc-error', ''],
  ['installed', undefined, false, 'bmc-error fatal', ''],
  ['installed', undefined, false, 'timeout', ''],
  ['installed', undefined, false, 'power-off', 'power-off'],
  ['handed-over', undefined, false, 'reconcile', '→decommissioning power#1 power-on-pxe'],
  ['handed-over', undefined, false, 'powered', ''],
  ['handed-over', undefined, false, 'bmc-error', ''],
  ['handed-over', undefined, false, 'bmc-error fatal', ''],
  ['handed-over', undefined, false, 'timeout', ''],
  ['handed-over', undefined, false, 'power-off', 'power-off'],
  ['failed', undefined, false, 'reconcile', '→decommissioning power#1 power-on-pxe'],
  ['failed', undefined, false, 'powered', ''],
  ['failed', undefined, false, 'bmc-error', ''],
  ['failed', undefined, false, 'bmc-error fatal', ''],
  ['failed', undefined, false, 'timeout', ''],
  ['failed', undefined, false, 'power-off', 'power-off'],
  ['held', undefined, false, 'reconcile', ''],
  ['held', undefined, false, 'powered', ''],
  ['held', undefined, false, 'bmc-error', ''],
  ['held', undefined, false, 'bmc-error fatal', ''],
  ['held', undefined, false, 'timeout', ''],
  ['held', undefined, false, 'power-off', 'power-off'],
  ['rescue', undefined, false, 'reconcile', '→decommissioning power#1 power-on-pxe'],
  ['rescue', undefined, false, 'powered', ''],
  ['rescue', undefined, false, 'bmc-error', ''],
  ['rescue', undefined, false, 'bmc-error fatal', ''],
  ['rescue', undefined, false, 'timeout', ''],
  ['rescue', undefined, false, 'power-off', 'power-off'],
  ['decommissioning', 'power', false, 'reconcile', ''],
  ['decommissioning', 'power', false, 'powered', 'netboot#1'],
  ['decommissioning', 'power', false, 'bmc-error', 'power#2 wait 1000 power-on-pxe'],
  ['decommissioning', 'power', false, 'bmc-error fatal', 'idle'],
  ['decommissioning', 'power', false, 'timeout', 'power#2 wait 1000 power-on-pxe'],
  ['decommissioning', 'power', false, 'power-off', 'idle power-off'],
  ['decommissioning', 'netboot', false, 'reconcile', ''],
  ['decommissioning', 'netboot', false, 'powered', ''],
  ['decommissioning', 'netboot', false, 'bmc-error', ''],
  ['decommissioning', 'netboot', false, 'bmc-error fatal', ''],
  ['decommissioning', 'netboot', false, 'timeout', 'power#2 wait 1000 power-on-pxe'],
  ['decommissioning', 'netboot', false, 'power-off', 'idle power-off'],
  ['decommissioning', 'netboot', true, 'reconcile', 'power-off →decommissioned idle'],
  ['decommissioning', 'netboot', true, 'powered', 'power-off →decommissioned idle'],
  ['decommissioning', 'netboot', true, 'bmc-error', 'power-off →decommissioned idle'],
  ['decommissioning', 'netboot', true, 'bmc-error fatal', 'power-off →decommissioned idle'],
  ['decommissioning', 'netboot', true, 'timeout', 'power-off →decommissioned idle'],
  ['decommissioning', 'netboot', true, 'power-off', 'idle power-off'],
  ['decommissioning', undefined, false, 'reconcile', ''],
  ['decommissioning', undefined, false, 'powered', ''],
  ['decommissioning', undefined, false, 'bmc-error', ''],
  ['decommissioning', undefined, false, 'bmc-error fatal', ''],
  ['decommissioning', undefined, false, 'timeout', ''],
  ['decommissioning', undefined, false, 'power-off', 'power-off'],
  ['decommissioned', undefined, true, 'reconcile', ''],
  ['decommissioned', undefined, true, 'powered', ''],
  ['decommissioned', undefined, true, 'bmc-error', ''],
  ['decommissioned', undefined, true, 'bmc-error fatal', ''],
  ['decommissioned', undefined, true, 'timeout', ''],
  ['decommissioned', undefined, true, 'power-off', 'power-off'],
];

t.test('desired decommissioned: every state × the events that move it', async (t) => {
  for (const [state, step, wiped, name, expected] of DECOMMISSION_ROWS) {
    const out = plan(desired({ desired: 'decommissioned' }), {
      state,
      wiped,
      generation: 2,
      ...(step ? { step } : {}),
      attempt: step ? 1 : 0,
      event: eventNamed(name, step),
    });
    t.equal(out.map(show).join(' '), expected, `decommission, ${state}${step ? `/${step}` : ''}${wiped ? ' wiped' : ''} + ${name}`);
  }
  const exhausted = plan(desired({ desired: 'decommissioned' }), {
    state: 'decommissioning',
    generation: 2,
    step: 'netboot',
    attempt: 3,
    event: { kind: 'timeout', step: 'netboot', attempt: 3 },
  });
  t.same(
    exhausted,
    [{ kind: 'step', attempt: 0, failure: { step: 'netboot', reason: 'decommission: the wipe was not reported in time (after 3 attempt(s))' } }],
    'retries run out: idle in decommissioning with the failure',
  );
});

t.test('rescue and exit-rescue are refused with a reason where they do not apply', async (t) => {
  t.equal(refuseRescue('installed', 'installed', false, 'rescue'), undefined);
  t.equal(refuseRescue('failed', 'discovery', false, 'rescue'), undefined);
  t.match(refuseRescue('held', 'installed', false, 'rescue'), /held/);
  t.match(refuseRescue('decommissioning', 'decommissioned', false, 'rescue'), /decommissions/);
  t.match(refuseRescue('rescue', 'installed', true, 'rescue'), /already/);
  t.match(refuseRescue('rescue', 'rescue', false, 'rescue'), /already/);
  t.equal(refuseRescue('rescue', 'installed', true, 'exit-rescue'), undefined);
  t.match(refuseRescue('rescue', 'rescue', false, 'exit-rescue'), /manifest/);
  t.match(refuseRescue('installed', 'installed', false, 'exit-rescue'), /not in rescue/);
});

t.test('idle nodes (after a restart, or first seen) pick up where their state says', async (t) => {
  const rows: [NodeState, number, string][] = [
    ['discovered', 0, 'inventory#1 read-inventory'],
    ['verified', 0, 'power#1 power-on-pxe'],
    ['provisioning', 2, 'netboot#2'],
    ['installing', 1, 'install#1'],
    ['installed', 0, 'handover#1 probe-handover'],
    ['reprovisioning', 0, 'inventory#1 read-inventory'],
    ['handed-over', 0, ''],
    ['failed', 0, ''],
    ['held', 0, ''],
  ];
  for (const [state, attempt, expected] of rows)
    t.equal(
      plan(desired(), { state, generation: 2, attempt, event: { kind: 'reconcile' } })
        .map(show)
        .join(' '),
      expected,
      state,
    );
  t.equal(
    plan(desired(), { state: 'installing', generation: 2, step: 'netboot', attempt: 2, event: { kind: 'reconcile' } })
      .map(show)
      .join(' '),
    'install#2',
    'script served: now awaiting the installer',
  );
  t.equal(
    plan(desired(), { state: 'installed', generation: 2, step: 'install', attempt: 1, event: { kind: 'reconcile' } })
      .map(show)
      .join(' '),
    'handover#1 probe-handover',
    'installed: hand over',
  );
});

t.test('a generation bump reprovisions from any state; a first provisioning is not a bump', async (t) => {
  for (const state of ['verified', 'provisioning', 'installing', 'installed', 'handed-over', 'failed', 'held', 'reprovisioning', 'discovered'] as const) {
    const out = plan(desired({ generation: 3 }), { state, generation: 2, attempt: 0, event: { kind: 'reconcile' } });
    t.equal(out.map(show).join(' '), '→reprovisioning inventory#1 read-inventory', state);
    t.equal((out[0] as { generation: number }).generation, 3, 'at the new generation');
  }
  t.equal(
    plan(desired({ generation: 1 }), { state: 'discovered', generation: 0, attempt: 0, event: { kind: 'reconcile' } })
      .map(show)
      .join(' '),
    'inventory#1 read-inventory',
  );
  t.equal(
    plan(desired({ generation: 3 }), { state: 'installed', generation: 2, step: 'handover', attempt: 1, event: { kind: 'handover-ok' } })
      .map(show)
      .join(' '),
    '→reprovisioning inventory#1 read-inventory',
    'whatever the event',
  );
});

t.test('retries are bounded, with backoff, then the node fails at that step', async (t) => {
  const at = (state: NodeState, step: ProvisionStep, attempt: number, event: ProvisionEvent): string =>
    plan(desired(), { state, generation: 2, step, attempt, event }).map(show).join(' ');
  t.equal(at('provisioning', 'netboot', 2, { kind: 'timeout', step: 'netboot', attempt: 2 }), 'power#3 wait 2000 power-on-pxe');
  t.equal(at('provisioning', 'netboot', 3, { kind: 'timeout', step: 'netboot', attempt: 3 }), '→failed@netboot idle');
  t.equal(at('installing', 'install', 3, { kind: 'timeout', step: 'install', attempt: 3 }), '→failed@install idle');
  t.equal(at('verified', 'power', 3, { kind: 'bmc-error', step: 'power', retryable: true, message: 'override lost' }), '→failed@power idle');
  const failed = plan(desired(), {
    state: 'provisioning',
    generation: 2,
    step: 'netboot',
    attempt: 3,
    event: { kind: 'timeout', step: 'netboot', attempt: 3 },
  });
  t.match(failed[0], { kind: 'transition', to: 'failed', why: /never reached the installer.*after 3 attempt/ });
  t.match(failed[1], { kind: 'step', failure: { step: 'netboot', reason: /never reached the installer/ } });
  t.equal(at('provisioning', 'netboot', 2, { kind: 'timeout', step: 'netboot', attempt: 1 }), '', 'a timeout of an earlier attempt is stale');
  t.equal(at('installing', 'install', 1, { kind: 'timeout', step: 'netboot', attempt: 1 }), '', 'a timeout of an earlier step is stale');
  t.same(
    [2, 3, 4, 5, 9].map((n) => backoff(n, limits)),
    [1000, 2000, 4000, 8000, 60000],
    'doubling, capped',
  );
});

t.test('nodes without a BMC, desired discovery, or not in the manifest: nothing, whatever happens', async (t) => {
  for (const d of [desired({ hasBmc: false }), desired({ desired: 'discovery' }), undefined])
    for (const name of ['reconcile', 'provision', 'reprovision', 'power-off', 'timeout'])
      t.same(
        plan(d, { state: 'discovered', generation: 0, attempt: 0, event: eventNamed(name, 'netboot') }),
        [],
        `${d ? JSON.stringify({ hasBmc: d.hasBmc, desired: d.desired }) : 'no spec'} + ${name}`,
      );
});

t.test('manual actions are refused with a reason where they do not apply', async (t) => {
  t.match(refuseManual('installed', 'provision', true), /use reprovision/);
  t.match(refuseManual('provisioning', 'provision', true), /already being provisioned/);
  t.match(refuseManual('discovered', 'reprovision', true), /use provision/);
  t.match(refuseManual('installing', 'reprovision', true), /already being provisioned/);
  t.match(refuseManual('failed', 'power-off', false), /no BMC/);
  t.equal(refuseManual('held', 'provision', true), undefined);
  t.equal(refuseManual('handed-over', 'reprovision', true), undefined);
  t.equal(refuseManual('installing', 'power-off', true), undefined);
  t.match(refuseManual('rescue', 'reprovision', true), /exit-rescue/);
  t.match(refuseManual('decommissioned', 'provision', true), /desired state in the manifest/);
  t.equal(refuseManual('decommissioning', 'power-off', true), undefined);
});
