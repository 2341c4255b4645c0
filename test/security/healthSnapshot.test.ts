// The health snapshot's probes cannot break it or the process: a probe that throws synchronously,
// rejects, hangs or answers garbage leaves its fields out; systeminformation runs in a worker, so
// failures it does not catch itself (an uncaught throw in a later tick, an 'error' event nobody
// listens to, an unhandled rejection) end only the worker; and out of file descriptors, where
// systeminformation's networkStats('*') throws from os.networkInterfaces(), the agent's health
// service still records its snapshot. The last one needs `npx tsc -p .` first (npm test does it).
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { healthSnapshot, type HealthProbe } from '../../agent/uplink/health.js';
import { isolatedProbe } from '../../agent/uplink/healthProbe.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const extra = { outboxDepth: 2, outboxEvicted: 0, manifestVersion: 3 };
type Mem = Awaited<ReturnType<HealthProbe['mem']>>;
type Fs = Awaited<ReturnType<HealthProbe['fsSize']>>;
type Nics = Awaited<ReturnType<HealthProbe['networkStats']>>;
const mem = async (): Promise<Mem> => ({ total: 8e9, available: 5e9 }) as Mem;
const fsSize = async (): Promise<Fs> => [{ fs: '/dev/vda', mount: '/', size: 100e9, available: 40e9 }] as Fs;
const networkStats = async (): Promise<Nics> => [{ iface: 'prov0', rx_bytes: 1, tx_bytes: 2, rx_errors: 0, tx_errors: 0 }] as Nics;
const never = <T>(): Promise<T> => new Promise<T>(() => undefined);
const thrower = (): never => {
  throw new Error('EMFILE: too many open files');
};

const failures: { name: string; probe: HealthProbe; zero: 'mem' | 'disk' | 'nics' }[] = [
  { name: 'mem throws synchronously', probe: { mem: thrower, fsSize, networkStats } as HealthProbe, zero: 'mem' },
  { name: 'fsSize rejects', probe: { mem, fsSize: async () => Promise.reject(new Error('spawn df EMFILE')), networkStats } as HealthProbe, zero: 'disk' },
  { name: 'networkStats hangs', probe: { mem, fsSize, networkStats: never } as HealthProbe, zero: 'nics' },
  { name: 'mem answers null', probe: { mem: async () => null, fsSize, networkStats } as unknown as HealthProbe, zero: 'mem' },
  { name: 'fsSize answers a non-array', probe: { mem, fsSize: async () => ({ mount: '/' }), networkStats } as unknown as HealthProbe, zero: 'disk' },
  {
    name: 'networkStats answers junk entries',
    probe: { mem, fsSize, networkStats: async () => [null, 7, { iface: 3 }] } as unknown as HealthProbe,
    zero: 'nics',
  },
];

for (const { name, probe, zero } of failures) {
  t.test(`${name}: that field is left out, the rest of the snapshot comes in time`, async (t) => {
    const started = Date.now();
    const h = await healthSnapshot(probe, extra, 200);
    t.ok(Date.now() - started < 2000, 'not held by the failing probe');
    t.equal(h.memTotalBytes, zero === 'mem' ? 0n : 8_000_000_000n);
    t.equal(h.diskTotalBytes, zero === 'disk' ? 0n : 100_000_000_000n);
    t.equal(h.nics.length, zero === 'nics' ? 0 : 1);
    t.equal(h.outboxDepth, 2n);
    t.equal(h.manifestVersion, 3n);
  });
}

/** A probe module for the worker: mem, fsSize and networkStats as given (CommonJS bodies). */
async function probeModule(t: { teardown(fn: () => unknown): void }, bodies: { mem?: string; fsSize?: string; networkStats?: string }): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'maskin-probe-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'probe.cjs');
  await writeFile(
    file,
    `exports.mem = async () => { ${bodies.mem ?? 'return { total: 8e9, available: 5e9 };'} };
exports.fsSize = async () => { ${bodies.fsSize ?? "return [{ fs: '/dev/vda', mount: '/', size: 100e9, available: 40e9 }];"} };
exports.networkStats = async () => { ${bodies.networkStats ?? "return [{ iface: 'prov0', rx_bytes: 1, tx_bytes: 2, rx_errors: 0, tx_errors: 0 }];"} };
`,
  );
  return file;
}

const escaping: { name: string; mem: string }[] = [
  {
    name: 'an uncaught throw in a later tick (systeminformation out of descriptors)',
    mem: "process.nextTick(() => { throw new Error('EMFILE'); }); return never();",
  },
  {
    name: "an 'error' event nobody listens to",
    mem: "setImmediate(() => new (require('node:events'))().emit('error', new Error('spawn EMFILE'))); return never();",
  },
  { name: 'an unhandled rejection', mem: "Promise.reject(new Error('EMFILE')); return never();" },
];

for (const { name, mem: body } of escaping) {
  t.test(`in the worker, ${name} ends the worker, not the process`, async (t) => {
    const module = await probeModule(t, { mem: `const never = () => new Promise(() => {}); ${body}` });
    const probe = isolatedProbe({ module, timeoutMs: 2000 });
    const h = await healthSnapshot(probe, extra, 3000);
    t.equal(h.memTotalBytes, 0n, 'the failing probe is left out');
    t.equal(h.outboxDepth, 2n, 'the snapshot comes');
    const again = await healthSnapshot(isolatedProbe({ module: await probeModule(t, {}) }), extra, 3000);
    t.equal(again.memTotalBytes, 8_000_000_000n, 'and a later snapshot has every field');
    t.equal(again.nics.length, 1);
  });
}

t.test('a probe that hangs in the worker is given up on and its worker terminated', async (t) => {
  const module = await probeModule(t, { fsSize: 'return new Promise(() => {});' });
  const started = Date.now();
  const h = await healthSnapshot(isolatedProbe({ module, timeoutMs: 300 }), extra, 5000);
  t.ok(Date.now() - started < 3000, `given up after the worker's timeout (${Date.now() - started} ms)`);
  t.equal(h.diskTotalBytes, 0n);
});

t.test('out of file descriptors, the health service still records a snapshot and the process lives', async (t) => {
  const entry = path.join(repo, 'dist/test/security/bed/healthUnderEmfile.js');
  t.ok(existsSync(entry), `${entry} is built (run npx tsc -p . first)`);
  const child = spawn('bash', ['-c', 'ulimit -n 128 && exec "$0" "$@"', process.execPath, entry], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (out += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  t.match(out, /^exhausted \d+$/m, 'the child ran out of descriptors');
  t.match(out, /^snapshot \{"memTotalBytes":"\d+","nics":\d+\}$/m, 'and still recorded its snapshot');
  t.equal(code, 0, `exited cleanly:\n${out}`);
});
