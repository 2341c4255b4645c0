// The appliance, really booted: image/build's disk image runs in QEMU (OVMF) as a rack's
// provisioning node, its prov0 NIC on the rack bridge and its config partition seeded as an operator
// would. Its agent comes up under the shipped unit (the syscall filter, the hardening)
// from the verified erofs root, prefetches the pinned stand-in installer from an upstream in the
// rack, and a second VM (SeaBIOS + iPXE) netboots through it, installs and boots from its disk.
// Then one flipped byte in the root partition: that image does not boot into an agent.
// Racks 198.18.31.0/24 (the boot checks) and 198.18.33.0/24 (the netboot): the bridge is .1 (and
// the upstream), the appliance .2. One file, so the image is built once.
import t, { type Test } from 'tap';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { repoRoot } from '../bed/agent.js';
import { createRack } from '../bed/netns.js';
import { startVm } from '../bed/qemu.js';
import { buildStandin, manifestFor, SCHEMATIC, standinDir, TALOS_VERSION } from '../e2e/scenario.js';
import { applianceImage, seededCopy, tamperRoot } from './bed/appliance.js';

const APPLIANCE_MAC = '52:54:00:6d:31:02';
const NODE_MAC = '52:54:00:6d:31:10';
const ADMIN_TOKEN = 'appliance-test-admin-token';
// The netboot case's rack, 198.18.33.0/24.
const NETBOOT_APPLIANCE_MAC = '52:54:00:6d:33:02';
const NETBOOT_NODE_MAC = '52:54:00:6d:33:10';
// Building the image (when build/image holds none of these inputs) takes minutes, then three boots.
t.setTimeout(1_800_000);

// Serial text without terminal control sequences, fit for a TAP comment.
const printable = (text: string): string => text.replace(/\x1b\[[0-9;?]*[A-Za-z]|\x1b[^[]/g, '').replace(/[^\n\x20-\x7e]/g, '');

const sha256 = async (file: string): Promise<string> =>
  `sha256:${createHash('sha256')
    .update(await readFile(file))
    .digest('hex')}`;

/**
 * A rack `198.18.<octet>.0/24` with the stand-in's upstream on its bridge (.1, Image Factory
 * layout, from which the appliance prefetches the pinned installer) and a copy of the image whose
 * config partition makes the appliance .2 on prov0, knowing one node `appl-n1` with `nodeMac`.
 */
async function seededAppliance(t: Test, tag: string, octet: number, applianceMac: string, nodeMac: string) {
  const built = await applianceImage((line) => t.comment(line));
  t.comment(built.buildSeconds === undefined ? 'image reused (same inputs)' : `image built in ${built.buildSeconds} s`);
  await buildStandin();
  const dir = await mkdtemp(path.join(tmpdir(), 'maskin-appliance-'));
  const rack = await createRack(tag, octet);
  t.teardown(async () => {
    await rack.destroy();
    await rm(dir, { recursive: true, force: true });
  });
  const factory = path.join(dir, 'factory', 'image', SCHEMATIC, TALOS_VERSION);
  await mkdir(factory, { recursive: true });
  for (const file of ['kernel-amd64', 'initramfs-amd64.xz']) await symlink(path.join(standinDir, file), path.join(factory, file));
  rack.spawn('busybox', ['httpd', '-f', '-p', `${rack.address}:18090`, '-h', path.join(dir, 'factory')]);

  const address = `198.18.${octet}.2`;
  const machineConfig = await readFile(path.join(repoRoot, 'config', 'examples', 'worker.machineconfig.yaml'), 'utf8');
  const manifest =
    manifestFor([{ id: 'appl-n1', mac: nodeMac }]).replace(/machineConfigFile: .*/, 'machineConfigFile: worker.machineconfig.yaml') +
    `images:\n  - { kind: kernel, profile: standin, digest: "${await sha256(path.join(standinDir, 'kernel-amd64'))}" }\n` +
    `  - { kind: initramfs, profile: standin, digest: "${await sha256(path.join(standinDir, 'initramfs-amd64.xz'))}" }\n`;
  const config = `agentId: appliance-test
provisioning: { interface: prov0, address: ${address}, subnet: 198.18.${octet}.0/24 }
bootBinariesDir: /usr/lib/ipxe
manifestFile: manifest.yaml
adminTokenFile: admin.token
images: { factoryUrl: "http://${rack.address}:18090" }
dhcp:
  pool: { start: 198.18.${octet}.100, end: 198.18.${octet}.199 }
  leaseTime: 600
  routers: [${rack.address}]
  ntp: [${address}]
logLevel: info
`;
  const disk = path.join(dir, 'appliance.img');
  await seededCopy(
    built.image,
    disk,
    {
      'agent.yaml': config,
      'manifest.yaml': manifest,
      'worker.machineconfig.yaml': machineConfig,
      'admin.token': `${ADMIN_TOKEN}\n`,
      'network/10-prov0.link': `[Match]\nMACAddress=${applianceMac}\n\n[Link]\nName=prov0\n`,
      'network/20-prov0.network': `[Match]\nName=prov0\n\n[Network]\nAddress=${address}/24\nLinkLocalAddressing=no\nIPv6AcceptRA=no\nConfigureWithoutCarrier=yes\n`,
    },
    dir,
  );
  return { rack, disk, address };
}

t.test('the appliance boots its verified root and checks its config under the unit', async (t) => {
  const { rack, disk } = await seededAppliance(t, 'appl', 31, APPLIANCE_MAC, NODE_MAC);

  const poweredOn = Date.now();
  const appliance = await startVm({ rack, name: 'ap', firmware: 'uefi', mac: APPLIANCE_MAC, disk, bootOrder: 'c', memoryMb: 1536 });
  t.teardown(() => appliance.stop());
  // The unit's ExecStartPre= (check-config under the unit's user and hardening) prints to the
  // console: the config partition, the verity root, /var and prov0 all had to be in place for it.
  try {
    await appliance.waitFor(/maskin-agent\[\d+\]: manifest ok: \/etc\/maskin-agent\/manifest\.yaml: 1 node/, 900_000);
  } catch (err) {
    t.comment(`appliance serial:\n${printable(appliance.serial()).slice(-8000)}`);
    throw err;
  }
  t.comment(`appliance power-on to the agent's config check passing under its unit: ${Math.round((Date.now() - poweredOn) / 1000)} s (${appliance.accel})`);
  const serial = printable(appliance.serial());
  t.match(serial, /device-mapper: verity: sha256/, 'the root went through dm-verity');
  t.match(serial, /Finished maskin-var\.service/, '/var was made on first boot');
  t.match(serial, /prov0: renamed from/, 'the NIC was named prov0 from the config partition');
  t.match(serial, /Mounted etc-maskin\\x2dagent\.mount/, 'the config partition is mounted at /etc/maskin-agent');
  t.match(serial, /config ok: \/etc\/maskin-agent\/agent\.yaml/, 'check-config accepts the seeded config');
  t.notMatch(serial, /code=killed, status=31\/SYS/, 'no process of the unit was killed by the syscall filter');
});

t.test('a root with one flipped byte does not boot into an agent', async (t) => {
  const built = await applianceImage((line) => t.comment(line));
  const dir = await mkdtemp(path.join(tmpdir(), 'maskin-tamper-'));
  const rack = await createRack('tamper', 32);
  t.teardown(async () => {
    await rack.destroy();
    await rm(dir, { recursive: true, force: true });
  });
  const disk = path.join(dir, 'tampered.img');
  await seededCopy(built.image, disk, {}, dir);
  await tamperRoot(disk, built.version);
  const vm = await startVm({ rack, name: 'tp', firmware: 'uefi', mac: '52:54:00:6d:32:02', disk, bootOrder: 'c', memoryMb: 1536 });
  t.teardown(() => vm.stop());
  // dm-verity finds the block's hash wrong on the first read of the superblock: the mount fails
  // and the initramfs stops (with --panic-on-corruption the kernel panics).
  const m = await vm.waitFor(/verity.*(corrupt|verification failed)|Kernel panic|Cannot mount|maskin: dm-verity refused/i, 600_000);
  t.ok(m, `boot stopped: ${m[0]}`);
  t.notMatch(vm.serial(), /Started maskin-agent\.service|Started.*maskin provisioning/i, 'no agent started');
});

t.test('the appliance boots from its image and provisions a machine', async (t) => {
  const { rack, disk, address } = await seededAppliance(t, 'applnb', 33, NETBOOT_APPLIANCE_MAC, NETBOOT_NODE_MAC);

  const poweredOn = Date.now();
  const appliance = await startVm({ rack, name: 'ap', firmware: 'uefi', mac: NETBOOT_APPLIANCE_MAC, disk, bootOrder: 'c', memoryMb: 1536 });
  t.teardown(() => appliance.stop());
  const healthz = async (): Promise<boolean> => {
    try {
      await rack.exec('curl', ['-sf', '--max-time', '3', `http://${address}/healthz`]);
      return true;
    } catch {
      return false;
    }
  };
  let ready = false;
  const deadline = Date.now() + 900_000;
  while (!ready && Date.now() < deadline) {
    if ((await Promise.race([appliance.exited.then(() => 'exited'), new Promise((r) => setTimeout(r, 2000, 'wait'))])) === 'exited') break;
    ready = await healthz();
  }
  if (!ready) t.comment(`appliance serial:\n${printable(appliance.serial()).slice(-8000)}`);
  t.ok(ready, 'the appliance agent answers /healthz on its provisioning address');
  if (!ready) return;
  const bootToReady = Math.round((Date.now() - poweredOn) / 1000);
  t.comment(`appliance power-on to agent ready: ${bootToReady} s (${appliance.accel})`);

  const node = await startVm({ rack, name: 'n1', firmware: 'bios', mac: NETBOOT_NODE_MAC });
  t.teardown(() => node.stop());
  const nodeOn = Date.now();
  try {
    await node.waitFor(/MASKIN-STANDIN: installed/, 420_000);
    const installedAt = node.serial().length;
    await node.waitFor(/MASKIN-DISK-BOOT bios/, 240_000, installedAt);
  } catch (err) {
    t.comment(`node serial:\n${printable(node.serial()).slice(-4000)}\nappliance serial:\n${printable(appliance.serial()).slice(-4000)}`);
    throw err;
  }
  t.comment(`node power-on to booted from disk through the appliance: ${Math.round((Date.now() - nodeOn) / 1000)} s`);
  const record = JSON.parse(
    await rack.exec('curl', ['-sf', '--max-time', '10', '-H', `authorization: Bearer ${ADMIN_TOKEN}`, `http://${address}/v1/nodes/appl-n1`]),
  ) as { state: string; timeline: { step: string }[] };
  t.equal(record.state, 'installed', 'the appliance recorded the node installed');
  t.ok(
    record.timeline.some((s) => s.step === 'boot-local-served'),
    'and told it to boot from its disk',
  );
});
