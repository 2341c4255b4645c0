// Serving one verified blob: ETag = its digest, If-None-Match, a single Range, HEAD. Pure header
// logic plus a file pump.
import type { OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { readSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { Readable } from 'node:stream';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { BlobInfo } from '../images/model.js';

// 256 KiB reads, measured by bench/assets.ts (50 × 100 MB over loopback): 128 KiB was slower (curl
// 0.72× nginx); 512 KiB was faster but took the agent's peak RSS to 204 MB, over its 200 MB budget
// (two buffers per download, 50 downloads, on top of ~125 MB idle).
const READ_CHUNK = 256 * 1024;
// Idle buffers kept for the next response: enough for a burst of downloads without holding more
// than 8 MiB once they end.
const POOL_MAX = 32;
// Reads come from the page cache in microseconds, and reading them synchronously measured faster
// than the threadpool (bench/assets.ts, one run each: curl 1.06× vs 0.92× nginx, wrk 1.36× vs
// 1.16×). A read slower than this went to the disk: that response goes on through the threadpool,
// so cold images cannot stall the event loop (DHCP, TFTP, every other download) read after read.
const SLOW_READ_MS = 2;
const pool: Buffer[] = [];
const takeBuffer = (): Buffer => pool.pop() ?? Buffer.allocUnsafeSlow(READ_CHUNK);
const giveBuffer = (b: Buffer): void => void (pool.length < POOL_MAX && pool.push(b));

export type RangeResult = { kind: 'full' } | { kind: 'partial'; start: number; end: number } | { kind: 'unsatisfiable' };

const FULL: RangeResult = { kind: 'full' };
const UNSATISFIABLE: RangeResult = { kind: 'unsatisfiable' };

/**
 * The Range header against a representation of `size` bytes (RFC 9110 §14.1.2): the unit `bytes`
 * (case-insensitive, §14.1), `=`, and a list of `first-last`, `first-` or `-suffix`, digits only,
 * split at OWS "," OWS with empty elements skipped (§5.6.1.2). Anything else, and a `first-last`
 * whose last is below its first (§14.1.1), is not a valid Range and is ignored: full (§14.2).
 * Several ranges are valid, and served whole too (a server may ignore Range, §14.2). One range is
 * partial, or unsatisfiable (416, §15.5.17) when it starts at or past the end or is a zero-length
 * suffix (§14.1.1); a last past the end is the end.
 */
export function parseRange(header: string | undefined, size: number): RangeResult {
  if (header === undefined) return FULL;
  const m = /^bytes=(.*)$/i.exec(header);
  if (!m) return FULL;
  const specs = m[1]!.split(/[ \t]*,[ \t]*/).filter((spec) => spec !== '');
  const parsed: RegExpExecArray[] = [];
  for (const spec of specs) {
    const r = /^(?:(\d+)-(\d*)|-(\d+))$/.exec(spec);
    if (!r || (r[1] !== undefined && r[2] !== '' && BigInt(r[2]!) < BigInt(r[1]))) return FULL;
    parsed.push(r);
  }
  if (parsed.length !== 1) return FULL;
  const [, first, last, suffix] = parsed[0]!;
  if (suffix !== undefined) {
    const length = Number(suffix);
    if (length === 0 || size === 0) return UNSATISFIABLE;
    return { kind: 'partial', start: Math.max(0, size - length), end: size - 1 };
  }
  const start = Number(first);
  if (start >= size) return UNSATISFIABLE;
  return { kind: 'partial', start, end: last === '' ? size - 1 : Math.min(Number(last), size - 1) };
}

export function etagOf(digest: string): string {
  return `"${digest}"`;
}

export function sendBlob(request: FastifyRequest, reply: FastifyReply, blob: BlobInfo, contentType = 'application/octet-stream'): FastifyReply {
  const etag = etagOf(blob.digest);
  reply.header('etag', etag).header('accept-ranges', 'bytes').header('cache-control', 'public, max-age=31536000, immutable').type(contentType);
  const inm = request.headers['if-none-match'];
  if (inm !== undefined && inm.split(',').some((tag) => tag.trim() === etag || tag.trim() === '*')) return reply.code(304).send();
  const range = parseRange(request.headers.range, blob.size);
  if (range.kind === 'unsatisfiable') return reply.code(416).header('content-range', `bytes */${blob.size}`).send();
  const [start, end] = range.kind === 'partial' ? [range.start, range.end] : [0, blob.size - 1];
  if (range.kind === 'partial') reply.code(206).header('content-range', `bytes ${start}-${end}/${blob.size}`);
  reply.header('content-length', String(blob.size === 0 ? 0 : end - start + 1));
  // An empty stream, not send(): fastify's automatic HEAD routes would otherwise reset
  // Content-Length.
  if (request.method === 'HEAD' || blob.size === 0) return reply.send(Readable.from([]));
  // The body bypasses fastify and Readable streams (bench/assets.ts medians against nginx, curl /
  // wrk: createReadStream 0.44–0.52× / 0.49–0.88×, this pump 1.04–1.10× / 1.15–1.49×): two reused
  // buffers per response, the next read done while the previous chunk is still being written.
  reply.hijack();
  reply.raw.writeHead(reply.statusCode, reply.getHeaders() as OutgoingHttpHeaders);
  pumpFile(reply.raw, blob.path, start, end).catch((err: unknown) =>
    request.log.error({ err, digest: blob.digest, path: blob.path }, 'serving a cached blob failed'),
  );
  return reply;
}

/** Writes bytes start..end (inclusive) of `file` to `res`, then ends it. A client abort stops it; a
 * read error cuts the connection and rejects. Either way the file is closed once no read is pending.
 * Reads are synchronous until one takes longer than `slowReadMs`, then go through the threadpool. */
export async function pumpFile(res: ServerResponse, file: string, start: number, end: number, slowReadMs = SLOW_READ_MS): Promise<void> {
  let fh: FileHandle | undefined;
  let pending: Promise<number> | undefined;
  const buffers = [takeBuffer(), takeBuffer()] as const;
  // Node does not call back a write still queued when the socket is destroyed under it: waiting
  // on 'close' too is what lets an abort come back here and close the file.
  let onClose!: () => void;
  const closed = new Promise<void>((resolve) => (onClose = resolve));
  res.once('close', onClose);
  const write = (chunk: Buffer): Promise<void> =>
    Promise.race([closed, new Promise<void>((resolve, reject) => res.write(chunk, (err) => (err ? reject(err) : resolve())))]);
  try {
    fh = await open(file, 'r');
    let sync = true;
    const read = async (buffer: Buffer, position: number): Promise<number> => {
      const length = Math.min(READ_CHUNK, end + 1 - position);
      let bytesRead: number;
      if (sync) {
        const began = performance.now();
        bytesRead = readSync(fh!.fd, buffer, 0, length, position);
        if (performance.now() - began > slowReadMs) sync = false;
      } else {
        ({ bytesRead } = await fh!.read(buffer, 0, length, position));
      }
      if (bytesRead === 0) throw new Error(`${file} ended at byte ${position}, before byte ${end}: the blob is shorter than its recorded size`);
      return bytesRead;
    };
    let position = start;
    let which = 0;
    // Marked handled at once: a failed read is only awaited after the write before it.
    const settle = (p: Promise<number>): Promise<number> => (p.catch(() => undefined), p);
    pending = settle(read(buffers[0], position));
    while (pending) {
      const n = await pending;
      const chunk = buffers[which]!.subarray(0, n);
      position += n;
      which ^= 1;
      pending = position <= end && !res.destroyed ? settle(read(buffers[which]!, position)) : undefined;
      if (res.destroyed) break;
      await write(chunk);
    }
    if (!res.destroyed) res.end();
  } catch (err) {
    // A client gone is no failure; a read error leaves the response short of its Content-Length:
    // cut the connection and tell the caller.
    if (res.destroyed) return;
    res.destroy();
    throw err;
  } finally {
    res.removeListener('close', onClose);
    // FileHandle.close waits for a read still running on it before the buffers go back to the pool.
    await fh?.close().catch(() => undefined);
    buffers.forEach(giveBuffer);
  }
}
