// Shared set-up for the VM tier and the demo: a rack namespace running the real agent with the
// stand-in installer served as the profile's Talos kernel/initramfs.
import { execFile } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { NodeRecord } from '../../agent/nodes/model.js';
import { repoRoot, startAgentInRack, type AgentInRack } from '../bed/agent.js';
import { createRack, type Rack } from '../bed/netns.js';
import { startVm, type Vm } from '../bed/qemu.js';
import { qmpMachineModule, startRedfishSimChild, type RedfishSimChild } from '../bmcsim/redfish/child.js';
import { VANILLA_SCHEMATIC } from '../fakes/manifest.js';

export const SCHEMATIC = VANILLA_SCHEMATIC;
export const TALOS_VERSION = 'v1.13.9';
export const standinDir = path.join(repoRoot, 'build', 'standin');

/** Builds the stand-in installer if needed (cached by the script itself). */
export async function buildStandin(): Promise<void> {
  await promisify(execFile)('bash', [path.join(repoRoot, 'test', 'standin', 'build.sh'), standinDir], { maxBuffer: 16 * 1024 * 1024 });
}

/** An assets dir in the Image Factory layout whose kernel/initramfs are the stand-in's. */
export async function standinAssets(): Promise<{ dir: string; remove(): Promise<void> }> {
  const dir = await mkdtemp(path.join(tmpdir(), 'maskin-assets-'));
  const versionDir = path.join(dir, SCHEMATIC, TALOS_VERSION);
  await mkdir(versionDir, { recursive: true });
  for (const file of ['kernel-amd64', 'initramfs-amd64.xz']) await copyFile(path.join(standinDir, file), path.join(versionDir, file));
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

export interface ManifestNode {
  id: string;
  mac: string;
  /** Every MAC of the node, in manifest order; default [mac]. */
  macs?: readonly string[];
  bootLocal?: 'exit' | 'sanboot' | 'http-404';
  generation?: number;
  serial?: string;
  bmc?: { driver: 'redfish' | 'ipmi'; address: string; credentialsRef?: string; bootMode?: 'uefi' | 'legacy'; vendor?: string };
  desired?: 'installed' | 'discovery' | 'rescue' | 'decommissioned';
}

export interface ManifestOptions {
  /** Extra kernel arguments of the profile (e.g. diskOsArg). */
  kernelArgs?: readonly string[];
}

/**
 * The stand-in's maskin.diskos argument: the installer then writes a disk OS that boots from the
 * disk and answers on the Talos API port, so the agent can hand the node over (BIOS only).
 */
export function diskOsArg(rack: Rack): string {
  return `maskin.diskos=http://${rack.address}/assets/${SCHEMATIC}/${TALOS_VERSION}`;
}

export function manifestFor(nodes: readonly ManifestNode[], opts: ManifestOptions = {}): string {
  const machineConfig = path.join(repoRoot, 'config', 'examples', 'worker.machineconfig.yaml');
  const node = (n: ManifestNode): string => {
    const fields = [
      `id: ${n.id}`,
      `macs: ${JSON.stringify(n.macs ?? [n.mac])}`,
      'profile: standin',
      `hostname: ${n.id}`,
      `generation: ${n.generation ?? 1}`,
      `bootLocal: ${n.bootLocal ?? 'exit'}`,
    ];
    if (n.serial !== undefined) fields.push(`serial: "${n.serial}"`);
    if (n.bmc !== undefined) fields.push(`bmc: ${JSON.stringify(n.bmc)}`);
    if (n.desired !== undefined) fields.push(`desired: ${n.desired}`);
    return `  - { ${fields.join(', ')} }`;
  };
  return `version: 1
profiles:
  standin:
    talosVersion: ${TALOS_VERSION}
    schematic: ${SCHEMATIC}
    arch: amd64
    install: { disk: /dev/vda }
    machineConfigFile: ${machineConfig}
${opts.kernelArgs?.length ? `    kernelArgs: ${JSON.stringify(opts.kernelArgs)}\n` : ''}nodes:${nodes.length ? `\n${nodes.map(node).join('\n')}` : ' []'}
`;
}

export interface RackWithAgent {
  rack: Rack;
  agent: AgentInRack;
  destroy(): Promise<void>;
}

export interface RackOptions {
  readonly bridge?: string;
  /** Extra keys of the agent config's dhcp section (startAgentInRack's `dhcp`). */
  readonly dhcp?: string;
  /** Runs once the rack exists, before the agent starts (a foreign DHCP server, say); its teardown goes first in destroy(). */
  readonly beforeAgent?: (rack: Rack) => Promise<() => Promise<void>>;
}

export async function rackWithAgent(tag: string, octet: number, nodes: readonly ManifestNode[], opts: RackOptions = {}): Promise<RackWithAgent> {
  await buildStandin();
  const assets = await standinAssets();
  const rack = await createRack(tag, octet, opts.bridge !== undefined ? { bridge: opts.bridge } : {});
  let agent: AgentInRack | undefined;
  let undoBefore: (() => Promise<void>) | undefined;
  const destroy = async (): Promise<void> => {
    await undoBefore?.();
    await agent?.stop();
    await rack.destroy();
    await assets.remove();
  };
  try {
    undoBefore = await opts.beforeAgent?.(rack);
    agent = await startAgentInRack(rack, { manifest: manifestFor(nodes), assetsDir: assets.dir, ...(opts.dhcp !== undefined ? { dhcp: opts.dhcp } : {}) });
  } catch (err) {
    await destroy();
    throw err;
  }
  return { rack, agent, destroy };
}

/**
 * Lifecycle settings for the VM tests of BMC-driven provisioning: no stagger, short backoff and
 * checks, and step timeouts that leave room for a TCG netboot on a busy 2-core machine.
 */
export const VM_LIFECYCLE_CONFIG = `lifecycle:
  concurrency: 2
  staggerSeconds: 0
  maxAttempts: 2
  backoffSeconds: 1
  maxBackoffSeconds: 5
  timeoutSeconds: { bmcCall: 30, netboot: 150, install: 240, handover: 180 }
  probeIntervalSeconds: 2
  reconcileIntervalSeconds: 5
`;

/** A BMC-driven node has stopped moving: handed over, or failed or held. */
export const settled = (n: NodeRecord): boolean => n.state === 'handed-over' || n.state === 'failed' || n.state === 'held';

/** The states a node's timeline moved through, in order. */
export const statesOf = (timeline: NodeRecord['timeline']): string[] => timeline.filter((s) => s.step === 'state-changed').map((s) => String(s.detail['to']));

/** Asserts `expected` occurs in the node's timeline in this order (other steps may sit between). */
export function assertStepsInOrder(t: { ok(value: unknown, message: string): void }, steps: readonly string[], expected: readonly string[]): void {
  let at = -1;
  for (const step of expected) {
    const next = steps.indexOf(step, at + 1);
    t.ok(next > at, `timeline has ${step} after the previous step`);
    if (next > at) at = next;
  }
}

export interface RedfishVmRack {
  readonly rack: Rack;
  readonly vm: Vm;
  readonly sim: RedfishSimChild;
  /** The node's manifest `bmc` entry (credentialsRef rack-bmc, legacy boot, Dell). */
  readonly bmc: NonNullable<ManifestNode['bmc']>;
  /** The agent's environment naming the BMC credentials. */
  readonly env: Readonly<Record<string, string>>;
}

/**
 * A rack with one powered-off SeaBIOS VM (disk only in its boot order, as a server whose firmware
 * lists its disk) behind a Dell-flavoured Redfish simulator that drives it through QMP.
 */
export async function redfishVmRack(
  t: { teardown(fn: () => unknown): void; comment(...args: unknown[]): void },
  o: {
    tag: string;
    octet: number;
    vmName: string;
    mac: string;
    serial: string;
    port: number;
    password: string;
    /** The simulator's quirk: the first boot-override PATCH is acknowledged and forgotten. */
    forgetOverrideOnce?: boolean;
  },
): Promise<RedfishVmRack> {
  const rack = await createRack(o.tag, o.octet);
  t.teardown(() => rack.destroy());
  const vm = await startVm({
    rack,
    name: o.vmName,
    firmware: 'bios',
    mac: o.mac,
    bootOrder: 'c',
    strictBoot: true,
    qmp: true,
    paused: true,
    extraArgs: ['-no-shutdown'],
    log: (line) => t.comment(line),
  });
  t.teardown(() => vm.stop());
  const sim = await startRedfishSimChild(rack, {
    flavour: 'dell',
    host: '127.0.0.1',
    port: o.port,
    username: 'root',
    password: o.password,
    bootMode: 'UEFI',
    inventory: { serial: o.serial, macs: [o.mac] },
    ...(o.forgetOverrideOnce ? { forgetOverrideOnce: true } : {}),
    machineModule: qmpMachineModule,
    machineOptions: { qmpPath: vm.qmpPath },
  });
  t.teardown(() => sim.stop());
  return {
    rack,
    vm,
    sim,
    bmc: { driver: 'redfish', address: sim.url, credentialsRef: 'rack-bmc', bootMode: 'legacy', vendor: 'dell' },
    env: { MASKIN_BMC_RACK_BMC_USERNAME: 'root', MASKIN_BMC_RACK_BMC_PASSWORD: o.password },
  };
}
