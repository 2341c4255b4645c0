// VM tier, verified cache: the profile pins its kernel and initramfs by digest and has no local assets.
// The agent prefetches them from an upstream with the Image Factory paths (busybox httpd in the
// rack), verifies them, and then — with the upstream stopped — a BIOS machine installs from the
// cache and boots from its disk. Rack 198.18.24.0/24.
import t from 'tap';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startAgentInRack } from '../bed/agent.js';
import { createRack, stopChild } from '../bed/netns.js';
import { startVm } from '../bed/qemu.js';
import { buildStandin, manifestFor, SCHEMATIC, standinDir, TALOS_VERSION } from './scenario.js';

const MAC = '52:54:00:6d:24:01';
const sha256 = async (file: string) =>
  `sha256:${createHash('sha256')
    .update(await readFile(file))
    .digest('hex')}`;

t.test('installs from the verified cache with the upstream stopped', async (t) => {
  await buildStandin();
  const dir = await mkdtemp(path.join(tmpdir(), 'maskin-cached-vm-'));
  const rack = await createRack('cachevm', 24);
  t.teardown(async () => {
    await rack.destroy();
    await rm(dir, { recursive: true, force: true });
  });
  // The upstream: Image Factory layout, /image/<schematic>/<version>/<file>.
  const factory = path.join(dir, 'factory', 'image', SCHEMATIC, TALOS_VERSION);
  await mkdir(factory, { recursive: true });
  for (const file of ['kernel-amd64', 'initramfs-amd64.xz']) await symlink(path.join(standinDir, file), path.join(factory, file));
  const upstream = rack.spawn('busybox', ['httpd', '-f', '-p', '127.0.0.1:18090', '-h', path.join(dir, 'factory')]);
  const emptyAssets = path.join(dir, 'assets');
  await mkdir(emptyAssets);
  const kernel = await sha256(path.join(standinDir, 'kernel-amd64'));
  const initramfs = await sha256(path.join(standinDir, 'initramfs-amd64.xz'));
  const manifest = `${manifestFor([{ id: 'cached-n1', mac: MAC }])}images:\n  - { kind: kernel, profile: standin, digest: "${kernel}" }\n  - { kind: initramfs, profile: standin, digest: "${initramfs}" }\n`;
  const agent = await startAgentInRack(rack, { manifest, assetsDir: emptyAssets, extraConfig: 'images: { factoryUrl: "http://127.0.0.1:18090" }\n' });
  t.teardown(() => agent.stop());

  const status = async () =>
    JSON.parse(await rack.exec('curl', ['-sS', 'http://127.0.0.1:9180/v1/status'])) as {
      cache: { readiness: Record<string, boolean>; assets: { state: string }[] };
    };
  const end = Date.now() + 30_000;
  while (!(await status()).cache.readiness.standin) {
    if (Date.now() > end) throw new Error(`not prefetched: ${JSON.stringify((await status()).cache)}\n${agent.output().slice(-2000)}`);
    await new Promise((r) => setTimeout(r, 300));
  }
  t.same(
    (await status()).cache.assets.map((a) => a.state),
    ['cached', 'cached'],
    'both images cached and verified',
  );
  t.match(
    await agent.cli(['cache', 'status']),
    /profile standin: ready\n.*kernel-amd64 .*cached\n.*initramfs-amd64\.xz .*cached\n/s,
    'maskin-agent cache status',
  );
  await stopChild(upstream);
  t.not(await rack.exec('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', 'http://127.0.0.1:18090/']).catch(() => 'down'), '200', 'the upstream is gone');

  const vm = await startVm({ rack, name: 'c1', firmware: 'bios', mac: MAC });
  t.teardown(() => vm.stop());
  try {
    await vm.waitFor(/MASKIN-STANDIN: installed/, 240_000);
    await vm.waitFor(/MASKIN-DISK-BOOT bios/, 180_000, vm.serial().indexOf('MASKIN-STANDIN: installed'));
  } catch (err) {
    t.comment(`serial:\n${vm.serial().slice(-3000)}\nagent:\n${agent.output().slice(-3000)}`);
    throw err;
  }
  const node = await agent.waitForNode('cached-n1', (n) => n.state === 'installed', 30_000);
  const downloads = node.timeline.filter((s) => s.step === 'asset-download');
  t.same(
    downloads.map((s) => s.detail.status),
    [200, 200],
    'kernel and initramfs served',
  );
  t.ok(downloads.every((s) => String(s.detail.path).startsWith(`/assets/${SCHEMATIC}/${TALOS_VERSION}/`)));
});
