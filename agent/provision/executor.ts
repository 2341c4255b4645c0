// Runs the lifecycle plan (plan.ts) for every node with a BMC: feeds it one event at a time per
// node, performs the actions it returns through the node's BMC driver, and queues their outcomes
// as the next events. One lane per node (events strictly in order), many nodes at once; power-ons
// across the rack go through one PowerGate. Every state change, step and BMC call lands in the
// node's timeline (and so upstream as reports); credentials never do.
import { setMaxListeners } from 'node:events';
import type { Logger } from 'pino';
import type { BmcDriver, BmcCredentials } from '../bmc/driver.js';
import type { ProvisionSettings } from '../config/model.js';
import { BmcCredentialsError, BmcError } from '../errors.js';
import type { NodeDirectory, NodeSpec } from '../manifest/model.js';
import type { ProvisionStep, NodeRecord } from '../nodes/model.js';
import type { NodeRegistry } from '../nodes/registry.js';
import type { Clock } from '../runtime/clock.js';
import { identityMismatch } from './identity.js';
import { effectiveDesired } from '../nodes/bootPlan.js';
import { plan, refuseManual, refuseRescue, type Action, type DesiredNode, type ProvisionEvent, type ManualAction } from './plan.js';
import { PowerGate } from './powerGate.js';

/** Builds the driver for one node's BMC (agent/bmc/factory.ts); never probes protocols. */
export type DriverFactory = (node: NodeSpec, creds: BmcCredentials) => BmcDriver;

export interface ExecutorDeps {
  readonly directory: () => NodeDirectory;
  readonly nodes: NodeRegistry;
  readonly drivers: DriverFactory;
  /** Throws BmcCredentialsError when the node's credentials are not configured. */
  readonly credentials: (node: NodeSpec) => BmcCredentials;
  /** The node's current address (its DHCP lease), for the hand-over probe. */
  readonly addressOf: (record: NodeRecord) => string | undefined;
  /** Resolves when ip:port accepts a TCP connection; rejects with why not. */
  readonly probe: (ip: string, port: number, timeoutMs: number) => Promise<void>;
  readonly clock: Clock;
  readonly settings: ProvisionSettings;
  readonly log: Logger;
}

/** Why an operator action was refused: no such node in the manifest, a node without a BMC, or a state the action does not apply to. */
export type ManualRefusal = 'unknown-node' | 'no-bmc' | 'wrong-state';

export type ManualResult = { readonly accepted: true } | { readonly accepted: false; readonly refusal: ManualRefusal; readonly reason: string };

interface Lane {
  readonly queue: ProvisionEvent[];
  running?: Promise<void> | undefined;
  /** Cancels the armed step timeout. */
  timer?: AbortController | undefined;
  /** Aborted by an accepted operator action: ends the current plan's waits and skips its rest. */
  interrupt?: AbortController;
}

/** Steps the executor waits on (armed with a timeout); the other steps are BMC calls, bounded per call. */
const AWAITED: Partial<Record<ProvisionStep, keyof ProvisionSettings['timeouts']>> = { netboot: 'netbootMs', install: 'installMs', handover: 'handoverMs' };

export class ProvisionExecutor {
  private readonly lanes = new Map<string, Lane>();
  /** Nodes with a step in flight in this process; after a restart a recorded step is resumed from its state. */
  private readonly live = new Set<string>();
  private readonly drivers = new Map<string, { key: string; driver: BmcDriver }>();
  private readonly gate: PowerGate;
  private readonly stop = new AbortController();

  constructor(private readonly deps: ExecutorDeps) {
    this.gate = new PowerGate(deps.settings.concurrency, deps.settings.staggerMs, deps.clock);
    // One abort listener per node waiting on a call, the gate or a backoff: a rack's worth is normal.
    setMaxListeners(0, this.stop.signal);
    // The netboot path moves nodes to installing / installed; that is news for the lane.
    deps.nodes.onTransition((record, _from, to) => {
      if (to === 'installing' || to === 'installed') this.post(record.id, { kind: 'reconcile' });
    });
    // A decommissioning node reported its disk wiped: power it off.
    deps.nodes.onWiped((record) => this.post(record.id, { kind: 'reconcile' }));
  }

  /** Every node with a BMC gets a look: after a manifest change, at start, and periodically. */
  reconcileAll(): void {
    const directory = this.deps.directory();
    for (const spec of directory.all()) if (spec.bmc) this.post(spec.id, { kind: 'reconcile' });
    for (const [id, entry] of this.drivers) {
      if (!directory.byId(id)?.bmc) {
        this.drivers.delete(id);
        void entry.driver.close().catch(() => {});
      }
    }
  }

  /** An operator's action; refused (which way, and why) where it does not apply. */
  manual(id: string, action: ManualAction): ManualResult {
    const spec = this.deps.directory().byId(id);
    if (!spec) return { accepted: false, refusal: 'unknown-node', reason: `no node ${id} in the manifest` };
    if (action === 'rescue' || action === 'exit-rescue') return this.rescueRequest(spec, action);
    const record = spec.bmc ? this.recordOf(spec) : this.deps.nodes.get(id);
    const refused = refuseManual(record?.state ?? 'discovered', action, spec.bmc !== undefined);
    if (refused || !record) return { accepted: false, refusal: spec.bmc ? 'wrong-state' : 'no-bmc', reason: refused ?? 'the node has no BMC' };
    this.deps.nodes.note(record, 'operator-action', { action });
    // A lane sleeping through a retry backoff (or queued at the power gate) would otherwise act
    // only after it, and power-cycle the machine the operator is turning off first.
    this.lanes.get(id)?.interrupt?.abort();
    this.post(id, { kind: 'manual', action });
    return { accepted: true };
  }

  /**
   * Rescue and exit-rescue change what the node is to be (the record's rescue request, which the
   * netboot path reads too); a node with a BMC is then driven there at once, one without on its
   * next PXE boot.
   */
  private rescueRequest(spec: NodeSpec, action: 'rescue' | 'exit-rescue'): ManualResult {
    const record = this.recordOf(spec);
    const refused = refuseRescue(record.state, spec.desired, record.rescueRequestedAt !== undefined, action);
    if (refused) return { accepted: false, refusal: 'wrong-state', reason: refused };
    this.deps.nodes.note(record, 'operator-action', { action });
    this.deps.nodes.setRescueRequest(record, action === 'rescue' ? new Date(this.deps.clock.now()) : undefined);
    if (spec.bmc) {
      // What the lane was doing (a retry backoff, a queued power-on) is for the old intent.
      this.lanes.get(spec.id)?.interrupt?.abort();
      this.post(spec.id, { kind: 'reconcile' });
    }
    return { accepted: true };
  }

  /** Most BMC power sequences that were ever in flight at once. */
  peakPowerOns(): number {
    return this.gate.peak();
  }

  /** Resolves once no lane has work queued or running (tests, benchmark). */
  async settled(): Promise<void> {
    for (;;) {
      const running = [...this.lanes.values()].map((l) => l.running).filter((r): r is Promise<void> => r !== undefined);
      if (running.length === 0) return;
      await Promise.all(running);
    }
  }

  /** Stops: pending waits end, no new action starts; closes every driver. */
  async close(): Promise<void> {
    this.stop.abort();
    for (const lane of this.lanes.values()) lane.timer?.abort();
    await this.settled();
    await Promise.all([...this.drivers.values()].map((d) => d.driver.close().catch(() => {})));
    this.drivers.clear();
  }

  private post(id: string, event: ProvisionEvent): void {
    if (this.stop.signal.aborted) return;
    let lane = this.lanes.get(id);
    if (!lane) {
      lane = { queue: [] };
      this.lanes.set(id, lane);
    }
    lane.queue.push(event);
    if (!lane.running) lane.running = this.drain(id, lane);
  }

  private async drain(id: string, lane: Lane): Promise<void> {
    while (lane.queue.length > 0 && !this.stop.signal.aborted) {
      const event = lane.queue.shift()!;
      try {
        await this.handle(id, lane, event);
      } catch (err) {
        this.deps.log.error({ err, node: id, event: event.kind }, 'lifecycle step failed unexpectedly');
      }
    }
    lane.queue.length = 0;
    lane.running = undefined;
  }

  private recordOf(spec: NodeSpec): NodeRecord {
    return this.deps.nodes.get(spec.id) ?? this.deps.nodes.recordFor(spec.macs[0]!);
  }

  private desiredOf(spec: NodeSpec, record: NodeRecord): DesiredNode {
    const s = this.deps.settings;
    return {
      desired: effectiveDesired(spec, record),
      generation: spec.generation,
      hasBmc: spec.bmc !== undefined,
      limits: { maxAttempts: s.maxAttempts, backoffMs: s.backoffMs, maxBackoffMs: s.maxBackoffMs, probeIntervalMs: s.probeIntervalMs },
    };
  }

  private async handle(id: string, lane: Lane, event: ProvisionEvent): Promise<void> {
    const spec = this.deps.directory().byId(id);
    // Nodes without a BMC belong to the netboot path alone; never create records for them here.
    if (!spec?.bmc) return;
    const record = this.recordOf(spec);
    const step = this.live.has(id) ? record.lifecycle?.step : undefined;
    const actions = plan(this.desiredOf(spec, record), {
      state: record.state,
      wiped: record.wipedAt !== undefined,
      generation: record.generation,
      ...(step ? { step } : {}),
      attempt: record.lifecycle?.attempt ?? 0,
      event,
    });
    const interrupt = new AbortController();
    lane.interrupt = interrupt;
    const halted = AbortSignal.any([this.stop.signal, interrupt.signal]);
    for (const action of actions) {
      if (halted.aborted) return;
      const outcome = await this.perform(spec, record, lane, action, halted);
      if (outcome) lane.queue.push(outcome);
    }
  }

  /** `halted`: the agent stops or an operator action came in; waits end early. */
  private async perform(spec: NodeSpec, record: NodeRecord, lane: Lane, action: Action, halted: AbortSignal): Promise<ProvisionEvent | undefined> {
    const { nodes, clock } = this.deps;
    switch (action.kind) {
      case 'transition':
        nodes.transition(record, action.to, action.why, action.generation, action.failedStep);
        return undefined;
      case 'step':
        this.setStep(record, lane, action);
        return undefined;
      case 'wait':
        await clock.sleep(action.ms, halted);
        return undefined;
      case 'read-inventory':
        return this.readInventory(spec, record);
      case 'power-on-pxe':
        return this.powerOnPxe(spec, record, halted);
      case 'power-off':
        await this.bmcCall(spec, record, 'power-off', (d) => d.powerOff()).catch((err: unknown) => this.noteError(record, err));
        return undefined;
      case 'probe-handover':
        return this.probeHandover(record);
    }
  }

  private setStep(record: NodeRecord, lane: Lane, action: Extract<Action, { kind: 'step' }>): void {
    lane.timer?.abort();
    lane.timer = undefined;
    const lastError = action.error ?? action.failure?.reason ?? record.lifecycle?.lastError;
    this.deps.nodes.setProvisionProgress(record, {
      ...(action.step ? { step: action.step } : {}),
      since: new Date(this.deps.clock.now()).toISOString(),
      attempt: action.attempt,
      ...(lastError !== undefined ? { lastError } : {}),
      ...(action.failure ? { failure: action.failure } : {}),
    });
    if (!action.step) {
      this.live.delete(record.id);
      return;
    }
    this.live.add(record.id);
    const timeout = AWAITED[action.step];
    if (timeout === undefined) return;
    const timer = new AbortController();
    lane.timer = timer;
    const event: ProvisionEvent = { kind: 'timeout', step: action.step, attempt: action.attempt };
    void this.deps.clock.sleep(this.deps.settings.timeouts[timeout], timer.signal).then(() => {
      if (!timer.signal.aborted) this.post(record.id, event);
    });
  }

  private async readInventory(spec: NodeSpec, record: NodeRecord): Promise<ProvisionEvent> {
    try {
      const inventory = await this.bmcCall(spec, record, 'inventory', (d) => d.inventory());
      const mismatch = identityMismatch(spec, inventory);
      this.deps.nodes.note(record, 'identity-check', {
        ok: mismatch === undefined,
        ...(mismatch ? { reason: mismatch } : {}),
        serial: inventory.serial,
        macs: inventory.nics.map((n) => n.mac).join(','),
        model: inventory.model,
      });
      return mismatch ? { kind: 'identity-mismatch', reason: mismatch } : { kind: 'identity-ok' };
    } catch (err) {
      return this.bmcFailure('inventory', record, err);
    }
  }

  private async powerOnPxe(spec: NodeSpec, record: NodeRecord, halted: AbortSignal): Promise<ProvisionEvent | undefined> {
    const release = await this.gate.acquire(halted);
    if (!release) return undefined;
    try {
      // Set (and read back) the one-shot boot immediately before every power cycle: BMCs forget
      // overrides across resets, and some drop them silently.
      await this.bmcCall(spec, record, 'set-one-shot-pxe', (d) => d.setOneShotPxe(spec.bmc!.bootMode));
      await this.bmcCall(spec, record, 'power-cycle', (d) => d.powerCycle());
      return { kind: 'powered' };
    } catch (err) {
      return this.bmcFailure('power', record, err);
    } finally {
      release();
    }
  }

  private async probeHandover(record: NodeRecord): Promise<ProvisionEvent> {
    const ip = this.deps.addressOf(record);
    const port = this.deps.settings.handoverPort;
    if (ip === undefined) return { kind: 'handover-refused', reason: 'the node holds no DHCP lease' };
    try {
      await this.deps.probe(ip, port, Math.min(this.deps.settings.timeouts.bmcCallMs, 5_000));
      this.deps.nodes.note(record, 'lifecycle-step', { step: 'handover', probe: `${ip}:${port}`, ok: true });
      return { kind: 'handover-ok' };
    } catch (err) {
      return { kind: 'handover-refused', reason: (err as Error).message };
    }
  }

  private bmcFailure(step: ProvisionStep, record: NodeRecord, err: unknown): ProvisionEvent {
    const message = this.noteError(record, err);
    // Wrong credentials or a BMC that cannot do it are not fixed by asking again.
    const retryable = !(err instanceof BmcCredentialsError) && !(err instanceof BmcError && (err.reason === 'auth' || err.reason === 'unsupported'));
    return { kind: 'bmc-error', step, retryable, message };
  }

  private noteError(record: NodeRecord, err: unknown): string {
    const message = err instanceof Error ? err.message : String(err);
    if (record.lifecycle) this.deps.nodes.setProvisionProgress(record, { ...record.lifecycle, lastError: message });
    return message;
  }

  /** One BMC call, bounded in time, recorded in the timeline (operation, outcome, duration). */
  private async bmcCall<T>(spec: NodeSpec, record: NodeRecord, operation: string, call: (driver: BmcDriver) => Promise<T>): Promise<T> {
    const { clock, settings } = this.deps;
    const started = clock.now();
    const done = new AbortController();
    try {
      const driver = this.driverFor(spec);
      // Bounded by the call timeout, and by the agent stopping: shutdown never waits out a slow BMC.
      const bound = new Promise<never>((_resolve, reject) => {
        const address = spec.bmc!.address;
        void clock.sleep(settings.timeouts.bmcCallMs, done.signal).then(() => {
          if (!done.signal.aborted) reject(new BmcError('timeout', address, operation, `no answer within ${settings.timeouts.bmcCallMs} ms`));
        });
        const onStop = (): void => reject(new BmcError('timeout', address, operation, 'abandoned: the agent is stopping'));
        if (this.stop.signal.aborted) onStop();
        this.stop.signal.addEventListener('abort', onStop, { once: true });
        done.signal.addEventListener('abort', () => this.stop.signal.removeEventListener('abort', onStop), { once: true });
      });
      const result = await Promise.race([call(driver), bound]);
      this.deps.nodes.note(record, 'bmc-call', { operation, ok: true, ms: clock.now() - started });
      return result;
    } catch (err) {
      this.deps.nodes.note(record, 'bmc-call', {
        operation,
        ok: false,
        ms: clock.now() - started,
        code: (err as { code?: string }).code,
        error: (err as Error).message,
      });
      throw err;
    } finally {
      done.abort();
    }
  }

  private driverFor(spec: NodeSpec): BmcDriver {
    const bmc = spec.bmc!;
    const key = JSON.stringify(bmc);
    const cached = this.drivers.get(spec.id);
    if (cached?.key === key) return cached.driver;
    if (cached) void cached.driver.close().catch(() => {});
    const driver = this.deps.drivers(spec, this.deps.credentials(spec));
    this.drivers.set(spec.id, { key, driver });
    return driver;
  }
}
