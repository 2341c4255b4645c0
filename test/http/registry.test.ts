// /v2/ routes over a fake mirror: the API check, manifests and blobs with their headers, HEAD,
// Range, If-None-Match, ?ns=, error JSON and statuses, and 405 for every write.
import t from 'tap';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import Fastify from 'fastify';
import { DigestMismatchError, UpstreamError } from '../../agent/errors.js';
import { parseRange } from '../../agent/http/blobResponse.js';
import { registryRoutes } from '../../agent/http/registry.js';
import type { BlobInfo } from '../../agent/images/model.js';
import { sha256, type ImageName, type LiveBlob, type RegistryMirror } from '../../agent/images/oci.js';

const MANIFEST = Buffer.from('{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"}');
const MDIGEST = sha256(MANIFEST);
const BLOB = Buffer.from('0123456789abcdef');
const BDIGEST = sha256(BLOB);
const BAD = `sha256:${'b'.repeat(64)}`;
const DOWN = `sha256:${'d'.repeat(64)}`;
/** Blobs the fake mirror answers as still downloading, with and without upstream's length. */
const LIVE = `sha256:${'1'.repeat(64)}`;
const LIVE_UNSIZED = `sha256:${'2'.repeat(64)}`;

async function setup(t: { teardown(fn: () => unknown): void }) {
  const dir = await mkdtemp(path.join(tmpdir(), 'maskin-registry-'));
  await writeFile(path.join(dir, 'blob'), BLOB);
  const asked: Array<[string, ImageName, string]> = [];
  const streams: Readable[] = [];
  const mirror: RegistryMirror = {
    locate: (name, ns) => {
      if (ns !== undefined) return ns === 'ghcr.io' ? { registry: ns, repository: name } : undefined;
      const [registry = '', ...rest] = name.split('/');
      return registry === 'factory.talos.dev' && rest.length > 0 ? { registry, repository: rest.join('/') } : undefined;
    },
    manifest: async (image, ref) => {
      asked.push(['manifest', image, ref]);
      if (ref === 'v1' || ref === MDIGEST) return { bytes: MANIFEST, mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: MDIGEST };
      if (ref === 'tampered') throw new DigestMismatchError(MDIGEST, BAD, 'manifest x');
      return { notFound: 'MANIFEST_UNKNOWN', message: `upstream has no ${ref} (404)` };
    },
    blob: async (image, digest) => blob(image, digest),
    pull: async (image, digest) => {
      if (digest !== LIVE && digest !== LIVE_UNSIZED) return blob(image, digest);
      asked.push(['pull', image, digest]);
      const info: BlobInfo = { digest, size: BLOB.byteLength, path: path.join(dir, 'blob'), storedAt: '', lastUsedAt: '' };
      const stream = Readable.from([BLOB.subarray(0, 5), BLOB.subarray(5)]);
      streams.push(stream);
      return { digest, size: digest === LIVE ? BLOB.byteLength : undefined, stream, done: Promise.resolve(info) } satisfies LiveBlob;
    },
  };
  async function blob(image: ImageName, digest: string) {
    asked.push(['blob', image, digest]);
    if (digest === BDIGEST) return { digest, size: BLOB.byteLength, path: path.join(dir, 'blob'), storedAt: '', lastUsedAt: '' } satisfies BlobInfo;
    if (digest === BAD) throw new DigestMismatchError(BAD, BDIGEST, `blob ${BAD}`);
    if (digest === DOWN) throw new UpstreamError('http://up/v2/x/blobs/' + DOWN, 'unreachable: connect ECONNREFUSED');
    return { notFound: 'BLOB_UNKNOWN', message: 'upstream 404' } as const;
  }
  const app = Fastify();
  await app.register(registryRoutes, { mirror });
  t.teardown(async () => {
    await app.close();
    await rm(dir, { recursive: true, force: true });
  });
  return { app, asked, streams };
}

t.test('GET and HEAD /v2/ answer the API check', async (t) => {
  const { app } = await setup(t);
  for (const method of ['GET', 'HEAD'] as const) {
    for (const url of ['/v2/', '/v2']) {
      const res = await app.inject({ method, url });
      t.equal(res.statusCode, 200, `${method} ${url}`);
      t.equal(res.headers['docker-distribution-api-version'], 'registry/2.0');
      if (method === 'GET') t.same(res.json(), {});
    }
  }
});

t.test('manifests by tag and digest: bytes, media type, digest, length, ETag; HEAD and If-None-Match', async (t) => {
  const { app, asked } = await setup(t);
  for (const ref of ['v1', MDIGEST]) {
    const res = await app.inject({ url: `/v2/factory.talos.dev/metal-installer/abc123/manifests/${ref}` });
    t.equal(res.statusCode, 200, ref);
    t.same(res.rawPayload, MANIFEST);
    t.equal(res.headers['content-type'], 'application/vnd.oci.image.manifest.v1+json');
    t.equal(res.headers['docker-content-digest'], MDIGEST);
    t.equal(res.headers['etag'], `"${MDIGEST}"`);
    t.equal(res.headers['content-length'], String(MANIFEST.byteLength));
  }
  t.same(asked[0], ['manifest', { registry: 'factory.talos.dev', repository: 'metal-installer/abc123' }, 'v1'], 'path-prefix names the registry');

  const head = await app.inject({ method: 'HEAD', url: '/v2/factory.talos.dev/metal-installer/abc123/manifests/v1' });
  t.equal(head.statusCode, 200);
  t.equal(head.headers['content-length'], String(MANIFEST.byteLength));
  t.equal(head.headers['docker-content-digest'], MDIGEST);
  t.equal(head.rawPayload.byteLength, 0);

  const cached = await app.inject({ url: '/v2/factory.talos.dev/metal-installer/abc123/manifests/v1', headers: { 'if-none-match': `"${MDIGEST}"` } });
  t.equal(cached.statusCode, 304);
  t.equal(cached.rawPayload.byteLength, 0);
});

t.test('?ns= names the registry (containerd mirror convention)', async (t) => {
  const { app, asked } = await setup(t);
  const res = await app.inject({ url: '/v2/siderolabs/installer/manifests/v1?ns=ghcr.io' });
  t.equal(res.statusCode, 200);
  t.same(asked.at(-1), ['manifest', { registry: 'ghcr.io', repository: 'siderolabs/installer' }, 'v1']);
  const other = await app.inject({ url: '/v2/library/alpine/manifests/v1?ns=docker.io' });
  t.equal(other.statusCode, 404);
  t.equal(other.json().errors[0].code, 'NAME_UNKNOWN');
});

t.test('blobs: whole, HEAD, ranges, If-None-Match', async (t) => {
  const { app } = await setup(t);
  const url = `/v2/factory.talos.dev/metal-installer/abc123/blobs/${BDIGEST}`;
  const res = await app.inject({ url });
  t.equal(res.statusCode, 200);
  t.same(res.rawPayload, BLOB);
  t.equal(res.headers['content-length'], String(BLOB.byteLength));
  t.equal(res.headers['docker-content-digest'], BDIGEST);
  t.equal(res.headers['accept-ranges'], 'bytes');

  const head = await app.inject({ method: 'HEAD', url });
  t.equal(head.statusCode, 200);
  t.equal(head.headers['content-length'], String(BLOB.byteLength));
  t.equal(head.rawPayload.byteLength, 0);

  const part = await app.inject({ url, headers: { range: 'bytes=4-7' } });
  t.equal(part.statusCode, 206);
  t.equal(part.payload, '4567');
  t.equal(part.headers['content-range'], `bytes 4-7/${BLOB.byteLength}`);
  t.equal(part.headers['content-length'], '4');
  const tail = await app.inject({ url, headers: { range: 'bytes=-3' } });
  t.equal(tail.payload, 'def');
  const beyond = await app.inject({ url, headers: { range: 'bytes=99-' } });
  t.equal(beyond.statusCode, 416);
  t.equal(beyond.headers['content-range'], `bytes */${BLOB.byteLength}`);
  const again = await app.inject({ url, headers: { 'if-none-match': `"${BDIGEST}"` } });
  t.equal(again.statusCode, 304);
});

t.test('blobs still downloading: streamed whole (Range ignored), HEAD sends no byte', async (t) => {
  const { app, streams } = await setup(t);
  const url = `/v2/factory.talos.dev/metal-installer/abc123/blobs/${LIVE}`;
  const res = await app.inject({ url, headers: { range: 'bytes=4-7' } });
  t.equal(res.statusCode, 200);
  t.same(res.rawPayload, BLOB);
  t.equal(res.headers['content-length'], String(BLOB.byteLength));
  t.equal(res.headers['docker-content-digest'], LIVE);
  t.equal(res.headers['etag'], `"${LIVE}"`);
  t.equal(res.headers['content-type'], 'application/octet-stream');

  const head = await app.inject({ method: 'HEAD', url });
  t.equal(head.statusCode, 200);
  t.equal(head.headers['content-length'], String(BLOB.byteLength));
  t.equal(head.rawPayload.byteLength, 0);
  t.ok(streams.at(-1)?.destroyed, 'HEAD lets go of its reader');

  const unsized = `/v2/factory.talos.dev/metal-installer/abc123/blobs/${LIVE_UNSIZED}`;
  const chunked = await app.inject({ url: unsized });
  t.equal(chunked.statusCode, 200);
  t.same(chunked.rawPayload, BLOB);
  t.equal(chunked.headers['content-length'], undefined, 'no length promised that upstream did not give');
  const headUnsized = await app.inject({ method: 'HEAD', url: unsized });
  t.equal(headUnsized.headers['content-length'], String(BLOB.byteLength), 'HEAD: the verified size');
});

t.test('errors in the distribution JSON format with their statuses', async (t) => {
  const { app } = await setup(t);
  const err = async (url: string, status: number, code: string, message?: RegExp) => {
    const res = await app.inject({ url });
    t.equal(res.statusCode, status, url);
    t.equal(res.headers['content-type'], 'application/json; charset=utf-8');
    const body = res.json() as { errors: Array<{ code: string; message: string }> };
    t.equal(body.errors.length, 1);
    t.equal(body.errors[0]?.code, code, url);
    if (message) t.match(body.errors[0]?.message, message);
  };
  const base = '/v2/factory.talos.dev/metal-installer/abc123';
  await err(`${base}/manifests/v9`, 404, 'MANIFEST_UNKNOWN', /404/);
  await err(`${base}/manifests/bad!tag`, 404, 'MANIFEST_UNKNOWN', /invalid tag/);
  await err(`${base}/manifests/tampered`, 502, 'DIGEST_INVALID', new RegExp(`expected ${MDIGEST}, got ${BAD}`));
  await err(`${base}/blobs/sha256:${'0'.repeat(64)}`, 404, 'BLOB_UNKNOWN');
  await err(`${base}/blobs/${BAD}`, 502, 'DIGEST_INVALID', /digest mismatch/);
  await err(`${base}/blobs/${DOWN}`, 503, 'UNAVAILABLE', /ECONNREFUSED/);
  await err(`${base}/blobs/md5:abc`, 400, 'DIGEST_INVALID');
  await err('/v2/quay.io/x/manifests/v1', 404, 'NAME_UNKNOWN');
  await err('/v2/noregistry/manifests/v1', 404, 'NAME_UNKNOWN');
  await err(`${base}/tags/list`, 404, 'UNSUPPORTED');
});

t.test('writes are refused: 405 UNSUPPORTED', async (t) => {
  const { app, asked } = await setup(t);
  for (const [method, url] of [
    ['PUT', '/v2/factory.talos.dev/x/manifests/v1'],
    ['POST', '/v2/factory.talos.dev/x/blobs/uploads/'],
    ['PATCH', '/v2/factory.talos.dev/x/blobs/uploads/123'],
    ['DELETE', `/v2/factory.talos.dev/x/blobs/${BDIGEST}`],
  ] as const) {
    const res = await app.inject({ method, url, ...(method === 'DELETE' ? {} : { payload: 'x' }), headers: { 'content-type': 'application/octet-stream' } });
    t.equal(res.statusCode, 405, `${method} ${url}`);
    t.equal(res.json().errors[0].code, 'UNSUPPORTED');
  }
  t.equal(asked.length, 0, 'the mirror was never asked');
});

t.test('parseRange', async (t) => {
  t.same(parseRange('bytes=0-0', 10), { kind: 'partial', start: 0, end: 0 });
  t.same(parseRange('bytes=5-', 10), { kind: 'partial', start: 5, end: 9 });
  t.same(parseRange('bytes=5-100', 10), { kind: 'partial', start: 5, end: 9 });
  t.same(parseRange('bytes=-4', 10), { kind: 'partial', start: 6, end: 9 });
  t.same(parseRange('bytes=10-', 10), { kind: 'unsatisfiable' });
  t.same(parseRange('bytes=0-1,3-4', 10), { kind: 'full' }, 'multi-range: whole body');
  t.same(parseRange('items=0-1', 10), { kind: 'full' });
  t.same(parseRange(undefined, 10), { kind: 'full' });
});
