// Cold-storm benchmark: 50 concurrent requests for an uncached 100 MB image
// through the fetcher → exactly one upstream fetch, all 50 finished within 1.3× the time of one
// download (measured first, the same way, into an empty cache), peak RSS < 200 MB throughout.
// The upstream runs in a child process so its buffers never count towards our RSS.
//   node dist/bench/cache.js
import { spawn, type ChildProcess } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { createFetcher } from '../agent/images/fetcher.js';
import { openContentStore, type IndexEntry } from '../agent/images/store.js';
import { writeRandomFile } from './randomFile.js';
import { openStore } from '../agent/store/store.js';

export interface ColdStormResult {
  readonly sizeMb: number;
  readonly readers: number;
  readonly singleDownloadMs: number;
  readonly stormMs: number;
  readonly ratio: number;
  readonly upstreamFetches: number;
  readonly peakRssMb: number;
  readonly target: { readonly ratio: number; readonly rssMb: number; readonly upstreamFetches: number };
  readonly pass: boolean;
}

const SIZE = 100 * 1024 * 1024;
const READERS = 50;
const IMAGE_PATH = '/image/bench/v1.9.0/initramfs-amd64.xz';

/** The upstream child: serves one file from disk, counts GETs (GET /count answers the count). */
function serveUpstream(file: string): void {
  let gets = 0;
  const server = http.createServer((req, res) => {
    if (req.url === '/count') return void res.end(String(gets));
    if (req.url !== IMAGE_PATH) return void res.writeHead(404).end();
    gets++;
    res.writeHead(200, { 'content-length': SIZE });
    createReadStream(file, { highWaterMark: 1 << 20 }).pipe(res);
  });
  server.listen(0, '127.0.0.1', () => process.stdout.write(`${(server.address() as AddressInfo).port}\n`));
}

/** Opens an empty cache under `dir` and fetches the image with `readers` concurrent streams; ms until all ended. */
async function storm(dir: string, base: string, digest: string, readers: number): Promise<number> {
  const db = await openStore(dir);
  const log = pino({ level: 'silent' });
  const store = await openContentStore({ dir: path.join(dir, 'cache'), index: db.sublevel<IndexEntry>('images'), limitBytes: 2 ** 40, log });
  const fetcher = createFetcher({ store, log });
  try {
    const started = performance.now();
    await Promise.all(
      Array.from({ length: readers }, async () => {
        let got = 0;
        for await (const chunk of fetcher.fetch(digest, { url: base + IMAGE_PATH, size: SIZE }).stream()) got += (chunk as Buffer).length;
        if (got !== SIZE) throw new Error(`a reader got ${got} of ${SIZE} bytes`);
      }),
    );
    return performance.now() - started;
  } finally {
    await db.close();
  }
}

export async function benchColdStorm(): Promise<ColdStormResult> {
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'maskin-bench-cache-'));
  let upstream: ChildProcess | undefined;
  try {
    const file = path.join(tmp, 'image');
    const digest = await writeRandomFile(file, SIZE);
    upstream = spawn(process.execPath, [fileURLToPath(import.meta.url), '--upstream', file], { stdio: ['ignore', 'pipe', 'inherit'] });
    const port = await new Promise<string>((resolve) => upstream!.stdout!.once('data', (d: Buffer) => resolve(d.toString().trim())));
    const base = `http://127.0.0.1:${port}`;
    const count = async (): Promise<number> => Number(await (await fetch(base + '/count')).text());

    const singleDownloadMs = await storm(path.join(tmp, 'single'), base, digest, 1);
    const before = await count();
    let peakRss = process.memoryUsage().rss;
    const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 50);
    const stormMs = await storm(path.join(tmp, 'storm'), base, digest, READERS);
    clearInterval(sampler);
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
    const upstreamFetches = (await count()) - before;
    const target = { ratio: 1.3, rssMb: 200, upstreamFetches: 1 };
    const ratio = Math.round((stormMs / singleDownloadMs) * 100) / 100;
    const peakRssMb = Math.round(peakRss / 1024 / 1024);
    return {
      sizeMb: SIZE / 1024 / 1024,
      readers: READERS,
      singleDownloadMs: Math.round(singleDownloadMs),
      stormMs: Math.round(stormMs),
      ratio,
      upstreamFetches,
      peakRssMb,
      target,
      pass: upstreamFetches === target.upstreamFetches && ratio <= target.ratio && peakRssMb < target.rssMb,
    };
  } finally {
    upstream?.kill();
    await rm(tmp, { recursive: true, force: true });
  }
}

if (process.argv[2] === '--upstream') {
  serveUpstream(process.argv[3]!);
} else if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const r = await benchColdStorm();
  process.stdout.write(JSON.stringify(r, null, 2) + '\n\n');
  process.stdout.write(
    `one ${r.sizeMb} MB download into an empty cache: ${r.singleDownloadMs} ms\n` +
      `${r.readers} concurrent readers of the same uncached image: ${r.stormMs} ms (${r.ratio}× one download; target ≤${r.target.ratio}× ${r.ratio <= r.target.ratio ? 'met' : 'MISSED'})\n` +
      `upstream fetches during the storm: ${r.upstreamFetches} (target exactly ${r.target.upstreamFetches} ${r.upstreamFetches === r.target.upstreamFetches ? 'met' : 'MISSED'})\n` +
      `peak RSS: ${r.peakRssMb} MB (target <${r.target.rssMb} MB ${r.peakRssMb < r.target.rssMb ? 'met' : 'MISSED'})\n`,
  );
}
