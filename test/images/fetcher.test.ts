// The single-flight fetcher against a loopback upstream: one GET for many askers, Range resume,
// servers that ignore Range, 404, 5xx retries, redirects, tampered bytes, and the held-back final
// chunk (no reader ever holds a complete unverified file).
import type { Readable } from 'node:stream';
import t from 'tap';
import { DigestMismatchError, UpstreamError } from '../../agent/errors.js';
import { createFetcher, type Fetcher } from '../../agent/images/fetcher.js';
import type { ContentStore } from '../../agent/images/model.js';
import { httpGet } from '../../agent/images/httpGet.js';
import { hashFile } from '../../agent/images/store.js';
import { startImageUpstream, type ImageUpstream } from '../fakes/imageUpstream.js';
import { blob, silent, storeBed, type StoreBed } from './blobs.js';

const image = blob(2_000_000);
const PATH = '/image/abc/v1.9.0/kernel-amd64';

interface Bed {
  readonly up: ImageUpstream;
  readonly bed: StoreBed;
  readonly fetcher: Fetcher;
  readonly url: string;
}

async function setup(t: Pick<typeof import('tap').t, 'teardown'>): Promise<Bed> {
  const up = await startImageUpstream(new Map([[PATH, image.bytes]]));
  const bed = await storeBed();
  t.teardown(async () => {
    await up.close();
    await bed.close();
  });
  const fetcher = createFetcher({ store: bed.store, log: silent, backoff: () => 10 });
  return { up, bed, fetcher, url: up.url + PATH };
}

/** Reads a stream whole, counting bytes as they arrive (inspectable before it ends). */
function reader(stream: Readable): { received: () => number; ended: () => boolean; result: Promise<Buffer> } {
  let received = 0;
  let ended = false;
  const parts: Buffer[] = [];
  const result = new Promise<Buffer>((resolve, reject) => {
    stream.on('data', (c: Buffer) => {
      received += c.length;
      parts.push(c);
    });
    stream.on('end', () => {
      ended = true;
      resolve(Buffer.concat(parts));
    });
    stream.on('error', reject);
  });
  result.catch(() => undefined);
  return { received: () => received, ended: () => ended, result };
}

const until = async (cond: () => boolean, ms = 5000): Promise<void> => {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 5));
  }
};

t.test('single flight: 10 concurrent fetches, one upstream GET, every reader gets every byte', async (t) => {
  const { up, bed, fetcher, url } = await setup(t);
  const downloads = Array.from({ length: 10 }, () => fetcher.fetch(image.digest, { url }));
  t.ok(
    downloads.every((d) => d === downloads[0]),
    'the same Download',
  );
  t.equal(fetcher.active().length, 1);
  const readers = downloads.map((d) => reader(d.stream()));
  const blobInfo = await downloads[0]!.done;
  for (const r of readers) t.ok((await r.result).equals(image.bytes));
  t.equal(up.gets(PATH), 1, 'one upstream GET');
  t.equal((await hashFile(blobInfo.path)).digest, image.digest);
  t.same(downloads[0]!.progress(), { digest: image.digest, received: image.bytes.length, total: image.bytes.length });
  // Cached now: a later fetch reads the file, no new GET.
  const again = fetcher.fetch(image.digest, { url });
  t.ok((await reader(again.stream()).result).equals(image.bytes));
  t.equal(up.gets(PATH), 1);
  t.same(fetcher.active(), []);
  t.ok(bed.store.get(image.digest));
});

t.test('a late joiner reads what is already on disk, then follows live', async (t) => {
  const { up, bed, url } = await setup(t);
  // A live window far smaller than what has arrived: the late joiner must start from the temp file.
  const fetcher = createFetcher({ store: bed.store, log: silent, liveWindowBytes: 128 * 1024 });
  let release!: () => void;
  let reached!: () => void;
  const atHold = new Promise<void>((r) => (reached = r));
  up.behaviour.holdLast = { bytes: 100_000, until: new Promise<void>((r) => (release = r)), reached };
  const d = fetcher.fetch(image.digest, { url });
  await atHold;
  await until(() => d.progress().received === image.bytes.length - 100_000);
  const late = reader(d.stream());
  release();
  t.ok((await late.result).equals(image.bytes));
});

t.test('readers never hold the final chunk before the digest verifies', async (t) => {
  const { up, fetcher, url } = await setup(t);
  let release!: () => void;
  let reached!: () => void;
  const atHold = new Promise<void>((r) => (reached = r));
  up.behaviour.holdLast = { bytes: 1000, until: new Promise<void>((r) => (release = r)), reached };
  const d = fetcher.fetch(image.digest, { url });
  const readers = Array.from({ length: 5 }, () => reader(d.stream()));
  await atHold;
  const size = image.bytes.length;
  await until(() => d.progress().received === size - 1000);
  await new Promise((r) => setTimeout(r, 100)); // let readers drain everything they are allowed
  for (const r of readers) {
    // Less than what arrived: the latest chunk is held back, as it might be the last one.
    t.ok(r.received() > 0 && r.received() < d.progress().received, `reader has ${r.received()} of ${d.progress().received} received (${size} total)`);
    t.notOk(r.ended());
  }
  release();
  for (const r of readers) t.ok((await r.result).equals(image.bytes));
});

t.test('all bytes written but put() not yet resolved: readers still lack the final chunk', async (t) => {
  const { up, bed, url } = await setup(t);
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let stored!: () => void;
  const atStored = new Promise<void>((r) => (stored = r));
  const store: ContentStore = {
    ...bed.store,
    async put(digest, source, opts) {
      const info = await bed.store.put(digest, source, opts);
      stored();
      await gate;
      return info;
    },
  };
  const d = createFetcher({ store, log: silent }).fetch(image.digest, { url });
  const readers = Array.from({ length: 3 }, () => reader(d.stream()));
  await atStored;
  await new Promise((r) => setTimeout(r, 100));
  for (const r of readers) t.ok(r.received() > 0 && r.received() < image.bytes.length, `reader has ${r.received()} of ${image.bytes.length}`);
  release();
  for (const r of readers) t.ok((await r.result).equals(image.bytes));
  t.equal(up.gets(PATH), 1);
});

t.test('tampered upstream: every reader errors, nothing is stored, no reader got the whole file', async (t) => {
  const { up, bed, fetcher, url } = await setup(t);
  up.behaviour.tamper = true;
  let release!: () => void;
  let reached!: () => void;
  const atHold = new Promise<void>((r) => (reached = r));
  up.behaviour.holdLast = { bytes: 5000, until: new Promise<void>((r) => (release = r)), reached };
  const d = fetcher.fetch(image.digest, { url });
  const early = Array.from({ length: 4 }, () => reader(d.stream()));
  await atHold;
  const late = reader(d.stream());
  release();
  const err = await d.done.catch((e: unknown) => e);
  t.type(err, DigestMismatchError);
  t.match((err as Error).message, `expected ${image.digest}, got sha256:`);
  for (const r of [...early, late]) {
    await t.rejects(r.result, { code: 'MASKIN_ERR_IMAGE_DIGEST_MISMATCH' });
    t.ok(r.received() < image.bytes.length, `reader stopped at ${r.received()}`);
  }
  t.equal(bed.store.get(image.digest), undefined);
  t.equal(bed.store.list().length, 0);
  await t.rejects(reader(d.stream()).result, { code: 'MASKIN_ERR_IMAGE_DIGEST_MISMATCH' }, 'a stream asked for after the failure errors too');
  t.equal(up.gets(PATH), 1, 'a mismatch is not retried');
});

t.test('a connection cut mid-body resumes with Range', async (t) => {
  const { up, bed, fetcher, url } = await setup(t);
  up.behaviour.cutAfter = 700_000;
  const d = fetcher.fetch(image.digest, { url });
  const r = reader(d.stream());
  await d.done;
  t.ok((await r.result).equals(image.bytes), 'the reader saw every byte exactly once');
  t.equal(up.gets(PATH), 2);
  t.match(up.requests[1]?.range, /^bytes=\d+-$/);
  t.ok(Number(/\d+/.exec(up.requests[1]!.range!)![0]) >= 600_000, `resumed at ${up.requests[1]!.range}`);
  t.equal((await hashFile(bed.store.get(image.digest)!.path)).digest, image.digest);
});

t.test('a server that ignores Range: read from 0 again, bytes still exact', async (t) => {
  const { up, bed, fetcher, url } = await setup(t);
  up.behaviour.cutAfter = 700_000;
  up.behaviour.ignoreRange = true;
  const d = fetcher.fetch(image.digest, { url });
  const r = reader(d.stream());
  await d.done;
  t.ok((await r.result).equals(image.bytes));
  t.equal(up.gets(PATH), 2);
  t.ok(bed.store.get(image.digest));
});

t.test('404: UpstreamError naming it, no retry, nothing stored', async (t) => {
  const { up, bed, fetcher, url } = await setup(t);
  up.behaviour.notFound = true;
  const d = fetcher.fetch(image.digest, { url });
  const r = reader(d.stream());
  const err = await d.done.catch((e: unknown) => e);
  t.type(err, UpstreamError);
  t.equal((err as UpstreamError).code, 'MASKIN_ERR_IMAGE_UPSTREAM_NOT_FOUND');
  t.equal((err as UpstreamError).status, 404);
  t.match((err as Error).message, `${url}: not found (404)`);
  await t.rejects(r.result, { code: 'MASKIN_ERR_IMAGE_UPSTREAM_NOT_FOUND' });
  t.equal(up.gets(PATH), 1);
  t.equal(bed.store.list().length, 0);
  t.same(fetcher.active(), []);
});

t.test('500 twice then served: retried with backoff', async (t) => {
  const { up, fetcher, url } = await setup(t);
  up.behaviour.fail500 = 2;
  const d = fetcher.fetch(image.digest, { url });
  t.equal((await d.done).size, image.bytes.length);
  t.equal(up.gets(PATH), 3);
});

t.test('5xx beyond the retries: UpstreamError with the status', async (t) => {
  const { up, fetcher, url } = await setup(t);
  up.behaviour.fail500 = 100;
  const err = await fetcher.fetch(image.digest, { url }).done.catch((e: unknown) => e);
  t.type(err, UpstreamError);
  t.equal((err as UpstreamError).status, 500);
  t.equal(up.gets(PATH), 5, 'the first attempt and 4 retries');
});

t.test('redirects are followed', async (t) => {
  const { up, fetcher } = await setup(t);
  up.behaviour.redirects = new Map([['/moved', PATH]]);
  const d = fetcher.fetch(image.digest, { url: up.url + '/moved' });
  t.ok((await reader(d.stream()).result).equals(image.bytes));
  t.same(
    up.requests.map((r) => r.path),
    ['/moved', PATH],
  );
});

t.test('a source with its own get makes every request through it, Range resumes included', async (t) => {
  const { up, fetcher, url } = await setup(t);
  up.behaviour.cutAfter = 700_000;
  const asked: Array<[string, string | undefined]> = [];
  const d = fetcher.fetch(image.digest, {
    url,
    get: (u, opts) => {
      asked.push([u, opts.headers?.['range']]);
      return httpGet(u, opts);
    },
  });
  t.ok((await reader(d.stream()).result).equals(image.bytes));
  t.equal(asked.length, 2, 'the first request and the resume');
  t.same(
    asked.map(([u]) => u),
    [url, url],
  );
  t.equal(asked[0]?.[1], undefined);
  t.match(asked[1]?.[1], /^bytes=\d+-$/, 'the resume carries its Range');
  t.equal(up.gets(PATH), 2);
});

t.test('an upstream that closes while the body is paused by a slow disk does not crash the agent (undici#5360)', async (t) => {
  const { createServer } = await import('node:net');
  const image = blob(4 << 20);
  // Like busybox httpd: the whole response, then FIN at once.
  const server = createServer((sock) => {
    sock.once('data', () => {
      sock.write(`HTTP/1.1 200 OK\r\nContent-Length: ${image.bytes.length}\r\nConnection: close\r\n\r\n`);
      sock.end(image.bytes);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  const bed = await storeBed();
  t.teardown(() => bed.close());
  // A store that writes slowly: the response body backs up while the socket has already ended.
  const slow: typeof bed.store = {
    ...bed.store,
    put: (digest, source, opts) =>
      bed.store.put(
        digest,
        (async function* () {
          for await (const chunk of source) {
            await new Promise((r) => setTimeout(r, 2));
            yield chunk;
          }
        })(),
        opts,
      ),
  };
  const { port } = server.address() as { port: number };
  const d = createFetcher({ store: slow, log: silent }).fetch(image.digest, { url: `http://127.0.0.1:${port}/image` });
  const stored = await d.done;
  t.equal(stored.size, image.bytes.length, 'downloaded, verified and stored, with the process alive');
});
