// The lifecycle through the real HTTP routes: the executor powers a node on through a fake BMC,
// the node's iPXE/config/installer requests go through buildApp's routes (decideBoot, tokens,
// machine config), and the executor follows the node to handed-over. Held nodes get no install
// script; a reprovisioned node's config wipes the disk under `wipe: on-reprovision`.
import t from 'tap';
import { mkdtemp, mkdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { Registry } from 'prom-client';
import { parseAllDocuments } from 'yaml';
import { parseConfig } from '../../agent/config/load.js';
import { buildApp } from '../../agent/http/app.js';
import { parseManifest } from '../../agent/manifest/load.js';
import { directoryOf, type NodeDirectory } from '../../agent/manifest/model.js';
import type { NodeRecord } from '../../agent/nodes/model.js';
import { NodeRegistry } from '../../agent/nodes/registry.js';
import { BootTokens, type BootGrant } from '../../agent/nodes/tokens.js';
import { ProvisionExecutor } from '../../agent/provision/executor.js';
import { openStore } from '../../agent/store/store.js';
import { fakeRack } from '../fakes/bmcDriver.js';
import { FakeClock } from './fakeClock.js';
import { SETTINGS } from './harness.js';
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
  - { id: n1, macs: ["52:54:00:aa:01:01"], serial: SN-1, profile: w, generation: ${generation}, wipe: on-reprovision, bmc: { driver: redfish, address: "https://198.18.85.11" } }
  - { id: n2, macs: ["52:54:00:aa:01:02"], serial: SN-2, profile: w, bmc: { driver: redfish, address: "https://198.18.85.12" } }
`;
const ipxeUrl = (mac: string) => `/ipxe?mac=${mac}&platform=efi`;
const tokenOf = (script: string): string | undefined => /\/v1\/boot\/([A-Za-z0-9_-]+)\/config/.exec(script)?.[1];

t.test('BMC node through the real netboot routes: installed, handed over, reprovisioned with a wipe; held node gets no install', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'maskin-lc-'));
  await mkdir(path.join(dir, 'assets', SCHEMATIC, 'v1.13.9'), { recursive: true });
  const config = parseConfig(
    `provisioning: { interface: prov0, address: 198.18.85.1, subnet: 198.18.85.0/24 }\ndhcp: { pool: { start: 198.18.85.100, end: 198.18.85.199 } }\nassetsDir: ${dir}/assets\ndataDir: ${dir}/data\n`,
    { env: {} },
  );
  const store = await openStore(config.dataDir);
  let directory: NodeDirectory = directoryOf(parseManifest(manifestText(1)));
  const leased = new Map([
    ['52:54:00:aa:01:01', '198.18.85.101'],
    ['52:54:00:aa:01:02', '198.18.85.102'],
  ]);
  const leases = { ipOf: (mac: string) => leased.get(mac), macOf: (ip: string) => [...leased].find(([, v]) => v === ip)?.[0] };
  const log = pino({ level: 'silent' });
  const clock = new FakeClock();
  const nodes = await NodeRegistry.open({
    store: store.sublevel<NodeRecord>('nodes'),
    directory: () => directory,
    leases,
    now: () => new Date(clock.now()),
    log,
  });
  const tokens = await BootTokens.open(store.sublevel<BootGrant>('tokens'), 600);
  const rack = fakeRack(clock);
  const booted: string[] = [];
  const listening = new Set<string>();
  const executor = new ProvisionExecutor({
    directory: () => directory,
    nodes,
    clock,
    settings: SETTINGS,
    log,
    drivers: (node, creds) => {
      const d = rack.factory(node, creds);
      rack.server(node.id).onBoot = (via) => booted.push(`${node.id}:${via}`);
      return d;
    },
    credentials: () => ({ username: 'u', password: 'p' }),
    addressOf: (record) => leases.ipOf(record.macs[0]!),
    probe: async (ip) => {
      if (!listening.has(ip)) throw new Error('ECONNREFUSED');
    },
  });
  const app = await buildApp({
    config,
    directory: () => directory,
    nodes,
    tokens,
    leases,
    log,
    metrics: new Registry(),
    startedAt: new Date(),
    provisioner: executor,
  });
  t.teardown(async () => {
    await executor.close();
    await app.close();
    await nodes.flush();
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });
  rack.factory(directory.byId('n2')!, { username: '', password: '' });
  rack.server('n2').inventory = { ...rack.server('n2').inventory, serial: 'SOMEONE-ELSE' };

  /** The node PXE-boots: script, then (for an install) its config; returns the config's install.wipe. */
  const netboot = async (mac: string, ip: string): Promise<{ script: string; wipe?: boolean; token?: string }> => {
    const script = (await app.inject({ url: ipxeUrl(mac), remoteAddress: ip })).body;
    const token = tokenOf(script);
    if (!token) return { script };
    const body = (await app.inject({ url: `/v1/boot/${token}/config`, remoteAddress: ip })).body;
    const v1 = parseAllDocuments(body)
      .map((d) => d.toJS() as { version?: string; machine?: { install?: { wipe?: boolean } } })
      .find((d) => d.version === 'v1alpha1');
    return { script, token, ...(v1?.machine?.install?.wipe !== undefined ? { wipe: v1.machine.install.wipe } : {}) };
  };

  executor.reconcileAll();
  await clock.advance(1_000);
  t.same(booted, ['n1:pxe'], 'n1 powered on into PXE; n2 held, never powered');
  t.equal(nodes.get('n1')!.state, 'provisioning');
  t.equal(nodes.get('n2')!.state, 'held');

  const first = await netboot('52:54:00:aa:01:01', '198.18.85.101');
  t.ok(first.token, 'install script served');
  t.equal(first.wipe, false, 'first install: no wipe under on-reprovision');
  await clock.advance(1);
  t.equal(nodes.get('n1')!.lifecycle?.step, 'install', 'the executor follows the netboot path');
  t.equal(
    (await app.inject({ method: 'POST', url: `/v1/boot/${first.token}/events`, remoteAddress: '198.18.85.101', payload: { step: 'install-complete' } }))
      .statusCode,
    202,
  );
  listening.add('198.18.85.101');
  await clock.advance(5_000);
  t.equal(nodes.get('n1')!.state, 'handed-over');

  const held = await netboot('52:54:00:aa:01:02', '198.18.85.102');
  t.equal(held.token, undefined, 'a held node PXE-booting on its own gets no install script');
  t.match(held.script, /serial mismatch/, 'it is told why it waits');
  t.equal(nodes.get('n2')!.state, 'held');

  directory = directoryOf(parseManifest(manifestText(2)));
  listening.clear();
  executor.reconcileAll();
  await clock.advance(1_000);
  t.same(booted, ['n1:pxe', 'n1:pxe'], 'reprovision: powered into PXE again');
  const second = await netboot('52:54:00:aa:01:01', '198.18.85.101');
  t.equal(second.wipe, true, 'reinstall wipes under on-reprovision');
  await app.inject({ method: 'POST', url: `/v1/boot/${second.token}/events`, remoteAddress: '198.18.85.101', payload: { step: 'install-complete' } });
  listening.add('198.18.85.101');
  await clock.advance(5_000);
  const states = nodes
    .get('n1')!
    .timeline.filter((s) => s.step === 'state-changed')
    .map((s) => String(s.detail.to));
  t.same(states, [
    'verified',
    'provisioning',
    'installing',
    'installed',
    'handed-over',
    'reprovisioning',
    'provisioning',
    'installing',
    'installed',
    'handed-over',
  ]);
  t.equal(nodes.get('n1')!.generation, 2);
});
