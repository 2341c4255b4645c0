// The stand-in Talos installer under UEFI (OVMF), without the agent: OVMF boots the stand-in
// kernel directly, the installer sees /sys/firmware/efi and writes a GPT disk with an EFI System
// Partition; a second run boots that disk, OVMF finds no boot loader, falls through to its
// built-in shell, which runs startup.nsh from the ESP.
// Subnet of this file: 198.18.241.0/24 (rack 'stu').
import t from 'tap';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDisk, plainText, startVm } from '../bed/qemu.js';
import { buildStandin, SAMPLE_CONFIG, startInstallerBed, talosCmdline } from './bed/installerBed.js';

t.test('stand-in installs under UEFI and the disk then boots to startup.nsh', async (t) => {
  const started = Date.now();
  const images = await buildStandin();
  const bed = await startInstallerBed({ tag: 'stu', octet: 241, config: SAMPLE_CONFIG });
  t.teardown(() => bed.destroy());
  const dir = await mkdtemp(join(tmpdir(), 'maskin-stu-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const disk = join(dir, 'disk.raw');
  await createDisk(disk);

  const install = await startVm({
    rack: bed.rack,
    name: 'u1',
    firmware: 'uefi',
    mac: '52:54:00:18:f1:11',
    disk,
    bootOrder: 'c',
    // On EFI the kernel sees the initrd only when the command line names it (BRIEF §3).
    direct: { kernel: images.kernel, initrd: images.initrd, append: `initrd=initramfs-amd64.xz ${talosCmdline(bed)}` },
    log: (line) => t.comment(line),
  });
  t.teardown(() => install.stop());
  await install.waitFor(/MASKIN-STANDIN: installed/, 240_000);
  const installedAt = Date.now();
  await install.stop();

  t.same(
    bed.events().map((e) => e.step),
    ['installer-started', 'config-fetched', 'install-complete'],
    'events arrive in order',
  );
  t.same(bed.events()[2], { step: 'install-complete', disk: '/dev/vda', firmware: 'uefi' });
  const head = await readFile(disk);
  t.equal(head.subarray(512, 520).toString('latin1'), 'EFI PART', 'GPT header written');

  const second = await startVm({
    rack: bed.rack,
    name: 'u2',
    firmware: 'uefi',
    mac: '52:54:00:18:f1:11',
    disk,
    bootOrder: 'c',
    network: false,
    log: (line) => t.comment(line),
  });
  t.teardown(() => second.stop());
  await second.waitFor(/MASKIN-DISK-BOOT uefi/, 120_000);
  const text = plainText(second.serial());
  t.match(text, /FS0: .*\n.*HD\(1,GPT,/, 'OVMF mapped the ESP on the installed disk');
  t.match(text, /^MASKIN-DISK-BOOT uefi$/m, 'startup.nsh ran (its output, not an echoed command)');
  t.notMatch(text, /MASKIN-STANDIN/, 'second boot came from disk, not the stand-in');
  await second.stop();
  t.comment(
    `accel ${install.accel}: install ${((installedAt - started) / 1000).toFixed(1)} s, ` +
      `disk boot to shell ${((Date.now() - installedAt) / 1000).toFixed(1)} s`,
  );
});
