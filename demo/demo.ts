// The demo: the agent, run exactly as an operator would (`maskin-agent run --config
// config/examples/agent.yaml`), serving a rack that is a network namespace; one VM from the
// example manifest netboots through it, installs the stand-in Talos installer and comes back
// from its own disk. Progress is the node's timeline, read from the admin API as it grows.
// With --bmc nobody powers the VM: it sits powered off behind a Redfish BMC simulator and the
// agent provisions it through the BMC until it hands the node over.
import type { ChildProcess } from 'node:child_process';
import { copyFile, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { parse, stringify } from 'yaml';
import { cliPath, repoRoot } from '../test/bed/agent.js';
import { createRack, stopChild, type Rack } from '../test/bed/netns.js';
import { startVm, type Vm } from '../test/bed/qemu.js';
import { qmpMachineModule, startRedfishSimChild, type RedfishSimChild } from '../test/bmcsim/redfish/child.js';
import type { NodeRecord } from '../agent/nodes/model.js';
import { SCHEMATIC, TALOS_VERSION, diskOsArg, standinDir } from '../test/e2e/scenario.js';

const { values } = parseArgs({ options: { uefi: { type: 'boolean' }, bmc: { type: 'boolean' } } });
if (values.bmc && values.uefi) {
  process.stderr.write('demo: --bmc is BIOS only (the stand-in disk OS that answers the hand-over probe boots under SeaBIOS); drop --uefi\n');
  process.exit(2);
}
const bmcMode = values.bmc === true;
const firmware = values.uefi ? 'uefi' : 'bios';
// Nodes of config/examples/manifest.yaml.
const node = values.uefi ? { id: 'rack1-n02', mac: '52:54:00:6d:00:02' } : { id: 'rack1-n01', mac: '52:54:00:6d:00:01' };
const exampleDir = path.join(repoRoot, 'config', 'examples');
const demoDir = path.join(repoRoot, 'build', 'demo');
const configFile = bmcMode ? path.join(demoDir, 'agent.yaml') : path.join(exampleDir, 'agent.yaml');
// The simulated BMC: a Dell iDRAC on loopback inside the rack namespace, where the agent runs too.
const BMC = { port: 8623, credentialsRef: 'rack1-bmc', username: 'root', password: 'calvin-demo' };
const started = Date.now();
const say = (text: string): void => void process.stdout.write(`${((Date.now() - started) / 1000).toFixed(1).padStart(6)}s  ${text}\n`);

/**
 * --bmc: the example config and manifest are what operators copy, so the demo-only parts (the
 * BMC, the stand-in's maskin.diskos argument, no stagger) go into derived copies in build/demo/.
 */
async function writeBmcConfig(rack: Rack, bmcUrl: string, serial: string): Promise<void> {
  const manifest = parse(await readFile(path.join(exampleDir, 'manifest.yaml'), 'utf8')) as {
    profiles: Record<string, { kernelArgs?: string[]; machineConfigFile: string }>;
    nodes: Array<{ id: string; profile: string; serial?: string; bmc?: unknown }>;
  };
  const entry = manifest.nodes.find((n) => n.id === node.id);
  if (entry === undefined) throw new Error(`config/examples/manifest.yaml has no node ${node.id}`);
  entry.serial = serial;
  entry.bmc = { driver: 'redfish', address: bmcUrl, credentialsRef: BMC.credentialsRef, bootMode: 'legacy' };
  const profile = manifest.profiles[entry.profile];
  if (profile === undefined) throw new Error(`config/examples/manifest.yaml has no profile ${entry.profile}`);
  profile.kernelArgs = [...(profile.kernelArgs ?? []), diskOsArg(rack)];
  profile.machineConfigFile = path.resolve(exampleDir, profile.machineConfigFile);
  manifest.profiles = { [entry.profile]: profile };
  manifest.nodes = [entry];
  const manifestFile = path.join(demoDir, 'manifest.yaml');
  await writeFile(manifestFile, stringify(manifest));

  const config = parse(await readFile(path.join(exampleDir, 'agent.yaml'), 'utf8')) as Record<string, unknown> & { lifecycle?: Record<string, unknown> };
  for (const key of ['dataDir', 'assetsDir', 'bootBinariesDir'] as const) {
    if (typeof config[key] === 'string') config[key] = path.resolve(exampleDir, config[key]);
  }
  config['manifestFile'] = manifestFile;
  // One node: the stagger between power-ons would only make the demo wait.
  config.lifecycle = { ...config.lifecycle, staggerSeconds: 0 };
  await writeFile(configFile, stringify(config));
}

// Fresh state every run; the kernel/initramfs the profile names are the stand-in's.
await rm(path.join(demoDir, 'data'), { recursive: true, force: true });
const versionDir = path.join(demoDir, 'assets', SCHEMATIC, TALOS_VERSION);
await rm(path.join(demoDir, 'assets'), { recursive: true, force: true });
await mkdir(versionDir, { recursive: true });
for (const file of ['kernel-amd64', 'initramfs-amd64.xz']) await copyFile(path.join(standinDir, file), path.join(versionDir, file));

const rack = await createRack('demo', 0, { bridge: 'prov0' });
let vm: Vm | undefined;
let sim: RedfishSimChild | undefined;
let agent: ChildProcess | undefined;
const agentLog: string[] = [];
function startAgent(env: Readonly<Record<string, string>> = {}): ChildProcess {
  const child = rack.spawn(process.execPath, [cliPath, 'run', '--config', configFile], { env: { ...process.env, ...env } });
  child.stdout?.on('data', (c: Buffer) => agentLog.push(c.toString()));
  child.stderr?.on('data', (c: Buffer) => agentLog.push(c.toString()));
  return child;
}
if (!bmcMode) agent = startAgent();

// Once, whoever asks first (SIGINT while the main flow is still running also ends in finally).
let cleaning: Promise<void> | undefined;
const cleanup = (): Promise<void> =>
  (cleaning ??= (async () => {
    if (agent !== undefined) await stopChild(agent);
    await sim?.stop();
    await vm?.stop();
    await rack.destroy();
  })());
process.once(
  'SIGINT',
  () =>
    void cleanup().then(() => {
      say('interrupted; cleaned up');
      process.exit(130);
    }),
);

const curl = (url: string): Promise<string> => rack.exec('curl', ['-sS', '-f', '--max-time', '5', url]);
const cli = (...args: string[]): Promise<string> => rack.exec(process.execPath, [cliPath, ...args, '--config', configFile]);

async function waitHealthy(child: ChildProcess): Promise<void> {
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new Error(`agent exited:\n${agentLog.join('')}`);
    if (
      await curl('http://127.0.0.1/healthz').then(
        () => true,
        () => false,
      )
    )
      break;
    if (i > 100) throw new Error(`agent not healthy:\n${agentLog.join('')}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

// Timeline detail worth a column; the BMC steps add theirs (only --bmc nodes have those steps).
const shownKeys = ['firmware', 'ip', 'bootFile', 'file', 'kind', 'platform', 'afterDhcpAckMs', 'path', 'step', 'method', 'bytes'];
const bmcKeys = ['operation', 'ok', 'ms', 'attempt', 'serial', 'macs', 'model', 'reason', 'probe', 'code', 'error'];
const keys = bmcMode ? [...shownKeys, ...bmcKeys] : shownKeys;

let ok = false;
try {
  if (bmcMode) {
    const serialNumber = 'MASKIN-N01';
    say(`rack namespace ${rack.ns}: bridge prov0 198.18.0.1/24; ${firmware.toUpperCase()} VM ${node.mac} = ${node.id}, powered off`);
    vm = await startVm({ rack, name: 'd1', firmware, mac: node.mac, bootOrder: 'c', strictBoot: true, qmp: true, paused: true, extraArgs: ['-no-shutdown'] });
    say(`QEMU pid ${vm.pid} (${vm.accel}), CPU stopped, boot order: disk only; serial console: ${vm.serialPath}`);
    sim = await startRedfishSimChild(rack, {
      flavour: 'dell',
      host: '127.0.0.1',
      port: BMC.port,
      username: BMC.username,
      password: BMC.password,
      bootMode: 'UEFI',
      inventory: { serial: serialNumber, macs: [node.mac] },
      machineModule: qmpMachineModule,
      machineOptions: { qmpPath: vm.qmpPath },
    });
    say(`Redfish BMC simulator (Dell iDRAC flavour) at ${sim.url}, driving the VM through QMP`);
    await writeBmcConfig(rack, sim.url, serialNumber);
    say(`starting maskin-agent run --config build/demo/agent.yaml (config/examples/ plus ${node.id}'s bmc, credentials from MASKIN_BMC_RACK1_BMC_*)`);
    agent = startAgent({ MASKIN_BMC_RACK1_BMC_USERNAME: BMC.username, MASKIN_BMC_RACK1_BMC_PASSWORD: BMC.password });
    await waitHealthy(agent);
    say('agent up (DHCP :67, TFTP :69, HTTP :80); it now provisions the node through its BMC');
  } else {
    say(`rack namespace ${rack.ns}: bridge prov0 198.18.0.1/24; starting maskin-agent run --config config/examples/agent.yaml`);
    await waitHealthy(agent!);
    say(`agent up (DHCP :67, TFTP :69, HTTP :80); powering on ${firmware.toUpperCase()} VM ${node.mac} = ${node.id}`);
    vm = await startVm({ rack, name: 'd1', firmware, mac: node.mac });
    say(`QEMU pid ${vm.pid} (${vm.accel}); serial console: ${vm.serialPath}`);
  }

  let shown = 0;
  const deadline = Date.now() + 15 * 60_000;
  let installedAt = -1;
  let diskBootSeen = false;
  for (;;) {
    const record = JSON.parse(await curl(`http://127.0.0.1:9180/v1/nodes/${node.id}`).catch(() => 'null')) as NodeRecord | null;
    for (const step of record?.timeline.slice(shown) ?? []) {
      const d = step.detail;
      const what =
        step.step === 'state-changed'
          ? `${String(d.from)} -> ${String(d.to)} (${String(d.why)})`
          : Object.entries(d)
              .filter(([k]) => keys.includes(k))
              .map(([k, v]) => `${k}=${String(v)}`)
              .join(' ');
      say(`${step.step.padEnd(18)} ${what}`);
    }
    shown = record?.timeline.length ?? 0;
    const serial = vm.serial();
    if (installedAt < 0 && serial.includes('MASKIN-STANDIN: installed')) {
      installedAt = serial.length;
      say(
        bmcMode
          ? 'installer finished writing the disk; the VM reboots (the one-shot PXE is spent: from its disk)'
          : 'installer finished writing the disk; the VM reboots (network first, as racks are set)',
      );
    }
    const diskBoot = installedAt >= 0 ? /MASKIN-DISK-BOOT [\w-]+/.exec(serial.slice(installedAt)) : null;
    if (diskBoot !== null && !diskBootSeen) {
      diskBootSeen = true;
      say(`serial console: ${diskBoot[0]}: booted from its own disk`);
      if (!bmcMode) break;
      say('waiting for the agent to find the Talos API port open and hand the node over');
    }
    if (bmcMode && record?.state === 'handed-over') {
      say(`${node.id} handed over`);
      break;
    }
    if (bmcMode && (record?.state === 'failed' || record?.state === 'held')) {
      const failure = record.lifecycle?.failure;
      const tail = serial.trim() === '' ? 'the VM printed nothing on its serial console' : `serial tail:\n${serial.slice(-2000)}`;
      throw new Error(
        `${node.id} is ${record.state}${failure?.step ? ` at step ${failure.step}` : ''}: ${failure?.reason ?? record.lifecycle?.lastError ?? 'no reason recorded'}; ${tail}`,
      );
    }
    if (Date.now() > deadline)
      throw new Error(
        `${bmcMode ? `no hand-over within 15 minutes (state ${record?.state ?? 'unknown'})` : 'no disk boot within 15 minutes'}; serial tail:\n${serial.slice(-3000)}`,
      );
    await new Promise((r) => setTimeout(r, 1000));
  }
  const final = JSON.parse(await curl(`http://127.0.0.1:9180/v1/nodes/${node.id}`)) as NodeRecord;
  const gaps = final.timeline.flatMap((st) => (typeof st.detail.afterDhcpAckMs === 'number' ? [`${st.detail.afterDhcpAckMs} ms`] : []));
  if (gaps.length) say(`iPXE asked for its script ${gaps.join(', ')} after its DHCP ACK (router advertisements end its IPv6 wait; about 13 s without)`);
  process.stdout.write(`\n$ maskin-agent nodes\n${await cli('nodes')}\n$ maskin-agent nodes ${node.id}\n${await cli('nodes', node.id)}`);
  ok = true;
} catch (err) {
  process.stderr.write(`demo failed: ${(err as Error).message}\n`);
  process.exitCode = 1;
} finally {
  await cleanup();
  say(ok ? `cleaned up: VM stopped,${bmcMode ? ' BMC simulator stopped,' : ''} agent stopped, namespace removed` : 'cleaned up after failure');
}
