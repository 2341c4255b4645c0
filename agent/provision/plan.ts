// The provisioning lifecycle as a pure function: given what the manifest wants and what the agent
// last observed (state, step, attempt) plus the one event that just happened, the actions to take.
// The executor (executor.ts) performs them through the BMC driver and feeds the outcomes back as
// events; nothing here touches a BMC, a clock or the store.
//
//   discovered ─inventory ok─▶ verified ─powered─▶ provisioning ─script served─▶ installing
//        │                                                  (netboot path)          │
//        └─mismatch─▶ held                                   installer report / netboot again
//                                                                                   ▼
//   handed-over ◀─Talos API port answers─ installed ◀────────────────────────────────┘
//
// A generation bump (or `reprovision`) moves any node to reprovisioning: inventory again, then
// power → provisioning …. Failed and held nodes stay put until a generation bump or an operator's
// `provision` (failed, held, discovered) / `reprovision` (installed, handed-over, failed, held).
//
// Rescue (desired `rescue`, or an operator's `rescue`) moves any node but a held one to rescue,
// then one-shot PXE and a power cycle: the netboot path gives it the rescue script. Leaving it
// (`exit-rescue`, or the manifest back at installed) power-cycles it through PXE once more, where
// the netboot path sends it to its disk (installed) or into the installer (never installed).
//
// Decommission (desired `decommissioned`) moves any node but a held one to decommissioning, then
// one-shot PXE and a power cycle: the netboot path gives it the wipe script. Once the node has
// reported its disk wiped, it is powered off and decommissioned. Retries of the power cycle run
// out into an idle decommissioning node with the failure, never `failed` (which the next
// reconcile would start over).
import type { DesiredState } from '../manifest/model.js';
import type { ProvisionStep, NodeState } from '../nodes/model.js';

/** What an operator may ask of a node (POST /v1/nodes/:id/actions, `maskin-agent node`); all but rescue and exit-rescue need a BMC. */
export const MANUAL_ACTIONS = ['provision', 'reprovision', 'power-off', 'rescue', 'exit-rescue'] as const;
export type ManualAction = (typeof MANUAL_ACTIONS)[number];
/** The actions that drive the lifecycle plan; rescue and exit-rescue change what the node is to be instead. */
export type LifecycleAction = Exclude<ManualAction, 'rescue' | 'exit-rescue'>;

export const isManualAction = (v: unknown): v is ManualAction => (MANUAL_ACTIONS as readonly unknown[]).includes(v);

export type ProvisionEvent =
  /** Nothing new: manifest applied, agent started, periodic check, or the netboot path moved the node. */
  | { readonly kind: 'reconcile' }
  | { readonly kind: 'identity-ok' }
  | { readonly kind: 'identity-mismatch'; readonly reason: string }
  /** One-shot PXE set (and read back) and the power cycle / power on done. */
  | { readonly kind: 'powered' }
  | { readonly kind: 'handover-ok' }
  | { readonly kind: 'handover-refused'; readonly reason: string }
  /** A BMC call of `step` failed; `retryable` false for auth, unsupported and missing credentials. */
  | { readonly kind: 'bmc-error'; readonly step: ProvisionStep; readonly retryable: boolean; readonly message: string }
  /** The step's time ran out (netboot, install, handover). */
  | { readonly kind: 'timeout'; readonly step: ProvisionStep; readonly attempt: number }
  | { readonly kind: 'manual'; readonly action: LifecycleAction };

export type EventKind = ProvisionEvent['kind'];

export type Action =
  | { readonly kind: 'transition'; readonly to: NodeState; readonly why: string; readonly generation: number; readonly failedStep?: ProvisionStep }
  /** What the executor now does or awaits; arms that step's timeout. Absent step = idle. */
  | {
      readonly kind: 'step';
      readonly step?: ProvisionStep;
      readonly attempt: number;
      readonly error?: string;
      readonly failure?: { step?: ProvisionStep; reason: string };
    }
  | { readonly kind: 'wait'; readonly ms: number }
  | { readonly kind: 'read-inventory' }
  /** Under the rack's power gate: one-shot PXE (read back), then power cycle / power on. */
  | { readonly kind: 'power-on-pxe' }
  | { readonly kind: 'power-off' }
  | { readonly kind: 'probe-handover' };

export interface Limits {
  /** Tries of one step (power cycles for netboot/install) before the node fails there. */
  readonly maxAttempts: number;
  /** Backoff before retry n (n ≥ 2): backoffMs · 2^(n-2), capped at maxBackoffMs. */
  readonly backoffMs: number;
  readonly maxBackoffMs: number;
  /** Pause between refused hand-over probes. */
  readonly probeIntervalMs: number;
}

export interface DesiredNode {
  /** What the node is to be: the manifest's desired state, or rescue while an operator asks for it. */
  readonly desired: DesiredState;
  readonly generation: number;
  readonly hasBmc: boolean;
  readonly limits: Limits;
}

export interface ObservedNode {
  readonly state: NodeState;
  /** The node reported its system disk wiped (decommission). */
  readonly wiped?: boolean;
  /** The generation the record's state refers to (0: never acted on). */
  readonly generation: number;
  readonly step?: ProvisionStep;
  readonly attempt: number;
  readonly event: ProvisionEvent;
}

/** States where the executor has work in flight or awaited. */
const WORKING: ReadonlySet<NodeState> = new Set(['verified', 'provisioning', 'installing', 'reprovisioning']);

export function backoff(attempt: number, limits: Limits): number {
  return Math.min(limits.maxBackoffMs, limits.backoffMs * 2 ** Math.max(0, attempt - 2));
}

/**
 * Why an operator's rescue or exit-rescue does not apply (undefined: it does). Rescue needs no BMC:
 * a node without one gets the rescue script on its next PXE boot.
 */
export function refuseRescue(state: NodeState, manifestDesired: DesiredState, requested: boolean, action: 'rescue' | 'exit-rescue'): string | undefined {
  if (action === 'rescue') {
    if (state === 'held') return 'the node is held (its identity is not confirmed); provision it first';
    if (manifestDesired === 'decommissioned') return 'the manifest decommissions the node; change its desired state there first';
    return requested || manifestDesired === 'rescue' ? 'the node is already to be in rescue' : undefined;
  }
  if (manifestDesired === 'rescue') return "the manifest's desired state is rescue; change it there";
  return requested ? undefined : 'the node is not in rescue';
}

/** Why an operator's action does not apply to a node in `state` (undefined: it does). */
export function refuseManual(state: NodeState, action: LifecycleAction, hasBmc: boolean): string | undefined {
  if (!hasBmc) return 'the node has no BMC in the manifest; power it by hand';
  if (action === 'power-off') return undefined;
  if (state === 'rescue') return 'the node is in rescue; use exit-rescue (or change its desired state in the manifest)';
  if (state === 'decommissioning' || state === 'decommissioned') return `the node is ${state}; change its desired state in the manifest`;
  if (action === 'provision') {
    if (state === 'discovered' || state === 'failed' || state === 'held') return undefined;
    return state === 'installed' || state === 'handed-over'
      ? `the node is ${state}; use reprovision to install it again`
      : `the node is already being provisioned (${state})`;
  }
  if (state === 'installed' || state === 'handed-over' || state === 'failed' || state === 'held') return undefined;
  return state === 'discovered' ? 'the node was never installed; use provision' : `the node is already being provisioned (${state})`;
}

const transition = (to: NodeState, why: string, generation: number, failedStep?: ProvisionStep): Action => ({
  kind: 'transition',
  to,
  why,
  generation,
  ...(failedStep ? { failedStep } : {}),
});
const idle = (failure?: { step?: ProvisionStep; reason: string }): Action => ({ kind: 'step', attempt: 0, ...(failure ? { failure } : {}) });
const step = (s: ProvisionStep, attempt: number, error?: string): Action => ({ kind: 'step', step: s, attempt, ...(error ? { error } : {}) });

const ACTION_OF: Partial<Record<ProvisionStep, Action>> = { inventory: { kind: 'read-inventory' }, power: { kind: 'power-on-pxe' } };

function fail(d: DesiredNode, at: ProvisionStep, reason: string): Action[] {
  return [transition('failed', reason, d.generation, at), idle({ step: at, reason })];
}

/** Another try of `at` (or of a power cycle, for the awaited netboot/install steps), or failed. */
function retryOrFail(d: DesiredNode, o: ObservedNode, at: ProvisionStep, reason: string): Action[] {
  if (o.attempt >= d.limits.maxAttempts) return fail(d, at, `${reason} (after ${o.attempt} attempt(s))`);
  const next = o.attempt + 1;
  const redo = ACTION_OF[at] ?? ACTION_OF.power!;
  return [step(ACTION_OF[at] ? at : 'power', next, reason), { kind: 'wait', ms: backoff(next, d.limits) }, redo];
}

function startVerify(d: DesiredNode, to: NodeState | undefined, why: string): Action[] {
  return [...(to ? [transition(to, why, d.generation)] : []), step('inventory', 1), { kind: 'read-inventory' }];
}

/**
 * In rescue or decommission: another try of `at`, or idle there with the failure. Never failed,
 * which the next reconcile would start over (and call the BMC forever).
 */
function retryOrIdle(d: DesiredNode, o: ObservedNode, at: ProvisionStep, reason: string, retryable: boolean, mode: 'rescue' | 'decommission'): Action[] {
  if (retryable && o.attempt < d.limits.maxAttempts) return retryOrFail(d, o, at, reason);
  return [idle({ step: at, reason: `${mode}: ${reason}${retryable ? ` (after ${o.attempt} attempt(s))` : ''}` })];
}

/** Rescue wanted: into rescue from any state (the netboot path keeps held nodes out), then power through PXE. */
function rescue(d: DesiredNode, o: ObservedNode): Action[] {
  const e = o.event;
  if (e.kind === 'bmc-error') return o.step === e.step ? retryOrIdle(d, o, e.step, e.message, e.retryable, 'rescue') : [];
  if (o.state !== 'rescue') {
    if (o.state === 'held' || e.kind !== 'reconcile') return [];
    return [transition('rescue', 'rescue: diskless Talos maintenance mode', d.generation), step('power', 1), { kind: 'power-on-pxe' }];
  }
  if (e.kind === 'powered' && o.step === 'power') return [idle()];
  // A node that failed to power into rescue and is asked again (reconcile with no step in flight) is left alone.
  return [];
}

/** Decommission wanted: power through PXE into the wipe, then off once the wipe is reported. */
function decommission(d: DesiredNode, o: ObservedNode): Action[] {
  const e = o.event;
  if (o.state === 'decommissioned' || o.state === 'held') return [];
  if (o.wiped) return [{ kind: 'power-off' }, transition('decommissioned', 'system disk wiped, powered off', d.generation), idle()];
  if (e.kind === 'bmc-error') return o.step === e.step ? retryOrIdle(d, o, e.step, e.message, e.retryable, 'decommission') : [];
  if (e.kind === 'timeout')
    return o.step === e.step && o.attempt === e.attempt ? retryOrIdle(d, o, e.step, 'the wipe was not reported in time', true, 'decommission') : [];
  if (o.state !== 'decommissioning')
    return e.kind === 'reconcile'
      ? [transition('decommissioning', 'decommission: wipe the system disk, then power off', d.generation), step('power', 1), { kind: 'power-on-pxe' }]
      : [];
  if (e.kind === 'powered' && o.step === 'power') return [step('netboot', o.attempt)];
  return [];
}

function manual(d: DesiredNode, o: ObservedNode, action: LifecycleAction): Action[] {
  if (refuseManual(o.state, action, d.hasBmc) !== undefined) return [];
  if (action === 'provision') return startVerify(d, 'discovered', 'operator asked to provision');
  if (action === 'reprovision') return startVerify(d, 'reprovisioning', 'operator asked to reprovision');
  // Powering off a node mid-provisioning stops the lifecycle there: no retry powers it back on.
  // In rescue or decommissioning it stays there, idle with the reason (failed would be started
  // over by the next reconcile, and the machine powered on again).
  if ((o.state === 'rescue' || o.state === 'decommissioning') && o.step !== undefined)
    return [idle({ step: o.step, reason: 'powered off by the operator' }), { kind: 'power-off' }];
  const stop =
    WORKING.has(o.state) || o.step !== undefined
      ? [
          transition('failed', 'stopped: powered off by the operator', d.generation, o.step ?? 'power'),
          idle({ step: o.step ?? 'power', reason: 'powered off by the operator' }),
        ]
      : [];
  return [...stop, { kind: 'power-off' }];
}

export function plan(d: DesiredNode | undefined, o: ObservedNode): Action[] {
  // Nodes without a BMC, or that should only be discovered, are left to the netboot path alone.
  if (!d || !d.hasBmc || d.desired === 'discovery') return [];
  const e = o.event;
  if (e.kind === 'manual') return manual(d, o, e.action);
  if (d.desired === 'decommissioned') return decommission(d, o);
  if (d.desired === 'rescue') return rescue(d, o);
  // A newer generation restarts any node from the identity check; `discovered` at generation 0 is
  // a first provisioning, not a bump.
  const acted = o.generation > 0 || o.state !== 'discovered';
  if (d.generation > o.generation && acted) return startVerify(d, 'reprovisioning', `generation ${d.generation} is newer than ${o.generation}`);

  // Outcomes of a step only count while the node is still at that step (else they are stale).
  if (e.kind === 'bmc-error') {
    if (o.step !== e.step) return [];
    return e.retryable ? retryOrFail(d, o, e.step, e.message) : fail(d, e.step, e.message);
  }
  if (e.kind === 'timeout') {
    if (o.step !== e.step || o.attempt !== e.attempt) return [];
    if (e.step === 'handover') return fail(d, 'handover', 'the Talos API port never answered');
    const what = e.step === 'netboot' ? 'never reached the installer (no install script served)' : 'the installer did not finish';
    return retryOrFail(d, o, e.step, what);
  }

  switch (o.state) {
    case 'discovered':
    case 'reprovisioning':
      if (e.kind === 'reconcile' && o.step === undefined) return startVerify(d, undefined, '');
      if (e.kind === 'identity-mismatch' && o.step === 'inventory')
        return [transition('held', e.reason, d.generation), idle({ step: 'inventory', reason: e.reason })];
      if (e.kind === 'identity-ok' && o.step === 'inventory')
        return [
          ...(o.state === 'discovered' ? [transition('verified', 'BMC inventory matches the manifest', d.generation)] : []),
          step('power', 1),
          { kind: 'power-on-pxe' },
        ];
      if (e.kind === 'powered' && o.state === 'reprovisioning' && o.step === 'power')
        return [transition('provisioning', 'one-shot PXE set, power cycled', d.generation), step('netboot', o.attempt)];
      return [];
    case 'verified':
      if (e.kind === 'reconcile' && o.step === undefined) return [step('power', 1), { kind: 'power-on-pxe' }];
      if (e.kind === 'powered' && o.step === 'power')
        return [transition('provisioning', 'one-shot PXE set, power cycled', d.generation), step('netboot', o.attempt)];
      return [];
    case 'provisioning':
      if (e.kind === 'reconcile' && o.step === undefined) return [step('netboot', Math.max(1, o.attempt))];
      if (e.kind === 'powered' && o.step === 'power') return [step('netboot', o.attempt)];
      return [];
    case 'installing':
      // The netboot path served the install script: wait for the installer now.
      if (e.kind === 'reconcile' && (o.step === undefined || o.step === 'netboot')) return [step('install', Math.max(1, o.attempt))];
      if (e.kind === 'powered' && o.step === 'power') return [step('install', o.attempt)];
      return [];
    case 'installed':
      if (e.kind === 'reconcile' && o.step !== 'handover') return [step('handover', 1), { kind: 'probe-handover' }];
      if (e.kind === 'handover-ok' && o.step === 'handover') return [transition('handed-over', 'the Talos API port answers', d.generation), idle()];
      if (e.kind === 'handover-refused' && o.step === 'handover') return [{ kind: 'wait', ms: d.limits.probeIntervalMs }, { kind: 'probe-handover' }];
      return [];
    case 'decommissioning':
    case 'decommissioned':
    case 'rescue':
      // Out of rescue (or a decommission called off): one more PXE boot, where the netboot path picks the disk or the installer.
      if (e.kind === 'reconcile' && o.step === undefined) return [step('power', 1), { kind: 'power-on-pxe' }];
      if (e.kind === 'powered' && o.step === 'power') return [step('netboot', o.attempt)];
      return [];
    case 'handed-over':
    case 'failed':
    case 'held':
      return [];
  }
}
