// The content-addressed store: verified puts, concurrent puts, start-up repairs, LRU eviction with
// pins, a cache too small for its pins, and a full disk (a real 2 MB tmpfs).
import { execFileSync } from 'node:child_process';
import { mkdir, readdir, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import t from 'tap';
import { CacheTooSmallError, DigestMismatchError, DiskFullError } from '../../agent/errors.js';
import { hashFile } from '../../agent/images/store.js';
import { blob, chunks, storeBed } from './blobs.js';

t.test('put streams, verifies and indexes; get serves it; it survives a reopen', async (t) => {
  const bed = await storeBed();
  t.teardown(() => bed.close());
  const a = blob(300_000);
  const info = await bed.store.put(a.digest, chunks(a.bytes), { mediaType: 'application/octet-stream' });
  t.equal(info.size, a.bytes.length);
  t.equal(info.path, path.join(bed.cacheDir, 'blobs/sha256', a.digest.slice(7)));
  t.same(await readFile(info.path), a.bytes);
  t.equal(bed.store.get(a.digest)?.mediaType, 'application/octet-stream');
  t.equal(bed.store.totalBytes(), a.bytes.length);
  t.equal(bed.store.get(blob(10).digest), undefined, 'an unknown digest is undefined, not an error');
  const store = await bed.reopen();
  t.equal(store.get(a.digest)?.size, a.bytes.length);
  t.equal(store.list().length, 1);
  t.same(await readdir(path.join(bed.cacheDir, 'tmp')), []);
});

t.test('a digest mismatch names expected and got, and stores nothing', async (t) => {
  const bed = await storeBed();
  t.teardown(() => bed.close());
  const a = blob(100_000);
  const wrong = blob(10).digest;
  const err = await bed.store.put(wrong, chunks(a.bytes)).catch((e: unknown) => e);
  t.type(err, DigestMismatchError);
  t.equal((err as DigestMismatchError).code, 'MASKIN_ERR_IMAGE_DIGEST_MISMATCH');
  t.match((err as Error).message, `expected ${wrong}, got ${a.digest}`);
  t.equal(bed.store.get(wrong), undefined);
  t.same(await readdir(path.join(bed.cacheDir, 'tmp')), [], 'temp file removed');
  t.same(await readdir(path.join(bed.cacheDir, 'blobs/sha256')), []);
});

t.test('a source that fails half way leaves nothing behind', async (t) => {
  const bed = await storeBed();
  t.teardown(() => bed.close());
  const a = blob(200_000);
  async function* broken(): AsyncGenerator<Uint8Array> {
    yield a.bytes.subarray(0, 100_000);
    throw new Error('connection reset');
  }
  await t.rejects(bed.store.put(a.digest, broken()), /connection reset/);
  t.equal(bed.store.get(a.digest), undefined);
  t.same(await readdir(path.join(bed.cacheDir, 'tmp')), []);
});

t.test('concurrent puts of one digest all resolve to one intact blob', async (t) => {
  const bed = await storeBed();
  t.teardown(() => bed.close());
  const a = blob(1_000_000);
  const infos = await Promise.all(Array.from({ length: 8 }, () => bed.store.put(a.digest, chunks(a.bytes, 10_000))));
  t.ok(infos.every((i) => i.digest === a.digest && i.size === a.bytes.length));
  t.equal((await hashFile(infos[0]!.path)).digest, a.digest);
  t.equal(bed.store.list().length, 1);
  t.equal(bed.store.totalBytes(), a.bytes.length, 'counted once');
  t.same(await readdir(path.join(bed.cacheDir, 'tmp')), []);
});

t.test('start-up scan repairs every kind of damage', async (t) => {
  const bed = await storeBed();
  t.teardown(() => bed.close());
  const [kept, missing, truncated, orphan, bad] = [blob(50_000), blob(50_000), blob(50_000), blob(50_000), blob(50_000)];
  for (const b of [kept, missing, truncated]) await bed.store.put(b.digest, chunks(b.bytes));
  const blobDir = path.join(bed.cacheDir, 'blobs/sha256');
  await writeFile(path.join(bed.cacheDir, 'tmp', 'leftover.123.abc'), 'partial');
  await rm(path.join(blobDir, missing.digest.slice(7)));
  await truncate(path.join(blobDir, truncated.digest.slice(7)), 1000);
  await writeFile(path.join(blobDir, orphan.digest.slice(7)), orphan.bytes); // renamed, index write lost
  await writeFile(path.join(blobDir, bad.digest.slice(7)), blob(50_000).bytes); // name and content disagree
  await writeFile(path.join(blobDir, 'not-a-digest'), 'x');

  t.same(await bed.store.scan(), { tempFilesRemoved: 1, missingDropped: 1, adopted: 1, corruptDeleted: 3, rehashed: 1, blobs: 2, totalBytes: 100_000 });
  const store = await bed.reopen();
  t.same(
    await store.scan(),
    { tempFilesRemoved: 0, missingDropped: 0, adopted: 0, corruptDeleted: 0, rehashed: 0, blobs: 2, totalBytes: 100_000 },
    'nothing left to repair',
  );
  t.ok(store.get(kept.digest));
  t.equal(store.get(missing.digest), undefined, 'entry whose file is missing dropped');
  t.equal(store.get(truncated.digest), undefined, 'truncated file dropped');
  t.equal(store.get(orphan.digest)?.size, 50_000, 'unindexed good file adopted');
  t.equal(store.get(bad.digest), undefined, 'unindexed bad file not adopted');
  t.same((await readdir(blobDir)).sort(), [kept.digest.slice(7), orphan.digest.slice(7)].sort());
  t.same(await readdir(path.join(bed.cacheDir, 'tmp')), []);
});

t.test('eviction: least-recently-used unpinned blobs leave first; pins stay', async (t) => {
  let clock = Date.parse('2025-01-01T00:00:00Z');
  const now = (): Date => new Date((clock += 1000));
  const bed = await storeBed({ limitBytes: 350_000, now });
  t.teardown(() => bed.close());
  const [a, b, c, d] = [blob(100_000), blob(100_000), blob(100_000), blob(100_000)];
  for (const x of [a, b, c]) await bed.store.put(x.digest, chunks(x.bytes));
  bed.store.touch(a.digest); // use order now: b, c, a
  bed.store.pin([b.digest]);
  const cPath = bed.store.get(c.digest)!.path;
  await bed.store.put(d.digest, chunks(d.bytes));
  t.equal(bed.store.get(c.digest), undefined, 'c, the least recently used unpinned blob, was evicted');
  t.ok(bed.store.get(a.digest) && bed.store.get(b.digest) && bed.store.get(d.digest));
  t.equal(bed.store.totalBytes(), 300_000);
  await t.rejects(readFile(cPath), { code: 'ENOENT' });
  const store = await bed.reopen({ limitBytes: 350_000, now });
  t.equal(store.list().length, 3, 'the eviction is in the index too');
  t.equal(store.get(c.digest), undefined);
});

t.test('a cache too small for its pinned set keeps them and says so', async (t) => {
  const bed = await storeBed({ limitBytes: 150_000 });
  t.teardown(() => bed.close());
  const [a, b, c] = [blob(100_000), blob(100_000), blob(10_000)];
  bed.store.pin([a.digest, b.digest]);
  for (const x of [a, b, c]) await bed.store.put(x.digest, chunks(x.bytes));
  const result = await bed.store.evict();
  t.type(result.tooSmall, CacheTooSmallError);
  t.equal(result.tooSmall?.code, 'MASKIN_ERR_IMAGE_CACHE_TOO_SMALL');
  t.match(result.tooSmall?.message, /limit 150000 bytes is smaller than the 2 pinned images \(200000 bytes\)/);
  t.ok(bed.store.get(a.digest) && bed.store.get(b.digest), 'pinned blobs kept');
  t.equal(bed.store.get(c.digest), undefined, 'the unpinned one went');
});

t.test('disk full (2 MB tmpfs): DiskFullError naming the cache dir; earlier entries intact', async (t) => {
  const bed0 = await storeBed();
  const mountDir = path.join(bed0.dataDir, 'tmpfs');
  await bed0.close();
  await mkdir(mountDir, { recursive: true });
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', mountDir]);
  t.teardown(async () => {
    execFileSync('umount', [mountDir]);
    await rm(path.dirname(mountDir), { recursive: true, force: true });
  });
  const bed = await storeBed({ cacheDir: mountDir });
  t.teardown(() => bed.close());
  const small = blob(500_000);
  await bed.store.put(small.digest, chunks(small.bytes));
  const big = blob(3_000_000);
  const err = await bed.store.put(big.digest, chunks(big.bytes)).catch((e: unknown) => e);
  t.type(err, DiskFullError);
  t.equal((err as DiskFullError).code, 'MASKIN_ERR_IMAGE_DISK_FULL');
  t.match((err as Error).message, `image cache ${mountDir} is full (ENOSPC) while writing blob ${big.digest}`);
  t.equal(bed.store.get(big.digest), undefined);
  t.same(await readdir(path.join(mountDir, 'tmp')), [], 'partial temp file removed');
  const still = bed.store.get(small.digest);
  t.ok(still);
  t.same(await readFile(still!.path), small.bytes, 'earlier entry still served intact');
  // And the space is usable again once the failed write is gone.
  const next = blob(400_000);
  t.ok(await bed.store.put(next.digest, chunks(next.bytes)));
});
