// Provisioner benchmark: a 200-node rack of simulated BMCs (every call 50–300 ms, real
// timers) driven through the real plan + executor + node registry, from discovered to handed-over:
// inventory, identity check, one-shot PXE, power cycle under the power gate (4 at once, 50 ms
// stagger), a simulated netboot (script after 0.5 s, installer report after 1 s) and the hand-over
// probe. Reports the CPU the agent side spends per node and in total, the wall time the
// concurrency limit gives, the most power sequences ever in flight, peak RSS, and the pure plan()
// rate. Targets: every node handed over, never more than 4 power-ons at once, < 5 ms CPU per node,
// peak RSS < 200 MB.
//   node dist/bench/lifecycle.js
import { setMaxListeners } from 'node:events';
import { readFileSync } from 'node:fs';
import pino from 'pino';
import type { ProvisionSettings } from '../agent/config/model.js';
import { directoryOf, type Manifest, type NodeSpec } from '../agent/manifest/model.js';
import { decideBoot } from '../agent/nodes/bootPlan.js';
import type { NodeRecord } from '../agent/nodes/model.js';
import { NodeRegistry } from '../agent/nodes/registry.js';
import { systemClock } from '../agent/runtime/clock.js';
import { ProvisionExecutor } from '../agent/provision/executor.js';
import { plan } from '../agent/provision/plan.js';
import { memorySublevel } from '../test/fakes/sublevel.js';
import { fakeRack } from '../test/fakes/bmcDriver.js';
import { profileFixture } from '../test/fakes/manifest.js';

const NODES = 200;
const LATENCY = { min: 50, max: 300 };
const SETTINGS: ProvisionSettings = {
  concurrency: 4,
  staggerMs: 50,
  maxAttempts: 3,
  backoffMs: 1_000,
  maxBackoffMs: 10_000,
  timeouts: { bmcCallMs: 5_000, netbootMs: 60_000, installMs: 60_000, handoverMs: 60_000 },
  probeIntervalMs: 250,
  handoverPort: 50000,
  reconcileIntervalMs: 30_000,
};
const TARGET = { cpuMsPerNode: 5, rssMb: 200 };

const peakRssMb = (): number => Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? 0) / 1024;

function nodeSpec(i: number): NodeSpec {
  const hex = i.toString(16).padStart(4, '0');
  return {
    id: `n${i}`,
    macs: [`52:54:00:01:${hex.slice(0, 2)}:${hex.slice(2)}`],
    serial: `SN-${i}`,
    profile: 'workers',
    patches: [],
    desired: 'installed',
    generation: 1,
    bootLocal: 'exit',
    bmc: { driver: 'redfish', address: `https://198.18.84.${i % 250}`, credentialsRef: 'rack', bootMode: 'uefi', vendor: 'auto' },
  };
}

function planRate(): number {
  const d = {
    desired: 'installed' as const,
    generation: 1,
    hasBmc: true,
    limits: { maxAttempts: 3, backoffMs: 1000, maxBackoffMs: 10000, probeIntervalMs: 250 },
  };
  const observed = [
    { state: 'discovered' as const, generation: 0, attempt: 0, event: { kind: 'reconcile' as const } },
    { state: 'verified' as const, generation: 1, step: 'power' as const, attempt: 1, event: { kind: 'powered' as const } },
    {
      state: 'provisioning' as const,
      generation: 1,
      step: 'netboot' as const,
      attempt: 2,
      event: { kind: 'timeout' as const, step: 'netboot' as const, attempt: 2 },
    },
  ];
  const n = 300_000;
  const started = process.hrtime.bigint();
  let sink = 0;
  for (let i = 0; i < n; i++) sink += plan(d, observed[i % 3]!).length;
  const s = Number(process.hrtime.bigint() - started) / 1e9;
  if (sink === 0) throw new Error('plan returned nothing');
  return n / s;
}

async function main(): Promise<void> {
  const specs = Array.from({ length: NODES }, (_, i) => nodeSpec(i + 1));
  const manifest: Manifest = { version: 1, images: [], settings: {}, profiles: new Map([['workers', profileFixture()]]), nodes: specs };
  const directory = directoryOf(manifest);
  const log = pino({ level: 'silent' });
  const addresses = new Map<string, string>();
  const nodes = await NodeRegistry.open({
    store: memorySublevel<NodeRecord>().sublevel,
    directory: () => directory,
    leases: { ipOf: (mac) => addresses.get(mac), macOf: () => undefined },
    now: () => new Date(),
    log,
    reports: () => {},
  });
  const rack = fakeRack(systemClock, { latency: LATENCY });
  const listening = new Set<string>();
  const never = new AbortController().signal;
  setMaxListeners(0, never);
  let handedOver = 0;
  let allDone: () => void = () => {};
  const finished = new Promise<void>((resolve) => (allDone = resolve));
  nodes.onTransition((_record, _from, to) => {
    if (to === 'handed-over' && ++handedOver === NODES) allDone();
  });
  // The netboot path as the HTTP routes drive it; its own cost is part of what is measured.
  const netboot = async (spec: NodeSpec): Promise<void> => {
    const mac = spec.macs[0]!;
    const ip = `10.0.${Math.floor(Number(spec.id.slice(1)) / 250)}.${Number(spec.id.slice(1)) % 250}`;
    await systemClock.sleep(500, never);
    addresses.set(mac, ip);
    const record = nodes.recordFor(mac);
    const decision = decideBoot(spec, record);
    nodes.transition(record, decision.next, decision.why, decision.kind === 'install' ? spec.generation : undefined);
    await systemClock.sleep(1_000, never);
    nodes.transition(record, 'installed', 'installer reported success');
    listening.add(ip);
  };
  const executor = new ProvisionExecutor({
    directory: () => directory,
    nodes,
    drivers: (node, creds) => {
      const driver = rack.factory(node, creds);
      rack.server(node.id).onBoot = (via) => {
        if (via === 'pxe') void netboot(node);
      };
      return driver;
    },
    credentials: () => ({ username: 'admin', password: 'pw' }),
    addressOf: (record) => addresses.get(record.macs[0]!),
    probe: async (ip) => {
      if (!listening.has(ip)) throw new Error('ECONNREFUSED');
    },
    clock: systemClock,
    settings: SETTINGS,
    log,
  });

  let sampledPeak = process.memoryUsage().rss;
  const sampler = setInterval(() => (sampledPeak = Math.max(sampledPeak, process.memoryUsage().rss)), 50);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  executor.reconcileAll();
  await finished;
  const wallS = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  clearInterval(sampler);
  await executor.close();
  const cpuMs = (cpu.user + cpu.system) / 1000;
  const rate = planRate();
  const peak = Math.max(peakRssMb(), sampledPeak / 1024 / 1024);
  const failed = nodes.list().filter((r) => r.state !== 'handed-over').length;
  const pass = failed === 0 && rack.peakInFlight <= SETTINGS.concurrency && cpuMs / NODES < TARGET.cpuMsPerNode && peak < TARGET.rssMb;
  const calls = [...rack.servers.values()].reduce((n, s) => n + s.calls.length, 0);
  process.stdout.write(
    `${NODES} nodes, BMC calls ${LATENCY.min}-${LATENCY.max} ms (${calls} calls), concurrency ${SETTINGS.concurrency}, stagger ${SETTINGS.staggerMs} ms\n` +
      `handed over: ${NODES - failed}/${NODES}; most power sequences in flight at once: ${rack.peakInFlight} (limit ${SETTINGS.concurrency})\n` +
      `wall time: ${wallS.toFixed(1)} s (power phase bounded by ${NODES} × mean one-shot+cycle ${(2 * (LATENCY.min + LATENCY.max)) / 2} ms / ${SETTINGS.concurrency} = ${((NODES * (LATENCY.min + LATENCY.max)) / SETTINGS.concurrency / 1000).toFixed(1)} s)\n` +
      `agent CPU (plan + executor + registry + simulated netboot path): ${cpuMs.toFixed(0)} ms total, ${(cpuMs / NODES).toFixed(2)} ms per node (target < ${TARGET.cpuMsPerNode})\n` +
      `pure plan(): ${(rate / 1e6).toFixed(2)} M decisions/s (${(1e6 / rate).toFixed(2)} µs each)\n` +
      `peak RSS: ${peak.toFixed(0)} MB (target < ${TARGET.rssMb})\n` +
      `${pass ? 'PASS' : 'FAIL'}\n`,
  );
  process.exitCode = pass ? 0 : 1;
}

await main();
