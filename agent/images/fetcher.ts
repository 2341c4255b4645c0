// The single-flight upstream fetcher: one download per digest however many ask, written into the
// content store through its one verification path (put), and fanned out to every reader from the
// store's temp file as it grows. Readers share one file descriptor and page cache, so 50 readers
// of a 100 MB image cost 50 small read buffers, not 50 copies. The latest chunk written is always
// held back until put() has verified the digest: no reader ever holds a complete unverified file.
import { close, createReadStream, openSync, read } from 'node:fs';
import { Readable } from 'node:stream';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { StoppingError, UpstreamError } from '../errors.js';
import { backoffDelay } from '../runtime/backoff.js';
import { counter } from '../runtime/metrics.js';
import type { Service } from '../runtime/service.js';
import { aborted, sleep } from '../runtime/wait.js';
import { httpGet, type GetOptions, type GetResponse } from './httpGet.js';
import type { BlobInfo, ContentStore, Digest, Download, DownloadProgress } from './model.js';

export interface FetchSource {
  readonly url: string;
  /** Expected size, for progress when the upstream sends no Content-Length. */
  readonly size?: number;
  readonly headers?: Record<string, string>;
  readonly mediaType?: string;
  /**
   * Makes every request of the download (first try, retries, Range resumes) instead of httpGet:
   * for upstreams that want per-request credentials, such as a registry's Bearer token, renewed
   * on a 401 however long the download runs.
   */
  readonly get?: (url: string, opts: GetOptions) => Promise<GetResponse>;
}

export interface Fetcher {
  fetch(digest: Digest, source: FetchSource): Download;
  /** Downloads in flight. */
  active(): DownloadProgress[];
  /** Runs until stopped, then aborts every download in flight (their readers get an error) and refuses new ones. */
  readonly service: Service;
}

export interface FetcherOptions {
  readonly store: ContentStore;
  /** Attempts after the first on network errors and 5xx, counted afresh whenever bytes arrive. */
  readonly retries?: number;
  /** Delay (ms) before retry number `attempt` (from 0). */
  readonly backoff?: (attempt: number) => number;
  readonly log: Logger;
  /** Headers and idle-body timeout per request. */
  readonly timeoutMs?: number;
  /** Recent bytes kept in memory for readers at the live edge (default 16 MiB). */
  readonly liveWindowBytes?: number;
  /** Where maskin_image_downloads_total and maskin_image_download_bytes_total are registered. */
  readonly registry?: Registry;
}

/** A download's outcome label: stored, or why not (a digest mismatch, the disk, the upstream, stopping). */
function outcomeOf(err: Error): string {
  const code = (err as { code?: unknown }).code;
  if (err instanceof StoppingError) return 'stopped';
  if (code === 'MASKIN_ERR_IMAGE_DIGEST_MISMATCH') return 'digest-mismatch';
  if (code === 'MASKIN_ERR_IMAGE_DISK_FULL') return 'disk-full';
  if (err instanceof UpstreamError) return 'upstream-error';
  return 'error';
}

// Reader buffers: small enough that 50 readers stay a few tens of MB, large enough for few syscalls.
const READ_CHUNK = 256 * 1024;
// The most recent upstream chunks stay in memory, shared by every reader at the live edge (no copy,
// no syscall); readers further behind read the temp file.
const LIVE_WINDOW = 16 * 1024 * 1024;
const MAX_REDIRECTS = 5;

/** One running download's shared state, read by its readers. */
class Flight {
  received = 0;
  total: number | undefined;
  /** Bytes readers may read: everything written except the latest chunk, until verified. */
  safe = 0;
  fd: number | undefined;
  users = 1; // the download itself; each open reader adds one
  blob: BlobInfo | undefined;
  error: Error | undefined;
  private waiters = new Set<() => void>();
  /** Recent chunks in order, and the file offset each starts at (for a binary search). */
  private window: Buffer[] = [];
  private starts: number[] = [];
  private windowStart = 0;
  private windowBytes = 0;
  constructor(
    readonly digest: Digest,
    private readonly windowLimit: number,
  ) {}

  remember(chunk: Buffer): void {
    this.starts.push(this.windowStart + this.windowBytes);
    this.window.push(chunk);
    this.windowBytes += chunk.length;
    while (this.windowBytes - this.window[0]!.length >= this.windowLimit) {
      const old = this.window.shift()!;
      this.starts.shift();
      this.windowStart += old.length;
      this.windowBytes -= old.length;
    }
  }
  /**
   * Bytes from `pos` (below `safe`) out of the live window, or undefined when they have left it.
   * A binary search: every reader asks for every chunk, and a 16 MiB window holds hundreds.
   */
  fromWindow(pos: number): Buffer | undefined {
    if (pos < this.windowStart || pos >= this.windowStart + this.windowBytes) return undefined;
    let lo = 0;
    let hi = this.starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.starts[mid]! <= pos) lo = mid;
      else hi = mid - 1;
    }
    const start = this.starts[lo]!;
    const chunk = this.window[lo]!;
    return chunk.subarray(pos - start, Math.min(chunk.length, this.safe - start));
  }
  dropWindow(): void {
    this.window = [];
    this.starts = [];
    this.windowBytes = 0;
  }

  wait(wake: () => void): void {
    this.waiters.add(wake);
  }
  wakeAll(): void {
    const ws = [...this.waiters];
    this.waiters.clear();
    for (const w of ws) w();
  }
  release(): void {
    if (--this.users === 0 && this.fd !== undefined) {
      close(this.fd, () => undefined);
      this.fd = undefined;
    }
  }
}

function liveReader(flight: Flight): Readable {
  let pos = 0;
  let busy = false;
  let released = false;
  flight.users++;
  const release = (): void => {
    if (!released) ((released = true), flight.release());
  };
  const stream = new Readable({
    highWaterMark: READ_CHUNK,
    read() {
      pump();
    },
    destroy(err, cb) {
      release();
      cb(err);
    },
  });
  function pump(): void {
    if (busy || stream.destroyed) return;
    if (flight.error) return void stream.destroy(flight.error);
    if (pos >= flight.safe) {
      if (flight.blob && pos >= flight.blob.size) {
        stream.push(null);
        return release();
      }
      return flight.wait(pump);
    }
    const live = flight.fromWindow(pos);
    if (live && live.length > 0) {
      pos += live.length;
      if (stream.push(live)) queueMicrotask(pump);
      return;
    }
    if (flight.fd === undefined) {
      // A verified blob that was never written through onWrite (empty, or raced with another put).
      if (flight.blob) flight.fd = openSync(flight.blob.path, 'r');
      else return flight.wait(pump);
    }
    busy = true;
    const n = Math.min(READ_CHUNK, flight.safe - pos);
    read(flight.fd, Buffer.allocUnsafe(n), 0, n, pos, (err, got, buf) => {
      busy = false;
      if (err) return void stream.destroy(err);
      if (got === 0) return void stream.destroy(new Error(`image cache: temp file of ${flight.digest} shorter than written`));
      pos += got;
      if (stream.push(buf.subarray(0, got))) pump();
    });
  }
  return stream;
}

function storedDownload(store: ContentStore, blob: BlobInfo): Download {
  return {
    digest: blob.digest,
    progress: () => ({ digest: blob.digest, received: blob.size, total: blob.size }),
    stream() {
      store.touch(blob.digest);
      return createReadStream(blob.path, { highWaterMark: READ_CHUNK });
    },
    done: Promise.resolve(blob),
  };
}

export function createFetcher(opts: FetcherOptions): Fetcher {
  const { store, log } = opts;
  const retries = opts.retries ?? 4;
  const backoff = opts.backoff ?? ((attempt: number) => backoffDelay(attempt, 250, 10_000, Math.random));
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const flights = new Map<Digest, { flight: Flight; download: Download }>();
  const halt = new AbortController();
  const fatal = new WeakSet<Error>();
  const downloads = counter(opts.registry, {
    name: 'maskin_image_downloads_total',
    help: 'Image downloads from upstream that ended, by outcome: stored, digest-mismatch, disk-full, upstream-error, stopped, error',
    labelNames: ['outcome'],
  });
  const downloadedBytes = counter(opts.registry, { name: 'maskin_image_download_bytes_total', help: 'Bytes received from image upstreams' });

  /** The upstream bytes in order, once each, across retries and Range resumes. */
  async function* upstreamBytes(flight: Flight, source: FetchSource): AsyncGenerator<Uint8Array> {
    let failures = 0;
    for (;;) {
      let progressed = false;
      try {
        const resumeAt = flight.received;
        const headers: Record<string, string> = { ...source.headers };
        if (resumeAt > 0) headers['range'] = `bytes=${resumeAt}-`;
        if (halt.signal.aborted) throw new StoppingError();
        const res = await (source.get ?? httpGet)(source.url, { headers, timeoutMs, maxRedirects: MAX_REDIRECTS, signal: halt.signal });
        const status = res.status;
        if (status !== 200 && status !== 206) {
          res.body.destroy();
          const err = new UpstreamError(source.url, `HTTP ${status}`, { status });
          // 408/429 and 5xx are transient; any other status will not change on retry.
          if (status < 500 && status !== 408 && status !== 429) fatal.add(err);
          throw err;
        }
        let skip = 0;
        if (status === 206) {
          const m = /^bytes (\d+)-\d+\/(\d+|\*)$/.exec(String(res.headers['content-range'] ?? ''));
          if (!m || Number(m[1]) !== resumeAt) {
            res.body.destroy();
            throw new UpstreamError(source.url, `206 with Content-Range ${String(res.headers['content-range'])}, asked for bytes=${resumeAt}-`);
          }
          if (m[2] !== '*') flight.total = Number(m[2]);
        } else {
          // A 200 to a Range request: the server ignored Range and sends from byte 0. The bytes
          // already stored (and hashed) are the same prefix if the upstream is consistent, so skip
          // them; if it is not, the digest check fails the whole download.
          if (resumeAt > 0) log.info({ digest: flight.digest, url: source.url, resumeAt }, 'image upstream ignored Range; reading from 0 again');
          skip = resumeAt;
          const len = Number(res.headers['content-length']);
          if (Number.isFinite(len) && len > 0) flight.total = len;
        }
        for await (const chunk of res.body as AsyncIterable<Buffer>) {
          let c = chunk;
          if (skip > 0) {
            if (c.length <= skip) {
              skip -= c.length;
              continue;
            }
            c = c.subarray(skip);
            skip = 0;
          }
          flight.received += c.length;
          downloadedBytes.inc(c.length);
          flight.remember(c);
          progressed = true;
          yield c;
        }
        if (skip > 0) throw new UpstreamError(source.url, `response ended before the ${resumeAt} bytes already received`);
        return;
      } catch (err) {
        if (halt.signal.aborted) throw new StoppingError();
        if (err instanceof Error && fatal.has(err)) throw err;
        if (progressed) failures = 0;
        if (failures >= retries) {
          throw err instanceof UpstreamError
            ? err
            : new UpstreamError(source.url, `failed after ${retries + 1} attempts: ${(err as Error).message}`, { cause: err });
        }
        const delay = backoff(failures++);
        log.warn(
          { digest: flight.digest, url: source.url, received: flight.received, attempt: failures, delayMs: Math.round(delay), err: (err as Error).message },
          'image download interrupted; retrying',
        );
        await sleep(delay, halt.signal);
      }
    }
  }

  function start(digest: Digest, source: FetchSource): Download {
    const flight = new Flight(digest, opts.liveWindowBytes ?? LIVE_WINDOW);
    if (source.size !== undefined) flight.total = source.size;
    const started = Date.now();
    let lastWritten = 0;
    log.info({ digest, url: source.url, size: source.size }, 'image download started');
    const done = store
      .put(digest, upstreamBytes(flight, source), {
        ...(source.mediaType !== undefined ? { mediaType: source.mediaType } : {}),
        ...(source.size !== undefined ? { expectedSize: source.size } : {}),
        onWrite(tempPath, written) {
          if (flight.fd === undefined) flight.fd = openSync(tempPath, 'r');
          // Readers may have everything but this chunk: it could be the last one.
          flight.safe = lastWritten;
          lastWritten = written;
          flight.wakeAll();
        },
      })
      .then(
        (blob) => {
          flight.blob = blob;
          flight.safe = blob.size;
          downloads.inc({ outcome: 'stored' });
          log.info({ digest, size: blob.size, ms: Date.now() - started }, 'image download verified and stored');
          return blob;
        },
        (err: Error) => {
          flight.error = err;
          downloads.inc({ outcome: outcomeOf(err) });
          if (err instanceof StoppingError) log.info({ digest, url: source.url, received: flight.received }, 'image download aborted: the agent is stopping');
          else log.warn({ digest, url: source.url, err: err.message, code: (err as { code?: string }).code }, 'image download failed');
          throw err;
        },
      )
      .finally(() => {
        flights.delete(digest);
        flight.dropWindow();
        flight.wakeAll();
        flight.release();
      });
    done.catch(() => undefined); // a prefetch nobody awaits must not be an unhandled rejection
    const download: Download = {
      digest,
      progress: () => ({ digest, received: flight.received, ...(flight.total !== undefined ? { total: flight.total } : {}) }),
      stream() {
        if (flight.blob) return storedDownload(store, flight.blob).stream();
        if (flight.error) return Readable.from([]).destroy(flight.error) as Readable;
        return liveReader(flight);
      },
      done,
    };
    flights.set(digest, { flight, download });
    return download;
  }

  return {
    fetch(digest, source) {
      const running = flights.get(digest);
      if (running) return running.download;
      const blob = store.get(digest);
      if (blob) return storedDownload(store, blob);
      return start(digest, source);
    },
    active: () => [...flights.values()].map(({ download }) => download.progress()),
    service: {
      name: 'image-fetch',
      async run(stop) {
        await aborted(stop);
        halt.abort();
        await Promise.allSettled([...flights.values()].map(({ download }) => download.done));
      },
    },
  };
}
