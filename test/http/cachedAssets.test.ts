// Pinned assets come from the verified cache with ETag = digest, If-None-Match, Range and HEAD;
// one not cached yet starts a single download and streams from it.
import t from 'tap';
import { createHash } from 'node:crypto';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import pino from 'pino';
import { Registry } from 'prom-client';
import { parseConfig } from '../../agent/config/load.js';
import { buildApp } from '../../agent/http/app.js';
import { parseRange } from '../../agent/http/blobResponse.js';
import type { Download } from '../../agent/images/model.js';
import type { AssetPin } from '../../agent/images/pins.js';
import { directoryOf, EMPTY_MANIFEST } from '../../agent/manifest/model.js';
import type { NodeRecord } from '../../agent/nodes/model.js';
import { NodeRegistry } from '../../agent/nodes/registry.js';
import { BootTokens, type BootGrant } from '../../agent/nodes/tokens.js';
import { openStore } from '../../agent/store/store.js';
import { fakeContentStore } from '../fakes/contentStore.js';
import { nodeFixture, profileFixture } from '../fakes/manifest.js';

const digestOf = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

t.test('parseRange: RFC 9110 single ranges', async (t) => {
  t.same(parseRange(undefined, 100), { kind: 'full' });
  t.same(parseRange('bytes=0-9', 100), { kind: 'partial', start: 0, end: 9 });
  t.same(parseRange('bytes=90-', 100), { kind: 'partial', start: 90, end: 99 });
  t.same(parseRange('bytes=-10', 100), { kind: 'partial', start: 90, end: 99 });
  t.same(parseRange('bytes=50-500', 100), { kind: 'partial', start: 50, end: 99 });
  t.same(parseRange('bytes=100-', 100), { kind: 'unsatisfiable' });
  t.same(parseRange('bytes=-0', 100), { kind: 'unsatisfiable' });
  t.same(parseRange('bytes=0-1,5-6', 100), { kind: 'full' }, 'multiple ranges: served whole');
  t.same(parseRange('items=0-1', 100), { kind: 'full' });
});

t.test('cached, and not yet cached, pinned assets', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'maskin-cached-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await mkdir(path.join(dir, 'blobs'));
  const config = parseConfig(
    `provisioning: { interface: prov0, address: 198.18.9.1, subnet: 198.18.9.0/24 }\ndhcp: { pool: { start: 198.18.9.100, end: 198.18.9.199 } }\ndataDir: ${dir}/data\nassetsDir: ${dir}\n`,
    { env: {} },
  );
  const store = fakeContentStore(path.join(dir, 'blobs'));
  const kernel = Buffer.alloc(300_000, 3);
  await store.put(digestOf(kernel), Readable.from([kernel]));
  const initramfs = Buffer.alloc(50_000, 9);
  const fetches: string[] = [];
  const pins = new Map<string, AssetPin>([
    ['s/v1.13.9/kernel-amd64', { assetPath: 's/v1.13.9/kernel-amd64', digest: digestOf(kernel), url: 'http://up/k', profile: 'p', kind: 'kernel' }],
    [
      's/v1.13.9/initramfs-amd64.xz',
      { assetPath: 's/v1.13.9/initramfs-amd64.xz', digest: digestOf(initramfs), size: initramfs.length, url: 'http://up/i', profile: 'p', kind: 'initramfs' },
    ],
  ]);
  let downloading = true;
  let permanent = true;
  const images = {
    pins: () => pins,
    store,
    fetch: (digest: string, source: { url: string }): Download => {
      fetches.push(`${digest} ${source.url}`);
      return {
        digest,
        progress: () => ({ digest, received: 0 }),
        stream: () => Readable.from([initramfs.subarray(0, 1000), initramfs.subarray(1000)]),
        done: new Promise(() => {}),
      };
    },
    progress: (digest: string) => (downloading && digest === digestOf(initramfs) ? { digest, received: 25_000, total: 50_000 } : undefined),
    failure: (digest: string) =>
      !downloading && digest === digestOf(initramfs) ? { reason: `digest mismatch: expected ${digest}, got sha256:${'b'.repeat(64)}`, permanent } : undefined,
  };
  const db = await openStore(config.dataDir);
  const log = pino({ level: 'silent' });
  const directory = directoryOf({
    ...EMPTY_MANIFEST,
    profiles: new Map([['workers', profileFixture({ schematic: 's' })]]),
    nodes: [nodeFixture({ macs: ['52:54:00:00:00:07'] })],
  });
  // Script requests count only from the address leased to the MAC they name.
  const leases = {
    ipOf: (mac: string) => (mac === '52:54:00:00:00:07' ? '198.18.9.107' : undefined),
    macOf: (ip: string) => (ip === '198.18.9.107' ? '52:54:00:00:00:07' : undefined),
  };
  const nodes = await NodeRegistry.open({ store: db.sublevel<NodeRecord>('nodes'), directory: () => directory, leases, now: () => new Date(), log });
  const tokens = await BootTokens.open(db.sublevel<BootGrant>('tokens'), 600);
  const app = await buildApp({ config, directory: () => directory, nodes, tokens, leases, log, metrics: new Registry(), startedAt: new Date(), images });
  t.teardown(async () => {
    await app.close();
    await db.close();
  });

  const url = '/assets/s/v1.13.9/kernel-amd64';
  const full = await app.inject({ url });
  t.equal(full.statusCode, 200);
  t.ok(full.rawPayload.equals(kernel), 'the cached bytes');
  t.equal(full.headers.etag, `"${digestOf(kernel)}"`, 'ETag is the digest');
  t.equal(full.headers['content-length'], String(kernel.length));
  t.same(store.touched, [digestOf(kernel)], 'a use is recorded for LRU');
  t.equal((await app.inject({ url, headers: { 'if-none-match': `"${digestOf(kernel)}"` } })).statusCode, 304);
  const part = await app.inject({ url, headers: { range: 'bytes=1000-1999' } });
  t.equal(part.statusCode, 206);
  t.equal(part.headers['content-range'], `bytes 1000-1999/${kernel.length}`);
  t.ok(part.rawPayload.equals(kernel.subarray(1000, 2000)));
  t.equal((await app.inject({ url, headers: { range: 'bytes=999999-' } })).statusCode, 416);
  const head = await app.inject({ method: 'HEAD', url });
  t.equal(head.headers['content-length'], String(kernel.length));
  t.equal(head.rawPayload.length, 0);

  const streamed = await app.inject({ url: '/assets/s/v1.13.9/initramfs-amd64.xz' });
  t.equal(streamed.statusCode, 200);
  t.ok(streamed.rawPayload.equals(initramfs), 'streamed from the download');
  t.same(fetches, [`${digestOf(initramfs)} http://up/i`]);

  // The node's profile needs the initramfs, which is still downloading: it waits, visibly.
  const wait = await app.inject({ url: '/ipxe?mac=52:54:00:00:00:07&platform=pcbios', remoteAddress: '198.18.9.107' });
  t.equal(wait.body, '#!ipxe\necho maskin: waiting for image initramfs-amd64.xz, 50% of 1 MB\nsleep 10\nchain --replace --autofree ${cwuri} || exit 1\n');
  t.notMatch(wait.body, /kernel|talos\.config/, 'no installer and no token before the images are verified');

  // The download then failed for good: the console says so, and that an operator must act.
  downloading = false;
  const failed = await app.inject({ url: '/ipxe?mac=52:54:00:00:00:07&platform=pcbios', remoteAddress: '198.18.9.107' });
  t.match(
    failed.body,
    /^#!ipxe\necho maskin: failed: image initramfs-amd64\.xz: digest mismatch: expected sha256:[0-9a-f]{64}, got sha256:b{64}, operator action needed\n/,
  );
  t.match(failed.body, /\nsleep 60\n/);
  t.notMatch(failed.body, /talos\.config/);
  t.match(nodes.get('r1-n07')?.timeline.at(-1), { step: 'script-served', detail: { kind: 'failed-image', cause: /digest mismatch/ } }, 'on the timeline too');
  // A failure retrying may mend (an upstream 5xx, a timeout): the node keeps waiting.
  permanent = false;
  const transient = await app.inject({ url: '/ipxe?mac=52:54:00:00:00:07&platform=pcbios', remoteAddress: '198.18.9.107' });
  t.match(transient.body, /echo maskin: waiting for image initramfs-amd64\.xz, not downloaded yet/);

  await writeFile(path.join(dir, 'plain.txt'), 'unpinned');
  t.equal((await app.inject({ url: '/assets/plain.txt' })).body, 'unpinned', 'unpinned assets still come from assetsDir');
  t.not((await app.inject({ url: '/assets/../../etc/passwd' })).statusCode, 200);
});
