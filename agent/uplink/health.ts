// The agent's health snapshot, queued in the outbox every minute. Only cheap probes:
// systeminformation's mem() (reads /proc/meminfo), fsSize() (one df), networkStats() (sysfs
// counters), and os.loadavg() rather than si.currentLoad(), which samples the CPU over time.
// A probe that fails leaves its fields at zero: a partial snapshot beats none.
import { create } from '@bufbuild/protobuf';
import os from 'node:os';
import path from 'node:path';
import type { Logger } from 'pino';
import si from 'systeminformation';
import { sleep } from '../runtime/wait.js';
import type { Service } from '../runtime/service.js';
import { AgentHealthSchema, NicStatsSchema, type AgentHealth } from './gen/maskin/v1/report_pb.js';
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

const u64 = (n: number | undefined): bigint => (n !== undefined && Number.isFinite(n) && n > 0 ? BigInt(Math.round(n)) : 0n);

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

export async function healthSnapshot(probe: HealthProbe = si, extra: HealthExtra): Promise<AgentHealth> {
  const [mem, fs, nics] = await Promise.allSettled([probe.mem(), probe.fsSize(), probe.networkStats('*')]);
  const disk = fs.status === 'fulfilled' ? filesystemFor(fs.value, extra.dataDir) : undefined;
  return create(AgentHealthSchema, {
    memTotalBytes: mem.status === 'fulfilled' ? u64(mem.value.total) : 0n,
    memAvailableBytes: mem.status === 'fulfilled' ? u64(mem.value.available) : 0n,
    diskTotalBytes: u64(disk?.size),
    diskFreeBytes: u64(disk?.available),
    load1: os.loadavg()[0] ?? 0,
    nics: (nics.status === 'fulfilled' ? nics.value : [])
      .filter((n) => n.iface !== 'lo')
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
  readonly probe?: HealthProbe;
}

/** Appends a health report at start and then every interval. Failures are logged, never fatal. */
export function createHealthService(deps: HealthServiceDeps): Service {
  const log = deps.log.child({ component: 'health' });
  const intervalMs = deps.intervalMs ?? 60_000;
  async function once(): Promise<void> {
    try {
      const health = await healthSnapshot(deps.probe ?? si, { ...deps.extra(), outboxDepth: deps.outbox.depth(), outboxEvicted: deps.outbox.evicted() });
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
