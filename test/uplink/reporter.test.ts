// The reporter: drains a real outbox (LevelDB in a temp dir) to a fake central (a `post` function)
// and, over HTTP, to the reference central (test/central/server.ts) while it fails in every way
// it knows. Central's view is what counts: every report stored exactly once, in seq order.
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import t from 'tap';
import { openStore } from '../../agent/store/store.js';
import { ReportAckSchema, ReportBatchSchema, type Report } from '../../agent/uplink/gen/maskin/v1/report_pb.js';
import { openOutbox, type Outbox, type StoredReport } from '../../agent/uplink/outbox.js';
import { ackedThrough, createReporter, httpReportTransport, type ReporterDeps, type ReportTransport } from '../../agent/uplink/reporter.js';
import { startCentral } from '../central/server.js';
import { body } from './reports.js';

const AGENT = 'agent-rack1';

async function tempOutbox(t: { teardown(fn: () => unknown): void }, now?: () => number): Promise<Outbox> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'maskin-reporter-'));
  const store = await openStore(dir);
  t.teardown(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });
  return openOutbox(store.sublevel<StoredReport>('outbox'), { maxEvents: 100_000, log: pino({ level: 'silent' }), ...(now ? { now } : {}) });
}

/** A central in a function: stores by seq once, acks what it got (or what `answer` says). */
function fakeCentral() {
  const stored = new Map<bigint, Report>();
  const posts: Report[][] = [];
  let duplicates = 0;
  let answer: ((sent: Report[]) => Uint8Array | Promise<Uint8Array>) | undefined;
  const ackOf = (agentId: string, through: bigint): Uint8Array => toBinary(ReportAckSchema, create(ReportAckSchema, { agentId, ackedThroughSeq: through }));
  const post: ReportTransport = async (bytes) => {
    const batch = fromBinary(ReportBatchSchema, bytes);
    posts.push(batch.reports);
    if (answer) return answer(batch.reports);
    for (const r of batch.reports) {
      if (stored.has(r.seq)) duplicates++;
      else stored.set(r.seq, r);
    }
    return ackOf(batch.agentId, batch.reports.at(-1)!.seq);
  };
  return {
    post,
    posts,
    stored,
    ackOf,
    duplicates: () => duplicates,
    /** Replace the normal behaviour (null = back to normal). */
    answer(fn: typeof answer | null) {
      answer = fn ?? undefined;
    },
  };
}

function captureLog() {
  const lines: Array<{ level: number; msg: string; [k: string]: unknown }> = [];
  const log = pino({ level: 'debug' }, { write: (line: string) => lines.push(JSON.parse(line)) });
  return { log, lines, messages: (level: number) => lines.filter((l) => l.level === level).map((l) => l.msg) };
}

async function until(what: string, cond: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

function run(deps: ReporterDeps) {
  const reporter = createReporter(deps);
  const stop = new AbortController();
  const done = reporter.run(stop.signal);
  return { reporter, stop: async () => (stop.abort(), done) };
}

t.test('delivers everything in seq order, in batches, exactly once as central sees it', async (t) => {
  const outbox = await tempOutbox(t);
  const kinds = [body.step('n1'), body.state('n1'), body.discovery('n2'), body.health(), body.manifest(4)];
  await Promise.all(Array.from({ length: 1200 }, (_, i) => outbox.append(kinds[i % kinds.length]!)));
  const central = fakeCentral();
  const { reporter, stop } = run({ outbox, agentId: AGENT, rackId: 'rack1', post: central.post, log: pino({ level: 'silent' }) });
  await until('the outbox to drain', () => outbox.depth() === 0);
  await stop();
  t.same(
    central.posts.map((p) => p.length),
    [500, 500, 200],
    'batches of 500, oldest first',
  );
  t.same(
    [...central.stored.keys()],
    Array.from({ length: 1200 }, (_, i) => BigInt(i + 1)),
  );
  t.equal(central.duplicates(), 0);
  t.same(central.stored.get(2n)?.body.case, 'stateChange');
  t.match(reporter.status(), { consecutiveFailures: 0, delivered: 1200, lastError: undefined });
  t.ok(reporter.status().lastSuccessAt);
});

t.test('an append wakes an idle reporter; it does not wait for the idle poll', async (t) => {
  const outbox = await tempOutbox(t);
  const central = fakeCentral();
  const { stop } = run({ outbox, agentId: AGENT, rackId: 'rack1', post: central.post, idleMs: 60_000, lingerMs: 20, log: pino({ level: 'silent' }) });
  await new Promise((r) => setTimeout(r, 50));
  const started = Date.now();
  await outbox.append(body.step('n1'));
  await until('the report to arrive', () => central.stored.size === 1, 2000);
  t.ok(Date.now() - started < 1000, `delivered ${Date.now() - started} ms after the append`);
  await stop();
});

t.test('failures back off with capped exponential delays, logged once per outage and once at recovery', async (t) => {
  let clock = 1_000_000;
  const outbox = await tempOutbox(t, () => clock);
  for (let i = 0; i < 30; i++) await outbox.append(body.step('n1', `s${i}`));
  const central = fakeCentral();
  let failing = 5;
  const post: ReportTransport = async (bytes) => {
    clock += 10_000;
    if (failing-- > 0) throw new Error('connect ECONNREFUSED 127.0.0.1:9');
    return central.post(bytes);
  };
  // The delays the reporter asks for, not wall time: a loaded machine only stretches the latter.
  const delays: number[] = [];
  const { log, messages } = captureLog();
  const { reporter, stop } = run({
    outbox,
    agentId: AGENT,
    rackId: 'rack1',
    post,
    batchSize: 10,
    backoff: { initialMs: 20, maxMs: 60 },
    random: () => 1,
    backoffSleep: async (ms) => void delays.push(ms),
    now: () => clock,
    log,
  });
  await until('the outbox to drain', () => outbox.depth() === 0);
  await stop();
  // random() = 1: the delay is the full exponential bound 20, 40, 60 (capped), 60, 60.
  t.same(delays, [20, 40, 60, 60, 60], 'one capped exponential delay after each of the 5 failures');
  t.same(messages(40), ['central unreachable for reports; they stay queued in the outbox and are retried with backoff'], 'one warning for the whole outage');
  t.same(messages(30), ['central reachable again; delivered 30 reports queued for 80 s'], 'one line at recovery');
  t.equal(central.stored.size, 30);
  t.equal(reporter.status().consecutiveFailures, 0);
});

t.test('acks that do not fit the batch', async (t) => {
  const sent = [5n, 6n, 7n].map((seq) => ({ seq }) as Report);
  const ack = (agentId: string, through: bigint) => toBinary(ReportAckSchema, create(ReportAckSchema, { agentId, ackedThroughSeq: through }));
  t.equal(ackedThrough(ack(AGENT, 6n), AGENT, sent), 6n, 'a partial ack');
  t.equal(ackedThrough(ack(AGENT, 90n), AGENT, sent), 7n, 'an ack past the batch deletes only what was sent');
  t.throws(() => ackedThrough(ack('agent-other', 7n), AGENT, sent), { code: 'MASKIN_ERR_REPORT_ACK_INVALID', message: /agent-other/ });
  t.throws(() => ackedThrough(ack(AGENT, 4n), AGENT, sent), { code: 'MASKIN_ERR_REPORT_ACK_INVALID', message: /below the batch/ });
  t.throws(() => ackedThrough(new Uint8Array([0xff, 0xff, 0xff]), AGENT, sent), { code: 'MASKIN_ERR_REPORT_ACK_INVALID', message: /undecodable/ });
});

t.test('a wrong-agent ack is a failure: nothing is deleted, the batch is sent again', async (t) => {
  const outbox = await tempOutbox(t);
  for (let i = 0; i < 3; i++) await outbox.append(body.state(`n${i}`));
  const central = fakeCentral();
  central.answer((sent) => central.ackOf('agent-other', sent.at(-1)!.seq));
  const { reporter, stop } = run({
    outbox,
    agentId: AGENT,
    rackId: 'rack1',
    post: central.post,
    backoff: { initialMs: 5, maxMs: 10 },
    log: pino({ level: 'silent' }),
  });
  await until('three refused acks', () => central.posts.length >= 3);
  t.equal(outbox.depth(), 3, 'still queued');
  t.match(reporter.status(), { lastError: /agent-other/ });
  t.ok(reporter.status().consecutiveFailures >= 3);
  central.answer(null);
  await until('the outbox to drain', () => outbox.depth() === 0);
  await stop();
  t.same([...central.stored.keys()], [1n, 2n, 3n]);
});

t.test('a lost answer: central stored the batch, the agent never heard; it is re-sent and stored once', async (t) => {
  const outbox = await tempOutbox(t);
  for (let i = 0; i < 6; i++) await outbox.append(body.discovery(`n${i}`));
  const central = fakeCentral();
  let lose = 2;
  const post: ReportTransport = async (bytes) => {
    const ack = await central.post(bytes);
    if (lose-- > 0) throw new Error('socket hang up');
    return ack;
  };
  const { stop } = run({ outbox, agentId: AGENT, rackId: 'rack1', post, backoff: { initialMs: 5, maxMs: 10 }, log: pino({ level: 'silent' }) });
  await until('the outbox to drain', () => outbox.depth() === 0);
  await stop();
  t.equal(central.posts.length, 3, 'sent three times');
  t.equal(central.duplicates(), 12, 'central saw every report again twice and kept the first');
  t.same([...central.stored.keys()], [1n, 2n, 3n, 4n, 5n, 6n]);
});

t.test('a partial ack deletes only what it covers; the rest goes in the next batch', async (t) => {
  const outbox = await tempOutbox(t);
  for (let i = 0; i < 8; i++) await outbox.append(body.step('n', `s${i}`));
  const central = fakeCentral();
  let first = true;
  central.answer((sent) => {
    if (!first) return central.ackOf(AGENT, sent.at(-1)!.seq);
    first = false;
    return central.ackOf(AGENT, 3n);
  });
  const { stop } = run({ outbox, agentId: AGENT, rackId: 'rack1', post: central.post, batchSize: 5, log: pino({ level: 'silent' }) });
  await until('the outbox to drain', () => outbox.depth() === 0);
  await stop();
  t.same(
    central.posts.map((p) => p.map((r) => Number(r.seq))),
    [
      [1, 2, 3, 4, 5],
      [4, 5, 6, 7, 8],
    ],
  );
});

t.test('over HTTP to the reference central: 503, refused connections, garbage and slow answers, then everything exactly once', async (t) => {
  const outbox = await tempOutbox(t);
  const central = await startCentral();
  t.teardown(() => central.stop());
  const post = httpReportTransport({ url: central.reportsUrl, timeoutMs: 150, headers: { authorization: 'Bearer not-checked' } });
  let appended = 0;
  const appendSome = async (n: number) => {
    for (let i = 0; i < n; i++) await outbox.append((appended++ % 3 === 0 ? body.state : body.step)(`n${appended % 7}`));
  };
  const { log, messages } = captureLog();

  central.fail(503);
  await appendSome(40);
  const { reporter, stop } = run({ outbox, agentId: AGENT, rackId: 'rack1', post, batchSize: 25, backoff: { initialMs: 10, maxMs: 80 }, lingerMs: 5, log });
  await until('a few refused attempts', () => reporter.status().consecutiveFailures >= 3);
  t.match(reporter.status().lastError, /HTTP 503/);

  central.fail(null);
  await central.stop();
  await appendSome(40);
  const refusedFrom = reporter.status().consecutiveFailures;
  await until('connection refused attempts', () => reporter.status().consecutiveFailures >= refusedFrom + 2);
  t.match(reporter.status().lastError, /ECONNREFUSED/);
  await central.start();

  central.garbage(true);
  const garbageFrom = reporter.status().consecutiveFailures;
  await until('garbage answers', () => reporter.status().consecutiveFailures >= garbageFrom + 2 || outbox.depth() === 0);
  t.match(reporter.status().lastError, /report ack refused/);
  central.garbage(false);

  central.slow(400); // beyond the 150 ms timeout
  await appendSome(40);
  const slowFrom = reporter.status().consecutiveFailures;
  await until('timeouts', () => reporter.status().consecutiveFailures >= slowFrom + 2, 15_000);
  t.match(reporter.status().lastError, /timeout|within 150 ms/);
  central.slow(0);

  await appendSome(40);
  await until('the outbox to drain', () => outbox.depth() === 0, 15_000);
  await stop();

  const got = central.reports(AGENT).map((r) => Number(r.seq));
  t.same(
    got,
    Array.from({ length: appended }, (_, i) => i + 1),
    `all ${appended} reports stored once each, in order`,
  );
  t.equal(central.ackedThrough(AGENT), BigInt(appended));
  t.equal(central.lastHeaders()?.['content-type'], 'application/x-protobuf');
  t.equal(central.lastHeaders()?.authorization, 'Bearer not-checked');
  t.ok(messages(40).length >= 1 && messages(40).length <= 4, `one warning per outage (${messages(40).length})`);
  t.match(messages(30).at(-1), /^central reachable again; delivered \d+ reports queued for \d+ s$/);
});
