// The served directory: resolves requested names under the root (net/servedPath.ts rules plus realpath, so
// symlinks cannot lead out), and keeps file contents in memory keyed by path + mtime + size.
// Chainload binaries are small and every booting machine asks for the same two or three, so a
// boot storm reads each from disk once. The cache holds the bytes each file is sent as, once per
// transfer mode, and nothing per blksize: DATA packets are cut from those bytes as they are sent,
// so a client sweeping every blksize costs no memory. Every cached byte is counted against
// maxCachedBytes, least recently used evicted first.
import { readdir, readFile, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { checkRequestedName, isInsideRoot, matchEntry } from '../net/servedPath.js';

export type TransferMode = 'octet' | 'netascii';

/** The DATA packets of one file at one blksize, built as they are asked for. */
export interface PacketImage {
  /** Bytes the transfer carries (the tsize answer). */
  readonly size: number;
  readonly blksize: number;
  /** Number of DATA blocks; the last is shorter than blksize, possibly empty (RFC 1350 §6). */
  readonly blocks: number;
  /** Whole DATA packet of 1-based block `index`, a new buffer; the block number on the wire wraps to 0 after 65535. */
  packet(index: number): Buffer;
}

export interface ServedFile {
  /** Real path on disk. */
  readonly path: string;
  readonly size: number;
  image(blksize: number): PacketImage;
}

export type Lookup =
  { readonly kind: 'found'; readonly file: ServedFile } | { readonly kind: 'missing' } | { readonly kind: 'refused'; readonly reason: string };

export interface CacheStats {
  /** Files (path + version) cached. */
  readonly entries: number;
  /** Bytes held: each file's contents, plus its netascii form once asked for. */
  readonly bytes: number;
  readonly limitBytes: number;
}

export interface ServedFiles {
  lookup(name: string, mode: TransferMode): Promise<Lookup>;
  stats(): CacheStats;
}

interface CacheEntry {
  readonly version: string;
  readonly contents: Promise<Buffer>;
  readonly views: Map<TransferMode, ServedFile>;
  /** What this entry is charged in the cache total. */
  bytes: number;
}

/** RFC 1350 §5 / RFC 764: netascii sends CR LF for a newline and CR NUL for a bare CR. */
export function toNetascii(bytes: Buffer): Buffer {
  let extra = 0;
  for (const byte of bytes) if (byte === 0x0a || byte === 0x0d) extra += 1;
  if (extra === 0) return bytes;
  const out = Buffer.allocUnsafe(bytes.length + extra);
  let at = 0;
  for (const byte of bytes) {
    if (byte === 0x0a) {
      out[at++] = 0x0d;
      out[at++] = 0x0a;
    } else if (byte === 0x0d) {
      out[at++] = 0x0d;
      out[at++] = 0x00;
    } else out[at++] = byte;
  }
  return out;
}

/** A view of `bytes` as DATA packets of `blksize`; it holds nothing but `bytes`. */
export function buildPacketImage(bytes: Buffer, blksize: number): PacketImage {
  const blocks = Math.floor(bytes.length / blksize) + 1;
  return {
    size: bytes.length,
    blksize,
    blocks,
    packet(index) {
      const from = Math.min(bytes.length, (index - 1) * blksize);
      const to = Math.min(bytes.length, from + blksize);
      const packet = Buffer.allocUnsafe(4 + to - from);
      packet.writeUInt16BE(3, 0);
      packet.writeUInt16BE(index & 0xffff, 2);
      bytes.copy(packet, 4, from, to);
      return packet;
    },
  };
}

function servedFile(realPath: string, bytes: Buffer): ServedFile {
  return { path: realPath, size: bytes.length, image: (blksize) => buildPacketImage(bytes, blksize) };
}

async function exists(p: string): Promise<boolean> {
  return stat(p).then(
    () => true,
    () => false,
  );
}

/** Errors reading a file that say nothing about the file: the process is out of descriptors. */
const NO_DESCRIPTOR = new Set(['EMFILE', 'ENFILE']);

export function createServedFiles(root: string, opts: { maxCachedBytes?: number } = {}): ServedFiles {
  const maxCachedBytes = opts.maxCachedBytes ?? 64 * 1024 * 1024;
  // Map order is least recently used first: a hit moves the entry to the end.
  const cache = new Map<string, CacheEntry>();
  /** Sum of every cached entry's bytes. */
  let total = 0;

  function forget(key: string, entry: CacheEntry): void {
    if (cache.get(key) !== entry) return;
    cache.delete(key);
    total -= entry.bytes;
  }
  function charge(key: string, entry: CacheEntry, bytes: number): void {
    entry.bytes += bytes;
    if (cache.get(key) === entry) total += bytes;
  }
  /** Least recently used first, until the total fits; the newest entry too if it alone is over the bound (it is served, not kept). */
  function evict(): void {
    for (const [key, entry] of cache) {
      if (total <= maxCachedBytes) break;
      forget(key, entry);
    }
  }

  /** Walks the segments, matching each case-insensitively when the exact name is absent. */
  async function resolve(realRoot: string, segments: readonly string[]): Promise<string | undefined> {
    let at = realRoot;
    for (const segment of segments) {
      const exact = path.join(at, segment);
      if (await exists(exact)) {
        at = exact;
        continue;
      }
      const entries = await readdir(at).catch(() => undefined);
      const match = entries && matchEntry(entries, segment);
      if (match === undefined) return undefined;
      at = path.join(at, match);
    }
    return at;
  }

  return {
    stats: () => ({ entries: cache.size, bytes: total, limitBytes: maxCachedBytes }),
    async lookup(name, mode) {
      const check = checkRequestedName(name);
      if (!check.ok) return { kind: 'refused', reason: check.reason };
      const realRoot = await realpath(root);
      const found = await resolve(realRoot, check.segments);
      if (found === undefined) return { kind: 'missing' };
      const real = await realpath(found).catch(() => undefined);
      if (real === undefined) return { kind: 'missing' };
      // A symlink inside the root may point anywhere; only its target counts.
      if (!isInsideRoot(realRoot, real)) return { kind: 'refused', reason: 'resolves outside the served root' };
      const info = await stat(real).catch(() => undefined);
      if (info === undefined || !info.isFile()) return { kind: 'missing' };
      const version = `${info.ino}:${info.size}:${info.mtimeMs}`;
      let entry = cache.get(real);
      if (entry === undefined || entry.version !== version) {
        if (entry !== undefined) forget(real, entry);
        // Concurrent requests for a changed file share one read. Charged its size now, so reads
        // in flight count against the bound too.
        const created: CacheEntry = { version, contents: readFile(real), views: new Map(), bytes: 0 };
        cache.set(real, created);
        charge(real, created, info.size);
        created.contents.then(
          // The file may have changed between stat and read: charge what was read.
          (bytes) => charge(real, created, bytes.length - info.size),
          // A failed read must not stay cached, but must not evict a newer entry either.
          () => forget(real, created),
        );
        entry = created;
        evict();
      } else {
        cache.delete(real);
        cache.set(real, entry);
      }
      const bytes = await entry.contents.catch((err: unknown) => {
        if (NO_DESCRIPTOR.has((err as { code?: string }).code ?? '')) throw err;
        return undefined;
      });
      if (bytes === undefined) return { kind: 'missing' };
      let view = entry.views.get(mode);
      if (view === undefined) {
        const wire = mode === 'netascii' ? toNetascii(bytes) : bytes;
        view = servedFile(real, wire);
        entry.views.set(mode, view);
        // The octet view is the contents themselves; a netascii form is a second copy.
        if (wire !== bytes) charge(real, entry, wire.length);
        evict();
      }
      return { kind: 'found', file: view };
    },
  };
}
