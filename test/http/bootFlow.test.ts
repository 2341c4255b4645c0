// The HTTP side of a boot, through app.inject(): chain script, node pick by MAC, install script
// with a per-boot token, config only to that boot, installer report, boot-local after install,
// reprovision on a generation bump, discovery for unknown machines, admin API guard.
import t from 'tap';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { Registry } from 'prom-client';
import { parse as parseYaml, parseAllDocuments } from 'yaml';
import { parseConfig } from '../../agent/config/load.js';
import { buildAdminApp, buildApp } from '../../agent/http/app.js';
import { loadManifestFile } from '../../agent/manifest/load.js';
import { directoryOf, type NodeDirectory } from '../../agent/manifest/model.js';
import type { NodeRecord } from '../../agent/nodes/model.js';
import { NodeRegistry } from '../../agent/nodes/registry.js';
import { BootTokens, type BootGrant } from '../../agent/nodes/tokens.js';
import { openStore } from '../../agent/store/store.js';
import { talosChecks } from '../../agent/talos/checks.js';
import { VANILLA_SCHEMATIC } from '../fakes/manifest.js';

const examples = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../config/examples');
const SCHEMATIC = VANILLA_SCHEMATIC;

const manifestText = (generation: number) => `
version: 1
profiles:
  w:
    talosVersion: v1.13.9
    schematic: ${SCHEMATIC}
    arch: amd64
    install: { disk: /dev/vda }
    machineConfigFile: ${path.join(examples, 'worker.machineconfig.yaml')}
nodes:
  - { id: n1, macs: ["52:54:00:aa:00:01"], profile: w, hostname: node-one, generation: ${generation}, bootLocal: exit }
  - { id: n2, macs: ["52:54:00:aa:00:02"], profile: w, bootLocal: http-404 }
  - { id: n3, macs: ["52:54:00:aa:00:03"], profile: w, desired: discovery }
  - { id: n4, macs: ["52:54:00:aa:04:01", "52:54:00:aa:04:02"], profile: w, bootLocal: exit }
  - { id: n5, macs: ["52:54:00:aa:00:05"], profile: w, desired: decommissioned }
`;

async function setup(t: { teardown(fn: () => unknown): void }) {
  const dir = await mkdtemp(path.join(tmpdir(), 'maskin-http-'));
  const assets = path.join(dir, 'assets');
  await mkdir(path.join(assets, SCHEMATIC, 'v1.13.9'), { recursive: true });
  await writeFile(path.join(assets, SCHEMATIC, 'v1.13.9', 'kernel-amd64'), Buffer.alloc(4096, 7));
  const manifestFile = path.join(dir, 'manifest.yaml');
  await writeFile(manifestFile, manifestText(1));
  const config = parseConfig(
    `provisioning: { interface: prov0, address: 198.18.9.1, subnet: 198.18.9.0/24 }
dhcp: { pool: { start: 198.18.9.100, end: 198.18.9.199 } }
assetsDir: ${assets}
dataDir: ${dir}/data
manifestFile: ${manifestFile}`,
    { env: { MASKIN_ADMIN_TOKEN: 'admin-secret' } },
  );
  const store = await openStore(config.dataDir);
  let directory: NodeDirectory = directoryOf(loadManifestFile(manifestFile, talosChecks));
  // Script requests count only from the address leased to the MAC they name.
  const leased = new Map([
    ['52:54:00:aa:00:01', '198.18.9.101'],
    ['52:54:00:aa:00:02', '198.18.9.102'],
    ['52:54:00:aa:00:03', '198.18.9.103'],
    ['52:54:00:aa:04:01', '198.18.9.141'],
    ['52:54:00:aa:04:02', '198.18.9.142'],
    ['52:54:00:aa:00:05', '198.18.9.105'],
    ['52:54:00:ff:00:09', '198.18.9.150'],
  ]);
  const leases = { ipOf: (mac: string) => leased.get(mac), macOf: (ip: string) => [...leased].find(([, v]) => v === ip)?.[0] };
  let logged = '';
  const log = pino({ level: 'trace' }, new Writable({ write: (chunk, _enc, cb) => ((logged += chunk.toString()), cb()) }));
  const nodes = await NodeRegistry.open({ store: store.sublevel<NodeRecord>('nodes'), directory: () => directory, leases, now: () => new Date(), log });
  const tokens = await BootTokens.open(store.sublevel<BootGrant>('tokens'), 600);
  const deps = { config, directory: () => directory, nodes, tokens, leases, log, metrics: new Registry(), startedAt: new Date() };
  const app = await buildApp(deps);
  const admin = await buildAdminApp(deps);
  t.teardown(async () => {
    await app.close();
    await admin.close();
    await nodes.flush();
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });
  return {
    app,
    admin,
    nodes,
    logs: () => logged,
    bump: async (generation: number) => {
      await writeFile(manifestFile, manifestText(generation));
      directory = directoryOf(loadManifestFile(manifestFile, talosChecks));
    },
  };
}

const ipxeUrl = (mac: string, platform = 'efi') =>
  `/ipxe?mac=${mac}&uuid=11111111-2222-3333-4444-555555555555&serial=SER%201&manufacturer=QEMU&product=Standard%20PC%20(i440FX%20+%20PIIX,%201996)&buildarch=x86_64&platform=${platform}`;
const tokenOf = (script: string): string => /\/v1\/boot\/([A-Za-z0-9_-]+)\/config/.exec(script)![1]!;

t.test('a known node installs, reports, and is then sent to its disk', async (t) => {
  const { app, nodes, logs, bump } = await setup(t);
  const chain = await app.inject({ url: '/boot.ipxe', remoteAddress: '198.18.9.101' });
  t.equal(chain.statusCode, 200);
  t.match(chain.body, /^#!ipxe\n/);
  t.match(chain.body, /http:\/\/198\.18\.9\.1\/ipxe\?mac=\$\{netX\/mac:hexhyp\}/);

  const first = await app.inject({ url: ipxeUrl('52:54:00:aa:00:01'), remoteAddress: '198.18.9.101' });
  t.equal(first.statusCode, 200);
  t.match(first.body, /kernel http:\/\/198\.18\.9\.1\/assets\/376567988ad3.*\/v1\.13\.9\/kernel-amd64 initrd=initramfs-amd64\.xz /);
  t.match(first.body, /talos\.platform=metal/);
  t.match(first.body, /slab_nomerge/);
  t.match(first.body, /pti=on/);
  t.match(first.body, /initrd http:\/\/198\.18\.9\.1\/assets\/.*\/initramfs-amd64\.xz/);
  const n1 = nodes.get('n1')!;
  t.equal(n1.state, 'installing');
  t.same([n1.facts.serial, n1.facts.manufacturer, n1.facts.platform, n1.facts.ip], ['SER 1', 'QEMU', 'efi', '198.18.9.101']);
  t.equal(n1.facts.product, 'Standard PC (i440FX + PIIX, 1996)', 'a + left unencoded by iPXE stays a +');
  const token = tokenOf(first.body);

  // Someone else on the provisioning network: refused, and the refusal is on the timeline.
  const stolen = await app.inject({ url: `/v1/boot/${token}/config`, remoteAddress: '198.18.9.102' });
  t.equal(stolen.statusCode, 403);
  t.equal(nodes.get('n2')?.timeline.at(-1)?.step, 'config-refused');
  const guessed = await app.inject({ url: `/v1/boot/${'A'.repeat(32)}/config`, remoteAddress: '198.18.9.101' });
  t.equal(guessed.statusCode, 403);

  const config = await app.inject({ url: `/v1/boot/${token}/config`, remoteAddress: '198.18.9.101' });
  t.equal(config.statusCode, 200);
  t.match(config.headers['content-type'], /yaml/);
  const docs = parseAllDocuments(config.body).map((d) => d.toJS() as Record<string, any>);
  const v1 = docs.find((d) => d.version === 'v1alpha1')!;
  t.equal(v1.machine.install.disk, '/dev/vda');
  t.equal(docs.find((d) => d.kind === 'HostnameConfig')?.hostname ?? v1.machine.network?.hostname, 'node-one');
  t.equal(
    nodes.get('n1')!.timeline.some((s) => s.step === 'config-served'),
    true,
  );

  const bad = await app.inject({ method: 'POST', url: `/v1/boot/${token}/events`, remoteAddress: '198.18.9.101', payload: { nope: 1 } });
  t.equal(bad.statusCode, 400);
  const report = await app.inject({
    method: 'POST',
    url: `/v1/boot/${token}/events`,
    remoteAddress: '198.18.9.101',
    payload: { step: 'install-complete', disk: '/dev/vda' },
  });
  t.equal(report.statusCode, 202);
  t.equal(nodes.get('n1')!.state, 'installed');
  // The stand-in's time-sync reports (test/standin/init): kept whole on the timeline, offset a number.
  for (const payload of [
    { step: 'time-sync', result: 'synced', server: '198.18.9.1', offsetSeconds: -0.001438119 },
    { step: 'time-sync', result: 'no-answer', server: '198.18.9.1 198.18.9.2', timeoutSeconds: 3 },
    { step: 'time-sync', result: 'no-server', reason: 'DHCP offered no NTP server (option 42)' },
  ]) {
    const sync = await app.inject({ method: 'POST', url: `/v1/boot/${token}/events`, remoteAddress: '198.18.9.101', payload });
    t.equal(sync.statusCode, 202);
    const { step, detail } = nodes.get('n1')!.timeline.at(-1)!;
    t.same({ step, detail }, { step: 'installer-event', detail: payload }, `${payload.result} lands on the timeline`);
  }
  t.equal(nodes.get('n1')!.state, 'installed', 'time-sync reports change no state');

  const again = await app.inject({ url: ipxeUrl('52:54:00:aa:00:01'), remoteAddress: '198.18.9.101' });
  t.equal(again.body, '#!ipxe\necho maskin: installed, returning to firmware to boot from disk\nexit 1\n');
  t.equal(nodes.get('n1')!.timeline.at(-1)?.step, 'boot-local-served');

  // Secrets never reach the log: neither the token nor the config body.
  t.notMatch(logs(), token);
  t.notMatch(logs(), 'abcdef.0123456789abcdef');

  // A generation bump reprovisions; the old token is dead.
  await bump(2);
  const re = await app.inject({ url: ipxeUrl('52:54:00:aa:00:01', 'pcbios'), remoteAddress: '198.18.9.101' });
  t.match(re.body, /kernel .*kernel-amd64 talos\.platform=metal/, 'no initrd= on BIOS');
  t.equal(nodes.get('n1')!.state, 'installing');
  t.equal(nodes.get('n1')!.generation, 2);
  const old = await app.inject({ url: `/v1/boot/${token}/config`, remoteAddress: '198.18.9.101' });
  t.equal(old.statusCode, 403);
});

t.test('decommission without a BMC: the wipe script, its token fetches no config and reports only the wipe; then nothing to boot', async (t) => {
  const { app, nodes } = await setup(t);
  const from = '198.18.9.105';
  const wipe = await app.inject({ url: ipxeUrl('52:54:00:aa:00:05', 'pcbios'), remoteAddress: from });
  t.match(wipe.body, /talos\.experimental\.wipe=system/);
  t.notMatch(wipe.body, /talos\.config=/, 'no machine config on a wipe boot');
  t.equal(nodes.get('n5')?.state, 'decommissioning');
  const token = /\/v1\/boot\/([A-Za-z0-9_-]+)\/events/.exec(wipe.body)![1]!;
  const config = await app.inject({ url: `/v1/boot/${token}/config`, remoteAddress: from });
  t.equal(config.statusCode, 403);
  t.match(config.body, /not-an-install/);
  const post = (payload: Record<string, unknown>) => app.inject({ method: 'POST', url: `/v1/boot/${token}/events`, remoteAddress: from, payload });
  t.equal((await post({ step: 'install-complete', disk: '/dev/vda' })).statusCode, 202);
  t.equal(nodes.get('n5')?.state, 'decommissioning', 'a wipe token reports no install');
  t.equal((await post({ step: 'wipe-complete', disk: '/dev/vda' })).statusCode, 202);
  const n5 = nodes.get('n5')!;
  t.equal(n5.state, 'decommissioned', 'no BMC to power it off: decommissioned at the report');
  t.ok(n5.wipedAt);
  t.ok(n5.timeline.some((s) => s.step === 'wipe-reported'));
  t.equal((await post({ step: 'wipe-complete' })).statusCode, 403, 'the wipe token is spent');
  const after = await app.inject({ url: ipxeUrl('52:54:00:aa:00:05', 'pcbios'), remoteAddress: from });
  t.notMatch(after.body, /^kernel /m, 'a decommissioned node gets no kernel');
  t.match(after.body, /decommissioned/);
});

t.test('netbooting again after fetching the config counts as installed even without a report', async (t) => {
  const { app, nodes } = await setup(t);
  const first = await app.inject({ url: ipxeUrl('52:54:00:aa:00:02', 'pcbios'), remoteAddress: '198.18.9.102' });
  await app.inject({ url: `/v1/boot/${tokenOf(first.body)}/config`, remoteAddress: '198.18.9.102' });
  const second = await app.inject({ url: ipxeUrl('52:54:00:aa:00:02', 'pcbios'), remoteAddress: '198.18.9.102' });
  t.equal(second.statusCode, 404, 'http-404 boot-local method');
  t.equal(nodes.get('n2')!.state, 'installed');
});

t.test('a node with two MACs booting from its second is found by that MAC and installs through it', async (t) => {
  const { app, nodes } = await setup(t);
  // A request counts only for the MAC whose address it comes from, even within one node.
  const first = await app.inject({ url: ipxeUrl('52-54-00-aa-04-01', 'pcbios'), remoteAddress: '198.18.9.142' });
  t.match(first.body, /refused: this request came from 198\.18\.9\.142, which is neither the address this agent leased to 52:54:00:aa:04:01/);
  t.equal(nodes.get('n4')?.state ?? 'discovered', 'discovered');

  const install = await app.inject({ url: ipxeUrl('52-54-00-aa-04-02', 'pcbios'), remoteAddress: '198.18.9.142' });
  t.match(install.body, /echo maskin: installing Talos v1\.13\.9 on node n4\n/);
  const n4 = nodes.get('n4')!;
  t.equal(n4.state, 'installing');
  t.same(n4.macs, ['52:54:00:aa:04:01', '52:54:00:aa:04:02'], 'one record for both MACs, in manifest order');
  t.same([n4.facts.bootMac, n4.facts.ip], ['52:54:00:aa:04:02', '198.18.9.142']);
  const served = n4.timeline.find((s) => s.step === 'script-served');
  t.same([served?.detail.mac, served?.detail.kind], ['52:54:00:aa:04:02', 'install'], 'the step names the MAC that booted');
  t.notOk(nodes.get('mac-52-54-00-aa-04-02'), 'no record of its own for the second MAC');

  const token = tokenOf(install.body);
  const elsewhere = await app.inject({ url: `/v1/boot/${token}/config`, remoteAddress: '198.18.9.102' });
  t.equal(elsewhere.statusCode, 403, 'not to another node');
  const config = await app.inject({ url: `/v1/boot/${token}/config`, remoteAddress: '198.18.9.142' });
  t.equal(config.statusCode, 200, 'the config goes to the address leased to the MAC that booted');
  // Talos runs DHCP on every link: its fetch may leave through the node's other NIC.
  const sibling = await app.inject({ url: `/v1/boot/${token}/config`, remoteAddress: '198.18.9.141' });
  t.equal(sibling.statusCode, 200, 'and to the address leased to its other MAC');
  const again = await app.inject({ url: ipxeUrl('52-54-00-aa-04-02', 'pcbios'), remoteAddress: '198.18.9.142' });
  t.match(again.body, /installed, returning to firmware/);
  t.equal(nodes.get('n4')!.state, 'installed');
});

t.test('an unknown machine is discovered, never installed', async (t) => {
  const { app, nodes } = await setup(t);
  const res = await app.inject({ url: ipxeUrl('52:54:00:ff:00:09'), remoteAddress: '198.18.9.150' });
  t.equal(res.body, '#!ipxe\necho maskin: unknown machine 52:54:00:ff:00:09 discovered, not installing\nsleep 10\nexit 1\n');
  const rec = nodes.get('mac-52-54-00-ff-00-09')!;
  t.equal(rec.known, false);
  t.equal(rec.state, 'discovered');
  t.equal(rec.facts.uuid, '11111111-2222-3333-4444-555555555555');
  const waiting = await app.inject({ url: ipxeUrl('52:54:00:aa:00:03'), remoteAddress: '198.18.9.103' });
  t.match(waiting.body, /not installing: desired state is discovery/);
  t.notMatch(waiting.body, /kernel/);
  const noMac = await app.inject({ url: '/ipxe?mac=', remoteAddress: '198.18.9.150' });
  t.equal(noMac.statusCode, 400);
});

t.test('assets have Range, HEAD and ETag; admin needs loopback or the token, on its own listener', async (t) => {
  const { app, admin } = await setup(t);
  const url = `/assets/${SCHEMATIC}/v1.13.9/kernel-amd64`;
  const full = await app.inject({ url, remoteAddress: '198.18.9.101' });
  t.equal(full.statusCode, 200);
  t.equal(full.rawPayload.length, 4096);
  const etag = full.headers.etag as string;
  t.ok(etag, 'etag');
  const cached = await app.inject({ url, headers: { 'if-none-match': etag }, remoteAddress: '198.18.9.101' });
  t.equal(cached.statusCode, 304);
  const part = await app.inject({ url, headers: { range: 'bytes=100-199' }, remoteAddress: '198.18.9.101' });
  t.equal(part.statusCode, 206);
  t.equal(part.rawPayload.length, 100);
  const head = await app.inject({ method: 'HEAD', url, remoteAddress: '198.18.9.101' });
  t.equal(head.headers['content-length'], '4096');
  const escape = await app.inject({ url: '/assets/..%2f..%2fetc%2fpasswd', remoteAddress: '198.18.9.101' });
  t.not(escape.statusCode, 200);
  const bootFile = await app.inject({ url: '/boot/snponly.efi', remoteAddress: '198.18.9.101' });
  t.equal(bootFile.statusCode, 200);

  t.equal((await admin.inject({ url: '/v1/nodes', remoteAddress: '198.18.9.101' })).statusCode, 401);
  t.equal((await admin.inject({ url: '/v1/nodes', remoteAddress: '198.18.9.101', headers: { authorization: 'Bearer wrong' } })).statusCode, 401);
  const ok = await admin.inject({ url: '/v1/nodes', remoteAddress: '198.18.9.101', headers: { authorization: 'Bearer admin-secret' } });
  t.equal(ok.statusCode, 200);
  const local = await admin.inject({ url: '/v1/nodes/n1', remoteAddress: '127.0.0.1' });
  t.equal(local.statusCode, 200, 'loopback needs no token');
  t.equal(JSON.parse(local.body).timeline[0].step, 'asset-download', 'downloads are attributed by leased IP');
  t.same(JSON.parse(local.body).leases, [{ mac: '52:54:00:aa:00:01', ip: '198.18.9.101' }], "the node's bound leases are in its record");
  const missing = await admin.inject({ url: '/v1/nodes/nope', remoteAddress: '127.0.0.1' });
  t.equal(missing.statusCode, 404);
  for (const url of ['/v1/nodes', '/v1/status', '/metrics', '/ui'])
    t.equal((await app.inject({ url, remoteAddress: '127.0.0.1' })).statusCode, 404, `the boot server does not serve ${url}, even to loopback`);
  const health = parseYaml((await app.inject({ url: '/healthz' })).body);
  t.equal(health.status, 'ok');
  t.match(health.version, /^\d+\.\d+\.\d+/, '/healthz names the agent version');
});
