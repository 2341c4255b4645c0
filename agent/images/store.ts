// The verified content-addressed image store: <dir>/blobs/sha256/<hex>, indexed in LevelDB.
// A blob becomes visible only after temp file → fsync → sha256 verified → rename → dir fsync →
// synced index write, so a crash at any point leaves either nothing or a complete verified file;
// the start-up scan reconciles files and index for the crash windows in between.
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readdir, rename, rm, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import type { AbstractBatchOptions } from 'abstract-level';
import type { Logger } from 'pino';
import { CacheTooSmallError, DiskFullError, DigestMismatchError } from '../errors.js';
import type { Sublevel } from '../store/store.js';
import { DIGEST, type BlobInfo, type ContentStore, type Digest, type PutOptions } from './model.js';

/** The index value, keyed by digest; the path is derived, never stored. */
export interface IndexEntry {
  readonly size: number;
  readonly mediaType?: string;
  readonly storedAt: string;
  readonly lastUsedAt: string;
}

export interface EvictResult {
  readonly removed: readonly Digest[];
  readonly freedBytes: number;
  readonly totalBytes: number;
  /** Set when the pinned set alone exceeds the limit (the pinned blobs are kept). */
  readonly tooSmall?: CacheTooSmallError;
}

export interface ScanResult {
  readonly tempFilesRemoved: number;
  /** Index entries whose file was gone. */
  readonly missingDropped: number;
  /** Files present but not indexed whose content matched their name. */
  readonly adopted: number;
  /** Files deleted because their content did not match their name (or the name was not a digest). */
  readonly corruptDeleted: number;
  /** Indexed files whose size differed from the index and that were hashed again. */
  readonly rehashed: number;
  readonly blobs: number;
  readonly totalBytes: number;
}

export interface ImageStore extends ContentStore {
  evict(): Promise<EvictResult>;
  scan(): Promise<ScanResult>;
}

export interface ImageStoreOptions {
  /** <dataDir>/cache */
  readonly dir: string;
  readonly index: Sublevel<IndexEntry>;
  readonly limitBytes: number;
  readonly log: Logger;
  readonly now?: () => Date;
}

// classic-level honours { sync } on batch(); abstract-level's option types omit it.
const SYNC = { sync: true } as AbstractBatchOptions<string, IndexEntry>;

const isDiskFull = (err: unknown): boolean => {
  const code = (err as { code?: string } | null)?.code;
  return code === 'ENOSPC' || code === 'EDQUOT';
};

export async function hashFile(file: string): Promise<{ digest: Digest; size: number }> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) {
    hash.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return { digest: `sha256:${hash.digest('hex')}`, size };
}

async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

export async function openContentStore(opts: ImageStoreOptions): Promise<ImageStore> {
  const { dir, index, limitBytes, log } = opts;
  const now = opts.now ?? (() => new Date());
  const blobDir = path.join(dir, 'blobs', 'sha256');
  const tmpDir = path.join(dir, 'tmp');
  await mkdir(blobDir, { recursive: true });
  await mkdir(tmpDir, { recursive: true });

  const blobs = new Map<Digest, BlobInfo>();
  let pinned = new Set<Digest>();
  let total = 0;
  const blobPath = (digest: Digest): string => path.join(blobDir, digest.slice('sha256:'.length));
  const info = (digest: Digest, e: IndexEntry): BlobInfo => ({ digest, path: blobPath(digest), ...e });
  const remember = (b: BlobInfo): void => {
    total += b.size - (blobs.get(b.digest)?.size ?? 0);
    blobs.set(b.digest, b);
  };
  const entryOf = (b: BlobInfo): IndexEntry => ({
    size: b.size,
    ...(b.mediaType !== undefined ? { mediaType: b.mediaType } : {}),
    storedAt: b.storedAt,
    lastUsedAt: b.lastUsedAt,
  });

  async function writeTemp(digest: Digest, source: AsyncIterable<Uint8Array>, putOpts: PutOptions): Promise<string> {
    // Unique per put, so concurrent puts of one digest never share a temp file.
    const temp = path.join(tmpDir, `${digest.slice(7, 23)}.${process.pid}.${randomBytes(6).toString('hex')}`);
    const hash = createHash('sha256');
    let written = 0;
    let fh;
    try {
      fh = await open(temp, 'wx');
      for await (const chunk of source) {
        hash.update(chunk);
        let off = 0;
        while (off < chunk.length) {
          const { bytesWritten } = await fh.write(chunk, off, chunk.length - off);
          off += bytesWritten;
        }
        written += chunk.length;
        putOpts.onWrite?.(temp, written);
      }
      await fh.sync();
      await fh.close();
      fh = undefined;
      const got = `sha256:${hash.digest('hex')}`;
      if (got !== digest) throw new DigestMismatchError(digest, got, `blob ${digest} (${written} bytes received)`);
      return temp;
    } catch (err) {
      await fh?.close().catch(() => undefined);
      await rm(temp, { force: true });
      if (isDiskFull(err)) throw new DiskFullError(dir, `blob ${digest} (${written} bytes written)`, { cause: err });
      throw err;
    }
  }

  async function put(digest: Digest, source: AsyncIterable<Uint8Array>, putOpts: PutOptions = {}): Promise<BlobInfo> {
    if (!DIGEST.test(digest)) throw new TypeError(`not a sha256 digest: ${JSON.stringify(digest)}`);
    const temp = await writeTemp(digest, source, putOpts);
    const existing = blobs.get(digest);
    if (existing) {
      // Another put of the same digest won the race: its file is the same verified bytes.
      await rm(temp, { force: true });
      return existing;
    }
    const at = now().toISOString();
    const size = (await stat(temp)).size;
    await rename(temp, blobPath(digest));
    await fsyncDir(blobDir);
    const blob: BlobInfo = {
      digest,
      path: blobPath(digest),
      size,
      storedAt: at,
      lastUsedAt: at,
      ...(putOpts.mediaType !== undefined ? { mediaType: putOpts.mediaType } : {}),
    };
    await index.batch([{ type: 'put', key: digest, value: entryOf(blob) }], SYNC);
    remember(blob);
    await evict(digest);
    return blob;
  }

  function touch(digest: Digest): void {
    const b = blobs.get(digest);
    if (!b) return;
    const used: BlobInfo = { ...b, lastUsedAt: now().toISOString() };
    blobs.set(digest, used);
    // Not synced: losing a recent use in a crash only makes eviction slightly less accurate.
    index.batch([{ type: 'put', key: digest, value: entryOf(used) }]).catch((err: unknown) => log.warn({ err, digest }, 'image cache: recording use failed'));
  }

  async function drop(digest: Digest): Promise<void> {
    const b = blobs.get(digest);
    // Index first: a crash between the two leaves an unindexed file, which the scan re-adopts.
    await index.batch([{ type: 'del', key: digest }], SYNC);
    await unlink(blobPath(digest)).catch((err: { code?: string }) => {
      if (err.code !== 'ENOENT') throw err;
    });
    if (b) {
      blobs.delete(digest);
      total -= b.size;
    }
  }

  /** Least-recently-used unpinned blobs leave until the total fits; `keep` (the blob just stored) stays. */
  async function evict(keep?: Digest): Promise<EvictResult> {
    const removed: Digest[] = [];
    let freedBytes = 0;
    const candidates = [...blobs.values()].filter((b) => !pinned.has(b.digest) && b.digest !== keep).sort((a, b) => a.lastUsedAt.localeCompare(b.lastUsedAt));
    for (const b of candidates) {
      if (total <= limitBytes) break;
      await drop(b.digest);
      removed.push(b.digest);
      freedBytes += b.size;
    }
    if (removed.length > 0) log.info({ removed: removed.length, freedBytes, totalBytes: total, limitBytes }, 'image cache: evicted least-recently-used blobs');
    let tooSmall: CacheTooSmallError | undefined;
    const pinnedBlobs = [...blobs.values()].filter((b) => pinned.has(b.digest));
    const pinnedBytes = pinnedBlobs.reduce((n, b) => n + b.size, 0);
    if (pinnedBytes > limitBytes) {
      tooSmall = new CacheTooSmallError(pinnedBytes, limitBytes, pinnedBlobs.length);
      log.warn({ code: tooSmall.code, pinnedBytes, limitBytes }, tooSmall.message);
    }
    return { removed, freedBytes, totalBytes: total, ...(tooSmall ? { tooSmall } : {}) };
  }

  async function scan(): Promise<ScanResult> {
    let tempFilesRemoved = 0;
    let missingDropped = 0;
    let adopted = 0;
    let corruptDeleted = 0;
    let rehashed = 0;
    for (const name of await readdir(tmpDir)) {
      await rm(path.join(tmpDir, name), { force: true, recursive: true });
      tempFilesRemoved++;
    }
    blobs.clear();
    total = 0;
    const indexed = new Map<Digest, IndexEntry>();
    for await (const [key, value] of index.iterator()) indexed.set(key, value);
    const files = new Set(await readdir(blobDir));
    const ops: Array<{ type: 'put'; key: string; value: IndexEntry } | { type: 'del'; key: string }> = [];
    const deleteFile = async (name: string): Promise<void> => {
      await rm(path.join(blobDir, name), { force: true, recursive: true });
      corruptDeleted++;
    };

    for (const [digest, entry] of indexed) {
      const name = digest.slice('sha256:'.length);
      if (!DIGEST.test(digest) || !files.has(name)) {
        ops.push({ type: 'del', key: digest });
        missingDropped++;
        continue;
      }
      files.delete(name);
      const size = (await stat(blobPath(digest))).size;
      let kept = entry;
      if (size !== entry.size) {
        rehashed++;
        const actual = await hashFile(blobPath(digest));
        if (actual.digest !== digest) {
          ops.push({ type: 'del', key: digest });
          await deleteFile(name);
          continue;
        }
        kept = { ...entry, size: actual.size };
        ops.push({ type: 'put', key: digest, value: kept });
      }
      remember(info(digest, kept));
    }
    for (const name of files) {
      const digest = `sha256:${name}`;
      const file = path.join(blobDir, name);
      const st = await stat(file);
      if (!DIGEST.test(digest) || !st.isFile() || (await hashFile(file)).digest !== digest) {
        await deleteFile(name);
        continue;
      }
      const at = st.mtime.toISOString();
      const entry: IndexEntry = { size: st.size, storedAt: at, lastUsedAt: at };
      ops.push({ type: 'put', key: digest, value: entry });
      remember(info(digest, entry));
      adopted++;
    }
    if (ops.length > 0) await index.batch(ops, SYNC);
    const result: ScanResult = { tempFilesRemoved, missingDropped, adopted, corruptDeleted, rehashed, blobs: blobs.size, totalBytes: total };
    log.info(result, 'image cache: start-up scan');
    return result;
  }

  await scan();

  return {
    get: (digest) => blobs.get(digest),
    put,
    touch,
    pin(digests) {
      pinned = new Set(digests);
    },
    list: () => [...blobs.values()],
    totalBytes: () => total,
    evict: () => evict(),
    scan,
  };
}
