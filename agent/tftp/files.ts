// The served directory: resolves requested names under the root (net/servedPath.ts rules plus realpath, so
// symlinks cannot lead out), and keeps file contents in memory keyed by path + mtime + size.
// Chainload binaries are small and every booting machine asks for the same two or three, so a
// boot storm reads each from disk once, and every DATA packet is pre-built once per blksize.
import { readdir, readFile, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { checkRequestedName, isInsideRoot, matchEntry } from '../net/servedPath.js';

export type TransferMode = 'octet' | 'netascii';

/** All DATA packets of one file at one blksize, ready to send. */
export interface PacketImage {
  /** Bytes the transfer carries (the tsize answer). */
  readonly size: number;
  readonly blksize: number;
  /** Number of DATA blocks; the last is shorter than blksize, possibly empty (RFC 1350 §6). */
  readonly blocks: number;
  /** Whole DATA packet of 1-based block `index`; the block number on the wire wraps to 0 after 65535. */
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

export interface ServedFiles {
  lookup(name: string, mode: TransferMode): Promise<Lookup>;
}

interface CacheEntry {
  readonly version: string;
  readonly contents: Promise<Buffer>;
  readonly views: Map<TransferMode, ServedFile>;
  bytes: number;
}

/** RFC 1350 §5 / RFC 764: netascii sends CR LF for a newline and CR NUL for a bare CR. */
export function toNetascii(bytes: Buffer): Buffer {
  const out: number[] = [];
  for (const byte of bytes) {
    if (byte === 0x0a) out.push(0x0d, 0x0a);
    else if (byte === 0x0d) out.push(0x0d, 0x00);
    else out.push(byte);
  }
  return Buffer.from(out);
}

export function buildPacketImage(bytes: Buffer, blksize: number): PacketImage {
  const blocks = Math.floor(bytes.length / blksize) + 1;
  const stride = 4 + blksize;
  const all = Buffer.allocUnsafe(blocks * 4 + bytes.length);
  for (let i = 0; i < blocks; i += 1) {
    const at = i * stride;
    all.writeUInt16BE(3, at);
    all.writeUInt16BE((i + 1) & 0xffff, at + 2);
    bytes.copy(all, at + 4, i * blksize, Math.min(bytes.length, (i + 1) * blksize));
  }
  return {
    size: bytes.length,
    blksize,
    blocks,
    packet(index) {
      const at = (index - 1) * stride;
      return all.subarray(at, Math.min(all.length, at + stride));
    },
  };
}

function servedFile(realPath: string, bytes: Buffer, entry: CacheEntry): ServedFile {
  const images = new Map<number, PacketImage>();
  return {
    path: realPath,
    size: bytes.length,
    image(blksize) {
      let image = images.get(blksize);
      if (image === undefined) {
        image = buildPacketImage(bytes, blksize);
        images.set(blksize, image);
        entry.bytes += image.blocks * 4 + image.size;
      }
      return image;
    },
  };
}

async function exists(p: string): Promise<boolean> {
  return stat(p).then(
    () => true,
    () => false,
  );
}

export function createServedFiles(root: string, opts: { maxCachedBytes?: number } = {}): ServedFiles {
  const maxCachedBytes = opts.maxCachedBytes ?? 256 * 1024 * 1024;
  // Map order is least recently used first: a hit moves the entry to the end.
  const cache = new Map<string, CacheEntry>();

  function evict(): void {
    let total = 0;
    for (const entry of cache.values()) total += entry.bytes;
    for (const [key, entry] of cache) {
      if (total <= maxCachedBytes || cache.size <= 1) break;
      cache.delete(key);
      total -= entry.bytes;
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
        // Concurrent requests for a changed file share one read.
        const created: CacheEntry = { version, contents: readFile(real), views: new Map(), bytes: info.size };
        // A failed read must not stay cached, but must not evict a newer entry either.
        created.contents.catch(() => cache.get(real) === created && cache.delete(real));
        entry = created;
      }
      cache.delete(real);
      cache.set(real, entry);
      const bytes = await entry.contents.catch(() => undefined);
      if (bytes === undefined) return { kind: 'missing' };
      let view = entry.views.get(mode);
      if (view === undefined) {
        const wire = mode === 'netascii' ? toNetascii(bytes) : bytes;
        if (mode === 'netascii') entry.bytes += wire.length;
        view = servedFile(real, wire, entry);
        entry.views.set(mode, view);
      }
      evict();
      return { kind: 'found', file: view };
    },
  };
}
