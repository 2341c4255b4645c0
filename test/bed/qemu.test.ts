// The VM harness itself: argument building (pure), then a whole BIOS network boot without the
// agent — SeaBIOS + iPXE ROM → DHCP (busybox udhcpd, boot file = HTTP script URL) → iPXE script →
// stand-in kernel over HTTP → install → reboot (network first again) → "boot local" script →
// iPXE exits → SeaBIOS boots the disk the stand-in wrote.
// The same for UEFI: OVMF's own PXE → TFTP snponly.efi → iPXE → the same HTTP script. busybox
// udhcpd cannot tell firmware from iPXE (option 77), so both get one boot file, an HTTP URL, and
// tftpd-hpa maps any "http://..." request to snponly.efi; the agent does this properly.
// Subnets of this file: 198.18.244.0/24 (rack 'qvm'), 198.18.245.0/24 (rack 'qvu').
import t from 'tap';
import { dirname } from 'node:path';
import { plainText, qemuArgs, startVm } from './qemu.js';
import { buildStandin, SAMPLE_CONFIG, startInstallerBed, talosCmdline } from '../standin/bed/installerBed.js';

const base = { accel: 'tcg' as const, mac: '52:54:00:00:00:01', tap: 'mtx', disk: '/d.raw', serial: '/s.log', memoryMb: 512 };

t.test('qemuArgs maps firmware, boot order and direct kernel to QEMU flags', async (t) => {
  const bios = qemuArgs({ ...base, firmware: 'bios', bootOrder: 'nc' }).join(' ');
  t.match(bios, /-device virtio-net-pci,netdev=net0,mac=52:54:00:00:00:01,bootindex=1(\s|$)/, 'BIOS NIC keeps its iPXE ROM, boots first');
  t.match(bios, /-device virtio-blk-pci,drive=disk0,bootindex=2/);
  t.notMatch(bios, /pflash|romfile|-kernel|-no-reboot/);
  t.match(bios, /-serial file:\/s\.log/);

  const uefi = qemuArgs({ ...base, firmware: 'uefi', bootOrder: 'c', vars: '/v.fd' }).join(' ');
  t.match(uefi, /if=pflash,format=raw,unit=0,readonly=on,file=\/usr\/share\/OVMF\/OVMF_CODE_4M\.fd/);
  t.match(uefi, /if=pflash,format=raw,unit=1,file=\/v\.fd/);
  t.match(uefi, /virtio-net-pci,netdev=net0,mac=52:54:00:00:00:01,romfile=(\s|$)/, 'UEFI NIC uses OVMF PXE, no bootindex');
  t.match(uefi, /virtio-blk-pci,drive=disk0,bootindex=1/);
  t.match(uefi, /-fw_cfg name=opt\/org\.tianocore\/IPv6Support,string=no/, 'no IPv6 network boot options');

  const direct = qemuArgs({ ...base, tap: undefined, firmware: 'bios', bootOrder: 'c', direct: { kernel: 'k', initrd: 'i', append: 'a b' } });
  t.same(direct.slice(-6), ['-kernel', 'k', '-initrd', 'i', '-append', 'a b']);
  t.ok(direct.includes('none') && direct.includes('-nic'), 'no NIC without a tap');
});

t.test('plainText drops firmware escape sequences and CRs', async (t) => {
  t.equal(plainText('\x1b[2J\x1b[0mSeaBIOS\r\nok\x1b[?7l'), 'SeaBIOS\nok');
});

/** Boot-file URL, scripts (install, then "boot local") and kernel args for a bed at `address`. */
function netbootPlan(address: string, leave: string): { bootFile: string; scripts: string[] } {
  // configUrl/eventsUrl depend only on the rack address, known before the bed starts.
  const cmdline = talosCmdline({ configUrl: `http://${address}/config?node=standin`, eventsUrl: `http://${address}/events` });
  const install = [
    '#!ipxe',
    `kernel http://${address}/assets/kernel-amd64 initrd=initramfs-amd64.xz ${cmdline}`,
    `initrd http://${address}/assets/initramfs-amd64.xz`,
    'boot',
    '',
  ].join('\n');
  return { bootFile: `http://${address}/boot.ipxe`, scripts: [install, `#!ipxe\necho maskin: boot local\n${leave}\n`] };
}

t.test('BIOS VM netboots the stand-in over iPXE, installs, and the next boot leaves PXE for the disk', async (t) => {
  const images = await buildStandin();
  const address = '198.18.244.1';
  const bed = await startInstallerBed({
    tag: 'qvm',
    octet: 244,
    config: SAMPLE_CONFIG,
    ...netbootPlan(address, 'exit'),
    assets: dirname(images.kernel),
  });
  t.teardown(() => bed.destroy());
  t.equal(bed.rack.address, address);

  const started = Date.now();
  const vm = await startVm({ rack: bed.rack, name: 'b1', firmware: 'bios', mac: '52:54:00:18:f4:11', log: (l) => t.comment(l) });
  t.teardown(() => vm.stop());
  await bed.waitForEvent('installer-started', 180_000);
  const runningAt = Date.now();
  await vm.waitFor(/MASKIN-STANDIN: installed/, 120_000);
  const installedAt = Date.now();
  const mark = vm.serial().length;
  await vm.waitFor(/MASKIN-DISK-BOOT bios/, 120_000, mark);
  const diskAt = Date.now();

  t.same(bed.events().map((e) => e.step), ['installer-started', 'config-fetched', 'install-complete']);
  const scripts = bed.records.filter((r) => r.kind === 'request' && r.path === '/boot.ipxe');
  t.equal(scripts.length, 2, 'the script was asked for on both boots');
  t.match(plainText(vm.serial().slice(mark)), /boot local/, 'second boot ran the boot-local script');
  t.notMatch(plainText(vm.serial().slice(mark)), /MASKIN-STANDIN: start/, 'stand-in did not run twice');
  t.comment(
    `accel ${vm.accel}: power-on → installer running ${((runningAt - started) / 1000).toFixed(1)} s, ` +
      `→ installed ${((installedAt - started) / 1000).toFixed(1)} s, → disk boot ${((diskAt - started) / 1000).toFixed(1)} s`,
  );
});

t.test('UEFI VM netboots via OVMF PXE and snponly.efi, installs, and the next PXE boot hands back to the firmware', async (t) => {
  const images = await buildStandin();
  const address = '198.18.245.1';
  const bed = await startInstallerBed({
    tag: 'qvu',
    octet: 245,
    config: SAMPLE_CONFIG,
    // OVMF shows its boot manager menu when a boot option returns success (iPXE `exit`);
    // an error status (`exit 1`) makes it go on to the next boot option.
    ...netbootPlan(address, 'exit 1'),
    assets: dirname(images.kernel),
    tftpFiles: ['/usr/lib/ipxe/snponly.efi'],
    tftpMap: ['r ^http://.* snponly.efi'],
  });
  t.teardown(() => bed.destroy());

  const started = Date.now();
  const vm = await startVm({ rack: bed.rack, name: 'u1', firmware: 'uefi', mac: '52:54:00:18:f5:11', log: (l) => t.comment(l) });
  t.teardown(() => vm.stop());
  await bed.waitForEvent('installer-started', 240_000);
  const runningAt = Date.now();
  await vm.waitFor(/MASKIN-STANDIN: installed/, 120_000);
  const installedAt = Date.now();
  const mark = vm.serial().length;
  // After `exit 1` OVMF goes on to its next boot option. It reaches the disk (and startup.nsh)
  // only after its HTTPv4 boot option gives up, about 60 s more under TCG with a DHCP server that
  // does not answer HTTP boot; standinUefi.test.ts proves the disk boot itself.
  await vm.waitFor(/BdsDxe: failed to start Boot\d+ "UEFI PXEv4/, 240_000, mark);
  const handedBackAt = Date.now();

  t.same(bed.events().map((e) => e.step), ['installer-started', 'config-fetched', 'install-complete']);
  t.same(bed.events()[2], { step: 'install-complete', disk: '/dev/vda', firmware: 'uefi' });
  t.equal(bed.records.filter((r) => r.kind === 'request' && r.path === '/boot.ipxe').length, 2);
  const after = plainText(vm.serial().slice(mark));
  t.match(after, /maskin: boot local/, 'second boot ran the boot-local script');
  t.notMatch(after, /MASKIN-STANDIN: start|Boot Manager/, 'no second install, no firmware menu');
  t.comment(
    `accel ${vm.accel}: power-on → installer running ${((runningAt - started) / 1000).toFixed(1)} s, ` +
      `→ installed ${((installedAt - started) / 1000).toFixed(1)} s, → PXE handed back ${((handedBackAt - started) / 1000).toFixed(1)} s`,
  );
});
