// A client that asks for one file at every blksize RFC 2348 allows over a 1500-byte MTU (8..1468),
// in both transfer modes, must not grow the TFTP server's memory: the cache's own count stays
// within its bound and the process's RSS grows by far less than one packet image per blksize
// would take (about 180 KB each for snponly.efi, so ~500 MB for the sweep).
// Loopback, our service in this process; every request is a size probe (OACK, then ERROR).
import dgram from 'node:dgram';
import { copyFile, mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import v8 from 'node:v8';
import vm from 'node:vm';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import t from 'tap';
import { DEFAULT_TFTP } from '../../agent/config/load.js';
import { decodeTftp, encodeTftp } from '../../agent/tftp/codec.js';
import { toNetascii } from '../../agent/tftp/files.js';
import { createTftpService } from '../../agent/tftp/server.js';
import { recordingObserver } from '../fakes/observer.js';

const FILE = 'snponly.efi';
const SOURCE = path.join('/usr/lib/ipxe', FILE);
/** The service's default cache bound. */
const CACHE_BOUND = 64 * 1024 * 1024;
/** Generous: a sweep that kept one image per blksize would grow RSS by ~500 MB. */
const RSS_GROWTH_BOUND = 96 * 1024 * 1024;
/** Buffer memory still held after a full GC: the cached file (~350 KB) and the sockets' leftovers. */
const RETAINED_BOUND = 16 * 1024 * 1024;

// A full collection before each reading, so what is measured is what the server keeps, not garbage.
v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;
const memory = (): NodeJS.MemoryUsage => {
  gc();
  return process.memoryUsage();
};

/** RRQ at `blksize`, wait for the OACK, abort with ERROR as a PXE size probe does; resolves with the OACK's blksize. */
function probe(port: number, mode: 'octet' | 'netascii', blksize: number): Promise<number> {
  const options = new Map([
    ['blksize', String(blksize)],
    ['tsize', '0'],
  ]);
  const socket = dgram.createSocket('udp4');
  return new Promise<number>((resolve, reject) => {
    const deadline = setTimeout(() => finish(new Error(`no OACK for blksize ${blksize} ${mode}`)), 5000);
    const finish = (err?: Error, granted?: number): void => {
      clearTimeout(deadline);
      socket.close();
      if (err) reject(err);
      else resolve(granted ?? 0);
    };
    socket.on('message', (buf, rinfo) => {
      const msg = decodeTftp(buf);
      if (msg.op !== 'OACK') return finish(new Error(`${msg.op === 'ERROR' ? `ERROR ${msg.code} ${msg.message}` : msg.op} for blksize ${blksize} ${mode}`));
      const abort = encodeTftp({ op: 'ERROR', code: 0, message: 'size probe' });
      socket.send(abort, rinfo.port, rinfo.address, () => finish(undefined, Number(msg.options.get('blksize'))));
    });
    socket.on('error', (err) => finish(err));
    socket.bind(0, '127.0.0.1', () => socket.send(encodeTftp({ op: 'RRQ', filename: FILE, mode, options }), port, '127.0.0.1'));
  });
}

t.test('a blksize sweep in both modes keeps the cache within its bound and RSS flat', async (t) => {
  const root = await mkdtemp(path.join(os.tmpdir(), 'maskin-sweep-'));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  await copyFile(SOURCE, path.join(root, FILE));
  const registry = new Registry();
  const service = createTftpService({
    root,
    address: '127.0.0.1',
    port: 0,
    observer: recordingObserver(),
    log: pino({ level: 'silent' }),
    registry,
    bounds: DEFAULT_TFTP,
  });
  const stop = new AbortController();
  const running = service.run(stop.signal);
  t.teardown(async () => {
    stop.abort();
    await running;
  });
  const { port } = await service.ready;
  const metric = async (name: string): Promise<number | undefined> => (await registry.getSingleMetric(name)?.get())?.values[0]?.value;

  const work: ['octet' | 'netascii', number][] = [];
  for (const mode of ['octet', 'netascii'] as const) for (let blksize = 8; blksize <= 1468; blksize += 1) work.push([mode, blksize]);
  const before = memory();
  let granted = 0;
  // Four clients at a time, each request from a fresh port (a fresh TID), well under the per-client bound.
  const next = async (): Promise<void> => {
    for (let item = work.shift(); item !== undefined; item = work.shift()) if ((await probe(port, ...item)) === item[1]) granted += 1;
  };
  await Promise.all([next(), next(), next(), next()]);
  const after = memory();
  const rssGrowth = after.rss - before.rss;
  const retained = after.arrayBuffers - before.arrayBuffers;
  t.equal(granted, 2 * 1461, 'every blksize 8..1468 granted as asked, in both modes');

  const contents = await readFile(SOURCE);
  const cached = await metric('maskin_tftp_cache_bytes');
  t.ok(cached !== undefined, 'the cache reports its bytes (maskin_tftp_cache_bytes)');
  t.ok((cached ?? Infinity) <= CACHE_BOUND, `cache ${cached} bytes within its bound ${CACHE_BOUND}`);
  t.equal(cached, contents.length + toNetascii(contents).length, 'exactly the file once per mode, nothing per blksize');
  const mib = (n: number): string => (n / 2 ** 20).toFixed(1);
  t.ok(retained < RETAINED_BOUND, `buffers held after the sweep grew ${mib(retained)} MiB (bound ${mib(RETAINED_BOUND)} MiB)`);
  t.ok(rssGrowth < RSS_GROWTH_BOUND, `RSS grew ${mib(rssGrowth)} MiB over the sweep (bound ${mib(RSS_GROWTH_BOUND)} MiB)`);
  t.comment(`rss ${mib(before.rss)} -> ${mib(after.rss)} MiB, buffers ${mib(before.arrayBuffers)} -> ${mib(after.arrayBuffers)} MiB, cache ${cached} bytes`);
});
