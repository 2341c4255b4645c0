// Contract: every boot file the DHCP policy can name (bootFilesNamed) is served, byte for byte —
// TFTP names by our TFTP server, URLs by the HTTP app. Debian ships no arm64 iPXE build, so the
// boot dir here is Debian's files plus a stand-in snp-arm64.efi; on a rack with arm64 nodes the
// operator puts the real one there (the agent warns at start when a named file is missing).
import t from 'tap';
import { copyFile, mkdtemp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { Registry } from 'prom-client';
import { parseConfig } from '../../agent/config/load.js';
import { bootFilesNamed } from '../../agent/dhcp/server.js';
import { buildApp } from '../../agent/http/app.js';
import { directoryOf, type Manifest } from '../../agent/manifest/model.js';
import type { NodeRecord } from '../../agent/nodes/model.js';
import { NodeRegistry } from '../../agent/nodes/registry.js';
import { BootTokens, type BootGrant } from '../../agent/nodes/tokens.js';
import { openStore } from '../../agent/store/store.js';
import { createTftpService } from '../../agent/tftp/server.js';
import { fetchTftp } from '../tftp/rawClient.js';

t.test('every boot file DHCP can name is served', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'maskin-contract-'));
  const bootDir = path.join(dir, 'boot');
  await mkdir(bootDir);
  for (const f of ['undionly.kpxe', 'snponly.efi', 'ipxe.efi']) await copyFile(path.join('/usr/lib/ipxe', f), path.join(bootDir, f));
  await writeFile(path.join(bootDir, 'snp-arm64.efi'), Buffer.alloc(70_000, 0xaa));
  const config = parseConfig(
    `provisioning: { interface: lo, address: 127.0.0.1, subnet: 127.0.0.0/8 }
dhcp: { pool: { start: 127.0.0.100, end: 127.0.0.199 } }
ports: { http: 8088 }
bootBinariesDir: ${bootDir}
assetsDir: ${dir}
dataDir: ${dir}/data`,
    { env: {} },
  );
  const manifest: Manifest = {
    version: 1,
    images: [],
    settings: {},
    profiles: new Map(),
    nodes: [
      { id: 'n1', macs: ['52:54:00:00:00:01'], profile: 'p', patches: [], desired: 'installed', generation: 1, bootLocal: 'exit', uefiBootFile: 'ipxe.efi' },
    ],
  };
  const directory = directoryOf(manifest);
  const log = pino({ level: 'silent' });
  const store = await openStore(config.dataDir);
  const leases = { ipOf: () => undefined, macOf: () => undefined };
  const nodes = await NodeRegistry.open({ store: store.sublevel<NodeRecord>('nodes'), directory: () => directory, leases, now: () => new Date(), log });
  const tokens = await BootTokens.open(store.sublevel<BootGrant>('tokens'), 600);
  const app = await buildApp({ config, directory: () => directory, nodes, tokens, leases, log, metrics: new Registry(), startedAt: new Date() });
  const stop = new AbortController();
  const tftp = createTftpService({ root: bootDir, address: '127.0.0.1', port: 0, observer: nodes, log, bounds: config.tftp });
  const running = tftp.run(stop.signal);
  const { port } = await tftp.ready;
  t.teardown(async () => {
    stop.abort();
    await running;
    await app.close();
    await nodes.flush();
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  const named = bootFilesNamed(config, directory);
  t.same(
    named
      .filter((n) => n.via === 'tftp')
      .map((n) => n.name)
      .sort(),
    ['ipxe.efi', 'snp-arm64.efi', 'snponly.efi', 'undionly.kpxe'],
  );
  t.ok(
    named.some((n) => n.via === 'http' && n.name.endsWith('/boot.ipxe')),
    'the iPXE script URL is among them',
  );
  for (const file of named) {
    if (file.via === 'tftp') {
      const got = await fetchTftp({ host: '127.0.0.1', port, file: file.name, blksize: 1468 });
      t.ok(got.data.equals(await readFile(path.join(bootDir, file.name))), `TFTP serves ${file.name}`);
    } else {
      t.ok(file.name.startsWith(config.httpBaseUrl + '/'), `${file.name} points at this agent`);
      const res = await app.inject({ url: file.name.slice(config.httpBaseUrl.length) });
      t.equal(res.statusCode, 200, `HTTP serves ${file.name}`);
      if (file.name.endsWith('/boot.ipxe')) t.match(res.body, /^#!ipxe\n/);
      else t.ok(res.rawPayload.equals(await readFile(path.join(bootDir, path.basename(file.name)))), `bytes of ${file.name}`);
    }
  }
});
