// The BMC lifecycle end to end over Redfish: a powered-off VM behind a Redfish BMC simulator
// (Dell flavour, inside the rack namespace, driving the VM through QMP), a manifest entry saying
// `installed`, and nobody touching the machine. The agent checks the inventory, sets a one-shot
// PXE boot, powers the server on; it netboots, the stand-in installs a disk OS and reboots; the
// VM comes back from its disk, answers on the Talos API port, and the node is handed over. The
// BMC forgets the first override (quirk forgetOverrideOnce): the read-back must catch it. Then a
// generation bump reprovisions the node the same way, through a power cycle.
// Subnet: 198.18.25.0/24 (rack 'bmcrf').
import t from 'tap';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { startAgentInRack, type AgentInRack } from '../bed/agent.js';
import { plainText } from '../bed/qemu.js';
import {
  assertStepsInOrder,
  buildStandin,
  diskOsArg,
  manifestFor,
  redfishVmRack,
  settled,
  standinAssets,
  statesOf,
  VM_LIFECYCLE_CONFIG,
  type ManifestNode,
} from './scenario.js';

const MAC = '52:54:00:18:19:01';
const SERIAL = 'RF-E2E-0001';
const BMC_PORT = 8025;

t.test('Redfish: from powered off to handed over, then reprovisioned on a generation bump', async (t) => {
  await buildStandin();
  const assets = await standinAssets();
  t.teardown(() => assets.remove());
  const { rack, vm, sim, bmc, env } = await redfishVmRack(t, {
    tag: 'bmcrf',
    octet: 25,
    vmName: 'r1',
    mac: MAC,
    serial: SERIAL,
    port: BMC_PORT,
    password: 'calvin-e2e',
    forgetOverrideOnce: true,
  });

  const node = (generation: number): ManifestNode => ({
    id: 'rf-n1',
    mac: MAC,
    serial: SERIAL,
    generation,
    bmc,
  });
  const manifest = (generation: number): string => manifestFor([node(generation)], { kernelArgs: [diskOsArg(rack)] });
  let agent: AgentInRack | undefined;
  agent = await startAgentInRack(rack, {
    manifest: manifest(1),
    assetsDir: assets.dir,
    env,
    extraConfig: VM_LIFECYCLE_CONFIG,
  });
  t.teardown(() => agent?.stop());

  const started = Date.now();
  const first = await agent.waitForNode('rf-n1', settled, 420_000);
  const installedIn = (Date.now() - started) / 1000;
  t.equal(first.state, 'handed-over', `handed over (${JSON.stringify(first.lifecycle)})`);
  t.equal(first.generation, 1);
  assertStepsInOrder(t, statesOf(first.timeline), ['verified', 'provisioning', 'installing', 'installed', 'handed-over']);
  assertStepsInOrder(
    t,
    first.timeline.map((s) => s.step),
    ['dhcp-ack', 'script-served', 'config-served', 'install-reported'],
  );

  const serial = plainText(vm.serial());
  t.match(serial, /MASKIN-STANDIN: installed/, 'the stand-in installed');
  t.match(serial, /MASKIN-DISK-BOOT bios-linux/, 'the VM came back from its own disk');
  // Dell: the target goes to the system, the mode to its Settings object; the first target PATCH
  // is acknowledged and forgotten, so the read-back must have sent it again.
  const targetPatches = sim.requests.filter(
    (r) => r.method === 'PATCH' && r.status < 300 && JSON.stringify(r.body).includes('"BootSourceOverrideTarget":"Pxe"'),
  );
  t.equal(targetPatches.length, 2, 'the forgotten override was caught by the read-back and set again');
  t.ok(
    sim.requests.some((r) => r.method === 'GET' && /EthernetInterfaces/.test(r.path)),
    'the inventory was read',
  );
  const resetsBefore = sim.requests.filter((r) => r.method === 'POST' && /Reset/.test(r.path)).length;
  t.ok(resetsBefore >= 1, 'the agent powered the server on through the BMC');
  const noPassword = !agent.output().includes('calvin-e2e');
  t.ok(noPassword, 'the BMC password appears nowhere in the agent log');

  // Generation bump: reprovisioned the same way, from a running server (power cycle).
  const serialMark = vm.serial().length;
  await writeFile(path.join(path.dirname(agent.configFile), 'manifest.yaml'), manifest(2));
  agent.process.kill('SIGHUP');
  const second = await agent.waitForNode('rf-n1', (n) => n.generation === 2 && settled(n), 420_000);
  t.equal(second.state, 'handed-over', `handed over again at generation 2 (${JSON.stringify(second.lifecycle)})`);
  const after = second.timeline.filter((s) => Date.parse(s.at) >= Date.parse(first.timeline.at(-1)?.at ?? ''));
  assertStepsInOrder(t, statesOf(after), ['reprovisioning', 'provisioning', 'installing', 'installed', 'handed-over']);
  await vm.waitFor(/MASKIN-STANDIN: installed/, 1000, serialMark);
  await vm.waitFor(/MASKIN-DISK-BOOT bios-linux/, 1000, serialMark);
  t.ok(sim.requests.filter((r) => r.method === 'POST' && /Reset/.test(r.path)).length > resetsBefore, 'reprovisioning went through a BMC reset');
  t.comment(`first install to hand-over ${installedIn.toFixed(1)} s; reprovision ${((Date.now() - started) / 1000 - installedIn).toFixed(1)} s`);
});
