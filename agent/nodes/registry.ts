// Observed node records: identity binding by MAC, lifecycle state, per-node boot timeline.
// Records live in memory and are written through to the `nodes` sublevel, one write chain per
// node so a crash leaves each record at some complete earlier version.
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { LeaseView } from '../dhcp/leaseView.js';
import type { NodeDirectory, NodeSpec } from '../manifest/model.js';
import { normalizeMac } from '../manifest/model.js';
import { counter, gauge } from '../runtime/metrics.js';
import type { Sublevel } from '../store/store.js';
import type { ReportBody } from '../uplink/outbox.js';
import { discoveryReport, stateChangeReport, timelineStepReport, type ReportSink } from '../uplink/reports.js';
import { placeStep, proxyIgnoredHint, REFUSAL_STEPS } from './timeline.js';
import type {
  BootObserver,
  FirmwareKind,
  ProvisionProgress,
  ProvisionStep,
  NodeRecord,
  NodeState,
  ReportedFacts,
  StepName,
  StepSubject,
  TimelineStep,
} from './model.js';

export type { ReportBody, ReportSink };

/** Called after every state change, whoever made it (netboot path or lifecycle executor). */
export type TransitionListener = (record: NodeRecord, from: NodeState, to: NodeState) => void;

/** Oldest steps leave first beyond this; the timeline is for operators, reports keep history upstream. */
export const TIMELINE_LIMIT = 500;

/** Records kept for machines the manifest does not know (config `nodes.maxUnknown`). */
export const DEFAULT_MAX_UNKNOWN = 1024;

const WARN_EVERY_MS = 60_000;

export interface NodeRegistryDeps {
  readonly store: Sublevel<NodeRecord>;
  readonly directory: () => NodeDirectory;
  readonly leases: LeaseView;
  readonly now: () => Date;
  readonly log: Logger;
  readonly reports?: ReportSink;
  /** Records of unknown machines kept, least recently active evicted first; default DEFAULT_MAX_UNKNOWN. */
  readonly maxUnknown?: number;
  readonly registry?: Registry;
}

export class NodeRegistry implements BootObserver {
  private readonly records = new Map<string, NodeRecord>();
  /** Ids of unknown machines' records, least recently active first. */
  private readonly unknown = new Map<string, true>();
  private readonly writes = new Map<string, Promise<void>>();
  private readonly listeners: TransitionListener[] = [];
  private readonly wipeListeners: ((record: NodeRecord) => void)[] = [];
  private readonly maxUnknown: number;
  private readonly evicted;
  private readonly refusals;
  private lastEvictionWarn = -Infinity;

  private constructor(private readonly deps: NodeRegistryDeps) {
    this.maxUnknown = Math.max(1, deps.maxUnknown ?? DEFAULT_MAX_UNKNOWN);
    this.evicted = counter(deps.registry, {
      name: 'maskin_nodes_unknown_evicted_total',
      help: 'Records of machines the manifest does not know dropped by the nodes.maxUnknown bound',
    });
    this.refusals = counter(deps.registry, {
      name: 'maskin_node_refusals_total',
      help: 'Refused iPXE script, machine config and installer report requests, by step and reason',
      labelNames: ['step', 'reason'],
    });
    const unknown = this.unknown;
    gauge(deps.registry, {
      name: 'maskin_nodes_unknown',
      help: 'Records kept for machines the manifest does not know',
      collect() {
        this.set(unknown.size);
      },
    });
  }

  static async open(deps: NodeRegistryDeps): Promise<NodeRegistry> {
    const registry = new NodeRegistry(deps);
    const unknown: NodeRecord[] = [];
    for await (const [id, record] of deps.store.iterator()) {
      registry.records.set(id, record);
      if (!record.known) unknown.push(record);
    }
    // Least recently active first, by each record's last step (ISO 8601 text sorts by time).
    const lastAt = (r: NodeRecord): string => r.timeline.at(-1)?.at ?? '';
    unknown.sort((a, b) => lastAt(a).localeCompare(lastAt(b)));
    for (const record of unknown) registry.unknown.set(record.id, true);
    while (registry.unknown.size > registry.maxUnknown) registry.evictOldestUnknown();
    return registry;
  }

  list(): NodeRecord[] {
    return [...this.records.values()].sort((a, b) => a.id.localeCompare(b.id));
  }

  /** How many records there are, without walking them. */
  count(): number {
    return this.records.size;
  }

  get(id: string): NodeRecord | undefined {
    return this.records.get(id);
  }

  /** The record for a MAC if it has one; never creates one. */
  find(mac: string): NodeRecord | undefined {
    return this.records.get(this.idFor(normalizeMac(mac)).id);
  }

  /** The record id a MAC belongs to: the manifest node id, or `mac-<mac>` for unknown machines. */
  idFor(mac: string): { id: string; spec: NodeSpec | undefined } {
    const spec = this.deps.directory().byMac(mac);
    return { id: spec ? spec.id : `mac-${normalizeMac(mac).replace(/:/g, '-')}`, spec };
  }

  /**
   * Finds or creates the record for a MAC. A new record for an unknown machine beyond
   * `maxUnknown` evicts the least recently active one (from memory and the store).
   */
  recordFor(mac: string): NodeRecord {
    const normalized = normalizeMac(mac);
    const { id, spec } = this.idFor(normalized);
    let record = this.records.get(id);
    if (!record) {
      record = { id, known: spec !== undefined, macs: spec ? [...spec.macs] : [normalized], state: 'discovered', generation: 0, facts: {}, timeline: [] };
      if (!record.known) while (this.unknown.size >= this.maxUnknown) this.evictOldestUnknown();
      this.records.set(id, record);
    } else if (!record.macs.includes(normalized)) {
      record.macs.push(normalized);
    }
    this.touch(record);
    return record;
  }

  /**
   * A refusal step (script-refused, config-refused) is counted by step and reason, and noted on
   * an existing record or a manifest node's, coalesced (agent/nodes/timeline.ts); it never makes
   * a record for an unknown machine, so refusals cannot push real ones out of the bound.
   */
  record(subject: StepSubject, step: StepName, detail: Record<string, unknown> = {}): void {
    const refusal = REFUSAL_STEPS.has(step);
    if (refusal) this.refusals.inc({ step, reason: typeof detail.reason === 'string' ? detail.reason : '' });
    const mac = subject.mac ?? (subject.ip !== undefined ? this.deps.leases.macOf(subject.ip) : undefined);
    if (mac === undefined) {
      this.deps.log.debug({ step, ip: subject.ip }, 'step from an address with no lease; not attributed to a node');
      return;
    }
    if (refusal) {
      const record = this.find(mac) ?? (this.idFor(normalizeMac(mac)).spec ? this.recordFor(mac) : undefined);
      if (record && this.append(record, step, this.withMac(record, mac, detail))) this.persist(record);
      return;
    }
    const record = this.recordFor(mac);
    this.append(record, step, this.withMac(record, mac, detail));
    const hint = step === 'dhcp-offer' && detail.proxy === true ? proxyIgnoredHint(record.timeline) : undefined;
    if (hint) {
      this.append(record, 'boot-hint', hint);
      // At debug: any host can send DISCOVERs under made-up MACs; the timeline step is the signal.
      this.deps.log.debug({ node: record.id, mac }, 'a PXE client ignores the proxy offers');
    }
    if ((step === 'dhcp-discover' || step === 'dhcp-ack') && this.noteDhcpFacts(record, detail)) this.reportDiscovery(record);
    this.persist(record);
  }

  /** A node with several MACs: each step names the one it came through (the NIC that booted). */
  private withMac(record: NodeRecord, mac: string, detail: Record<string, unknown>): Record<string, unknown> {
    return record.macs.length > 1 ? { mac: normalizeMac(mac), ...detail } : detail;
  }

  /** What DHCP learnt (firmware kind, client arch, address) is part of the node's facts. */
  /** Returns whether any fact changed. */
  private noteDhcpFacts(record: NodeRecord, detail: Record<string, unknown>): boolean {
    const { firmware, clientArch, ip } = detail;
    const before = JSON.stringify(record.facts);
    if (typeof firmware === 'string') record.facts.firmware = firmware as FirmwareKind;
    if (typeof clientArch === 'number') record.facts.clientArch = clientArch;
    if (typeof ip === 'string' && ip !== '') record.facts.ip = ip;
    return JSON.stringify(record.facts) !== before;
  }

  updateFacts(mac: string, facts: ReportedFacts): void {
    const record = this.recordFor(mac);
    let changed = false;
    for (const [key, value] of Object.entries(facts)) {
      if (value === undefined || value === '' || (record.facts as Record<string, unknown>)[key] === value) continue;
      (record.facts as Record<string, unknown>)[key] = value;
      changed = true;
    }
    if (changed) this.reportDiscovery(record);
    this.persist(record);
  }

  private reportDiscovery(record: NodeRecord): void {
    this.deps.reports?.(discoveryReport(record), { unknownMachine: !record.known });
  }

  onTransition(listener: TransitionListener): void {
    this.listeners.push(listener);
  }

  /**
   * Moves a record to a new state (and generation), with a timeline step and a StateChange
   * report. `failedStep` names the lifecycle step a `failed` node failed at.
   */
  transition(record: NodeRecord, next: NodeState, why: string, generation?: number, failedStep?: ProvisionStep): void {
    const generationChanged = generation !== undefined && generation !== record.generation;
    if (record.state === next && !generationChanged) return;
    const from = record.state;
    record.state = next;
    if (generationChanged) record.generation = generation;
    // A new generation, or reinstalling the same one, starts the netboot evidence afresh.
    if (generationChanged || next === 'reprovisioning') delete record.configFetchedAt;
    if (next === 'installed') record.installedGeneration = record.generation;
    // An install writes the disk again: a later decommission wipes it again.
    if (next === 'installing') delete record.wipedAt;
    const step = next === 'failed' ? (failedStep ?? '') : '';
    this.append(record, 'state-changed', { from, to: next, why, generation: record.generation, ...(step ? { step } : {}) });
    this.deps.reports?.(stateChangeReport({ nodeId: record.id, from, to: next, reason: why, generation: record.generation, step }), {
      unknownMachine: !record.known,
    });
    this.deps.log.info({ node: record.id, from, to: next, why, ...(step ? { step } : {}) }, 'node state changed');
    this.persist(record);
    for (const listener of this.listeners) listener(record, from, next);
  }

  /** Records the lifecycle executor's progress; a new step or attempt is a timeline step. */
  setProvisionProgress(record: NodeRecord, progress: ProvisionProgress): void {
    const before = record.lifecycle;
    record.lifecycle = progress;
    if (before?.step !== progress.step || before?.attempt !== progress.attempt)
      this.append(record, 'lifecycle-step', {
        step: progress.step ?? 'idle',
        attempt: progress.attempt,
        ...(progress.lastError ? { error: progress.lastError } : {}),
      });
    this.persist(record);
  }

  /** A timeline step about a known record (BMC calls, identity checks, operator actions). */
  note(record: NodeRecord, step: StepName, detail: Record<string, unknown>): void {
    this.append(record, step, detail);
    this.persist(record);
  }

  /** An operator's rescue request (agent/nodes/bootPlan.ts effectiveDesired); undefined clears it. */
  setRescueRequest(record: NodeRecord, at: Date | undefined): void {
    if (at) record.rescueRequestedAt = at.toISOString();
    else delete record.rescueRequestedAt;
    this.persist(record);
  }

  /**
   * The node's system disk was wiped (decommission), by the wipe boot's report or its console line
   * (real Talos reports only there): nothing is installed on it any more. A node
   * without a BMC is decommissioned now (nobody can power it off); one with a BMC once the
   * executor has powered it off (it listens on onWiped).
   */
  markWiped(record: NodeRecord, evidence: 'installer report' | 'console'): void {
    if (record.wipedAt !== undefined) return;
    record.wipedAt = this.deps.now().toISOString();
    this.append(record, 'wipe-reported', { evidence });
    delete record.installedGeneration;
    delete record.configFetchedAt;
    this.persist(record);
    const spec = this.deps.directory().byId(record.id);
    if (!spec?.bmc) this.transition(record, 'decommissioned', 'its system disk was wiped');
    for (const listener of this.wipeListeners) listener(record);
  }

  onWiped(listener: (record: NodeRecord) => void): void {
    this.wipeListeners.push(listener);
  }

  markConfigFetched(record: NodeRecord): void {
    record.configFetchedAt = this.deps.now().toISOString();
    this.persist(record);
  }

  /** Resolves once every write issued so far is on disk. */
  async flush(): Promise<void> {
    await Promise.all(this.writes.values());
  }

  /** Places the step (agent/nodes/timeline.ts); returns whether it is notable (reported; worth a write). */
  private append(record: NodeRecord, step: StepName, detail: Record<string, unknown>): boolean {
    const placed = placeStep(record.timeline, step, detail, this.deps.now().toISOString());
    const entry: TimelineStep = placed.entry;
    if (placed.kind === 'update') record.timeline[placed.index] = entry;
    else record.timeline.push(entry);
    // state-changed steps travel as StateChange reports, which are never evicted.
    if (placed.notable && step !== 'state-changed')
      this.deps.reports?.(timelineStepReport(record.id, step, { ...entry.detail }), { unknownMachine: !record.known });
    if (record.timeline.length > TIMELINE_LIMIT) record.timeline.splice(0, record.timeline.length - TIMELINE_LIMIT);
    return placed.notable;
  }

  /** An unknown machine's record moves to the most recently active end of the bound. */
  private touch(record: NodeRecord): void {
    if (record.known) return;
    this.unknown.delete(record.id);
    this.unknown.set(record.id, true);
  }

  private evictOldestUnknown(): void {
    const id = this.unknown.keys().next().value;
    if (id === undefined) return;
    this.unknown.delete(id);
    this.records.delete(id);
    this.chain(id, () => this.deps.store.batch([{ type: 'del', key: id }]));
    this.evicted.inc();
    const now = this.deps.now().getTime();
    if (now - this.lastEvictionWarn >= WARN_EVERY_MS) {
      this.lastEvictionWarn = now;
      this.deps.log.warn(
        { node: id, maxUnknown: this.maxUnknown },
        'more unknown machines than nodes.maxUnknown: the least recently active record was dropped (maskin_nodes_unknown_evicted_total counts them)',
      );
    }
  }

  /** Writes the record, unless it was evicted meanwhile (a late write must not bring it back). */
  private persist(record: NodeRecord): void {
    this.chain(record.id, async () => {
      if (this.records.get(record.id) === record) await this.deps.store.put(record.id, record);
    });
  }

  /** One write chain per record id, so a crash leaves each record at some complete earlier version. */
  private chain(id: string, op: () => Promise<void>): void {
    const previous = this.writes.get(id) ?? Promise.resolve();
    const write = previous.then(op).catch((err: unknown) => this.deps.log.error({ err, node: id }, 'could not persist node record'));
    this.writes.set(id, write);
    void write.then(() => {
      if (this.writes.get(id) === write) this.writes.delete(id);
    });
  }
}
