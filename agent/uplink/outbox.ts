// The durable report outbox: a report counts as recorded only once it is in LevelDB
// with { sync: true }. Delivery is at-least-once, so entries leave only when central acks them.
//
// Every write (appends, acks, evictions, the sequence high-water mark) goes through one serial
// writer as a single LevelDB batch. A batch is one write-ahead-log record, so a crash leaves it
// either whole or absent: no half-written entry, and the high-water mark is never behind an
// entry that exists. Appends that arrive while a batch is being synced ride in the next batch
// (group commit: one fsync for many appends).
//
// Keys: `e/<seq, 20-digit zero-padded>` sort by seq (uint64 has at most 20 decimal digits);
// `hw` holds the highest seq ever assigned, so seqs continue upward even after every entry was
// acked and deleted. An in-memory index (seq and time per entry, one queue per eviction class)
// answers depth/oldest and plans evictions without reading the store. Eviction order: reports about
// machines the manifest does not know (any host can make up more of them), timeline steps and
// foreign DHCP servers, health snapshots. Manifest nodes' state changes and discovery facts, and manifest events, are never
// evicted.
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import type { AbstractBatchOptions } from 'abstract-level';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { counter, gauge } from '../runtime/metrics.js';
import type { Sublevel } from '../store/store.js';
import { ReportSchema, type Report } from './gen/maskin/v1/report_pb.js';
import { SeqQueue, type IndexEntry } from './seqQueue.js';

export type ReportBody = Exclude<Report['body'], { case: undefined }>;
export type ReportKind = ReportBody['case'];

/** One queued report: its class for eviction, its time, and the protobuf `Report` (base64). */
export interface StoredEntry {
  readonly kind: ReportKind;
  readonly at: number;
  readonly report: string;
  /** About a machine the manifest does not know: evicted first, whatever its kind. */
  readonly unknownMachine?: true;
}

export interface AppendOptions {
  /** The report is about a machine the manifest does not know: evicted before any other. */
  readonly unknownMachine?: boolean;
}
/** The `hw` record: the highest seq ever assigned, as a decimal string. */
export interface StoredHighWater {
  readonly highWater: string;
}
export type StoredReport = StoredEntry | StoredHighWater;

export interface OutboxOptions {
  /**
   * Entries kept before evicting unknown machines' reports, timeline steps, then health
   * snapshots; a function is read on every check (a manifest may override it).
   */
  readonly maxEvents: number | (() => number);
  readonly now?: () => number;
  readonly log: Logger;
  readonly registry?: Registry;
}

export interface Outbox {
  /** Resolves with the report's seq once it is on disk (synced). */
  append(body: ReportBody, options?: AppendOptions): Promise<bigint>;
  /** Up to `limit` queued reports, oldest (lowest seq) first. */
  peek(limit: number): Promise<Report[]>;
  /** Deletes every queued report with seq ≤ throughSeq; resolves once that is synced. */
  ack(throughSeq: bigint): Promise<void>;
  depth(): number;
  oldest(): { seq: bigint; atUnixMs: number } | undefined;
  highWater(): bigint;
  /** Reports dropped by the size bound since this process opened the outbox. */
  evicted(): number;
  /** Calls `listener` after every batch of appends is durable; returns the unsubscribe function. */
  onAppend(listener: () => void): () => void;
}

const HW_KEY = 'hw';
const ENTRY_FROM = 'e/';
const ENTRY_TO = 'e0'; // '0' is the character after '/'
const WARN_EVERY_MS = 60_000;

export function entryKey(seq: bigint): string {
  return ENTRY_FROM + seq.toString().padStart(20, '0');
}

/** Eviction classes; `kept` (state changes, discovery, manifest) is never evicted. */
type Queues = { unknown: SeqQueue; step: SeqQueue; health: SeqQueue; kept: SeqQueue };
type Evictable = Exclude<keyof Queues, 'kept'>;
const EVICTION_ORDER: readonly Evictable[] = ['unknown', 'step', 'health'];
const CLASSES: readonly (keyof Queues)[] = [...EVICTION_ORDER, 'kept'];
function classOf(kind: ReportKind, unknownMachine: boolean | undefined): keyof Queues {
  // A foreign DHCP server report goes with the steps: any host can make one up.
  return unknownMachine ? 'unknown' : kind === 'step' || kind === 'foreignDhcp' ? 'step' : kind === 'health' ? 'health' : 'kept';
}

interface PendingAppend {
  readonly body: ReportBody;
  readonly unknownMachine: boolean;
  readonly at: number;
  readonly resolve: (seq: bigint) => void;
  readonly reject: (err: unknown) => void;
}
interface PendingAck {
  readonly through: bigint;
  readonly resolve: () => void;
  readonly reject: (err: unknown) => void;
}

type BatchOp = { type: 'put'; key: string; value: StoredReport } | { type: 'del'; key: string };

export async function openOutbox(db: Sublevel<StoredReport>, opts: OutboxOptions): Promise<Outbox> {
  const { maxEvents: bound } = opts;
  const maxEvents = typeof bound === 'function' ? bound : (): number => bound;
  const now = opts.now ?? Date.now;
  const log = opts.log.child({ component: 'outbox' });
  const queues: Queues = { unknown: new SeqQueue(), step: new SeqQueue(), health: new SeqQueue(), kept: new SeqQueue() };
  let highWater = 0n;

  const stored = await db.get(HW_KEY);
  if (stored && 'highWater' in stored) highWater = BigInt(stored.highWater);
  for await (const [key, value] of db.iterator({ gte: ENTRY_FROM, lt: ENTRY_TO })) {
    if (!('kind' in value)) continue;
    const seq = BigInt(key.slice(ENTRY_FROM.length));
    queues[classOf(value.kind, value.unknownMachine)].push({ seq, at: value.at });
    // Entries and the mark are written in one batch, so this only matters for stores written
    // before the mark existed; it keeps "never reuse a seq" true regardless.
    if (seq > highWater) highWater = seq;
  }

  let evictedCount = 0;
  let lastWarn = -Infinity;
  const evictedCounter = counter(opts.registry, {
    name: 'maskin_outbox_evicted_total',
    help: 'Reports dropped from the outbox by its size bound',
    labelNames: ['kind'],
  });
  gauge(opts.registry, {
    name: 'maskin_outbox_depth',
    help: 'Reports queued for central',
    collect() {
      this.set(depth());
    },
  });
  gauge(opts.registry, {
    name: 'maskin_outbox_oldest_age_seconds',
    help: 'Age of the oldest undelivered report (0 when empty)',
    collect() {
      const o = oldest();
      this.set(o ? Math.max(0, (now() - o.atUnixMs) / 1000) : 0);
    },
  });

  const listeners = new Set<() => void>();
  let appends: PendingAppend[] = [];
  let acks: PendingAck[] = [];
  let writing = false;

  function depth(): number {
    return queues.unknown.length + queues.step.length + queues.health.length + queues.kept.length;
  }

  function oldest(): { seq: bigint; atUnixMs: number } | undefined {
    let best: IndexEntry | undefined;
    for (const q of [queues.unknown, queues.step, queues.health, queues.kept]) {
      const first = q.first();
      if (first && (!best || first.seq < best.seq)) best = first;
    }
    return best && { seq: best.seq, atUnixMs: best.at };
  }

  function schedule(): void {
    if (writing) return;
    writing = true;
    void writeLoop();
  }

  async function writeLoop(): Promise<void> {
    // Let the appends of the current event-loop turn join this batch; later ones queue behind the
    // fsync in flight and go together in the next.
    await new Promise<void>((r) => setImmediate(r));
    while (appends.length > 0 || acks.length > 0) {
      const batchAppends = appends;
      const batchAcks = acks;
      appends = [];
      acks = [];
      await writeBatch(batchAppends, batchAcks);
    }
    writing = false;
  }

  async function writeBatch(batchAppends: PendingAppend[], batchAcks: PendingAck[]): Promise<void> {
    const ops: BatchOp[] = [];
    // Acks: the front of each queue up to the highest seq acked.
    let through = -1n;
    for (const a of batchAcks) if (a.through > through) through = a.through;
    const acked = {
      unknown: queues.unknown.countThrough(through),
      step: queues.step.countThrough(through),
      health: queues.health.countThrough(through),
      kept: queues.kept.countThrough(through),
    };
    for (const name of CLASSES) {
      for (let i = 0; i < acked[name]; i++) ops.push({ type: 'del', key: entryKey(queues[name].at(i)!.seq) });
    }

    // New entries. A seq handed out is never handed out again, even if this write fails.
    const fresh: Array<IndexEntry & { kind: ReportKind; cls: keyof Queues; body: ReportBody }> = [];
    for (const a of batchAppends) fresh.push({ seq: ++highWater, at: a.at, kind: a.body.case, cls: classOf(a.body.case, a.unknownMachine), body: a.body });

    // The bound, class by class in EVICTION_ORDER: the oldest stored entries first, then new ones.
    let excess = depth() - (acked.unknown + acked.step + acked.health + acked.kept) + fresh.length - maxEvents();
    const evictStored = { unknown: 0, step: 0, health: 0 };
    const evictedFresh = new Set<bigint>();
    const evictFresh = { unknown: 0, step: 0, health: 0 };
    for (const name of EVICTION_ORDER) {
      while (excess > 0 && acked[name] + evictStored[name] < queues[name].length) {
        ops.push({ type: 'del', key: entryKey(queues[name].at(acked[name] + evictStored[name])!.seq) });
        evictStored[name]++;
        excess--;
      }
      for (const f of fresh) {
        if (excess <= 0) break;
        if (f.cls === name) {
          evictedFresh.add(f.seq);
          evictFresh[name]++;
          excess--;
        }
      }
    }
    for (const f of fresh) {
      if (evictedFresh.has(f.seq)) continue;
      const report = create(ReportSchema, { seq: f.seq, atUnixMs: BigInt(f.at), body: f.body });
      ops.push({
        type: 'put',
        key: entryKey(f.seq),
        value: {
          kind: f.kind,
          at: f.at,
          report: Buffer.from(toBinary(ReportSchema, report)).toString('base64'),
          ...(f.cls === 'unknown' ? { unknownMachine: true as const } : {}),
        },
      });
    }
    if (fresh.length > 0) ops.push({ type: 'put', key: HW_KEY, value: { highWater: highWater.toString() } });

    try {
      // Sublevels forward batch options to classic-level, whose `sync` their types omit.
      await db.batch(ops, { sync: true } as AbstractBatchOptions<string, StoredReport>);
    } catch (err) {
      log.error({ err, appends: batchAppends.length, acks: batchAcks.length }, 'outbox write failed');
      for (const a of batchAppends) a.reject(err);
      for (const a of batchAcks) a.reject(err);
      return;
    }

    for (const name of CLASSES) queues[name].dropFront(acked[name] + (name === 'kept' ? 0 : evictStored[name]));
    for (const f of fresh) if (!evictedFresh.has(f.seq)) queues[f.cls].push({ seq: f.seq, at: f.at });
    for (const name of EVICTION_ORDER) countEvictions(name, evictStored[name] + evictFresh[name]);
    if (excess > 0 && now() - lastWarn >= WARN_EVERY_MS) {
      lastWarn = now();
      log.warn(
        { depth: depth(), maxEvents: maxEvents() },
        'outbox over its bound with only state changes, discovery facts and manifest events, which are never evicted; is central reachable?',
      );
    }

    batchAppends.forEach((a, i) => a.resolve(fresh[i]!.seq));
    for (const a of batchAcks) a.resolve();
    if (fresh.length > 0) for (const l of listeners) l();
  }

  /** Label `kind`: `unknown` (reports about machines the manifest does not know), `step`, `health`. */
  function countEvictions(kind: Evictable, n: number): void {
    if (n === 0) return;
    evictedCount += n;
    evictedCounter.inc({ kind }, n);
  }

  return {
    append(body, options) {
      if (body.case === undefined) return Promise.reject(new TypeError('outbox: a report needs a body'));
      return new Promise<bigint>((resolve, reject) => {
        appends.push({ body, unknownMachine: options?.unknownMachine === true, at: now(), resolve, reject });
        schedule();
      });
    },
    async peek(limit) {
      const first = oldest();
      if (!first || limit <= 0) return [];
      const out: Report[] = [];
      // Start at the oldest live key: LevelDB would otherwise step over every acked tombstone.
      for await (const [, value] of db.iterator({ gte: entryKey(first.seq), lt: ENTRY_TO, limit })) {
        if ('report' in value) out.push(fromBinary(ReportSchema, Buffer.from(value.report, 'base64')));
      }
      return out;
    },
    ack(throughSeq) {
      return new Promise<void>((resolve, reject) => {
        acks.push({ through: throughSeq, resolve, reject });
        schedule();
      });
    },
    depth,
    oldest,
    highWater: () => highWater,
    evicted: () => evictedCount,
    onAppend(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}
