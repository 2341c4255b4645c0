// The BMC lifecycle end to end over IPMI: a powered-off SeaBIOS VM behind a real IPMI BMC
// (OpenIPMI's ipmi_sim inside the rack namespace, its chassis program starting and stopping the
// VM), a manifest entry saying `installed`, and nobody touching the machine. The agent reads the
// FRU serial through ipmitool, sets a one-shot legacy PXE boot (checked by `chassis bootparam get
// 5`; ipmi_sim keeps the device only, hence bootFlagCheck device-only), powers the server on; it
// netboots, the stand-in installs a disk OS and reboots; the VM comes back from its disk, answers
// on the Talos API port, and the node is handed over. Then a generation bump reprovisions the
// running node the same way, through `chassis power cycle` with a fresh one-shot PXE.
// Subnet: 198.18.26.0/24 (rack 'bmcipmi'); ipmi_sim's LAN channel on the agent's address, UDP 623.
import t from 'tap';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { startAgentInRack, type AgentInRack } from '../bed/agent.js';
import { createRack } from '../bed/netns.js';
import { startIpmiBed } from '../bmcsim/ipmi/bed.js';
import {
  assertStepsInOrder,
  buildStandin,
  diskOsArg,
  manifestFor,
  settled,
  standinAssets,
  statesOf,
  VM_LIFECYCLE_CONFIG,
  type ManifestNode,
} from './scenario.js';

const MAC = '52:54:00:18:1a:01';
const SERIAL = 'IPMI-E2E-0001';
const PASSWORD = 'Ipmi-e2e-2601';

t.test('IPMI: from powered off to handed over, the agent alone driving ipmi_sim', async (t) => {
  await buildStandin();
  const assets = await standinAssets();
  t.teardown(() => assets.remove());
  const rack = await createRack('bmcipmi', 26);
  t.teardown(() => rack.destroy());

  const bed = await startIpmiBed({
    rack,
    host: rack.address,
    username: 'admin',
    password: PASSWORD,
    fru: { manufacturer: 'Maskin Labs', product: 'SIM-1U', serial: SERIAL, boardSerial: 'BSN-E2E-0001' },
    guid: '26012601260126012601260126012601',
    vm: { rack, name: 'i1', firmware: 'bios', mac: MAC },
    log: (line) => t.comment(line),
  });
  t.teardown(() => bed.stop());
  t.equal(await bed.machinePid(), undefined, 'the server starts powered off');

  const node = (generation: number): ManifestNode => ({
    id: 'ipmi-n1',
    mac: MAC,
    serial: SERIAL,
    generation,
    bmc: { driver: 'ipmi', address: bed.address, credentialsRef: 'rack-ipmi', bootMode: 'legacy' },
  });
  const manifest = (generation: number): string => manifestFor([node(generation)], { kernelArgs: [diskOsArg(rack)] });
  let agent: AgentInRack | undefined;
  agent = await startAgentInRack(rack, {
    manifest: manifest(1),
    assetsDir: assets.dir,
    env: { MASKIN_BMC_RACK_IPMI_USERNAME: 'admin', MASKIN_BMC_RACK_IPMI_PASSWORD: PASSWORD },
    extraConfig: `bmc:
  ipmi: { cipherSuite: 3, bootFlagCheck: device-only }
${VM_LIFECYCLE_CONFIG}`,
  });
  t.teardown(() => agent?.stop());

  const started = Date.now();
  const first = await agent.waitForNode('ipmi-n1', settled, 420_000);
  const handedOverIn = (Date.now() - started) / 1000;
  t.equal(first.state, 'handed-over', `handed over (${JSON.stringify(first.lifecycle)})`);
  t.equal(first.generation, 1);
  assertStepsInOrder(t, statesOf(first.timeline), ['verified', 'provisioning', 'installing', 'installed', 'handed-over']);
  assertStepsInOrder(
    t,
    first.timeline.map((s) => s.step),
    ['dhcp-ack', 'script-served', 'config-served', 'install-reported'],
  );

  const serial = bed.serial();
  t.match(serial, /MASKIN-STANDIN: installed/, 'the stand-in installed');
  t.match(serial, /MASKIN-DISK-BOOT bios-linux/, 'the VM came back from its own disk');
  t.ok(serial.indexOf('MASKIN-STANDIN: installed') < serial.indexOf('MASKIN-DISK-BOOT bios-linux'), 'installed before the disk boot');
  // One power-on through ipmi_sim, using up the one-shot PXE; the installer's reboot is the
  // guest's own (same QEMU), which -boot once=n,order=c sends to the disk.
  t.same(await bed.boots(), ['pxe'], 'the BMC powered the server on once, from the network');
  t.ok(await bed.machinePid(), 'the server is still running after hand-over');
  const noPassword = !agent.output().includes(PASSWORD);
  t.ok(noPassword, 'the BMC password appears nowhere in the agent log');
  t.match(agent.output(), /one-shot PXE set and read back/, 'the boot flags were read back');

  // Generation bump: the server is running, so the agent sets the one-shot PXE again and power
  // cycles it. The bed's VM serial file starts afresh with the new QEMU process.
  await writeFile(path.join(path.dirname(agent.configFile), 'manifest.yaml'), manifest(2));
  agent.process.kill('SIGHUP');
  const second = await agent.waitForNode('ipmi-n1', (n) => n.generation === 2 && settled(n), 420_000);
  t.equal(second.state, 'handed-over', `handed over again at generation 2 (${JSON.stringify(second.lifecycle)})`);
  const after = second.timeline.filter((s) => Date.parse(s.at) >= Date.parse(first.timeline.at(-1)?.at ?? ''));
  assertStepsInOrder(t, statesOf(after), ['reprovisioning', 'provisioning', 'installing', 'installed', 'handed-over']);
  t.same(await bed.boots(), ['pxe', 'pxe'], 'the power cycle started the server again from the network');
  const again = bed.serial();
  t.equal(again.split('MASKIN-STANDIN: installed').length - 1, 1, "the serial is the new power-on's alone");
  t.match(again, /MASKIN-STANDIN: installed[\s\S]*MASKIN-DISK-BOOT bios-linux/, 'reinstalled, then back from its own disk');
  t.ok(!agent.output().includes(PASSWORD), 'still no password in the agent log');
  t.comment(`powered off to handed over ${handedOverIn.toFixed(1)} s; reprovision ${((Date.now() - started) / 1000 - handedOverIn).toFixed(1)} s`);
});
