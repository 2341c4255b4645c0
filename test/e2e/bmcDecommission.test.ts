// Decommission end to end over Redfish: an installed, handed-over VM behind the Redfish simulator
// gets `desired: decommissioned` in the manifest. The agent sets a one-shot PXE and power-cycles
// it; it netboots the profile's kernel with talos.experimental.wipe=system and no machine config;
// the stand-in wipes its disk as Talos does (the disk OS's boot sector and file system are gone)
// and says so on its console, as Talos does, and the agent powers the server off: decommissioned. A later PXE boot of it (set
// through its BMC by hand) gets neither an install nor a config.
// Subnet: 198.18.97.0/24 (rack 'bmcdec').
import t from 'tap';
import { open, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { repoRoot, startAgentInRack, type AgentInRack } from '../bed/agent.js';
import { plainText } from '../bed/qemu.js';
import {
  assertStepsInOrder,
  buildStandin,
  diskOsArg,
  manifestFor,
  settled,
  standinAssets,
  redfishVmRack,
  statesOf,
  VM_LIFECYCLE_CONFIG,
  type ManifestNode,
} from './scenario.js';

const MAC = '52:54:00:18:97:01';
const SERIAL = 'RF-DECOM-0001';
const BMC_PORT = 8097;
const MIB = 1024 * 1024;

/** Whether the disk's first and last MiB are all zeros. */
async function endsZeroed(file: string): Promise<boolean> {
  const fh = await open(file, 'r');
  try {
    const { size } = await fh.stat();
    const buf = Buffer.alloc(MIB);
    for (const at of [0, size - MIB]) {
      await fh.read(buf, 0, MIB, at);
      if (buf.some((b) => b !== 0)) return false;
    }
    return true;
  } finally {
    await fh.close();
  }
}

t.test('decommission: an installed node is wiped by a diskless boot, powered off and retired; a later PXE boot gets nothing', async (t) => {
  await buildStandin();
  const assets = await standinAssets();
  t.teardown(() => assets.remove());
  const { rack, vm, sim, bmc, env } = await redfishVmRack(t, {
    tag: 'bmcdec',
    octet: 97,
    vmName: 'dc1',
    mac: MAC,
    serial: SERIAL,
    port: BMC_PORT,
    password: 'calvin-decom',
  });
  const node = (desired: NonNullable<ManifestNode['desired']>): ManifestNode => ({ id: 'dc-n1', mac: MAC, serial: SERIAL, bmc, desired });
  const manifest = (desired: NonNullable<ManifestNode['desired']>): string => manifestFor([node(desired)], { kernelArgs: [diskOsArg(rack)] });
  const agent: AgentInRack = await startAgentInRack(rack, {
    manifest: manifest('installed'),
    assetsDir: assets.dir,
    env,
    extraConfig: VM_LIFECYCLE_CONFIG,
  });
  t.teardown(() => agent.stop());

  const installed = await agent.waitForNode('dc-n1', settled, 420_000);
  t.equal(installed.state, 'handed-over', `handed over first (${JSON.stringify(installed.lifecycle)})`);
  t.equal(await endsZeroed(vm.diskPath), false, 'the installed disk holds its disk OS');

  const mark = vm.serial().length;
  const asked = Date.now();
  const resetsBefore = sim.requests.length;
  await writeFile(path.join(path.dirname(agent.configFile), 'manifest.yaml'), manifest('decommissioned'));
  agent.process.kill('SIGHUP');
  const retired = await agent.waitForNode('dc-n1', (n) => n.state === 'decommissioned', 300_000);
  const decommissionS = (Date.now() - asked) / 1000;
  const during = retired.timeline.filter((s) => Date.parse(s.at) >= asked);
  assertStepsInOrder(t, statesOf(during), ['decommissioning', 'decommissioned']);
  assertStepsInOrder(
    t,
    during.map((s) => s.step),
    ['script-served', 'wipe-reported'],
  );
  t.equal(during.find((s) => s.step === 'script-served')?.detail['kind'], 'wipe', 'the wipe script');
  t.notOk(
    during.some((s) => s.step === 'config-served' || s.step === 'install-reported' || s.step === 'boot-local-served'),
    'no config, no install, no boot-local',
  );
  await vm.waitFor(/MASKIN-STANDIN: finished resetting system disks/, 60_000, mark);
  t.ok(await endsZeroed(vm.diskPath), 'the disk is wiped: its first and last MiB are zeros');
  const offs = sim.requests
    .slice(resetsBefore)
    .filter((r) => r.method === 'POST' && /Reset/.test(r.path) && r.status < 300)
    .map((r) => String(r.body?.['ResetType']));
  t.ok(offs.includes('ForceOff') || offs.includes('GracefulShutdown'), `powered off through the BMC (${offs.join(', ')})`);
  t.equal(retired.timeline.find((s) => s.step === 'wipe-reported')?.detail['evidence'], 'console', 'the wipe learnt from its console, as from real Talos');

  // Someone PXE-boots it by hand through its BMC: no install, no config.
  const later = Date.now();
  const laterMark = vm.serial().length;
  await rack.exec(process.execPath, [
    '--input-type=module',
    '-e',
    `import pino from 'pino';
     import { createDriverFactory } from '${path.join(repoRoot, 'dist/agent/bmc/factory.js')}';
     const d = createDriverFactory({ log: pino({ level: 'silent' }), ipmi: { bootFlagCheck: 'full' } })(
       { id: 'by-hand', bmc: ${JSON.stringify(bmc)} },
       { username: 'root', password: 'calvin-decom' },
     );
     await d.setOneShotPxe('legacy');
     await d.powerOn();
     await d.close();`,
  ]);
  const again = await agent.waitForNode('dc-n1', (n) => n.timeline.some((s) => Date.parse(s.at) >= later && s.step === 'script-served'), 180_000);
  const afterBoot = again.timeline.filter((s) => Date.parse(s.at) >= later);
  t.equal(afterBoot.find((s) => s.step === 'script-served')?.detail['kind'], 'discovery', 'the wait script: nothing to boot');
  t.equal(again.state, 'decommissioned');
  t.notOk(
    afterBoot.some((s) => s.step === 'config-served'),
    'no config',
  );
  await vm.waitFor(/decommissioned/, 60_000, laterMark);
  t.notMatch(plainText(vm.serial().slice(laterMark)), /MASKIN-STANDIN: start/, 'no kernel was booted');
  t.comment(`decommission: manifest change to decommissioned ${decommissionS.toFixed(1)} s`);
});
