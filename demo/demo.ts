// The demo: the agent, run exactly as an operator would (`maskin-agent run --config
// config/examples/agent.yaml`), serving a rack that is a network namespace; one VM from the
// example manifest netboots through it, installs the stand-in Talos installer and comes back
// from its own disk. Progress is the node's timeline, read from the admin API as it grows.
import { mkdir, rm, symlink } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { cliPath, repoRoot } from '../test/bed/agent.js';
import { createRack, stopChild } from '../test/bed/netns.js';
import { startVm, type Vm } from '../test/bed/qemu.js';
import type { NodeRecord } from '../agent/nodes/model.js';
import { SCHEMATIC, TALOS_VERSION, standinDir } from '../test/e2e/scenario.js';

const { values } = parseArgs({ options: { uefi: { type: 'boolean' } } });
const firmware = values.uefi ? 'uefi' : 'bios';
// Nodes of config/examples/manifest.yaml.
const node = values.uefi ? { id: 'rack1-n02', mac: '52:54:00:6d:00:02' } : { id: 'rack1-n01', mac: '52:54:00:6d:00:01' };
const configFile = path.join(repoRoot, 'config', 'examples', 'agent.yaml');
const demoDir = path.join(repoRoot, 'build', 'demo');
const started = Date.now();
const say = (text: string): void => void process.stdout.write(`${((Date.now() - started) / 1000).toFixed(1).padStart(6)}s  ${text}\n`);

// Fresh state every run; the kernel/initramfs the profile names are the stand-in's.
await rm(path.join(demoDir, 'data'), { recursive: true, force: true });
const versionDir = path.join(demoDir, 'assets', SCHEMATIC, TALOS_VERSION);
await rm(path.join(demoDir, 'assets'), { recursive: true, force: true });
await mkdir(versionDir, { recursive: true });
for (const file of ['kernel-amd64', 'initramfs-amd64.xz']) await symlink(path.join(standinDir, file), path.join(versionDir, file));

const rack = await createRack('demo', 0, { bridge: 'prov0' });
let vm: Vm | undefined;
const agentLog: string[] = [];
const agent = rack.spawn(process.execPath, [cliPath, 'run', '--config', configFile]);
agent.stdout?.on('data', (c: Buffer) => agentLog.push(c.toString()));
agent.stderr?.on('data', (c: Buffer) => agentLog.push(c.toString()));

async function cleanup(): Promise<void> {
  await vm?.stop();
  await stopChild(agent);
  await rack.destroy();
}
process.once('SIGINT', () => void cleanup().then(() => process.exit(130)));

const curl = (url: string): Promise<string> => rack.exec('curl', ['-sS', '-f', '--max-time', '5', url]);
const cli = (...args: string[]): Promise<string> => rack.exec(process.execPath, [cliPath, ...args, '--config', configFile]);

let ok = false;
try {
  say(`rack namespace ${rack.ns}: bridge prov0 198.18.0.1/24; starting maskin-agent run --config config/examples/agent.yaml`);
  for (let i = 0; ; i++) {
    if (agent.exitCode !== null) throw new Error(`agent exited:\n${agentLog.join('')}`);
    if (await curl('http://127.0.0.1/healthz').then(() => true, () => false)) break;
    if (i > 100) throw new Error(`agent not healthy:\n${agentLog.join('')}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  say(`agent up (DHCP :67, TFTP :69, HTTP :80); powering on ${firmware.toUpperCase()} VM ${node.mac} = ${node.id}`);
  vm = await startVm({ rack, name: 'd1', firmware, mac: node.mac });
  say(`QEMU pid ${vm.pid} (${vm.accel}); serial console: ${vm.serialPath}`);

  let shown = 0;
  const deadline = Date.now() + 15 * 60_000;
  let installedAt = -1;
  for (;;) {
    const record = JSON.parse(await curl(`http://127.0.0.1/v1/nodes/${node.id}`).catch(() => 'null')) as NodeRecord | null;
    for (const step of record?.timeline.slice(shown) ?? []) {
      const d = step.detail;
      const what = step.step === 'state-changed' ? `${String(d.from)} -> ${String(d.to)} (${String(d.why)})` : Object.entries(d).filter(([k]) => ['firmware', 'ip', 'bootFile', 'file', 'kind', 'platform', 'path', 'step', 'method', 'bytes'].includes(k)).map(([k, v]) => `${k}=${String(v)}`).join(' ');
      say(`${step.step.padEnd(18)} ${what}`);
    }
    shown = record?.timeline.length ?? 0;
    const serial = vm.serial();
    if (installedAt < 0 && serial.includes('MASKIN-STANDIN: installed')) {
      installedAt = serial.length;
      say('installer finished writing the disk; the VM reboots (network first, as racks are set)');
    }
    if (installedAt >= 0 && /MASKIN-DISK-BOOT/.test(serial.slice(installedAt))) {
      say(`serial console: ${/MASKIN-DISK-BOOT \w+/.exec(serial.slice(installedAt))![0]}: booted from its own disk`);
      break;
    }
    if (Date.now() > deadline) throw new Error(`no disk boot within 15 minutes; serial tail:\n${serial.slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 1000));
  }
  process.stdout.write(`\n$ maskin-agent nodes\n${await cli('nodes')}\n$ maskin-agent nodes ${node.id}\n${await cli('nodes', node.id)}`);
  ok = true;
} catch (err) {
  process.stderr.write(`demo failed: ${(err as Error).message}\n`);
  process.exitCode = 1;
} finally {
  await cleanup();
  say(ok ? 'cleaned up: VM stopped, agent stopped, namespace removed' : 'cleaned up after failure');
}
