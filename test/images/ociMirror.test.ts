// Issue 4 proof: skopeo copies an image through the mirror from a real upstream (Debian's
// docker-registry on loopback), again with the upstream stopped, byte-identical to a direct copy;
// a tampered upstream blob is cut off mid-stream, never served whole, and never stored. Needs
// docker-registry and skopeo (apt).
import t from 'tap';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import Fastify from 'fastify';
import pino from 'pino';
import { registryRoutes } from '../../agent/http/registry.js';
import { createRegistryMirror, type TagRecord } from '../../agent/images/oci.js';
import { openContentStore, type IndexEntry } from '../../agent/images/store.js';
import { installerPins, pinnedInstallerImage, prefetchInstaller } from '../../agent/images/installer.js';
import { profileFixture } from '../fakes/manifest.js';
import { openStore } from '../../agent/store/store.js';

const run = promisify(execFile);
const hex = (b: Buffer) => createHash('sha256').update(b).digest('hex');

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

/** An OCI image layout with one tiny image: a tar layer, a config, a manifest, tagged `tag`. */
async function writeOciLayout(dir: string, tag: string, payload: Buffer): Promise<void> {
  const blobs = path.join(dir, 'blobs', 'sha256');
  await mkdir(blobs, { recursive: true });
  const src = path.join(dir, '..', `src-${tag}-${hex(payload).slice(0, 8)}`);
  await mkdir(src, { recursive: true });
  await writeFile(path.join(src, 'payload.bin'), payload);
  await run('tar', ['-C', src, '--owner=0', '--group=0', '--mtime=@0', '-cf', path.join(dir, 'layer.tar'), 'payload.bin']);
  const layer = await readFile(path.join(dir, 'layer.tar'));
  await rm(path.join(dir, 'layer.tar'));
  const put = async (b: Buffer) => (await writeFile(path.join(blobs, hex(b)), b), `sha256:${hex(b)}`);
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [`sha256:${hex(layer)}`] } }));
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: await put(config), size: config.byteLength },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: await put(layer), size: layer.byteLength }],
    }),
  );
  const index = {
    schemaVersion: 2,
    manifests: [
      {
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        digest: await put(manifest),
        size: manifest.byteLength,
        annotations: { 'org.opencontainers.image.ref.name': tag },
      },
    ],
  };
  await writeFile(path.join(dir, 'index.json'), JSON.stringify(index));
  await writeFile(path.join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
}

async function startRegistry(dir: string, port: number): Promise<ChildProcess> {
  const config = path.join(dir, 'config.yml');
  await writeFile(config, `version: 0.1\nlog: { level: error }\nstorage: { filesystem: { rootdirectory: ${dir}/data } }\nhttp: { addr: 127.0.0.1:${port} }\n`);
  // Its log goes to stderr; kept, and shown only if it fails to start.
  const child = spawn('/usr/bin/docker-registry', ['serve', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (b: Buffer) => void (stderr = (stderr + b.toString()).slice(-4000)));
  for (let i = 0; i < 100; i++) {
    const ok = await fetch(`http://127.0.0.1:${port}/v2/`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return child;
    await new Promise((r) => setTimeout(r, 50));
  }
  child.kill('SIGKILL');
  throw new Error(`docker-registry did not start: ${stderr}`);
}

const skopeo = (...args: string[]) => run('skopeo', ['--insecure-policy', ...args], { timeout: 20_000 });

/** Every file of a skopeo `dir:` copy, name → bytes. */
async function snapshot(dir: string): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  for (const name of (await readdir(dir)).sort()) out.set(name, await readFile(path.join(dir, name)));
  return out;
}

/** A real upstream registry, a real content store, and the mirror's /v2/ routes on loopback. */
async function mirrorBed(t: { teardown(fn: () => unknown): void }, tag: string) {
  const work = await mkdtemp(path.join(tmpdir(), `maskin-${tag}-`));
  const regPort = await freePort();
  let registry: ChildProcess | undefined = await startRegistry(work, regPort);
  const db = await openStore(path.join(work, 'agent'));
  const log = pino({ level: 'silent' });
  const store = await openContentStore({ dir: path.join(work, 'agent', 'cache'), index: db.sublevel<IndexEntry>('images'), limitBytes: 1 << 30, log });
  const mirror = createRegistryMirror({
    store,
    tags: db.sublevel<TagRecord>('oci-tags'),
    upstreams: (host) => (host === 'upstream.test' ? { url: `http://127.0.0.1:${regPort}` } : undefined),
    log,
    timeoutMs: 3000,
  });
  const app = Fastify();
  await app.register(registryRoutes, { mirror });
  await app.listen({ host: '127.0.0.1', port: 0 });
  t.teardown(async () => {
    registry?.kill('SIGKILL');
    await app.close();
    await db.close();
    await rm(work, { recursive: true, force: true });
  });
  return {
    work,
    regPort,
    store,
    mirror,
    ours: `127.0.0.1:${(app.server.address() as AddressInfo).port}`,
    /** Stops the upstream registry and waits until it is gone. */
    async stopUpstream(): Promise<void> {
      const child = registry;
      registry = undefined;
      if (!child || child.exitCode !== null) return;
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
    },
  };
}

t.test('skopeo through the mirror: online, upstream stopped, tampered blob refused', async (t) => {
  const { work, regPort, ours, store, stopUpstream } = await mirrorBed(t, 'ocimirror');

  // Two images pushed upstream with skopeo; the second one's layer is then tampered with on disk.
  const good = path.join(work, 'layout-good');
  const bad = path.join(work, 'layout-bad');
  await writeOciLayout(good, 'v1', randomBytes(300_000));
  await writeOciLayout(bad, 'v1', randomBytes(2_000_000));
  await skopeo('copy', '--dest-tls-verify=false', `oci:${good}:v1`, `docker://127.0.0.1:${regPort}/test/hello:v1`);
  await skopeo('copy', '--dest-tls-verify=false', `oci:${bad}:v1`, `docker://127.0.0.1:${regPort}/test/tampered:v1`);
  // skopeo compresses layers on the way into a registry: ask the registry which digest it holds.
  const pushed = await fetch(`http://127.0.0.1:${regPort}/v2/test/tampered/manifests/v1`, {
    headers: { accept: 'application/vnd.oci.image.manifest.v1+json' },
  });
  const badLayer = ((await pushed.json()) as { layers: Array<{ digest: string }> }).layers[0]?.digest ?? '';
  const badFile = path.join(work, 'data', 'docker', 'registry', 'v2', 'blobs', 'sha256', badLayer.slice(7, 9), badLayer.slice(7), 'data');
  const badBytes = await readFile(badFile);
  badBytes.writeUInt8(badBytes.readUInt8(badBytes.length - 1024) ^ 0xff, badBytes.length - 1024); // same size: only the digest can tell
  await writeFile(badFile, badBytes);

  const direct = path.join(work, 'direct');
  await skopeo('copy', '--src-tls-verify=false', `docker://127.0.0.1:${regPort}/test/hello:v1`, `dir:${direct}`);
  const expected = await snapshot(direct);
  t.ok(expected.size >= 4, `direct copy has manifest, config and layer (${[...expected.keys()].join(', ')})`);

  const t0 = performance.now();
  const online = path.join(work, 'online');
  await skopeo('copy', '--src-tls-verify=false', `docker://${ours}/upstream.test/test/hello:v1`, `dir:${online}`);
  t.comment(`online copy through the mirror: ${(performance.now() - t0).toFixed(0)} ms`);
  t.same(await snapshot(online), expected, 'online copy through the mirror is byte-identical');

  // containerd's form: the registry host in ?ns=, the repository alone in the path.
  const ns = await fetch(`http://${ours}/v2/test/hello/manifests/v1?ns=upstream.test`, { headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } });
  t.equal(ns.status, 200);
  t.same(Buffer.from(await ns.arrayBuffer()), expected.get('manifest.json'), '?ns= serves the same manifest');

  const refused = await skopeo('copy', '--src-tls-verify=false', `docker://${ours}/upstream.test/test/tampered:v1`, `dir:${path.join(work, 'tampered')}`).then(
    () => undefined,
    (err: Error & { stderr?: string }) => err.stderr ?? err.message,
  );
  t.match(refused, /unexpected EOF|502|DIGEST_INVALID/i, 'skopeo copy of the tampered image fails on the refused blob');
  t.comment(`skopeo said: ${refused?.trim().split('\n').at(-1)}`);
  // Megabytes arrive in many chunks, so the blob streams before it can be verified: the mirror
  // answers 200 and then cuts the connection short of the end, never sending it whole.
  const blob = await fetch(`http://${ours}/v2/upstream.test/test/tampered/blobs/${badLayer}`);
  t.equal(blob.status, 200, 'streaming');
  t.equal(blob.headers.get('content-length'), String(badBytes.length), "upstream's length");
  let got = 0;
  const cut = await (async () => {
    for await (const chunk of blob.body ?? []) got += chunk.byteLength;
  })().then(
    () => undefined,
    (err: Error) => err,
  );
  t.ok(cut, `the connection is cut (${String(cut?.cause ?? cut?.message)})`);
  t.ok(got < badBytes.length, `after ${got} of ${badBytes.length} bytes`);
  t.equal(store.get(badLayer), undefined, 'the tampered blob is not in the store');

  await stopUpstream();
  const offline = path.join(work, 'offline');
  const t1 = performance.now();
  await skopeo('copy', '--src-tls-verify=false', `docker://${ours}/upstream.test/test/hello:v1`, `dir:${offline}`);
  t.comment(`offline copy through the mirror: ${(performance.now() - t1).toFixed(0)} ms`);
  t.same(await snapshot(offline), expected, 'with the upstream stopped: the tag is remembered, the copy byte-identical');
  const again = await fetch(`http://${ours}/v2/upstream.test/test/tampered/blobs/${badLayer}`);
  t.equal(again.status, 503, 'offline, the refused blob is still not served');
  await again.body?.cancel();
});

t.test('the pinned installer image is prefetched through the mirror; then installs need no upstream', async (t) => {
  const { work, regPort, ours, store, mirror, stopUpstream } = await mirrorBed(t, 'ociprefetch');
  const layout = path.join(work, 'layout');
  await writeOciLayout(layout, 'v1', randomBytes(200_000));
  await skopeo('copy', '--dest-tls-verify=false', `oci:${layout}:v1`, `docker://127.0.0.1:${regPort}/installer/metal:v1`);
  const head = await fetch(`http://127.0.0.1:${regPort}/v2/installer/metal/manifests/v1`, {
    method: 'HEAD',
    headers: { accept: 'application/vnd.oci.image.manifest.v1+json' },
  });
  const digest = head.headers.get('docker-content-digest') ?? '';
  t.match(digest, /^sha256:[0-9a-f]{64}$/);
  const direct = path.join(work, 'direct');
  await skopeo('copy', '--src-tls-verify=false', `docker://127.0.0.1:${regPort}/installer/metal@${digest}`, `dir:${direct}`);

  const pins = installerPins({
    images: [{ kind: 'installer', profile: 'w', source: `upstream.test/installer/metal:v1`, digest }],
    profiles: new Map([['w', profileFixture({ name: 'w' })]]),
  });
  t.same(
    pins.map((p) => [p.image.registry, p.image.repository, p.digest]),
    [['upstream.test', 'installer/metal', digest]],
  );
  t.equal(pinnedInstallerImage(pins, 'w'), `upstream.test/installer/metal@${digest}`, 'install.image names the pinned digest');
  const stored = await prefetchInstaller(mirror, pins[0]!);
  t.equal(stored.length, 3, 'manifest, config and layer');
  t.ok(
    stored.every((d) => store.get(d)),
    'all of them verified in the content store',
  );

  await stopUpstream();
  const offline = path.join(work, 'offline');
  await skopeo('copy', '--src-tls-verify=false', `docker://${ours}/upstream.test/installer/metal@${digest}`, `dir:${offline}`);
  t.same(await snapshot(offline), await snapshot(direct), 'with the upstream gone, the installer comes whole from the rack');
});
