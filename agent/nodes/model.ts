// Observed state of machines on the provisioning network: identity facts, lifecycle state and a
// per-node boot timeline. The DHCP/TFTP/HTTP edges report steps through BootObserver.

/**
 * discovered → verified → provisioning → installing → installed → handed-over, plus failed, held
 * and reprovisioning (agent/provision/plan.ts). Nodes without a BMC only ever move
 * discovered → installing → installed, by their own netboot events. `rescue`: booted (or being
 * booted) diskless into Talos maintenance mode, from any state, by the manifest or an operator.
 */
export type NodeState =
  | 'discovered'
  | 'verified'
  | 'provisioning'
  | 'installing'
  | 'installed'
  | 'handed-over'
  | 'failed'
  | 'held'
  | 'reprovisioning'
  | 'rescue'
  /** Desired decommissioned: booting the wipe, or wiped and waiting for the power-off. */
  | 'decommissioning'
  /** Wiped (and powered off, with a BMC): retired; a PXE boot gets neither an install nor a config. */
  | 'decommissioned';

/** What the lifecycle executor is doing or waiting for on a node. */
export type ProvisionStep = 'inventory' | 'power' | 'netboot' | 'install' | 'handover';

/** The executor's progress on a node, for operators (and to resume after a restart). */
export interface ProvisionProgress {
  /** Absent: idle (nothing in flight, nothing awaited). */
  step?: ProvisionStep;
  /** ISO 8601: when the current step began. */
  since: string;
  /** Attempt number of the current step (1 = first try). */
  attempt: number;
  lastError?: string;
  /** Why the node is failed or held (with the step, for failed). */
  failure?: { step?: ProvisionStep; reason: string };
}

/** Firmware kinds, classified from DHCP options 93/60/77/175 (RFC 4578, PXE spec, UEFI HTTP Boot, iPXE). */
export type FirmwareKind = 'bios' | 'uefi' | 'uefi-http' | 'ipxe';

export type StepName =
  | 'dhcp-discover'
  | 'dhcp-offer'
  | 'dhcp-ack'
  | 'dhcp-nak'
  | 'dhcp-decline'
  | 'dhcp-release'
  | 'tftp-transfer'
  | 'tftp-failed'
  | 'script-served'
  | 'script-refused'
  | 'asset-download'
  | 'config-served'
  | 'config-refused'
  | 'installer-event'
  | 'install-reported'
  | 'install-failed'
  | 'wipe-reported'
  | 'boot-local-served'
  | 'state-changed'
  | 'lifecycle-step'
  | 'bmc-call'
  | 'identity-check'
  | 'operator-action'
  | 'boot-hint'
  /** A line of the node's own console (agent/console) that marks a boot step. */
  | 'console-milestone';

export interface TimelineStep {
  /** ISO 8601 */
  readonly at: string;
  readonly step: StepName;
  readonly detail: Readonly<Record<string, unknown>>;
}

/** SMBIOS facts iPXE reports, plus what DHCP saw. */
export interface NodeFacts {
  uuid?: string;
  serial?: string;
  manufacturer?: string;
  product?: string;
  buildarch?: string;
  platform?: string;
  clientArch?: number;
  firmware?: FirmwareKind;
  ip?: string;
  /** The MAC whose iPXE script request last counted: the NIC that netbooted. */
  bootMac?: string;
}

/** Facts as a request reports them: a field it did not carry is undefined and leaves the recorded fact alone. */
export type ReportedFacts = { readonly [K in keyof NodeFacts]?: NodeFacts[K] | undefined };

export interface NodeRecord {
  /** Manifest node id, or `mac-<mac with dashes>` for a machine the manifest does not know. */
  readonly id: string;
  readonly known: boolean;
  readonly macs: string[];
  state: NodeState;
  /** Generation of the desired state this record's state refers to. */
  generation: number;
  facts: NodeFacts;
  /** Set when the node fetched its machine config during the current generation. */
  configFetchedAt?: string;
  /** The generation this node was last installed at (wipe policy `on-reprovision`). */
  installedGeneration?: number;
  /** Set once the lifecycle executor has acted on the node (nodes with a BMC). */
  lifecycle?: ProvisionProgress;
  /** An operator asked for rescue (`maskin-agent node ID rescue`) at this time; cleared by exit-rescue. */
  rescueRequestedAt?: string;
  /** When the node reported its system disk wiped (decommission); the disk then holds no install. */
  wipedAt?: string;
  timeline: TimelineStep[];
}

/** Who a step is about: DHCP knows the MAC, TFTP only the client IP. */
export interface StepSubject {
  readonly mac?: string | undefined;
  readonly ip?: string | undefined;
}

export interface BootObserver {
  /** Fire and forget: never throws, never blocks the caller's protocol path. */
  record(subject: StepSubject, step: StepName, detail?: Record<string, unknown>): void;
}

export const nullObserver: BootObserver = { record: () => {} };
