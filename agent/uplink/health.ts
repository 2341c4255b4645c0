// The agent's health snapshot, queued in the outbox every minute. Only cheap probes:
// systeminformation's mem() (reads /proc/meminfo), fsSize() (one df), networkStats() (sysfs
// counters), and os.loadavg() rather than si.currentLoad(), which samples the CPU over time.
// A probe that fails leaves its fields out (zero): a partial snapshot beats none. A probe can
// throw, reject, hang or answer garbage and the snapshot still comes; the service runs
// systeminformation in a worker (healthProbe.ts), so that its uncaught throws cannot end the agent.
import { create } from '@bufbuild/protobuf';
import os from 'node:os';
import path from 'node:path';
import type { Logger } from 'pino';
import type si from 'systeminformation';
import { sleep } from '../runtime/wait.js';
import type { Service } from '../runtime/service.js';
import { AgentHealthSchema, NicStatsSchema, type AgentHealth } from './gen/maskin/v1/report_pb.js';
import { isolatedProbe } from './healthProbe.js';
import type { Outbox } from './outbox.js';

export type HealthProbe = Pick<typeof si, 'mem' | 'fsSize' | 'networkStats'>;
type Filesystem = Awaited<ReturnType<typeof si.fsSize>>[number];

export interface HealthExtra {
  readonly outboxDepth: number;
  readonly outboxEvicted: number;
  readonly manifestVersion: number | bigint;
  /** The filesystem holding this path is reported; without it (or no match), the largest. */
  readonly dataDir?: string;
  /** Image cache readiness per profile (every pinned image cached and verified), and its size. */
  readonly profilesReady?: Readonly<Record<string, boolean>>;
  readonly cacheBytes?: number;
}

const U64_MAX = 2n ** 64n - 1n;
const u64 = (n: unknown): bigint => {
  if (typeof n !== 'number' || !Number.isFinite(n) || n <= 0) return 0n;
  const big = BigInt(Math.round(n));
  return big > U64_MAX ? U64_MAX : big;
};

/** Default time a probe may take before its reading is left out. */
export const PROBE_TIMEOUT_MS = 10_000;

/**
 * What `call` resolves with within `timeoutMs`, else undefined: a synchronous throw, a rejection
 * and a hang all mean "no reading", never an error for the caller.
 */
export function attempt<T>(call: () => PromiseLike<T> | T, timeoutMs: number): Promise<T | undefined> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(undefined), timeoutMs);
    const done = (value: T | undefined): void => {
      clearTimeout(timer);
      resolve(value);
    };
    try {
      Promise.resolve(call()).then(done, () => done(undefined));
    } catch {
      done(undefined);
    }
  });
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null;

/** The mount holding `dir` (longest mount-point prefix), else the largest filesystem. */
export function filesystemFor(list: readonly Filesystem[], dir: string | undefined): Filesystem | undefined {
  if (dir !== undefined) {
    const abs = path.resolve(dir);
    const holding = list
      .filter((f) => f.mount === '/' || abs === f.mount || abs.startsWith(f.mount.endsWith('/') ? f.mount : f.mount + '/'))
      .sort((a, b) => b.mount.length - a.mount.length)[0];
    if (holding) return holding;
  }
  return [...list].sort((a, b) => b.size - a.size)[0];
}

function loadavg1(): number {
  try {
    return os.loadavg()[0] ?? 0;
  } catch {
    return 0;
  }
}

/** `probe` defaults to systeminformation in a worker; each probe gets `timeoutMs` (default PROBE_TIMEOUT_MS). */
export async function healthSnapshot(probe: HealthProbe | undefined, extra: HealthExtra, timeoutMs: number = PROBE_TIMEOUT_MS): Promise<AgentHealth> {
  const source = probe ?? isolatedProbe({ timeoutMs });
  const [mem, fs, nics] = await Promise.all([
    attempt(() => source.mem(), timeoutMs),
    attempt(() => source.fsSize(), timeoutMs),
    attempt(() => source.networkStats('*'), timeoutMs),
  ]);
  const filesystems = Array.isArray(fs) ? fs.filter((f: unknown) => isObject(f) && typeof f.mount === 'string' && typeof f.size === 'number') : [];
  const disk = filesystemFor(filesystems, extra.dataDir);
  return create(AgentHealthSchema, {
    memTotalBytes: isObject(mem) ? u64(mem.total) : 0n,
    memAvailableBytes: isObject(mem) ? u64(mem.available) : 0n,
    diskTotalBytes: u64(disk?.size),
    diskFreeBytes: u64(disk?.available),
    load1: loadavg1(),
    nics: (Array.isArray(nics) ? nics : [])
      .filter((n: unknown): n is Awaited<ReturnType<HealthProbe['networkStats']>>[number] => isObject(n) && typeof n.iface === 'string' && n.iface !== 'lo')
      .map((n) =>
        create(NicStatsSchema, { name: n.iface, rxBytes: u64(n.rx_bytes), txBytes: u64(n.tx_bytes), rxErrors: u64(n.rx_errors), txErrors: u64(n.tx_errors) }),
      ),
    outboxDepth: u64(extra.outboxDepth),
    outboxEvicted: u64(extra.outboxEvicted),
    manifestVersion: typeof extra.manifestVersion === 'bigint' ? extra.manifestVersion : u64(extra.manifestVersion),
    profilesReady: { ...extra.profilesReady },
    cacheBytes: u64(extra.cacheBytes),
  });
}

export interface HealthServiceDeps {
  readonly outbox: Pick<Outbox, 'append' | 'depth' | 'evicted'>;
  /** Default 60 s. */
  readonly intervalMs?: number;
  /** What the outbox cannot know: the manifest version in force, the data dir. */
  readonly extra: () => Omit<HealthExtra, 'outboxDepth' | 'outboxEvicted'>;
  readonly log: Logger;
  /** Default: systeminformation in a worker thread (healthProbe.ts). */
  readonly probe?: HealthProbe;
  /** Default PROBE_TIMEOUT_MS. */
  readonly probeTimeoutMs?: number;
}

/** Appends a health report at start and then every interval. Failures are logged, never fatal. */
export function createHealthService(deps: HealthServiceDeps): Service {
  const log = deps.log.child({ component: 'health' });
  const intervalMs = deps.intervalMs ?? 60_000;
  const timeoutMs = deps.probeTimeoutMs ?? PROBE_TIMEOUT_MS;
  const probe = deps.probe ?? isolatedProbe({ timeoutMs });
  async function once(): Promise<void> {
    try {
      const extra = { ...deps.extra(), outboxDepth: deps.outbox.depth(), outboxEvicted: deps.outbox.evicted() };
      const health = await healthSnapshot(probe, extra, timeoutMs);
      await deps.outbox.append({ case: 'health', value: health });
    } catch (err) {
      log.error({ err }, 'health snapshot not recorded');
    }
  }
  return {
    name: 'health',
    async run(signal) {
      while (!signal.aborted) {
        await once();
        await sleep(intervalMs, signal);
      }
    },
  };
}
