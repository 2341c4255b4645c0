// VM tier: an OVMF UEFI machine with the NIC's option ROM disabled, so the firmware's own PXE
// runs: DHCP (arch 7) → TFTP snponly.efi → iPXE (user class iPXE) → HTTP script → stand-in
// installer with initrd= on the EFI kernel line → config → disk → reboot. The second boot is PXE
// again; the agent answers boot-local (exit 1) and OVMF falls through to the disk, whose
// startup.nsh prints the marker. Rack 198.18.21.0/24.
import t from 'tap';
import { startVm } from '../bed/qemu.js';
import { assertStepsInOrder, rackWithAgent } from './scenario.js';

const MAC = '52:54:00:6d:21:01';

t.test('UEFI machine chainloads over TFTP, installs and then boots from its disk', async (t) => {
  const env = await rackWithAgent('e2euefi', 21, [{ id: 'uefi-n1', mac: MAC }]);
  t.teardown(env.destroy);
  const vm = await startVm({ rack: env.rack, name: 'e1', firmware: 'uefi', mac: MAC });
  t.teardown(() => vm.stop());
  try {
    await vm.waitFor(/MASKIN-STANDIN: installed/, 420_000);
    const installedAt = vm.serial().length;
    await vm.waitFor(/MASKIN-DISK-BOOT uefi/, 300_000, installedAt);
  } catch (err) {
    t.comment(`serial:\n${vm.serial().slice(-4000)}\nagent:\n${env.agent.output().slice(-3000)}`);
    throw err;
  }
  const node = await env.agent.waitForNode('uefi-n1', (n) => n.state === 'installed' && n.timeline.some((s) => s.step === 'boot-local-served'), 30_000);
  const steps = node.timeline.map((s) => s.step);
  const order = [
    'dhcp-ack',
    'tftp-transfer',
    'dhcp-ack',
    'script-served',
    'asset-download',
    'config-served',
    'install-reported',
    'tftp-transfer',
    'boot-local-served',
  ];
  assertStepsInOrder(t, steps, order);
  const firstAck = node.timeline.find((s) => s.step === 'dhcp-ack')!;
  t.equal(firstAck.detail.firmware, 'uefi', 'firmware PXE classified as UEFI');
  t.equal(firstAck.detail.bootFile, 'snponly.efi', 'UEFI gets snponly.efi by default');
  const tftp = node.timeline.find((s) => s.step === 'tftp-transfer')!;
  t.equal(tftp.detail.file, 'snponly.efi');
  t.equal(node.timeline.find((s) => s.step === 'script-served')?.detail.platform, 'efi');
  t.equal(node.facts.platform, 'efi');
  t.comment(await env.agent.cli(['nodes', 'uefi-n1']));
});
