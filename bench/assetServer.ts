// Child process for bench/assets.ts: the agent's real serving path for a cached, pinned asset
// (buildApp → assets.ts → blobResponse.sendBlob) over a real content store, alone in its process
// so the client's work and RSS are not counted, as with nginx.
//   node dist/bench/assetServer.js <workDir> <sourceFile> <digest> <assetPath>   → prints "listening <port>"
import { createReadStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import pino from 'pino';
import { Registry } from 'prom-client';
import { parseConfig } from '../agent/config/load.js';
import { buildApp } from '../agent/http/app.js';
import type { Download } from '../agent/images/model.js';
import type { AssetPin } from '../agent/images/pins.js';
import { openContentStore, type IndexEntry } from '../agent/images/store.js';
import { directoryOf, EMPTY_MANIFEST } from '../agent/manifest/model.js';
import type { NodeRecord } from '../agent/nodes/model.js';
import { NodeRegistry } from '../agent/nodes/registry.js';
import { BootTokens, type BootGrant } from '../agent/nodes/tokens.js';
import { openStore } from '../agent/store/store.js';

const [work, source, digest, assetPath] = process.argv.slice(2);
if (!work || !source || !digest || !assetPath) throw new Error('usage: assetServer <workDir> <sourceFile> <digest> <assetPath>');

const assetsDir = path.join(work, 'assets');
await mkdir(assetsDir, { recursive: true });
const config = parseConfig(
  `provisioning: { interface: prov0, address: 198.18.9.1, subnet: 198.18.9.0/24 }\ndhcp: { pool: { start: 198.18.9.100, end: 198.18.9.199 } }\ndataDir: ${work}/data\nassetsDir: ${assetsDir}\n`,
  { env: {} },
);
const log = pino({ level: 'silent' });
const db = await openStore(config.dataDir);
const store = await openContentStore({ dir: path.join(config.dataDir, 'cache'), index: db.sublevel<IndexEntry>('images'), limitBytes: 2 ** 40, log });
await store.put(digest, createReadStream(source, { highWaterMark: 1 << 20 }));
const pins = new Map<string, AssetPin>([[assetPath, { assetPath, digest, url: 'http://upstream.invalid/unused', profile: 'bench', kind: 'initramfs' }]]);
const images = {
  pins: () => pins,
  store,
  fetch: (): Download => {
    throw new Error('bench: the asset is cached; no download expected');
  },
  progress: () => undefined,
};
const directory = directoryOf(EMPTY_MANIFEST);
const leases = { ipOf: () => undefined, macOf: () => undefined };
const nodes = await NodeRegistry.open({ store: db.sublevel<NodeRecord>('nodes'), directory: () => directory, leases, now: () => new Date(), log });
const tokens = await BootTokens.open(db.sublevel<BootGrant>('tokens'), 600);
const app = await buildApp({ config, directory: () => directory, nodes, tokens, leases, log, metrics: new Registry(), startedAt: new Date(), images });
await app.listen({ host: '127.0.0.1', port: 0 });
process.stdout.write(`listening ${(app.server.address() as AddressInfo).port}\n`);

const stop = (): void => {
  void app
    .close()
    .then(() => db.close())
    .finally(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
