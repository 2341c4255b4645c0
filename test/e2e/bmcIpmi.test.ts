// The BMC lifecycle end to end over IPMI: a powered-off SeaBIOS VM behind a real IPMI BMC
// (OpenIPMI's ipmi_sim inside the rack namespace, its chassis program starting and stopping the
// VM), a manifest entry saying `installed`, and nobody touching the machine. The agent reads the
// FRU serial through ipmitool, sets a one-shot legacy PXE boot (checked by `chassis bootparam get
// 5`; ipmi_sim keeps the device only, hence bootFlagCheck device-only), powers the server on; it
// netboots, the stand-in installs a disk OS and reboots; the VM comes back from its disk, answers
// on the Talos API port, and the node is handed over.
// Subnet: 198.18.26.0/24 (rack 'bmcipmi'); ipmi_sim's LAN channel on the agent's address, UDP 623.
import t from 'tap';
import { startAgentInRack, type AgentInRack } from '../bed/agent.js';
import { createRack } from '../bed/netns.js';
import { startIpmiBed } from '../bmcsim/ipmi/bed.js';
import { assertStepsInOrder, buildStandin, diskOsArg, manifestFor, standinAssets, type ManifestNode } from './scenario.js';

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

  const node: ManifestNode = {
    id: 'ipmi-n1',
    mac: MAC,
    serial: SERIAL,
    bmc: { driver: 'ipmi', address: bed.address, credentialsRef: 'rack-ipmi', bootMode: 'legacy' },
  };
  let agent: AgentInRack | undefined;
  agent = await startAgentInRack(rack, {
    manifest: manifestFor([node], { kernelArgs: [diskOsArg(rack)] }),
    assetsDir: assets.dir,
    env: { MASKIN_BMC_RACK_IPMI_USERNAME: 'admin', MASKIN_BMC_RACK_IPMI_PASSWORD: PASSWORD },
    extraConfig: `bmc:
  ipmi: { cipherSuite: 3, bootFlagCheck: device-only }
lifecycle:
  concurrency: 2
  staggerSeconds: 0
  maxAttempts: 2
  backoffSeconds: 1
  maxBackoffSeconds: 5
  timeoutSeconds: { bmcCall: 30, netboot: 150, install: 240, handover: 180 }
  probeIntervalSeconds: 2
  reconcileIntervalSeconds: 5
`,
  });
  t.teardown(() => agent?.stop());

  const started = Date.now();
  const done = await agent.waitForNode('ipmi-n1', (n) => n.state === 'handed-over' || n.state === 'failed' || n.state === 'held', 420_000);
  const handedOverIn = (Date.now() - started) / 1000;
  t.equal(done.state, 'handed-over', `handed over (${JSON.stringify(done.lifecycle)})`);
  t.equal(done.generation, 1);
  const states = done.timeline.filter((s) => s.step === 'state-changed').map((s) => String(s.detail['to']));
  assertStepsInOrder(t, states, ['verified', 'provisioning', 'installing', 'installed', 'handed-over']);
  assertStepsInOrder(t, done.timeline.map((s) => s.step), ['dhcp-ack', 'script-served', 'config-served', 'install-reported']);

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
  t.comment(`powered off to handed over: ${handedOverIn.toFixed(1)} s`);
});
