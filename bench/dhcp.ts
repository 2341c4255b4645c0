// DHCP benchmark: perfdhcp over veth against our DHCP service (leases synced to disk before each
// ACK) on the normal disk and on a slow device, against kea-dhcp4 (memfile, not persisted), and
// against a responder that answers from memory (bench/dhcpEcho.ts), which shows the load
// generator's own ceiling. Each contender has its own rack namespace and perfdhcp host, all
// started once; every rate step runs each contender REPS times, alternating them in rotating
// order, and reports medians and the spread. Standalone: `node dist/bench/dhcp.js`.
// Addresses: 198.19.0.0/16 on each bench rack's bridge (inside 198.18.0.0/15), so 1,000+ clients fit.
import { open, mkdir, mkdtemp, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AgentConfig } from '../agent/config/model.js';
import { createRack, sh, type Rack } from '../test/bed/netns.js';
import {
  DEFAULT_HTTP_LIMITS,
  DEFAULT_IMAGES,
  DEFAULT_PROVISION,
  DEFAULT_OUTBOX_MAX_EVENTS,
  DEFAULT_NODES,
  DEFAULT_DHCP,
  DEFAULT_TFTP,
  NO_ANNOUNCE,
  NO_BMC,
  NO_NODE_LOGS,
  DEFAULT_ADMIN,
  NO_UPLINK,
} from '../agent/config/load.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const SERVE = path.join(HERE, '..', 'test', 'dhcp', 'bed', 'serve-dhcp.js');
const ECHO = path.join(HERE, 'dhcpEcho.js');
const SERVER = '198.19.0.1';
const CLIENT = '198.19.0.2';
const POOL = ['198.19.1.0', '198.19.40.255'] as const;
const STEPS = [1000, 2000, 3000, 4000, 5000, 6000, 7000, 8000, 9000, 10000, 12000, 15000];
const REPS = 3;
const STEP_SECONDS = 3;
const CLIENTS = 1000;
const MAX_DROP = 0.001;
/** A contender stops stepping after this many consecutive noisy steps (one may be a hiccup). */
const NOISY_STOP = 2;
/** Write IOPS of the slow device: each fdatasync on ext4 costs a few writes (data, journal, commit). */
const SLOW_WRITE_IOPS = 400;
const BLKIO_THROTTLE = '/sys/fs/cgroup/blkio/blkio.throttle.write_iops_device';
/**
 * perfdhcp receives every reply on one socket with the kernel's default receive buffer. A group
 * commit releases its ACKs together, and at 8,000/s offered those bursts overflowed the default
 * 208 KiB while perfdhcp was busy sending (seen as RcvbufErrors in the client's namespace, where
 * perfdhcp then counted the lost replies as drops). net.core.rmem_default is not per network
 * namespace, so the run raises it and restores it after; every contender gets the same client.
 */
const RMEM_DEFAULT = '/proc/sys/net/core/rmem_default';
const CLIENT_RECEIVE_BUFFER = 4 * 1024 * 1024;
/** The longest wait for the servers to fall quiet between runs. */
const SETTLE_MAX_MS = 5000;

export type ContenderName = 'maskin' | 'maskin-slow' | 'kea' | 'echo';

export interface PerfRun {
  readonly offered: number;
  /** perfdhcp's measured 4-way exchanges per second. */
  readonly rate: number;
  readonly sent: number;
  readonly drops: number;
  readonly dropRatio: number;
  /** Average of the DISCOVER-OFFER and REQUEST-ACK average delays, ms. */
  readonly avgDelayMs: number;
  /** Datagrams the kernel dropped for a full receive buffer during the run (RcvbufErrors), at perfdhcp and at the server. */
  readonly clientBufferDrops: number;
  readonly serverBufferDrops: number;
}

export interface StepResult {
  readonly offered: number;
  readonly runs: readonly PerfRun[];
  /** Medians over the runs. */
  readonly rate: number;
  readonly dropRatio: number;
  readonly avgDelayMs: number;
  readonly rateMin: number;
  readonly rateMax: number;
  readonly clean: boolean;
}

export interface ServerResult {
  readonly name: ContenderName;
  readonly steps: readonly StepResult[];
  /** Highest median rate among steps whose median drop ratio is ≤ 0.1%. */
  readonly maxCleanRate: number;
  readonly spreadAtMax: readonly [number, number];
  readonly avgDelayMsAtMax: number;
  readonly at1000: PerfRun;
}

export interface DhcpBenchResult {
  readonly servers: Readonly<Partial<Record<ContenderName, ServerResult>>>;
  readonly maskinRssMbAfterStorm: number;
  /** Median fdatasync time of a 4 KiB write on the slow device, ms (undefined: not measured). */
  readonly slowDeviceFsyncMs: number | undefined;
  readonly normalDiskFsyncMs: number;
  readonly ratios: { readonly maskinToKea: number; readonly slowToKea: number; readonly keaToCeiling: number; readonly maskinToCeiling: number };
  /** True when Kea reaches ≥ 90% of the memory responder's rate: the client side limits both. */
  readonly clientLimited: boolean;
  /** net.core.rmem_default during the run: perfdhcp's socket receive buffer. */
  readonly clientReceiveBufferBytes: number;
}

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
};

/** The Udp RcvbufErrors counter of /proc/net/snmp (per network namespace); 0 when absent. Pure. */
export function udpRcvbufErrors(snmp: string): number {
  const [head, values] = snmp.split('\n').filter((l) => l.startsWith('Udp: '));
  const i = head?.split(/\s+/).indexOf('RcvbufErrors') ?? -1;
  const v = i > 0 ? Number(values?.split(/\s+/)[i]) : 0;
  return Number.isFinite(v) ? v : 0;
}

export function parsePerf(offered: number, out: string, bufferDrops: { client: number; server: number } = { client: 0, server: 0 }): PerfRun {
  const rate = Number(/Rate: ([\d.]+) 4-way exchanges\/second/.exec(out)?.[1] ?? 0);
  const num = (re: RegExp): number[] => [...out.matchAll(re)].map((m) => Number(m[1]));
  const sent = num(/sent packets: (\d+)/g).reduce((a, b) => a + b, 0);
  const drops = num(/\bdrops: (\d+)/g).reduce((a, b) => a + b, 0);
  const delays = num(/avg delay: ([\d.]+) ms/g);
  return {
    offered,
    rate,
    sent,
    drops,
    dropRatio: sent ? drops / sent : 1,
    avgDelayMs: delays.length ? delays.reduce((a, b) => a + b, 0) / delays.length : Number.NaN,
    clientBufferDrops: bufferDrops.client,
    serverBufferDrops: bufferDrops.server,
  };
}

interface Contender {
  readonly name: ContenderName;
  readonly rack: Rack;
  readonly host: string;
  pid: number;
}

/** Set by SIGINT/SIGTERM: the next run throws, so the racks, the mount and the throttle are undone. */
let stopRequested = false;

async function perf(c: Contender, rate: number, seconds: number, seed?: number): Promise<PerfRun> {
  if (stopRequested) throw new Error('stopped by a signal');
  const args = ['-4', '-l', 'eth0', '-r', String(rate), '-R', String(CLIENTS), '-p', String(seconds), '-W', '500000'];
  if (seed !== undefined) args.push('-s', String(seed));
  const rcvbuf = async (ns?: string): Promise<number> => udpRcvbufErrors(await c.rack.exec('cat', ['/proc/net/snmp'], ns));
  const [client0, server0] = [await rcvbuf(c.host), await rcvbuf()];
  // perfdhcp exits non-zero when it saw drops; its report is still on stdout.
  const out = await c.rack.exec('perfdhcp', [...args, SERVER], c.host).catch((err: { stdout?: string }) => err.stdout ?? '');
  return parsePerf(rate, out, { client: (await rcvbuf(c.host)) - client0, server: (await rcvbuf()) - server0 });
}

/** CPU time of a process so far, in clock ticks (utime + stime of /proc/PID/stat); 0 once it is gone. */
async function cpuTicks(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  // Fields after the command name, which is in parentheses and may hold spaces.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11] ?? 0) + Number(fields[12] ?? 0);
}

/**
 * Waits until no contender's server is still busy from the run before (LevelDB compacting after a
 * burst of writes, say), so that work does not land in the next contender's run: at most one
 * clock tick of CPU per 200 ms window, for all of them at once, or SETTLE_MAX_MS.
 */
async function settle(contenders: readonly Contender[]): Promise<void> {
  const deadline = Date.now() + SETTLE_MAX_MS;
  let before = await Promise.all(contenders.map((c) => cpuTicks(c.pid)));
  while (Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 200));
    const after = await Promise.all(contenders.map((c) => cpuTicks(c.pid)));
    if (after.every((t, i) => t - before[i]! <= 1)) return;
    before = after;
  }
}

function summarize(offered: number, runs: PerfRun[]): StepResult {
  const rates = runs.map((r) => r.rate);
  const dropRatio = median(runs.map((r) => r.dropRatio));
  return {
    offered,
    runs,
    rate: median(rates),
    dropRatio,
    avgDelayMs: median(runs.map((r) => r.avgDelayMs)),
    rateMin: Math.min(...rates),
    rateMax: Math.max(...rates),
    clean: dropRatio <= MAX_DROP,
  };
}

const fmtPct = (x: number): string => `${(x * 100).toFixed(2)}%`;

/** Steps every contender up the rates, REPS runs per step, alternating them in rotating order. */
async function sweep(contenders: readonly Contender[]): Promise<Map<ContenderName, StepResult[]>> {
  const results = new Map<ContenderName, StepResult[]>(contenders.map((c) => [c.name, []]));
  const noisy = new Map<ContenderName, number>(contenders.map((c) => [c.name, 0]));
  let active = [...contenders];
  for (const [si, rate] of STEPS.entries()) {
    if (active.length === 0) break;
    const runs = new Map<ContenderName, PerfRun[]>(active.map((c) => [c.name, []]));
    for (let rep = 0; rep < REPS; rep++) {
      const shift = (si * REPS + rep) % active.length;
      for (const c of [...active.slice(shift), ...active.slice(0, shift)]) {
        await settle(contenders);
        runs.get(c.name)!.push(await perf(c, rate, STEP_SECONDS));
      }
    }
    const line: string[] = [];
    for (const c of active) {
      const step = summarize(rate, runs.get(c.name)!);
      results.get(c.name)!.push(step);
      noisy.set(c.name, step.clean ? 0 : noisy.get(c.name)! + 1);
      const buffers = runs
        .get(c.name)!
        .map((r) => `${r.clientBufferDrops}/${r.serverBufferDrops}`)
        .join(' ');
      line.push(
        `${c.name} ${step.rate.toFixed(0)} (${step.rateMin.toFixed(0)}–${step.rateMax.toFixed(0)}) ${fmtPct(step.dropRatio)} [buffer drops client/server ${buffers}]`,
      );
    }
    process.stderr.write(`offered ${rate}/s: ${line.join('; ')}\n`);
    active = active.filter((c) => noisy.get(c.name)! < NOISY_STOP);
  }
  return results;
}

function serverResult(name: ContenderName, steps: StepResult[], at1000: PerfRun): ServerResult {
  const best = steps.filter((s) => s.clean).reduce<StepResult | undefined>((a, s) => (!a || s.rate > a.rate ? s : a), undefined);
  return {
    name,
    steps,
    maxCleanRate: best?.rate ?? 0,
    spreadAtMax: [best?.rateMin ?? 0, best?.rateMax ?? 0],
    avgDelayMsAtMax: best?.avgDelayMs ?? Number.NaN,
    at1000,
  };
}

function waitReady(child: ReturnType<Rack['spawn']>, pattern: RegExp, ms: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => reject(new Error(`not ready within ${ms} ms:\n${seen}`)), ms);
    const on = (b: Buffer): void => {
      seen += b.toString();
      if (pattern.test(seen)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout?.on('data', on);
    child.stderr?.on('data', on);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`exited (${code}) before ready:\n${seen}`));
    });
  });
}

/** Keeps reading a server's output so a full pipe never blocks it (Kea logs per dropped packet). */
function drain(child: ReturnType<Rack['spawn']>): void {
  child.stdout?.resume();
  child.stderr?.resume();
}

async function rssMb(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) / 1024;
}

/** Median time of 50 fdatasync'd 4 KiB writes in `dir`, ms. */
async function fsyncMs(dir: string): Promise<number> {
  const file = path.join(dir, 'fsync-probe');
  const fh = await open(file, 'w');
  const block = Buffer.alloc(4096, 1);
  const times: number[] = [];
  try {
    for (let i = 0; i < 50; i++) {
      const t0 = process.hrtime.bigint();
      await fh.write(block, 0, block.length, i * block.length);
      await fh.datasync();
      times.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
  } finally {
    await fh.close();
    await rm(file, { force: true });
  }
  return median(times);
}

interface SlowDevice {
  readonly mount: string;
  release(): Promise<void>;
}

/**
 * An ext4 filesystem on a loop device whose writes the block layer throttles to SLOW_WRITE_IOPS
 * (cgroup v1 blkio throttling set on the root group, so it applies to every writer, the journal
 * thread too): fdatasync then costs milliseconds, as on eMMC. Undefined where that throttle does not exist.
 */
async function slowDevice(dir: string): Promise<SlowDevice | undefined> {
  if (!existsSync(BLKIO_THROTTLE)) return undefined;
  const image = path.join(dir, 'slow.img');
  const mount = path.join(dir, 'slow');
  await writeFile(image, '');
  await truncate(image, 256 * 1024 * 1024);
  const loop = (await sh('losetup', ['-f', '--show', image])).trim();
  let majMin = '';
  let mounted = false;
  const release = async (): Promise<void> => {
    if (majMin) await writeFile(BLKIO_THROTTLE, `${majMin} 0`).catch(() => undefined);
    if (mounted) await sh('umount', [mount]).catch(() => undefined);
    await sh('losetup', ['-d', loop]).catch(() => undefined);
  };
  try {
    await sh('mkfs.ext4', ['-q', loop]);
    await mkdir(mount);
    await sh('mount', [loop, mount]);
    mounted = true;
    majMin = (await sh('lsblk', ['-dno', 'MAJ:MIN', loop])).trim();
    await writeFile(BLKIO_THROTTLE, `${majMin} ${SLOW_WRITE_IOPS}`);
    return { mount, release };
  } catch (err) {
    await release();
    throw err;
  }
}

function ourConfig(rack: Rack, dataDir: string, dir: string): AgentConfig {
  return {
    agentId: 'bench',
    provisioning: { interface: rack.bridge, address: SERVER, subnet: '198.19.0.0/16' },
    ports: { dhcp: 67, dhcpClient: 68, pxe: 4011, tftp: 69, http: 8080 },
    httpListen: '0.0.0.0',
    httpBaseUrl: `http://${SERVER}:8080`,
    httpLimits: DEFAULT_HTTP_LIMITS,
    dataDir,
    bootBinariesDir: '/usr/lib/ipxe',
    bootFiles: { bios: 'undionly.kpxe', uefiX64: 'snponly.efi', uefiArm64: 'snp-arm64.efi' },
    assetsDir: dir,
    manifestFile: path.join(dir, 'manifest.yaml'),
    dhcp: {
      mode: 'full',
      poolStart: POOL[0],
      poolEnd: POOL[1],
      leaseTime: 3600,
      offerHold: 30,
      ...DEFAULT_DHCP,
      routers: [SERVER],
      dns: [SERVER],
      ntp: [SERVER],
      domain: 'bench.test',
      relays: [],
    },
    bootTokenTtl: 600,
    logLevel: 'warn',
    uplink: NO_UPLINK,
    outboxMaxEvents: DEFAULT_OUTBOX_MAX_EVENTS,
    nodes: DEFAULT_NODES,
    images: DEFAULT_IMAGES,
    lifecycle: DEFAULT_PROVISION,
    tftp: DEFAULT_TFTP,
    bmc: NO_BMC,
    announce: NO_ANNOUNCE,
    routerAdvertisements: { mode: 'off', radvd: '/usr/sbin/radvd', maxIntervalSeconds: 1800 },
    nodeLogs: NO_NODE_LOGS,
    admin: DEFAULT_ADMIN,
  };
}

function keaConfig(rack: Rack): unknown {
  return {
    Dhcp4: {
      'interfaces-config': { interfaces: [rack.bridge], 'dhcp-socket-type': 'udp' },
      'lease-database': { type: 'memfile', persist: false },
      'valid-lifetime': 3600,
      subnet4: [
        {
          id: 1,
          subnet: '198.19.0.0/16',
          pools: [{ pool: `${POOL[0]} - ${POOL[1]}` }],
          'option-data': [
            { name: 'routers', data: SERVER },
            { name: 'domain-name-servers', data: SERVER },
            { name: 'ntp-servers', data: SERVER },
            { name: 'domain-name', data: 'bench.test' },
          ],
        },
      ],
      loggers: [{ name: 'kea-dhcp4', severity: 'WARN', output_options: [{ output: 'stderr' }] }],
    },
  };
}

async function benchRack(tag: string, octet: number, racks: Rack[]): Promise<{ rack: Rack; host: string }> {
  const rack = await createRack(tag, octet);
  racks.push(rack);
  await sh('ip', ['-n', rack.ns, 'addr', 'add', `${SERVER}/16`, 'dev', rack.bridge]);
  const host = await rack.addHost('pf', { address: `${CLIENT}/16` });
  return { rack, host };
}

export async function benchDhcp(): Promise<DhcpBenchResult> {
  const dir = await mkdtemp(path.join(tmpdir(), 'maskin-bench-dhcp-'));
  const racks: Rack[] = [];
  let slow: SlowDevice | undefined;
  const rmemDefault = Number((await readFile(RMEM_DEFAULT, 'utf8')).trim());
  try {
    if (rmemDefault < CLIENT_RECEIVE_BUFFER) await writeFile(RMEM_DEFAULT, String(CLIENT_RECEIVE_BUFFER));
    const contenders: Contender[] = [];
    const normalDiskFsyncMs = await fsyncMs(dir);

    const m = await benchRack('dhbm', 74, racks);
    const ours = m.rack.spawn(process.execPath, [SERVE, JSON.stringify(ourConfig(m.rack, path.join(dir, 'data'), dir))]);
    await waitReady(ours, /ready 67/, 15_000);
    drain(ours);
    contenders.push({ name: 'maskin', ...m, pid: ours.pid ?? 0 });

    slow = await slowDevice(dir);
    let slowDeviceFsyncMs: number | undefined;
    if (slow) {
      slowDeviceFsyncMs = await fsyncMs(slow.mount);
      const s = await benchRack('dhbs', 90, racks);
      const slowOurs = s.rack.spawn(process.execPath, [SERVE, JSON.stringify(ourConfig(s.rack, path.join(slow.mount, 'data'), dir))]);
      await waitReady(slowOurs, /ready 67/, 30_000);
      drain(slowOurs);
      contenders.push({ name: 'maskin-slow', ...s, pid: slowOurs.pid ?? 0 });
    } else {
      process.stderr.write(`slow device: not measured (${BLKIO_THROTTLE} is missing: no cgroup v1 blkio throttling)\n`);
    }

    const k = await benchRack('dhbk', 91, racks);
    const keaFile = path.join(dir, 'kea.json');
    await writeFile(keaFile, JSON.stringify(keaConfig(k.rack)));
    const keaDir = path.join(dir, 'kea');
    await mkdir(keaDir);
    const kea = k.rack.spawn('kea-dhcp4', ['-c', keaFile], { env: { ...process.env, KEA_LOCKFILE_DIR: keaDir, KEA_PIDFILE_DIR: keaDir } });
    drain(kea);
    contenders.push({ name: 'kea', ...k, pid: kea.pid ?? 0 });

    const e = await benchRack('dhbe', 92, racks);
    const echo = e.rack.spawn(process.execPath, [ECHO, SERVER]);
    await waitReady(echo, /ready 67/, 15_000);
    drain(echo);
    contenders.push({ name: 'echo', ...e, pid: echo.pid ?? 0 });

    // Kea prints nothing when it is up; a short probe run answers that.
    const probe = await perf(
      contenders.find((c) => c.name === 'kea')!,
      100,
      1,
    );
    if (kea.exitCode !== null || probe.rate === 0) throw new Error('kea-dhcp4 does not answer');

    const steps = await sweep(contenders);
    const servers: Partial<Record<ContenderName, ServerResult>> = {};
    for (const c of contenders) {
      await settle(contenders);
      servers[c.name] = serverResult(c.name, steps.get(c.name)!, await perf(c, 1000, 5));
    }

    // The storm: 1,000 distinct clients at 1,000/s offered (already bound by the sweep, plus a fresh
    // perfdhcp seed so new MACs arrive too), then the server's resident set.
    await perf(contenders[0]!, 1000, 3, 7);
    const rss = await rssMb(ours.pid ?? 0);

    const rate = (n: ContenderName): number => servers[n]?.maxCleanRate ?? Number.NaN;
    const keaToCeiling = rate('kea') / rate('echo');
    return {
      servers,
      maskinRssMbAfterStorm: Math.round(rss * 10) / 10,
      slowDeviceFsyncMs,
      normalDiskFsyncMs,
      ratios: {
        maskinToKea: rate('maskin') / rate('kea'),
        slowToKea: rate('maskin-slow') / rate('kea'),
        keaToCeiling,
        maskinToCeiling: rate('maskin') / rate('echo'),
      },
      clientLimited: keaToCeiling >= 0.9,
      clientReceiveBufferBytes: Math.max(rmemDefault, CLIENT_RECEIVE_BUFFER),
    };
  } finally {
    for (const rack of racks) await rack.destroy();
    await slow?.release();
    if (rmemDefault < CLIENT_RECEIVE_BUFFER) await writeFile(RMEM_DEFAULT, String(rmemDefault)).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  }
}

function table(r: DhcpBenchResult): string {
  const names = (['maskin', 'maskin-slow', 'kea', 'echo'] as const).filter((n) => r.servers[n]);
  const col = (f: (s: ServerResult) => string): string[] => names.map((n) => f(r.servers[n]!));
  const rows = [
    ['', ...names],
    ['max 4-way/s, median (≤0.1% drops)', ...col((s) => s.maxCleanRate.toFixed(0))],
    ['  spread of its runs', ...col((s) => `${s.spreadAtMax[0].toFixed(0)}–${s.spreadAtMax[1].toFixed(0)}`)],
    ['  avg delay there, ms', ...col((s) => s.avgDelayMsAtMax.toFixed(3))],
    ['1,000/s offered: drops', ...col((s) => String(s.at1000.drops))],
    ['1,000/s offered: avg delay, ms', ...col((s) => s.at1000.avgDelayMs.toFixed(3))],
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  const steps = names
    .map(
      (n) =>
        `${n}: ${r.servers[n]!.steps.map((s) => `${s.offered}→${s.rate.toFixed(0)}${s.clean ? '' : ` (${fmtPct(s.dropRatio)} drops, ${s.runs.reduce((n, r) => n + r.clientBufferDrops, 0)} lost in perfdhcp's buffer, ${s.runs.reduce((n, r) => n + r.serverBufferDrops, 0)} in the server's)`}`).join(', ')}`,
    )
    .join('\n');
  return [
    rows.map((row) => row.map((c, i) => c.padEnd(widths[i]!)).join('  ')).join('\n'),
    '',
    'median rate per offered step:',
    steps,
    '',
    `ratios: maskin/kea ${r.ratios.maskinToKea.toFixed(2)}, maskin-slow/kea ${r.ratios.slowToKea.toFixed(2)}, kea/ceiling ${r.ratios.keaToCeiling.toFixed(2)}, maskin/ceiling ${r.ratios.maskinToCeiling.toFixed(2)}`,
    `fdatasync of 4 KiB: normal disk ${r.normalDiskFsyncMs.toFixed(2)} ms, slow device ${r.slowDeviceFsyncMs?.toFixed(2) ?? '-'} ms`,
    `maskin RSS after a 1,000-client storm: ${r.maskinRssMbAfterStorm} MB`,
    `perfdhcp's receive buffer (net.core.rmem_default during the run): ${r.clientReceiveBufferBytes / 1024 / 1024} MiB`,
    r.clientLimited
      ? 'the client is the ceiling: Kea reaches ≥90% of what perfdhcp gets from a responder that answers from memory'
      : 'the servers are the ceiling: perfdhcp gets more from the memory responder than from Kea',
  ].join('\n');
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  for (const signal of ['SIGINT', 'SIGTERM'] as const)
    process.on(signal, () => {
      process.stderr.write(`${signal}: cleaning up after the current run\n`);
      stopRequested = true;
    });
  const result = await benchDhcp();
  process.stdout.write(JSON.stringify(result, null, 2) + '\n\n' + table(result) + '\n');
  const m = result.servers.maskin!;
  const s = result.servers['maskin-slow'];
  const rateMet = result.ratios.maskinToKea >= 1 || (result.clientLimited && result.ratios.maskinToKea >= 0.95);
  process.stdout.write(
    `\ntargets: ≥1.0× Kea (or equal at the client's ceiling) ${rateMet ? 'met' : 'MISSED'}; no drops at 1,000/s ${m.at1000.drops === 0 ? 'met' : 'MISSED'}` +
      (s ? `, on the slow device ${s.at1000.drops === 0 ? 'met' : 'MISSED'}` : '') +
      `; RSS ≤150 MB ${result.maskinRssMbAfterStorm <= 150 ? 'met' : 'MISSED'}\n`,
  );
}
