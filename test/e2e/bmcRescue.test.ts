// Rescue end to end over Redfish: an installed, handed-over VM behind the Redfish simulator is
// sent to rescue by an operator (`maskin-agent node ID rescue`). The agent sets a one-shot PXE and
// power-cycles it; it netboots the profile's kernel without a machine config (the stand-in then
// does what Talos does: maintenance mode, its API port open, no disk touched), its console streams
// to the agent; its disk is byte-identical before and after. `exit-rescue` power-cycles it through
// PXE once more, the agent sends it to its disk, and it is handed over again.
// Subnet: 198.18.96.0/24 (rack 'bmcres').
import t from 'tap';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { startAgentInRack, type AgentInRack } from '../bed/agent.js';
import { plainText } from '../bed/qemu.js';
import { assertStepsInOrder, buildStandin, diskOsArg, manifestFor, redfishVmRack, settled, standinAssets, statesOf, VM_LIFECYCLE_CONFIG } from './scenario.js';

const MAC = '52:54:00:18:96:01';
const SERIAL = 'RF-RESCUE-0001';
const BMC_PORT = 8096;

const sha256 = async (file: string): Promise<string> =>
  createHash('sha256')
    .update(await readFile(file))
    .digest('hex');

t.test('rescue: an installed node boots diskless into maintenance mode, disk untouched, then back to its disk', async (t) => {
  await buildStandin();
  const assets = await standinAssets();
  t.teardown(() => assets.remove());
  const { rack, vm, bmc, env } = await redfishVmRack(t, {
    tag: 'bmcres',
    octet: 96,
    vmName: 'rs1',
    mac: MAC,
    serial: SERIAL,
    port: BMC_PORT,
    password: 'calvin-rescue',
  });
  const manifest = manifestFor([{ id: 'rs-n1', mac: MAC, serial: SERIAL, bmc }], { kernelArgs: [diskOsArg(rack)] });
  const agent: AgentInRack = await startAgentInRack(rack, {
    manifest,
    assetsDir: assets.dir,
    env,
    extraConfig: VM_LIFECYCLE_CONFIG,
  });
  t.teardown(() => agent.stop());
  const apiPort = async (ip: string): Promise<string> => rack.exec('curl', ['-sS', '--max-time', '5', `http://${ip}:50000/`]);

  const installed = await agent.waitForNode('rs-n1', settled, 420_000);
  t.equal(installed.state, 'handed-over', `handed over first (${JSON.stringify(installed.lifecycle)})`);
  const ip = installed.facts.ip!;
  t.match(await apiPort(ip), /disk OS/, 'its disk OS answers on the Talos API port');
  const diskBefore = await sha256(vm.diskPath);

  // Rescue.
  const mark = vm.serial().length;
  const rescueAsked = Date.now();
  t.match(await agent.cli(['node', 'rs-n1', 'rescue']), /rescue of node rs-n1 accepted/);
  const inRescue = await agent.waitForNode(
    'rs-n1',
    (n) => n.state === 'rescue' && n.timeline.some((s) => s.step === 'console-milestone' && s.detail['milestone'] === 'maintenance-mode'),
    300_000,
  );
  const rescueS = (Date.now() - rescueAsked) / 1000;
  await vm.waitFor(/MASKIN-STANDIN: maintenance mode: listening on :50000/, 60_000, mark);
  const rescueScript = inRescue.timeline.filter((s) => s.step === 'script-served' && s.detail['kind'] === 'rescue');
  t.equal(rescueScript.length >= 1, true, 'the node got the rescue script');
  t.notOk(
    inRescue.timeline.some((s) => Date.parse(s.at) >= rescueAsked && (s.step === 'config-served' || s.step === 'boot-local-served')),
    'no machine config and no boot-local answer in rescue',
  );
  t.match(await apiPort(inRescue.facts.ip!), /maintenance mode/, 'the network kernel answers on the Talos API port');
  t.match(plainText(vm.serial().slice(mark)), /MASKIN-STANDIN: entering maintenance service/);
  t.match(await agent.cli(['nodes', 'rs-n1', '--console']), /installer info: entering maintenance service/, 'its console reached the agent');
  t.equal(await sha256(vm.diskPath), diskBefore, 'the disk is byte-identical');

  // A second rescue request is refused: it is already there.
  await t.rejects(agent.cli(['node', 'rs-n1', 'rescue']), /already/);

  // Back to its disk.
  const exitMark = vm.serial().length;
  const exitAsked = Date.now();
  t.match(await agent.cli(['node', 'rs-n1', 'exit-rescue']), /exit-rescue of node rs-n1 accepted/);
  const back = await agent.waitForNode('rs-n1', (n) => n.state === 'handed-over' && Date.parse(n.timeline.at(-1)?.at ?? '') > exitAsked, 300_000);
  const exitS = (Date.now() - exitAsked) / 1000;
  await vm.waitFor(/MASKIN-DISK-BOOT bios-linux/, 60_000, exitMark);
  const after = back.timeline.filter((s) => Date.parse(s.at) >= rescueAsked);
  assertStepsInOrder(t, statesOf(after), ['rescue', 'installed', 'handed-over']);
  t.ok(
    after.some((s) => s.step === 'boot-local-served'),
    'out of rescue the agent sent it to its disk',
  );
  t.notOk(
    after.some((s) => s.step === 'config-served'),
    'no install on the way back',
  );
  t.match(await apiPort(back.facts.ip!), /disk OS/, 'its disk OS answers again');
  t.equal(await sha256(vm.diskPath), diskBefore, 'still the same disk');
  t.comment(`rescue: asked to maintenance mode ${rescueS.toFixed(1)} s; exit-rescue to handed-over ${exitS.toFixed(1)} s`);
});
