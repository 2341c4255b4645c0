// A rack for the executor tests: manifest, node registry on an in-memory store, fake BMCs on a
// fake clock, and a stand-in for the netboot path that moves nodes exactly as the HTTP routes do
// (decideBoot on the script request, installer report → installed).
import pino from 'pino';
import { Writable } from 'node:stream';
import { directoryOf, type Manifest, type NodeSpec, type NodeDirectory } from '../../agent/manifest/model.js';
import type { NodeRecord } from '../../agent/nodes/model.js';
import { NodeRegistry, type ReportBody } from '../../agent/nodes/registry.js';
import { decideBoot } from '../../agent/nodes/bootPlan.js';
import { memorySublevel } from '../fakes/sublevel.js';
import type { AgentConfig, ProvisionSettings } from '../../agent/config/model.js';
import type { FastifyInstance } from 'fastify';
import { Registry } from 'prom-client';
import { emptyLeaseView } from '../../agent/dhcp/leaseView.js';
import { buildAdminApp } from '../../agent/http/app.js';
import type { HttpDeps } from '../../agent/http/deps.js';
import type { BootTokens } from '../../agent/nodes/tokens.js';
import { ProvisionExecutor } from '../../agent/provision/executor.js';
import { profileFixture } from '../fakes/manifest.js';
import { fakeRack, type FakeRack } from '../fakes/bmcDriver.js';
import { FakeClock } from './fakeClock.js';

export const SETTINGS: ProvisionSettings = {
  concurrency: 4,
  staggerMs: 100,
  maxAttempts: 3,
  backoffMs: 1_000,
  maxBackoffMs: 10_000,
  timeouts: { bmcCallMs: 5_000, netbootMs: 60_000, installMs: 120_000, handoverMs: 60_000 },
  probeIntervalMs: 2_000,
  handoverPort: 50000,
  reconcileIntervalMs: 30_000,
};

/** The same node with no BMC: the executor leaves it alone. */
export function withoutBmc(spec: NodeSpec): NodeSpec {
  const { bmc: _bmc, ...rest } = spec;
  return rest;
}

export function bmcNode(i: number, over: Partial<NodeSpec> = {}): NodeSpec {
  const hex = i.toString(16).padStart(4, '0');
  return {
    id: `n${i}`,
    macs: [`52:54:00:00:${hex.slice(0, 2)}:${hex.slice(2)}`],
    serial: `SN-n${i}`,
    profile: 'workers',
    patches: [],
    desired: 'installed',
    generation: 1,
    bootLocal: 'exit',
    bmc: { driver: 'redfish', address: `https://198.18.80.${i % 250}`, credentialsRef: 'rack', bootMode: 'uefi', vendor: 'auto' },
    ...over,
  };
}

export interface NetbootBehaviour {
  /** ms from power-on to the install script request; undefined: the machine never netboots. */
  scriptAfterMs?: number;
  /** ms from the script to the installer's report; undefined: the installer never reports. */
  installMs?: number;
  /** The Talos API answers once installed. */
  handsOver: boolean;
}

export interface Harness {
  readonly clock: FakeClock;
  readonly rack: FakeRack;
  readonly nodes: NodeRegistry;
  readonly executor: ProvisionExecutor;
  /** Closes the executor and starts a new one on the same registry and BMCs (an agent restart). */
  restart(): Promise<void>;
  readonly reports: ReportBody[];
  readonly logs: string[];
  readonly behaviour: Map<string, NetbootBehaviour>;
  setManifest(nodes: NodeSpec[]): void;
  /** The manifest in force (setManifest replaces it). */
  directory(): NodeDirectory;
  record(id: string): NodeRecord;
  /** `from→to` of every state change of a node, in order. */
  states(id: string): string[];
}

export async function harness(
  specs: NodeSpec[],
  opts: {
    settings?: Partial<ProvisionSettings>;
    latency?: { min: number; max: number };
    credentials?: (node: NodeSpec) => { username: string; password: string };
  } = {},
): Promise<Harness> {
  const clock = new FakeClock();
  const rack = fakeRack(clock, opts.latency ? { latency: opts.latency } : {});
  let directory: NodeDirectory;
  const setManifest = (list: NodeSpec[]): void => {
    const manifest: Manifest = { version: 1, images: [], settings: {}, profiles: new Map([['workers', profileFixture()]]), nodes: list };
    directory = directoryOf(manifest);
  };
  setManifest(specs);
  const reports: ReportBody[] = [];
  const logs: string[] = [];
  const log = pino(
    { level: 'debug' },
    new Writable({
      write(chunk, _enc, done) {
        logs.push(String(chunk));
        done();
      },
    }),
  );
  const addresses = new Map<string, string>();
  const nodes = await NodeRegistry.open({
    store: memorySublevel<NodeRecord>().sublevel,
    directory: () => directory,
    leases: { ipOf: (mac) => addresses.get(mac), macOf: () => undefined },
    now: () => new Date(clock.now()),
    log,
    reports: (body) => reports.push(body),
  });
  const behaviour = new Map<string, NetbootBehaviour>();
  const listening = new Set<string>();
  const makeExecutor = (): ProvisionExecutor =>
    new ProvisionExecutor({
      directory: () => directory,
      nodes,
      drivers: (node, creds) => {
        const driver = rack.factory(node, creds);
        const server = rack.server(node.id);
        server.onBoot = (via) => void netboot(node.id, via);
        return driver;
      },
      credentials: opts.credentials ?? (() => ({ username: 'admin', password: 'pw' })),
      addressOf: (record) => addresses.get(record.macs[0]!),
      probe: async (ip, port) => {
        if (!listening.has(ip) || port !== 50000) throw new Error(`${ip}:${port}: ECONNREFUSED`);
      },
      clock,
      settings: { ...SETTINGS, ...opts.settings },
      log,
    });
  let executor = makeExecutor();
  const never = new AbortController().signal;
  // The netboot path as agent/http/ipxe.ts and events.ts drive it.
  async function netboot(id: string, via: 'pxe' | 'disk'): Promise<void> {
    const spec = directory.byId(id)!;
    const b = behaviour.get(id) ?? { scriptAfterMs: 1_000, installMs: 5_000, handsOver: true };
    const mac = spec.macs[0]!;
    const ip = `198.18.81.${Number(id.slice(1)) % 250}`;
    listening.delete(ip);
    if (via === 'disk') return;
    if (b.scriptAfterMs === undefined) return;
    await clock.sleep(b.scriptAfterMs, never);
    addresses.set(mac, ip);
    const record = nodes.recordFor(mac);
    const decision = decideBoot(spec, record);
    nodes.transition(record, decision.next, decision.why, decision.kind === 'install' ? spec.generation : undefined);
    if (decision.kind !== 'install' || b.installMs === undefined) return;
    nodes.record({ mac }, 'script-served', { kind: 'install' });
    await clock.sleep(b.installMs, never);
    nodes.transition(record, 'installed', 'installer reported success');
    if (b.handsOver) listening.add(ip);
  }
  return {
    clock,
    rack,
    nodes,
    reports,
    logs,
    behaviour,
    setManifest,
    directory: () => directory,
    get executor() {
      return executor;
    },
    async restart() {
      await executor.close();
      executor = makeExecutor();
    },
    record: (id) => nodes.get(id)!,
    states: (id) => (nodes.get(id)?.timeline ?? []).filter((s) => s.step === 'state-changed').map((s) => `${String(s.detail.from)}→${String(s.detail.to)}`),
  };
}

/** The admin listener's app over a harness: its nodes, manifest and executor, silent, on its own registry. */
export function harnessApp(h: Harness, config: AgentConfig, extra: Partial<HttpDeps> = {}): Promise<FastifyInstance> {
  return buildAdminApp({
    config,
    directory: () => h.directory(),
    nodes: h.nodes,
    tokens: {} as BootTokens,
    leases: emptyLeaseView,
    log: pino({ level: 'silent' }),
    metrics: new Registry(),
    startedAt: new Date(),
    provisioner: h.executor,
    ...extra,
  });
}
