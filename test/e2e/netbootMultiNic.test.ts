// VM tier: SeaBIOS machines with two NICs, each NIC a manifest MAC of one node, booting their
// first NIC first. Rack 198.18.28.0/24.
// - The first port has nothing behind it: iPXE's DHCP there goes unanswered and it returns to the
//   BIOS, which boots the second port. The agent finds the node by that port's MAC, the stand-in
//   installer runs DHCP on every link as Talos does, fetches its config from the address leased
//   to that MAC, installs, and the next boot ends on the disk.
// - Both ports are on the rack, but the boot server refuses the first one's script requests (a
//   TCP reset from the rack's firewall): the chain script gives up on that NIC after its retries,
//   runs DHCP on the next one and fetches its script through it. That is the chain script's
//   fallback, run by Debian's iPXE ROM.
import t, { type Test } from 'tap';
import { plainText, startVm, type Vm } from '../bed/qemu.js';
import { assertStepsInOrder, rackWithAgent, type RackWithAgent } from './scenario.js';

const UNPLUGGED = '52:54:00:6d:28:01';
const RACK_PORT = '52:54:00:6d:28:02';
const FILTERED = '52:54:00:6d:28:11';
const FALLBACK = '52:54:00:6d:28:12';

/** The serial lines where iPXE says which interface it configures and what came of it. */
const ipxeLines = (vm: Vm): string =>
  plainText(vm.serial())
    .split('\n')
    .filter((l) => /Configuring|No configuration|Connection reset|maskin:|iPXE initialising/.test(l))
    .join('\n');

/** Waits for install then disk boot; returns both times from `startedAt`. */
async function installAndBoot(t: Test, env: RackWithAgent, vm: Vm, startedAt: number): Promise<{ installedMs: number; diskMs: number }> {
  try {
    await vm.waitFor(/MASKIN-STANDIN: installed/, 300_000);
    const installedMs = Date.now() - startedAt;
    await vm.waitFor(/MASKIN-DISK-BOOT bios/, 240_000, vm.serial().length);
    return { installedMs, diskMs: Date.now() - startedAt };
  } catch (err) {
    t.comment(`serial:\n${plainText(vm.serial()).slice(-6000)}\nagent:\n${env.agent.output().slice(-4000)}`);
    throw err;
  }
}

t.test('machines whose first NIC cannot boot install through their second', async (t) => {
  const env = await rackWithAgent('e2enic', 28, [
    { id: 'nic-n1', mac: RACK_PORT, macs: [UNPLUGGED, RACK_PORT] },
    { id: 'nic-n2', mac: FALLBACK, macs: [FILTERED, FALLBACK] },
  ]);
  t.teardown(env.destroy);

  t.test('first NIC with no peer: the BIOS boots the second', async (t) => {
    const startedAt = Date.now();
    const vm = await startVm({ rack: env.rack, name: 'm1', firmware: 'bios', mac: RACK_PORT, extraNics: [{ mac: UNPLUGGED, linked: false }] });
    t.teardown(() => vm.stop());
    const { installedMs, diskMs } = await installAndBoot(t, env, vm, startedAt);
    t.comment(`installed after ${installedMs} ms, disk boot after ${diskMs} ms (accel ${vm.accel})\n${ipxeLines(vm)}`);
    const serial = plainText(vm.serial());
    t.match(serial, /Configuring \(net0 52:54:00:6d:28:01\)/, 'iPXE tried the unplugged first NIC');
    t.match(serial, /Configuring \(net\d 52:54:00:6d:28:02\)/, 'then the NIC on the rack');
    t.match(serial, /MASKIN-STANDIN: DHCP on: eth0 eth1/, 'the installer ran DHCP on both links');
    t.match(serial, /MASKIN-STANDIN: network up: 198\.18\.28\.\d+\/24 on eth1(\n|$)/m, 'and got its address on the second only');

    const node = await env.agent.waitForNode('nic-n1', (n) => n.state === 'installed' && n.timeline.some((s) => s.step === 'boot-local-served'), 30_000);
    const steps = node.timeline.map((s) => s.step);
    assertStepsInOrder(t, steps, ['dhcp-ack', 'script-served', 'config-served', 'install-reported', 'dhcp-ack', 'boot-local-served']);
    t.equal(node.facts.bootMac, RACK_PORT, 'identified by its second MAC');
    t.same(node.macs, [UNPLUGGED, RACK_PORT]);
    const netboot = node.timeline.filter((s) => ['dhcp-discover', 'dhcp-ack', 'script-served', 'boot-local-served'].includes(s.step));
    t.ok(netboot.length >= 4 && netboot.every((s) => s.detail.mac === RACK_PORT), 'every DHCP and script step came through the second MAC');
    t.notOk(steps.includes('script-refused') || steps.includes('config-refused'), 'nothing refused');
    t.comment(await env.agent.cli(['nodes', 'nic-n1']));
  });

  t.test('boot server unreachable through the first NIC: the chain script falls back to the second', async (t) => {
    // The first NIC's script requests get a TCP reset; its DHCP and /boot.ipxe go through.
    const reset = ['INPUT', '-d', env.rack.address, '-p', 'tcp', '--dport', '80', '-m', 'string', '--algo', 'bm'];
    const rule = [...reset, '--string', `mac=${FILTERED.replace(/:/g, '-')}`, '-j', 'REJECT', '--reject-with', 'tcp-reset'];
    await env.rack.exec('iptables', ['-A', ...rule]);
    const startedAt = Date.now();
    const vm = await startVm({ rack: env.rack, name: 'm2', firmware: 'bios', mac: FALLBACK, extraNics: [{ mac: FILTERED, linked: true }] });
    t.teardown(() => vm.stop());
    const { installedMs, diskMs } = await installAndBoot(t, env, vm, startedAt);
    t.comment(`installed after ${installedMs} ms, disk boot after ${diskMs} ms (accel ${vm.accel})\n${ipxeLines(vm)}`);
    const serial = plainText(vm.serial());
    t.match(serial, /maskin: no answer through 52:54:00:6d:28:11, trying the other interfaces/);
    t.match(serial, /Configuring \[dhcp\] \(net1 52:54:00:6d:28:12\)/, 'the chain script ran DHCP on the second NIC');

    const node = await env.agent.waitForNode('nic-n2', (n) => n.state === 'installed' && n.timeline.some((s) => s.step === 'boot-local-served'), 30_000);
    const steps = node.timeline.map((s) => s.step);
    assertStepsInOrder(t, steps, ['dhcp-ack', 'dhcp-ack', 'script-served', 'config-served', 'install-reported', 'boot-local-served']);
    const first = node.timeline.find((s) => s.step === 'dhcp-ack');
    t.equal(first?.detail.mac, FILTERED, 'the first DHCP was the first NIC');
    const served = node.timeline.filter((s) => s.step === 'script-served' || s.step === 'boot-local-served');
    t.ok(served.length >= 2 && served.every((s) => s.detail.mac === FALLBACK), 'every script went to the second MAC');
    t.equal(node.facts.bootMac, FALLBACK, 'identified by its second MAC');
    t.notOk(steps.includes('script-refused') || steps.includes('config-refused'), 'nothing refused');
    t.comment(await env.agent.cli(['nodes', 'nic-n2']));
  });
});
