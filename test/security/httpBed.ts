// The HTTP app as an attacker on the provisioning network meets it: a boot dir and an assets dir
// holding symlinks that lead out, a secret file outside both, one manifest node with a boot token,
// and every log line kept (pino at trace into a buffer) so tests can look for leaks.
import { generateKeyPairSync } from 'node:crypto';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { Registry } from 'prom-client';
import { parseConfig } from '../../agent/config/load.js';
import { buildAdminApp, buildApp } from '../../agent/http/app.js';
import { loadManifestFile } from '../../agent/manifest/load.js';
import { directoryOf } from '../../agent/manifest/model.js';
import type { NodeRecord } from '../../agent/nodes/model.js';
import { NodeRegistry } from '../../agent/nodes/registry.js';
import { BootTokens, type BootGrant } from '../../agent/nodes/tokens.js';
import { openStore } from '../../agent/store/store.js';
import { talosChecks } from '../../agent/talos/checks.js';
import { VANILLA_SCHEMATIC } from '../fakes/manifest.js';

const examples = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../config/examples');
export const SCHEMATIC = VANILLA_SCHEMATIC;
export const VERSION = 'v1.13.9';
export const NODE = { id: 'n1', mac: '52:54:00:aa:00:01', ip: '198.18.9.101' } as const;
export const ATTACKER = '198.18.9.66';
/** Bytes of the file outside every served root that a symlink points at. */
export const SECRET = 'SECRET-OUTSIDE-THE-ROOT';

export interface Bed {
  /** The boot server (the provisioning network's listener). */
  readonly app: FastifyInstance;
  /** The admin listener's app, on the same registry and log. */
  readonly admin: FastifyInstance;
  readonly dir: string;
  readonly bootDir: string;
  readonly assetsDir: string;
  readonly metrics: Registry;
  /** A live boot token of NODE, bound to NODE.ip. */
  readonly token: string;
  /** Every log line so far, parsed. */
  lines(): Record<string, unknown>[];
  /** Every log line so far, as written. */
  text(): string;
  metric(name: string, labels?: Record<string, string>): Promise<number>;
}

export interface BedOptions {
  /** YAML appended to the agent config. */
  readonly extraConfig?: string;
}

export async function httpBed(t: { teardown(fn: () => unknown): void }, opts: BedOptions = {}): Promise<Bed> {
  const dir = await mkdtemp(path.join(tmpdir(), 'maskin-sec-http-'));
  const bootDir = path.join(dir, 'boot');
  const assetsDir = path.join(dir, 'assets');
  const outside = path.join(dir, 'outside');
  const versionDir = path.join(assetsDir, SCHEMATIC, VERSION);
  await mkdir(path.join(bootDir, 'efi'), { recursive: true });
  await mkdir(versionDir, { recursive: true });
  await mkdir(outside);
  await writeFile(path.join(outside, 'secret.bin'), SECRET);
  await writeFile(path.join(bootDir, 'undionly.kpxe'), 'bios binary');
  await writeFile(path.join(bootDir, 'efi', 'snponly.efi'), 'uefi binary');
  await writeFile(path.join(bootDir, '.hidden'), 'hidden');
  await symlink('undionly.kpxe', path.join(bootDir, 'alias.kpxe'));
  await symlink(path.join(outside, 'secret.bin'), path.join(bootDir, 'escape.efi'));
  await symlink('../outside/secret.bin', path.join(bootDir, 'relative-escape.efi'));
  await symlink(outside, path.join(bootDir, 'outdir'));
  await writeFile(path.join(versionDir, 'kernel-amd64'), Buffer.alloc(4096, 7));
  await symlink(path.join(outside, 'secret.bin'), path.join(versionDir, 'initramfs-amd64.xz'));
  await symlink(outside, path.join(assetsDir, 'outdir'));
  const manifestFile = path.join(dir, 'manifest.yaml');
  await writeFile(
    manifestFile,
    `version: 1
profiles:
  w:
    talosVersion: ${VERSION}
    schematic: ${SCHEMATIC}
    arch: amd64
    install: { disk: /dev/vda }
    machineConfigFile: ${path.join(examples, 'worker.machineconfig.yaml')}
nodes:
  - { id: ${NODE.id}, macs: ["${NODE.mac}"], profile: w, hostname: node-one, generation: 1, bootLocal: exit }
`,
  );
  await writeFile(path.join(dir, 'k1.pub'), generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }));
  const config = parseConfig(
    `provisioning: { interface: prov0, address: 198.18.9.1, subnet: 198.18.9.0/24 }
dhcp: { pool: { start: 198.18.9.100, end: 198.18.9.199 } }
assetsDir: ${assetsDir}
bootBinariesDir: ${bootDir}
dataDir: ${dir}/data
manifestFile: ${manifestFile}
rackId: rack1
uplink: { trustedKeys: [{ id: k1, publicKeyFile: ${dir}/k1.pub }] }
${opts.extraConfig ?? ''}`,
    { env: { MASKIN_ADMIN_TOKEN: 'admin-secret', MASKIN_PUSH_TOKEN: 'push-secret' } },
  );
  const store = await openStore(config.dataDir);
  const directory = directoryOf(loadManifestFile(manifestFile, talosChecks));
  const leases = { ipOf: (mac: string) => (mac === NODE.mac ? NODE.ip : undefined), macOf: (ip: string) => (ip === NODE.ip ? NODE.mac : undefined) };
  let logged = '';
  const parse = (text: string): Record<string, unknown>[] =>
    text
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      logged += chunk.toString();
      cb();
    },
  });
  const log = pino({ level: 'trace' }, sink);
  const nodes = await NodeRegistry.open({ store: store.sublevel<NodeRecord>('nodes'), directory: () => directory, leases, now: () => new Date(), log });
  const tokens = await BootTokens.open(store.sublevel<BootGrant>('tokens'), 600);
  const token = await tokens.issue({ nodeId: NODE.id, mac: NODE.mac, ip: NODE.ip, generation: 1 });
  const metrics = new Registry();
  const manifest = {
    offer: async () => ({ outcome: 'unchanged' as const, version: 1 }),
    refusedPush: () => undefined,
  };
  const deps = { config, directory: () => directory, nodes, tokens, leases, log, metrics, startedAt: new Date(), manifest };
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
    dir,
    bootDir,
    assetsDir,
    metrics,
    token,
    lines: () => parse(logged),
    text: () => logged,
    async metric(name, labels = {}) {
      const found = (await metrics.getSingleMetric(name)?.get())?.values.find((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l));
      return found?.value ?? 0;
    },
  };
}

/**
 * One request with the path sent byte for byte as given (inject and WHATWG URL parsing would
 * normalise `..`, `%2e` and backslashes first), to the app listening on loopback.
 */
export async function rawGet(app: FastifyInstance, rawPath: string, method = 'GET'): Promise<{ status: number; body: string }> {
  if (!app.server.listening) await app.listen({ host: '127.0.0.1', port: 0 });
  const { port } = app.server.address() as AddressInfo;
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, method, path: rawPath }, (res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}
