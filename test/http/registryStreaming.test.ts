// /v2/ blobs not cached yet, end to end on loopback: the mirror's routes over the real content store
// and fetcher, against a fake upstream that wants anonymous Bearer tokens and redirects blobs to an
// object-storage origin (as ghcr.io does). The storage origin can hold back the second half of a
// blob until the test lets it go, so the proofs see the download mid-flight: one upstream GET for
// many clients, first bytes before the upstream finishes, and a tampered blob cut off for everyone.
import t from 'tap';
import http, { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import Fastify from 'fastify';
import { registryRoutes } from '../../agent/http/registry.js';
import { createFetcher } from '../../agent/images/fetcher.js';
import { createRegistryMirror, type TagRecord } from '../../agent/images/oci.js';
import { blob, digestOf, silent, storeBed } from '../images/blobs.js';

const REPO = 'siderolabs/installer';

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

interface Storage {
  /** hex → bytes served (tampered ones differ from their name) */
  readonly blobs: Map<string, Buffer>;
  /** While set, every body stops halfway until it resolves. */
  gate: Promise<void> | undefined;
  gets: number;
  /** Drop the connection after this many body bytes, once. */
  cutAfter: number | undefined;
  readonly ranges: Array<string | undefined>;
  /** Bodies sent to the end. */
  finished: number;
  readonly auth: Array<string | undefined>;
}

async function setup(t: { teardown(fn: () => unknown): void }, opts: { backoffMs?: number; retries?: number } = {}) {
  const storage: Storage = { blobs: new Map(), gate: undefined, gets: 0, cutAfter: undefined, ranges: [], finished: 0, auth: [] };
  const storageServer = createServer((req, res) => {
    storage.gets++;
    storage.auth.push(req.headers.authorization);
    const bytes = storage.blobs.get((req.url ?? '').split('/').pop() ?? '');
    if (!bytes) return void res.writeHead(404).end();
    storage.ranges.push(req.headers.range);
    const from = Number(/^bytes=(\d+)-$/.exec(req.headers.range ?? '')?.[1] ?? 0);
    if (from > 0) {
      res.writeHead(206, { 'content-length': bytes.byteLength - from, 'content-range': `bytes ${from}-${bytes.byteLength - 1}/${bytes.byteLength}` });
      return void res.end(bytes.subarray(from), () => void storage.finished++);
    }
    res.writeHead(200, { 'content-length': bytes.byteLength });
    if (storage.cutAfter !== undefined) {
      const cut = storage.cutAfter;
      storage.cutAfter = undefined;
      return void res.write(bytes.subarray(0, cut), () => res.destroy());
    }
    const half = bytes.byteLength >> 1;
    const rest = (): void => void res.end(bytes.subarray(half), () => void storage.finished++);
    res.write(bytes.subarray(0, half));
    if (storage.gate) void storage.gate.then(rest);
    else rest();
  });
  const storageUrl = await listen(storageServer);

  const registry = { blobGets: 0, tokens: 0, url: '' };
  const registryServer = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname === '/token') {
      registry.tokens++;
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token: 'anon', expires_in: 300 }));
      return;
    }
    const m = /^\/v2\/(.+)\/blobs\/sha256:([0-9a-f]{64})$/.exec(url.pathname);
    if (!m) return void res.writeHead(404).end();
    if (req.headers.authorization !== 'Bearer anon') {
      res.writeHead(401, { 'www-authenticate': `Bearer realm="${registry.url}/token",service="fake",scope="repository:${m[1]}:pull"` }).end();
      return;
    }
    registry.blobGets++;
    res.writeHead(307, { location: `${storageUrl}/blobs/${m[2]}` }).end();
  });
  registry.url = await listen(registryServer);

  // A dead port: connection refused, the WAN-down case.
  const dead = createServer();
  const deadUrl = await listen(dead);
  await new Promise((r) => dead.close(r));

  const bed = await storeBed();
  const backoffMs = opts.backoffMs ?? 10;
  const fetcher = createFetcher({ store: bed.store, log: silent, backoff: () => backoffMs, ...(opts.retries !== undefined ? { retries: opts.retries } : {}) });
  const mirror = createRegistryMirror({
    store: bed.store,
    tags: bed.db.sublevel<TagRecord>('oci-tags'),
    upstreams: (host) => (host === 'ghcr.io' ? { url: registry.url } : host === 'down.test' ? { url: deadUrl } : undefined),
    fetcher,
    log: silent,
    timeoutMs: 2000,
  });
  const app = Fastify();
  await app.register(registryRoutes, { mirror });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}/v2/ghcr.io/${REPO}/blobs`;
  t.teardown(async () => {
    await app.close();
    registryServer.close();
    storageServer.close();
    await bed.close();
  });
  return { storage, registry, bed, base, app, fetcher };
}

/** One client request, its body counted as it arrives (inspectable before it ends). */
interface Pull {
  readonly response: Promise<IncomingMessage>;
  received(): number;
  /** The whole body, or the error that cut it. */
  readonly body: Promise<Buffer>;
}

function pull(url: string, method = 'GET', headers: Record<string, string> = {}): Pull {
  let received = 0;
  let onResponse!: (res: IncomingMessage) => void;
  const response = new Promise<IncomingMessage>((r) => (onResponse = r));
  const body = new Promise<Buffer>((resolve, reject) => {
    // A fresh connection each: a cut one must not be reused by the next request.
    const req = http.request(url, { method, headers, agent: false }, (res) => {
      onResponse(res);
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => {
        received += c.length;
        parts.push(c);
      });
      res.on('end', () => (res.complete ? resolve(Buffer.concat(parts)) : reject(new Error('body incomplete'))));
      res.on('error', reject);
      res.on('close', () => {
        if (!res.complete) reject(new Error(`connection cut after ${received} bytes`));
      });
    });
    req.on('error', reject);
    req.end();
  });
  body.catch(() => undefined);
  return { response, received: () => received, body };
}

const until = async (cond: () => boolean, ms = 10_000): Promise<void> => {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 5));
  }
};

function gate(storage: Storage): () => void {
  let open!: () => void;
  storage.gate = new Promise<void>((r) => (open = r));
  return open;
}

t.test('10 concurrent pulls of an uncached blob: one upstream GET, first bytes before it ends, all verified', async (t) => {
  const { storage, registry, bed, base } = await setup(t);
  const layer = blob(4 << 20);
  storage.blobs.set(layer.digest.slice(7), layer.bytes);
  const release = gate(storage);

  const pulls = Array.from({ length: 10 }, () => pull(`${base}/${layer.digest}`));
  await until(() => pulls.every((p) => p.received() > 0));
  t.equal(storage.finished, 0, 'every client has bytes while the upstream still holds back half the blob');
  t.ok(
    pulls.every((p) => p.received() < layer.bytes.length),
    `received so far: ${pulls.map((p) => p.received()).join(', ')} of ${layer.bytes.length}`,
  );
  const res = await pulls[0]!.response;
  t.equal(res.statusCode, 200);
  t.equal(res.headers['content-length'], String(layer.bytes.length), "upstream's length");
  t.equal(res.headers['docker-content-digest'], layer.digest);
  t.equal(res.headers['etag'], `"${layer.digest}"`);

  release();
  const bodies = await Promise.all(pulls.map((p) => p.body));
  t.ok(
    bodies.every((b) => b.equals(layer.bytes)),
    'all 10 byte-identical to the blob',
  );
  t.ok(
    bodies.every((b) => digestOf(b) === layer.digest),
    'and hash to the digest asked for',
  );
  t.equal(storage.gets, 1, 'one upstream download');
  t.equal(registry.blobGets, 1, 'one authorised registry request');
  t.equal(registry.tokens, 1, 'one token');
  t.same(storage.auth, [undefined], 'the Bearer token stays with the registry origin');
  t.equal(bed.store.get(layer.digest)?.size, layer.bytes.length, 'stored, verified');

  const again = pull(`${base}/${layer.digest}`, 'GET', { range: 'bytes=10-19' });
  t.equal((await again.response).statusCode, 206, 'then served from the store, Range and all');
  t.ok((await again.body).equals(layer.bytes.subarray(10, 20)));
  t.equal(storage.gets, 1);
});

t.test('a client that joins late gets the bytes already in, then follows the download', async (t) => {
  const { storage, base } = await setup(t);
  const layer = blob(2 << 20);
  storage.blobs.set(layer.digest.slice(7), layer.bytes);
  const release = gate(storage);
  const first = pull(`${base}/${layer.digest}`);
  await until(() => first.received() > 0);
  const late = pull(`${base}/${layer.digest}`);
  await until(() => late.received() > 0);
  t.equal(storage.finished, 0);
  release();
  t.ok((await first.body).equals(layer.bytes));
  t.ok((await late.body).equals(layer.bytes));
  t.equal(storage.gets, 1);
});

t.test('tampered upstream blob: every streaming client is cut off, none gets the whole body, nothing stored', async (t) => {
  const { storage, bed, base } = await setup(t);
  const layer = blob(4 << 20);
  const tampered = Buffer.from(layer.bytes);
  tampered[tampered.length - 100] = tampered[tampered.length - 100]! ^ 0xff; // same size: only the digest can tell
  storage.blobs.set(layer.digest.slice(7), tampered);
  const release = gate(storage);

  const pulls = Array.from({ length: 10 }, () => pull(`${base}/${layer.digest}`));
  await until(() => pulls.every((p) => p.received() > 0));
  t.same(
    (await Promise.all(pulls.map((p) => p.response))).map((r) => r.statusCode),
    Array(10).fill(200),
    'all streaming',
  );
  release();
  const outcomes = await Promise.allSettled(pulls.map((p) => p.body));
  t.ok(
    outcomes.every((o) => o.status === 'rejected'),
    `every client saw its connection cut (${outcomes.map((o) => (o.status === 'rejected' ? (o.reason as Error).message : 'complete')).join('; ')})`,
  );
  t.ok(
    pulls.every((p) => p.received() < tampered.length),
    `none got the whole body: ${pulls.map((p) => p.received()).join(', ')} of ${tampered.length}`,
  );
  t.equal(storage.gets, 1, 'one download, not retried');
  t.equal(bed.store.get(layer.digest), undefined, 'not in the store');
  t.equal(bed.store.list().length, 0);
});

t.test('a connection cut mid-blob: resumed with Range through the registry again, clients never notice', async (t) => {
  const { storage, registry, base } = await setup(t);
  const layer = blob(3 << 20);
  storage.blobs.set(layer.digest.slice(7), layer.bytes);
  storage.cutAfter = 1 << 20;
  const pulls = Array.from({ length: 3 }, () => pull(`${base}/${layer.digest}`));
  const bodies = await Promise.all(pulls.map((p) => p.body));
  t.ok(
    bodies.every((b) => b.equals(layer.bytes)),
    'every client gets the whole blob',
  );
  t.equal(storage.gets, 2, 'the first request and one resume');
  t.match(storage.ranges[1], /^bytes=\d+-$/, `resumed at ${storage.ranges[1]}`);
  t.equal(registry.blobGets, 2, 'each through the registry, redirected again');
  t.equal(registry.tokens, 1, 'with the token already held');
});

t.test('a small tampered blob fails before its first byte: 502 DIGEST_INVALID', async (t) => {
  const { storage, bed, base } = await setup(t);
  const layer = blob(1000);
  storage.blobs.set(layer.digest.slice(7), Buffer.alloc(1000, 1));
  const res = pull(`${base}/${layer.digest}`);
  t.equal((await res.response).statusCode, 502);
  const body = JSON.parse((await res.body).toString()) as { errors: Array<{ code: string; message: string }> };
  t.equal(body.errors[0]?.code, 'DIGEST_INVALID');
  t.match(body.errors[0]?.message, `expected ${layer.digest}`);
  t.equal(bed.store.get(layer.digest), undefined);
});

t.test('HEAD of an uncached blob: upstream length, not a byte of body; the download goes on into the store', async (t) => {
  const { storage, bed, base } = await setup(t);
  const layer = blob(3 << 20);
  storage.blobs.set(layer.digest.slice(7), layer.bytes);
  const release = gate(storage);
  const head = pull(`${base}/${layer.digest}`, 'HEAD');
  const res = await head.response;
  t.equal(res.statusCode, 200);
  t.equal(res.headers['content-length'], String(layer.bytes.length));
  t.equal(res.headers['docker-content-digest'], layer.digest);
  t.equal((await head.body).length, 0);
  t.equal(storage.finished, 0, 'answered while the upstream still holds back half');

  const get = pull(`${base}/${layer.digest}`);
  await until(() => get.received() > 0);
  release();
  t.ok((await get.body).equals(layer.bytes), 'a GET after it joins the same download');
  t.equal(storage.gets, 1);
  await until(() => bed.store.get(layer.digest) !== undefined);
});

t.test('errors keep their OCI bodies: upstream 404, upstream down (at once, not after the retries)', async (t) => {
  const { base } = await setup(t, { backoffMs: 3000, retries: 1 });
  const missing = `sha256:${'e'.repeat(64)}`;
  for (const method of ['GET', 'HEAD']) {
    const res = await pull(`${base}/${missing}`, method).response;
    t.equal(res.statusCode, 404, method);
  }
  const nf = pull(`${base}/${missing}`);
  t.same(JSON.parse((await nf.body).toString()).errors[0].code, 'BLOB_UNKNOWN');

  const down = base.replace('/ghcr.io/', '/down.test/');
  const t0 = Date.now();
  const elsewhere = `sha256:${'f'.repeat(64)}`;
  const off = pull(`${down}/${elsewhere}`);
  t.equal((await off.response).statusCode, 503);
  const body = JSON.parse((await off.body).toString()) as { errors: Array<{ code: string; message: string }> };
  t.equal(body.errors[0]?.code, 'UNAVAILABLE');
  t.match(body.errors[0]?.message, /ECONNREFUSED/);
  t.ok(Date.now() - t0 < 2000, `answered in ${Date.now() - t0} ms, while the fetcher waits 3 s to retry`);
  const again = pull(`${down}/${elsewhere}`);
  t.equal((await again.response).statusCode, 503, 'a request during the retry wait: the same answer');
});
