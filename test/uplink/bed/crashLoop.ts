// The kill -9 loop behind the outbox crash tests (outboxCrash / outboxDrainCrash): a child appends
// (and drains) in a tight loop and is killed with SIGKILL at a random moment, many times over the
// same store. After each kill the store must open, hold every append the child saw resolve (unless
// it had started acking past it), hold no entry whose ack it saw resolve, and go on numbering
// above every seq ever handed out.
// Needs `npx tsc -p .` first (npm test does it): the child runs as dist/test/uplink/bed/outboxWriter.js.
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { openStore } from '../../../agent/store/store.js';
import { entryKey, openOutbox, type StoredReport } from '../../../agent/uplink/outbox.js';
import { body } from '../reports.js';
import { runAndKill } from '../../bed/killRandomly.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const entry = path.join(repo, 'dist/test/uplink/bed/outboxWriter.js');
const log = pino({ level: 'silent' });

interface ChildRun {
  readonly openedAt: bigint;
  readonly appended: bigint[];
  readonly acked: bigint[];
  /** Acks the child started; a kill may land before or after their write. */
  readonly acking: bigint[];
}

/** Runs the writer until `open`, lets it work 5–150 ms, then SIGKILLs it. Only complete lines count. */
async function runAndKillWriter(dir: string, mode: 'append' | 'drain'): Promise<ChildRun> {
  const lines = await runAndKill(entry, [dir, mode, '16'], { ready: (out) => out.includes('\n'), killAfterMs: [5, 150] });
  const run: ChildRun = { openedAt: -1n, appended: [], acked: [], acking: [] };
  for (const line of lines) {
    const [tag, value] = line.split(' ');
    if (tag === 'open') (run as { openedAt: bigint }).openedAt = BigInt(value!);
    else if (tag === 'a') run.appended.push(BigInt(value!));
    else if (tag === 'k') run.acked.push(BigInt(value!));
    else if (tag === 'K') run.acking.push(BigInt(value!));
  }
  return run;
}

export async function crashLoop(t: Pick<typeof import('tap').t, 'ok' | 'same' | 'teardown'>, mode: 'append' | 'drain', iterations: number): Promise<void> {
  t.ok(existsSync(entry), `${entry} is built (run npx tsc -p . first)`);
  const dir = await mkdtemp(path.join(os.tmpdir(), `maskin-outbox-crash-${mode}-`));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  let everPrinted = 0n; // the highest seq any child saw resolve, across all kills
  let withAppends = 0;
  let withAcks = 0;
  const problems: string[] = [];
  for (let i = 0; i < iterations; i++) {
    const run = await runAndKillWriter(dir, mode);
    if (run.appended.length > 0) withAppends++;
    if (run.acked.length > 0) withAcks++;
    if (run.openedAt < everPrinted) problems.push(`#${i}: child opened with high-water ${run.openedAt} below ${everPrinted}`);
    if (new Set(run.appended).size !== run.appended.length) problems.push(`#${i}: a seq was handed out twice`);
    for (const seq of run.appended) if (seq <= everPrinted) problems.push(`#${i}: seq ${seq} reused (≤ ${everPrinted} from an earlier run)`);
    const max = (seqs: bigint[]): bigint => seqs.reduce((a, b) => (b > a ? b : a), 0n);
    const ackedThrough = max(run.acked); // these acks resolved: gone for good
    const mayBeAcked = max(run.acking); // at-least-once: these may or may not have been written

    const store = await openStore(dir);
    try {
      const db = store.sublevel<StoredReport>('outbox');
      const outbox = await openOutbox(db, { maxEvents: 1_000_000, log });
      const reports = await outbox.peek(1_000_000);
      const present = new Set(reports.map((r) => r.seq));
      for (let j = 1; j < reports.length; j++) {
        if (reports[j]!.seq <= reports[j - 1]!.seq) problems.push(`#${i}: stored seqs not strictly increasing at ${reports[j]!.seq}`);
      }
      for (const r of reports) {
        if (r.body.case === undefined) problems.push(`#${i}: entry ${r.seq} has no body`);
        const raw = await db.get(entryKey(r.seq));
        if (!raw || !('kind' in raw) || raw.kind !== r.body.case) problems.push(`#${i}: entry ${r.seq} is not stored under its own key and kind`);
        if (r.seq <= ackedThrough) problems.push(`#${i}: entry ${r.seq} reappeared after its ack (through ${ackedThrough}) resolved`);
      }
      for (const seq of run.appended) {
        if (seq > mayBeAcked && !present.has(seq)) problems.push(`#${i}: resolved append ${seq} lost`);
      }
      for (const seq of run.appended) if (seq > everPrinted) everPrinted = seq;
      if (outbox.highWater() < everPrinted) problems.push(`#${i}: high-water ${outbox.highWater()} below printed ${everPrinted}`);
      const next = await outbox.append(body.step('after-crash'));
      if (next <= everPrinted) problems.push(`#${i}: next seq ${next} not above ${everPrinted}`);
      everPrinted = next;
      // Empty the outbox every other round, so the next child must continue from the mark alone.
      if (i % 2 === 0) await outbox.ack(next);
    } finally {
      await store.close();
    }
  }
  t.same(problems, [], `${iterations} kills: no lost, reused, reappeared or torn entries`);
  t.ok(withAppends >= iterations / 2, `children were killed mid-work (${withAppends}/${iterations} had resolved appends)`);
  if (mode === 'drain') t.ok(withAcks >= iterations / 3, `children were killed while draining (${withAcks}/${iterations} had acks)`);
}
