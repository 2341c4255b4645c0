// The stand-in Talos installer under BIOS, without the agent: a real QEMU VM boots the stand-in
// kernel directly, gets an address from busybox udhcpd, fetches its config (after two 404s, which
// Talos answers by retrying), reports events, writes the disk; a second run boots that disk.
// Subnets of this file: 198.18.240.0/24 (rack 'sti') and 198.18.242.0/24 (rack 'sti2').
import t from 'tap';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDisk, plainText, startVm } from '../bed/qemu.js';
import { buildStandin, SAMPLE_CONFIG, startInstallerBed, talosCmdline } from './bed/installerBed.js';

t.test('stand-in installs under BIOS, reports events in order, and the disk OS then boots and listens', async (t) => {
  const started = Date.now();
  const images = await buildStandin();
  const bed = await startInstallerBed({ tag: 'sti', octet: 240, config: SAMPLE_CONFIG, failFirst: 2, serveAssets: true });
  t.teardown(() => bed.destroy());
  const dir = await mkdtemp(join(tmpdir(), 'maskin-sti-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const disk = join(dir, 'disk.raw');
  await createDisk(disk);

  const install = await startVm({
    rack: bed.rack,
    name: 'i1',
    firmware: 'bios',
    mac: '52:54:00:18:f0:11',
    disk,
    bootOrder: 'c',
    direct: { kernel: images.kernel, initrd: images.initrd, append: `${talosCmdline(bed)} maskin.diskos=${bed.assetsUrl}` },
    log: (line) => t.comment(line),
  });
  t.teardown(() => install.stop());
  await install.waitFor(/MASKIN-STANDIN: installed/, 180_000);
  const installedAt = Date.now();
  // reboot -f follows; with -kernel QEMU would boot the stand-in again, so stop here.
  await install.stop();

  t.same(
    bed.events().map((e) => e.step),
    ['installer-started', 'time-sync', 'config-fetched', 'install-complete'],
    'events arrive in order',
  );
  const [, timeSync, fetched, complete] = bed.events();
  // The bed's udhcpd offers no option 42.
  t.same(timeSync, { step: 'time-sync', result: 'no-server', reason: 'DHCP offered no NTP server (option 42)' });
  t.equal(fetched?.['bytes'], Buffer.byteLength(SAMPLE_CONFIG), 'config-fetched reports the config size');
  t.same(complete, { step: 'install-complete', disk: '/dev/vda', firmware: 'bios' });
  t.ok(
    bed.records.filter((r) => r.kind === 'event').every((r) => r.contentType === 'application/json'),
    'events are posted as application/json',
  );
  t.same(
    bed.records.filter((r) => r.kind === 'request' && r.path === '/config').map((r) => r.status),
    [404, 404, 200],
    'config fetch retried past 404s',
  );
  const sector = (await readFile(disk)).subarray(0, 512);
  t.equal(sector.readUInt16LE(510), 0xaa55, 'boot sector signature written');
  t.same(
    bed.records.filter((r) => r.kind === 'request' && r.path?.startsWith('/assets/')).map((r) => `${r.path} ${r.status}`),
    ['/assets/kernel-amd64 200', '/assets/initramfs-amd64.xz 200'],
    'the disk OS kernel and initramfs were fetched from maskin.diskos',
  );

  const second = await startVm({
    rack: bed.rack,
    name: 'i2',
    firmware: 'bios',
    mac: '52:54:00:18:f0:11',
    disk,
    bootOrder: 'c',
    log: (line) => t.comment(line),
  });
  t.teardown(() => second.stop());
  await second.waitFor(/MASKIN-DISK-BOOT bios-linux/, 120_000);
  const [, address] = await second.waitFor(/network up: ([0-9.]+)\//, 60_000);
  await second.waitFor(/disk OS listening on :50000/, 30_000);
  t.notMatch(plainText(second.serial()), /installer-started|MASKIN-STANDIN: installed/, 'second boot came from disk, not the installer');
  const answer = await bed.rack.exec('curl', ['-sS', '--max-time', '10', `http://${address}:50000/`]);
  t.match(answer, /maskin stand-in disk OS/, 'the disk OS answers on the Talos API port');
  await second.stop();
  t.comment(
    `accel ${install.accel}: install ${((installedAt - started) / 1000).toFixed(1)} s, ` + `disk boot ${((Date.now() - installedAt) / 1000).toFixed(1)} s`,
  );
});

t.test('stand-in refuses a command line without pti=on and reports why', async (t) => {
  const images = await buildStandin();
  const bed = await startInstallerBed({ tag: 'sti2', octet: 242, config: SAMPLE_CONFIG });
  t.teardown(() => bed.destroy());
  const vm = await startVm({
    rack: bed.rack,
    name: 'n1',
    firmware: 'bios',
    mac: '52:54:00:18:f2:11',
    bootOrder: 'c',
    direct: { kernel: images.kernel, initrd: images.initrd, append: talosCmdline(bed, ['pti=on']) },
    log: (line) => t.comment(line),
  });
  t.teardown(() => vm.stop());
  await bed.waitForEvent('install-failed', 120_000);
  t.same(bed.events(), [{ step: 'installer-started' }, { step: 'install-failed', reason: 'missing kernel arg pti=on' }]);
  t.equal(bed.records.filter((r) => r.path === '/config').length, 0, 'no config fetched');
  // The stand-in powers the machine off after a failure, so QEMU exits by itself.
  let timer: NodeJS.Timeout | undefined;
  const code = await Promise.race([vm.exited, new Promise((r) => (timer = setTimeout(() => r('timeout'), 30_000)))]);
  clearTimeout(timer);
  t.equal(code, 0, 'VM powered off');
});
