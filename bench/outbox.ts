// Outbox benchmark: durable appends per second with 1 and with 64 appenders
// in flight (every append synced before it resolves; group commit shares one fsync among the
// appends that queue behind it), the drain rate (peek 500 + synced ack, as the reporter does), and
// RSS growth over 100,000 queued appends. Target: ≥5,000 durable appends/s batched.
//   node --expose-gc dist/bench/outbox.js      (without --expose-gc, RSS is read without a GC first)
import { create } from '@bufbuild/protobuf';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { openStore, type AgentStore } from '../agent/store/store.js';
import { TimelineStepSchema } from '../agent/uplink/gen/maskin/v1/report_pb.js';
import { openOutbox, type Outbox, type ReportBody, type StoredReport } from '../agent/uplink/outbox.js';

export interface OutboxBenchResult {
  /** Durable appends/s, one append at a time. */
  readonly sequentialPerSec: number;
  /** Durable appends/s with 64 appenders in flight. */
  readonly concurrent64PerSec: number;
  /** Reports removed per second, peek(500) + ack per round. */
  readonly drainPerSec: number;
  readonly drained: number;
  /** RSS growth (MB) from an empty outbox to 100,000 queued reports, and after draining them. */
  readonly rssGrowthMb: { readonly queued100k: number; readonly afterDrain: number };
  readonly target: { readonly appendsPerSec: number; readonly rssMb: number };
  readonly pass: boolean;
}

// A timeline step of realistic size (~150 bytes encoded).
const step: ReportBody = {
  case: 'step',
  value: create(TimelineStepSchema, {
    nodeId: 'rack1-n042',
    step: 'config-fetched',
    detailJson: JSON.stringify({ ip: '198.18.0.42', mac: '52:54:00:12:34:56', bytes: 18_233, ms: 12 }),
  }),
};

async function appendFor(outbox: Outbox, concurrency: number, total: number, maxMs: number): Promise<number> {
  let done = 0;
  const started = performance.now();
  const deadline = started + maxMs;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (done < total && performance.now() < deadline) {
        await outbox.append(step);
        done++;
      }
    }),
  );
  return done / ((performance.now() - started) / 1000);
}

async function drain(outbox: Outbox): Promise<{ perSec: number; count: number }> {
  let count = 0;
  const started = performance.now();
  for (;;) {
    const batch = await outbox.peek(500);
    const last = batch.at(-1);
    if (!last) break;
    await outbox.ack(last.seq);
    count += batch.length;
  }
  return { perSec: count / ((performance.now() - started) / 1000), count };
}

function rssMb(): number {
  (globalThis as { gc?: () => void }).gc?.();
  return process.memoryUsage().rss / 1024 / 1024;
}

async function withOutbox<T>(fn: (outbox: Outbox, store: AgentStore) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'maskin-bench-outbox-'));
  const store = await openStore(dir);
  try {
    const outbox = await openOutbox(store.sublevel<StoredReport>('outbox'), { maxEvents: 1_000_000, log: pino({ level: 'warn' }) });
    return await fn(outbox, store);
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
}

export async function benchOutbox(): Promise<OutboxBenchResult> {
  const rates = await withOutbox(async (outbox) => {
    const sequentialPerSec = await appendFor(outbox, 1, 5_000, 3_000);
    const concurrent64PerSec = await appendFor(outbox, 64, 50_000, 10_000);
    const drained = await drain(outbox);
    return { sequentialPerSec, concurrent64PerSec, drainPerSec: drained.perSec, drained: drained.count };
  });
  const rssGrowthMb = await withOutbox(async (outbox) => {
    const before = rssMb();
    await appendFor(outbox, 64, 100_000, 120_000);
    const queued = rssMb();
    await drain(outbox);
    const after = rssMb();
    return { queued100k: Math.round((queued - before) * 10) / 10, afterDrain: Math.round((after - before) * 10) / 10 };
  });
  const target = { appendsPerSec: 5_000, rssMb: 50 };
  return {
    sequentialPerSec: Math.round(rates.sequentialPerSec),
    concurrent64PerSec: Math.round(rates.concurrent64PerSec),
    drainPerSec: Math.round(rates.drainPerSec),
    drained: rates.drained,
    rssGrowthMb,
    target,
    pass: rates.concurrent64PerSec >= target.appendsPerSec && rssGrowthMb.queued100k < target.rssMb,
  };
}

function table(r: OutboxBenchResult): string {
  const rows = [
    ['', 'figure'],
    ['durable appends/s, 1 in flight', String(r.sequentialPerSec)],
    ['durable appends/s, 64 in flight', String(r.concurrent64PerSec)],
    [`drain (peek 500 + ack)/s, ${r.drained} reports`, String(r.drainPerSec)],
    ['RSS growth, 100k queued, MB', String(r.rssGrowthMb.queued100k)],
    ['RSS growth after draining them, MB', String(r.rssGrowthMb.afterDrain)],
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  return rows.map((row) => row.map((c, i) => c.padEnd(widths[i]!)).join('  ')).join('\n');
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const result = await benchOutbox();
  process.stdout.write(JSON.stringify(result, null, 2) + '\n\n' + table(result) + '\n');
  process.stdout.write(
    `\ntargets: ≥${result.target.appendsPerSec}/s durable appends batched ${result.concurrent64PerSec >= result.target.appendsPerSec ? 'met' : 'MISSED'}; ` +
      `RSS growth <${result.target.rssMb} MB ${result.rssGrowthMb.queued100k < result.target.rssMb ? 'met' : 'MISSED'}\n`,
  );
}
