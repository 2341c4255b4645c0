// VM tier: a SeaBIOS + iPXE ROM machine in the manifest netboots through the agent (DHCP with
// user class iPXE → /boot.ipxe → its install script), boots the stand-in installer, which checks
// Talos's kernel args, fetches its config with its token, writes its disk and reports; the next
// boot is PXE again, the agent says "boot local", and the disk's boot sector prints its marker.
// Its console reaches the agent's node log sink. A second machine the manifest does not know gets
// the discovery script and no config.
// Rack 198.18.20.0/24.
import t from 'tap';
import { startVm } from '../bed/qemu.js';
import { assertStepsInOrder, rackWithAgent } from './scenario.js';

const KNOWN = '52:54:00:6d:20:01';
const UNKNOWN = '52:54:00:6d:20:99';

t.test('BIOS machine installs through the agent and then boots from its disk', async (t) => {
  const env = await rackWithAgent('e2ebios', 20, [{ id: 'bios-n1', mac: KNOWN }]);
  t.teardown(env.destroy);
  const vm = await startVm({ rack: env.rack, name: 'b1', firmware: 'bios', mac: KNOWN });
  t.teardown(() => vm.stop());
  const stranger = await startVm({ rack: env.rack, name: 'u1', firmware: 'bios', mac: UNKNOWN });
  t.teardown(() => stranger.stop());
  try {
    await vm.waitFor(/MASKIN-STANDIN: installed/, 240_000);
    const installedAt = vm.serial().length;
    await vm.waitFor(/MASKIN-DISK-BOOT bios/, 180_000, installedAt);
  } catch (err) {
    t.comment(`serial:\n${vm.serial().slice(-4000)}\nagent:\n${env.agent.output().slice(-4000)}`);
    throw err;
  }
  const node = await env.agent.waitForNode('bios-n1', (n) => n.state === 'installed' && n.timeline.some((s) => s.step === 'boot-local-served'), 30_000);
  const steps = node.timeline.map((s) => s.step);
  // Every step of the boot, in order.
  const order = [
    'dhcp-discover',
    'dhcp-offer',
    'dhcp-ack',
    'script-served',
    'asset-download',
    'config-served',
    'installer-event',
    'install-reported',
    'boot-local-served',
  ];
  assertStepsInOrder(t, steps, order);
  t.equal(node.facts.firmware, 'ipxe', 'the iPXE ROM was classified as iPXE');
  t.equal(node.facts.platform, 'pcbios');
  t.notOk(steps.includes('config-refused'), 'no refusal for the rightful boot');
  const dhcp = node.timeline.find((s) => s.step === 'dhcp-ack');
  t.ok(dhcp, 'DHCP ack recorded');
  // The agent's router advertisements (agent/ra) end iPXE's IPv6 autoconfiguration at once: without
  // them iPXE asks for its script 11–13 s after its DHCP ACK.
  const gaps = node.timeline
    .filter((s) => s.step === 'script-served' || s.step === 'boot-local-served')
    .map((s) => s.detail.afterDhcpAckMs)
    .filter((g) => g !== undefined);
  t.comment(`dhcp-ack → script-served: ${gaps.join(', ')} ms`);
  t.ok(
    gaps.length >= 2 && gaps.every((g) => typeof g === 'number' && g < 2000),
    'both iPXE passes (install, boot-local) asked for their script within 2 s of their DHCP ACK',
  );

  // The stand-in streamed its console to the node log sink (Talos log delivery: the kernel's
  // records, then its own lines as service records), attributed to this node by its lease.
  const consoleText = await env.agent.cli(['nodes', 'bios-n1', '--console']);
  t.match(consoleText, /kernel info: Linux version /, "the kernel's banner");
  t.match(consoleText, /installer info: event \{"step":"config-fetched"/, "the installer's own steps");
  t.ok(
    node.timeline.some((s) => s.step === 'console-milestone' && s.detail.milestone === 'kernel-started'),
    'the kernel start is a timeline step',
  );

  // The unknown machine: discovered, facts recorded, never a config.
  const unknownId = `mac-${UNKNOWN.replace(/:/g, '-')}`;
  const unknown = await env.agent.waitForNode(unknownId, (n) => n.timeline.some((s) => s.step === 'script-served'), 120_000);
  t.equal(unknown.known, false);
  t.equal(unknown.state, 'discovered');
  t.equal(unknown.timeline.find((s) => s.step === 'script-served')?.detail.kind, 'discovery');
  t.notOk(
    unknown.timeline.some((s) => s.step === 'config-served'),
    'no config for an unknown machine',
  );
  t.ok(unknown.facts.uuid, 'SMBIOS uuid recorded');

  const table = await env.agent.cli(['nodes']);
  t.match(table, /bios-n1\s+installed/);
  const timeline = await env.agent.cli(['nodes', 'bios-n1']);
  t.match(timeline, /install-reported/);
  t.comment(timeline);
});
