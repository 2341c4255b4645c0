// The mirror core against a fake upstream on loopback: a registry that wants anonymous Bearer
// tokens and redirects blobs to a separate "object storage" origin, as ghcr.io does.
import t from 'tap';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { DigestMismatchError, UpstreamError } from '../../agent/errors.js';
import { createRegistryMirror, isNotFound, sha256, type ImageName, type TagRecord } from '../../agent/images/oci.js';
import { parseBearerChallenge } from '../../agent/images/registryAuth.js';
import type { BlobInfo } from '../../agent/images/model.js';
import { openStore } from '../../agent/store/store.js';
import { fakeContentStore } from '../fakes/contentStore.js';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const DOCKER_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';
const manifestBody = (n: number) => Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, annotations: { n: String(n) } }));
const LIST = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: DOCKER_LIST, manifests: [] }));
const LAYER = Buffer.alloc(200_000, 7);

interface Upstream {
  mode: 'ok' | '503';
  /** tag or digest → [bytes, media type] */
  manifests: Map<string, [Buffer, string]>;
  blobs: Map<string, Buffer>;
  /** Digest header lies for these tags. */
  lyingTags: Set<string>;
  hits: string[];
  tokenRequests: string[];
  storageAuth: Array<string | undefined>;
  registryUrl: string;
}

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function setup(t: { teardown(fn: () => unknown): void }) {
  const dir = await mkdtemp(path.join(tmpdir(), 'maskin-oci-'));
  const up: Upstream = {
    mode: 'ok',
    manifests: new Map(),
    blobs: new Map(),
    lyingTags: new Set(),
    hits: [],
    tokenRequests: [],
    storageAuth: [],
    registryUrl: '',
  };
  const storage = createServer((req, res) => {
    up.storageAuth.push(req.headers.authorization);
    const bytes = up.blobs.get(`sha256:${(req.url ?? '').split('/').pop()}`);
    res.writeHead(bytes ? 200 : 404, { 'content-length': bytes?.byteLength ?? 0 }).end(bytes);
  });
  const storageUrl = await listen(storage);
  let tokenUrl = '';
  const registry = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname === '/token') {
      up.tokenRequests.push(`${url.searchParams.get('service')} ${url.searchParams.get('scope')}`);
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token: 'anon-token', expires_in: 300 }));
      return;
    }
    up.hits.push(url.pathname);
    if (up.mode === '503') return void res.writeHead(503).end();
    const m = /^\/v2\/(.+)\/(manifests|blobs)\/([^/]+)$/.exec(url.pathname);
    if (!m) return void res.writeHead(404).end();
    if (req.headers.authorization !== 'Bearer anon-token') {
      res.writeHead(401, { 'www-authenticate': `Bearer realm="${tokenUrl}",service="fake-registry",scope="repository:${m[1]}:pull"` }).end();
      return;
    }
    const ref = m[3] ?? '';
    if (m[2] === 'manifests') {
      const found = up.manifests.get(ref);
      if (!found) return void res.writeHead(404).end();
      const digest = up.lyingTags.has(ref) ? `sha256:${'f'.repeat(64)}` : sha256(found[0]);
      res.writeHead(200, { 'content-type': found[1], 'docker-content-digest': digest, 'content-length': found[0].byteLength }).end(found[0]);
      return;
    }
    // Registries hand blobs to object storage on another origin.
    res.writeHead(307, { location: `${storageUrl}/blobs/${ref.slice('sha256:'.length)}` }).end();
  });
  up.registryUrl = await listen(registry);
  tokenUrl = `${up.registryUrl}/token`;

  const db = await openStore(dir);
  const tags = db.sublevel<TagRecord>('oci-tags');
  const store = fakeContentStore(dir);
  let upstreamUrl = up.registryUrl;
  const mirror = createRegistryMirror({
    store,
    tags,
    upstreams: (host) => (host === 'ghcr.io' ? { url: upstreamUrl } : undefined),
    log: pino({ level: 'silent' }),
    now: () => new Date('2025-01-01T00:00:00Z'),
    timeoutMs: 2000,
  });
  t.teardown(async () => {
    registry.close();
    storage.close();
    await db.close();
    await rm(dir, { recursive: true, force: true });
  });
  /** Points the mirror at a port nobody listens on: connection refused, the WAN-down case. */
  const unplug = async () => {
    const dead = createServer();
    const url = await listen(dead);
    await new Promise((r) => dead.close(r));
    upstreamUrl = url;
  };
  return { up, mirror, store, tags, unplug, image: { registry: 'ghcr.io', repository: 'siderolabs/installer' } as ImageName };
}

t.test('tag online: resolved upstream with a token, verified, stored with its media type, remembered', async (t) => {
  const { up, mirror, store, tags, image } = await setup(t);
  up.manifests.set('v1.12.0', [LIST, DOCKER_LIST]);
  const hit = await mirror.manifest(image, 'v1.12.0');
  if (isNotFound(hit)) throw new Error('not found');
  t.same(hit.bytes, LIST);
  t.equal(hit.mediaType, DOCKER_LIST);
  t.equal(hit.digest, sha256(LIST));
  t.equal(store.get(hit.digest)?.mediaType, DOCKER_LIST);
  t.same(await readFile(store.get(hit.digest)?.path ?? ''), LIST);
  t.same(await tags.get('ghcr.io/siderolabs/installer:v1.12.0'), { digest: sha256(LIST), mediaType: DOCKER_LIST, resolvedAt: '2025-01-01T00:00:00.000Z' });
  t.same(up.tokenRequests, ['fake-registry repository:siderolabs/installer:pull'], 'one anonymous token for the challenged scope');

  const byDigest = await mirror.manifest(image, hit.digest);
  t.same(byDigest, hit, 'by digest from the store');
  t.equal(up.hits.length, 2, 'challenge + retry; the digest request never went upstream');
  await mirror.manifest(image, 'v1.12.0');
  t.equal(up.tokenRequests.length, 1, 'token reused until it expires');
});

t.test('a moved tag is followed online; offline the remembered digest is served', async (t) => {
  const { up, mirror, image, unplug } = await setup(t);
  up.manifests.set('latest', [manifestBody(1), OCI_MANIFEST]);
  t.equal(((await mirror.manifest(image, 'latest')) as { digest: string }).digest, sha256(manifestBody(1)));
  up.manifests.set('latest', [manifestBody(2), OCI_MANIFEST]);
  t.equal(((await mirror.manifest(image, 'latest')) as { digest: string }).digest, sha256(manifestBody(2)), 'online: upstream wins');

  up.mode = '503';
  t.equal(((await mirror.manifest(image, 'latest')) as { digest: string }).digest, sha256(manifestBody(2)), '503: remembered');
  await unplug();
  const offline = await mirror.manifest(image, 'latest');
  t.same(offline, { bytes: manifestBody(2), digest: sha256(manifestBody(2)), mediaType: OCI_MANIFEST }, 'connection refused: remembered');
  await t.rejects(mirror.manifest(image, 'never-seen'), { constructor: UpstreamError, message: /unreachable/ }, 'no memory: the outage is the error');
});

t.test('upstream 404 is not found; a lying Docker-Content-Digest is refused and nothing changes', async (t) => {
  const { up, mirror, store, tags, image } = await setup(t);
  const missing = await mirror.manifest(image, 'nope');
  t.ok(isNotFound(missing) && missing.notFound === 'MANIFEST_UNKNOWN' && /404/.test(missing.message));

  up.manifests.set('v1', [manifestBody(1), OCI_MANIFEST]);
  await mirror.manifest(image, 'v1');
  up.manifests.set('v1', [manifestBody(9), OCI_MANIFEST]);
  up.lyingTags.add('v1');
  await t.rejects(mirror.manifest(image, 'v1'), {
    constructor: DigestMismatchError,
    message: `expected sha256:${'f'.repeat(64)}, got ${sha256(manifestBody(9))}`,
  });
  t.equal(store.get(sha256(manifestBody(9))), undefined, 'not stored');
  t.equal((await tags.get('ghcr.io/siderolabs/installer:v1'))?.digest, sha256(manifestBody(1)), 'tag memory untouched');
});

t.test('manifest by digest: fetched when absent and verified against the digest asked for', async (t) => {
  const { up, mirror, store, image } = await setup(t);
  const d = sha256(manifestBody(3));
  up.manifests.set(d, [manifestBody(3), OCI_MANIFEST]);
  t.same(await mirror.manifest(image, d), { bytes: manifestBody(3), digest: d, mediaType: OCI_MANIFEST });
  t.ok(store.get(d));
  const wrong = `sha256:${'a'.repeat(64)}`;
  up.manifests.set(wrong, [manifestBody(4), OCI_MANIFEST]);
  await t.rejects(mirror.manifest(image, wrong), { constructor: DigestMismatchError, message: `expected ${wrong}, got ${sha256(manifestBody(4))}` });
  t.equal(store.get(wrong), undefined);
});

t.test('blobs: redirect followed without our token, verified, stored, fetched once; tampered refused', async (t) => {
  const { up, mirror, store, image } = await setup(t);
  const d = sha256(LAYER);
  up.blobs.set(d, LAYER);
  const [a, b, c] = await Promise.all([mirror.blob(image, d), mirror.blob(image, d), mirror.blob(image, d)]);
  t.same((a as BlobInfo).size, LAYER.byteLength);
  t.equal(a, b);
  t.equal(a, c);
  t.same(await readFile((a as BlobInfo).path), LAYER);
  t.equal(store.puts.filter((p) => p === d).length, 1, 'concurrent requests: one upstream fetch');
  t.same(up.storageAuth, [undefined], 'the Bearer token stays with the registry origin');
  await mirror.blob(image, d);
  t.equal(up.storageAuth.length, 1, 'then from the store');
  t.ok(store.touched.includes(d));

  const fake = `sha256:${'c'.repeat(64)}`;
  up.blobs.set(fake, Buffer.from('not what the digest says'));
  await t.rejects(mirror.blob(image, fake), {
    constructor: DigestMismatchError,
    message: `expected ${fake}, got ${sha256(Buffer.from('not what the digest says'))}`,
  });
  t.equal(store.get(fake), undefined, 'nothing kept');
  const gone = await mirror.blob(image, `sha256:${'e'.repeat(64)}`);
  t.ok(isNotFound(gone) && gone.notFound === 'BLOB_UNKNOWN', 'upstream 404');
});

t.test('locate: ?ns= or a registry as the first path segment; only configured registries', async (t) => {
  const { mirror } = await setup(t);
  t.same(mirror.locate('siderolabs/installer', 'ghcr.io'), { registry: 'ghcr.io', repository: 'siderolabs/installer' });
  t.same(mirror.locate('ghcr.io/siderolabs/installer', undefined), { registry: 'ghcr.io', repository: 'siderolabs/installer' });
  t.equal(mirror.locate('library/alpine', 'docker.io'), undefined, 'not mirrored');
  t.equal(mirror.locate('siderolabs/installer', undefined), undefined, 'no registry named');
  t.equal(mirror.locate('ghcr.io', undefined), undefined, 'registry without repository');
  t.equal(mirror.locate('ghcr.io/Upper/Case', undefined), undefined, 'invalid repository');
  t.equal(mirror.locate('../etc', 'ghcr.io'), undefined);
});

t.test('parseBearerChallenge', async (t) => {
  t.same(parseBearerChallenge('Bearer realm="https://ghcr.io/token",service="ghcr.io",scope="repository:a/b:pull"'), {
    realm: 'https://ghcr.io/token',
    service: 'ghcr.io',
    scope: 'repository:a/b:pull',
  });
  t.same(parseBearerChallenge('bearer realm=https://auth.example/token'), { realm: 'https://auth.example/token' });
  t.equal(parseBearerChallenge('Basic realm="x"'), undefined);
  t.equal(parseBearerChallenge('Bearer service="x"'), undefined, 'no realm');
  t.equal(parseBearerChallenge('Bearer realm="file:///etc/passwd"'), undefined, 'only http(s) realms');
});
