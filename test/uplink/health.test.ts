// Health snapshots: the fields come from the cheap probes (faked here, and once for real), failing
// probes leave zeros, and the service queues one in the outbox at start and every interval.
import pino from 'pino';
import t from 'tap';
import type { Report } from '../../agent/uplink/gen/maskin/v1/report_pb.js';
import { createHealthService, filesystemFor, healthSnapshot, type HealthProbe } from '../../agent/uplink/health.js';
import type { ReportBody } from '../../agent/uplink/outbox.js';

type Fs = Awaited<ReturnType<HealthProbe['fsSize']>>[number];
const fsEntry = (mount: string, size: number, available: number) => ({ fs: `/dev/${mount.length}`, mount, size, available, used: size - available }) as Fs;

const fakeProbe: HealthProbe = {
  mem: async () => ({ total: 8e9, available: 5e9 }) as Awaited<ReturnType<HealthProbe['mem']>>,
  fsSize: async () => [fsEntry('/', 100e9, 40e9), fsEntry('/var/lib', 500e9, 300e9), fsEntry('/srv', 900e9, 10e9)],
  networkStats: async () =>
    [
      { iface: 'lo', rx_bytes: 1, tx_bytes: 1, rx_errors: 0, tx_errors: 0 },
      { iface: 'prov0', rx_bytes: 123, tx_bytes: 456, rx_errors: 2, tx_errors: 3 },
    ] as Awaited<ReturnType<HealthProbe['networkStats']>>,
};

t.test('a snapshot from the probes: memory, the data dir’s filesystem, load, NICs, outbox and manifest', async (t) => {
  const h = await healthSnapshot(fakeProbe, {
    outboxDepth: 12,
    outboxEvicted: 3,
    manifestVersion: 7,
    dataDir: '/var/lib/maskin-agent',
    profilesReady: { workers: true, gpu: false },
    cacheBytes: 14_000_000,
  });
  t.match(h, {
    memTotalBytes: 8_000_000_000n,
    memAvailableBytes: 5_000_000_000n,
    diskTotalBytes: 500_000_000_000n,
    diskFreeBytes: 300_000_000_000n,
    outboxDepth: 12n,
    outboxEvicted: 3n,
    manifestVersion: 7n,
    cacheBytes: 14_000_000n,
  });
  t.same(h.profilesReady, { workers: true, gpu: false }, 'cache readiness per profile goes upstream');
  t.type(h.load1, 'number');
  t.same(
    h.nics.map((n) => [n.name, n.rxBytes, n.txBytes, n.rxErrors, n.txErrors]),
    [['prov0', 123n, 456n, 2n, 3n]],
    'loopback left out',
  );
});

t.test('the filesystem: longest mount holding the dir, else the largest', async (t) => {
  const list = [fsEntry('/', 100, 1), fsEntry('/var', 50, 1), fsEntry('/var/lib', 20, 1), fsEntry('/srv', 900, 1)];
  t.equal(filesystemFor(list, '/var/lib/maskin')?.mount, '/var/lib');
  t.equal(filesystemFor(list, '/variable')?.mount, '/', 'a mount is a path prefix, not a string prefix');
  t.equal(filesystemFor(list, undefined)?.mount, '/srv');
  t.equal(filesystemFor([fsEntry('/srv', 1, 1), fsEntry('/data', 2, 1)], '/opt/x')?.mount, '/data');
  t.equal(filesystemFor([], '/x'), undefined);
});

t.test('failing probes leave zeros, not a missing snapshot', async (t) => {
  const broken: HealthProbe = {
    mem: async () => Promise.reject(new Error('no /proc')),
    fsSize: async () => Promise.reject(new Error('no df')),
    networkStats: async () => Promise.reject(new Error('no sysfs')),
  };
  const h = await healthSnapshot(broken, { outboxDepth: 1, outboxEvicted: 0, manifestVersion: 0 });
  t.match(h, { memTotalBytes: 0n, diskTotalBytes: 0n, outboxDepth: 1n });
  t.same(h.nics, []);
});

t.test('the real probes on this machine answer with something plausible', async (t) => {
  const h = await healthSnapshot(undefined, { outboxDepth: 0, outboxEvicted: 0, manifestVersion: 1, dataDir: process.cwd() });
  t.ok(h.memTotalBytes > 0n && h.memAvailableBytes <= h.memTotalBytes, 'memory');
  t.ok(h.diskTotalBytes > 0n && h.diskFreeBytes <= h.diskTotalBytes, 'disk');
});

t.test('the service appends a health report at start and every interval, until stopped', async (t) => {
  const appended: ReportBody[] = [];
  let depth = 0;
  const outbox = {
    append: async (b: ReportBody) => (appended.push(b), BigInt(appended.length)),
    depth: () => depth,
    evicted: () => 4,
  };
  const service = createHealthService({ outbox, intervalMs: 30, probe: fakeProbe, extra: () => ({ manifestVersion: 9n }), log: pino({ level: 'silent' }) });
  const stop = new AbortController();
  const running = service.run(stop.signal);
  await new Promise((r) => setTimeout(r, 10));
  t.equal(appended.length, 1, 'one at start');
  depth = 5;
  await new Promise((r) => setTimeout(r, 100));
  stop.abort();
  await running;
  const n = appended.length;
  t.ok(n >= 3 && n <= 5, `one every 30 ms over ~110 ms (${n})`);
  const last = appended.at(-1) as Extract<Report['body'], { case: 'health' }>;
  t.equal(last.case, 'health');
  t.match(last.value, { outboxDepth: 5n, outboxEvicted: 4n, manifestVersion: 9n });
  await new Promise((r) => setTimeout(r, 60));
  t.equal(appended.length, n, 'nothing after stop');
});
