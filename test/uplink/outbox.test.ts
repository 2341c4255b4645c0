// The outbox on a real LevelDB in a temp dir: seqs, acks, the bound and its eviction order.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { Registry } from 'prom-client';
import t from 'tap';
import { openStore, type AgentStore } from '../../agent/store/store.js';
import { openOutbox, type OutboxOptions, type ReportBody, type StoredReport } from '../../agent/uplink/outbox.js';
import { body } from './reports.js';

const log = pino({ level: 'silent' });

async function tempStore(t: { teardown(fn: () => unknown): void }): Promise<{ dir: string; open: () => Promise<AgentStore> }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'maskin-outbox-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return { dir, open: () => openStore(dir) };
}

async function withOutbox(store: AgentStore, opts: Partial<OutboxOptions> = {}) {
  return openOutbox(store.sublevel<StoredReport>('outbox'), { maxEvents: 1000, log, ...opts });
}

t.test('seqs are strictly increasing and continue across a reopen, even after everything was acked', async (t) => {
  const { open } = await tempStore(t);
  let store = await open();
  let outbox = await withOutbox(store);
  const first = await Promise.all(Array.from({ length: 50 }, (_, i) => outbox.append(body.step(`n${i}`))));
  t.same(
    first,
    Array.from({ length: 50 }, (_, i) => BigInt(i + 1)),
    'concurrent appends get 1..50 in call order',
  );
  t.equal(outbox.depth(), 50);
  await outbox.ack(50n);
  t.equal(outbox.depth(), 0);
  t.equal(outbox.oldest(), undefined);
  await store.close();

  store = await open();
  outbox = await withOutbox(store);
  t.equal(outbox.highWater(), 50n, 'the high-water mark survives with no entries left');
  t.equal(await outbox.append(body.state('n1')), 51n, 'the next seq is above every seq ever assigned');
  const peeked = await outbox.peek(10);
  t.same(
    peeked.map((r) => r.seq),
    [51n],
  );
  t.equal(peeked[0]!.body.case, 'stateChange');
  await store.close();
});

t.test('ack removes exactly the entries with seq ≤ throughSeq; peek is oldest first and decodes whole reports', async (t) => {
  const { open } = await tempStore(t);
  const store = await open();
  t.teardown(() => store.close());
  let clock = 1_000_000;
  const outbox = await withOutbox(store, { now: () => clock });
  for (let i = 1; i <= 10; i++) {
    clock += 1000;
    await outbox.append(i % 2 ? body.step(`n${i}`, `step-${i}`) : body.discovery(`n${i}`));
  }
  t.same(outbox.oldest(), { seq: 1n, atUnixMs: 1_001_000 });
  await outbox.ack(4n);
  t.equal(outbox.depth(), 6);
  t.same(outbox.oldest(), { seq: 5n, atUnixMs: 1_005_000 });
  const reports = await outbox.peek(3);
  t.same(
    reports.map((r) => r.seq),
    [5n, 6n, 7n],
  );
  t.same(
    reports.map((r) => r.atUnixMs),
    [1_005_000n, 1_006_000n, 1_007_000n],
  );
  t.match(reports[0]!.body, { case: 'step', value: { nodeId: 'n5', step: 'step-5' } });
  t.match(reports[1]!.body, { case: 'discovery', value: { nodeId: 'n6', macs: ['52:54:00:00:00:01'] } });
  await outbox.ack(2n);
  t.equal(outbox.depth(), 6, 'acking below the oldest entry removes nothing');
  await outbox.ack(10n);
  t.equal(outbox.depth(), 0);
  t.same(await outbox.peek(100), []);
  const left: string[] = [];
  for await (const key of store.sublevel<StoredReport>('outbox').keys()) left.push(key);
  t.same(left, ['hw'], 'acked entries are deleted from the store');
});

t.test('the bound evicts oldest timeline steps, then health; never state changes, discovery or manifest events', async (t) => {
  const { open } = await tempStore(t);
  const store = await open();
  t.teardown(() => store.close());
  const registry = new Registry();
  const warnings: string[] = [];
  const warnLog = pino({ level: 'warn' }, { write: (line: string) => warnings.push(line) });
  const outbox = await openOutbox(store.sublevel<StoredReport>('outbox'), { maxEvents: 6, log: warnLog, registry });

  await outbox.append(body.step('a', 's1')); // 1
  await outbox.append(body.health(1)); // 2
  await outbox.append(body.state('a')); // 3
  await outbox.append(body.step('a', 's2')); // 4
  await outbox.append(body.discovery('b')); // 5
  await outbox.append(body.health(2)); // 6
  t.equal(outbox.evicted(), 0, 'at the bound, nothing goes');
  await outbox.append(body.manifest(7)); // 7 → evicts step 1
  t.same(
    (await outbox.peek(10)).map((r) => r.seq),
    [2n, 3n, 4n, 5n, 6n, 7n],
  );
  await outbox.append(body.step('a', 's3')); // 8 → evicts step 4 (oldest step)
  t.same(
    (await outbox.peek(10)).map((r) => r.seq),
    [2n, 3n, 5n, 6n, 7n, 8n],
  );
  await outbox.append(body.state('b')); // 9 → evicts step 8, the only step left
  await outbox.append(body.state('c')); // 10 → no steps left: evicts health 2
  t.same(
    (await outbox.peek(10)).map((r) => r.seq),
    [3n, 5n, 6n, 7n, 9n, 10n],
  );
  await outbox.append(body.step('a', 's4')); // 11 → the new step is the oldest step: dropped
  await outbox.append(body.discovery('d')); // 12 → evicts health 6
  t.same(
    (await outbox.peek(10)).map((r) => r.seq),
    [3n, 5n, 7n, 9n, 10n, 12n],
  );
  t.equal(outbox.evicted(), 6);
  t.equal(warnings.length, 0);

  await outbox.append(body.state('e')); // 13 → only protected kinds left: the bound is exceeded
  await outbox.append(body.manifest(14));
  t.equal(outbox.depth(), 8, 'state changes, discovery facts and manifest events are never evicted');
  t.same(
    (await outbox.peek(10)).map((r) => r.body.case),
    ['stateChange', 'discovery', 'manifest', 'stateChange', 'stateChange', 'discovery', 'stateChange', 'manifest'],
  );
  t.equal(outbox.evicted(), 6);
  t.equal(warnings.length, 1, 'one warning, rate-limited');
  t.match(warnings[0], /never evicted/);

  const metrics = await registry.getMetricsAsJSON();
  const evicted = metrics.find((m) => m.name === 'maskin_outbox_evicted_total')!;
  t.same(Object.fromEntries(evicted.values.map((v) => [v.labels.kind, v.value])), { step: 4, health: 2 });
  t.equal(metrics.find((m) => m.name === 'maskin_outbox_depth')!.values[0]!.value, 8);
});

t.test('reports about machines the manifest does not know are evicted first, whatever their kind, also after a reopen', async (t) => {
  const { open } = await tempStore(t);
  let store = await open();
  const registry = new Registry();
  let outbox = await withOutbox(store, { maxEvents: 5, registry });
  const junk = { unknownMachine: true };
  await outbox.append(body.step('n1', 'dhcp-ack')); // 1
  await outbox.append(body.discovery('n1')); // 2
  await outbox.append(body.discovery('mac-1'), junk); // 3
  await outbox.append(body.step('mac-1'), junk); // 4
  await outbox.append(body.state('mac-1'), junk); // 5
  await outbox.append(body.step('n1', 'script-served')); // 6 → evicts 3, the oldest unknown-machine report
  t.same(
    (await outbox.peek(10)).map((r) => r.seq),
    [1n, 2n, 4n, 5n, 6n],
  );
  await store.close();
  store = await open();
  t.teardown(() => store.close());
  outbox = await withOutbox(store, { maxEvents: 5 });
  for (let i = 0; i < 100; i++) await outbox.append(body.discovery(`mac-${i}`), junk);
  t.same(
    (await outbox.peek(10)).map((r) => `${r.body.case}:${(r.body.value as { nodeId?: string } | undefined)?.nodeId ?? ''}`),
    ['step:n1', 'discovery:n1', 'step:n1', 'discovery:mac-98', 'discovery:mac-99'],
    "a flood of them never pushes a manifest node's report out",
  );
  await outbox.append(body.step('n1', 'config-served'));
  await outbox.append(body.step('n1', 'install-reported'));
  await outbox.append(body.step('n1', 'boot-local-served'));
  t.same(
    (await outbox.peek(10)).map((r) => `${r.body.case}:${(r.body.value as { nodeId?: string } | undefined)?.nodeId ?? ''}`),
    ['discovery:n1', 'step:n1', 'step:n1', 'step:n1', 'step:n1'],
    'then the oldest steps, as before',
  );
  const evicted = (await registry.getMetricsAsJSON()).find((m) => m.name === 'maskin_outbox_evicted_total')!;
  t.same(Object.fromEntries(evicted.values.map((v) => [v.labels.kind, v.value])), { unknown: 1 });
});

t.test('a batch of concurrent appends is one synced write and the bound applies within it', async (t) => {
  const { open } = await tempStore(t);
  const store = await open();
  t.teardown(() => store.close());
  // Watch the writes the outbox makes: how many batches, and whether each asked for sync.
  const writes: Array<{ ops: number; sync: unknown }> = [];
  const db = store.sublevel<StoredReport>('outbox');
  const watched = new Proxy(db, {
    get(target, prop) {
      if (prop === 'batch') {
        return (ops: unknown[], options: { sync?: unknown }) => {
          writes.push({ ops: ops.length, sync: options?.sync });
          return (target.batch as (o: unknown[], p: unknown) => Promise<void>)(ops, options);
        };
      }
      const value = Reflect.get(target, prop, target) as unknown;
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  const outbox = await openOutbox(watched, { maxEvents: 10, log });
  const seqs = await Promise.all([...Array.from({ length: 20 }, (_, i) => outbox.append(body.step('n', `s${i}`))), outbox.append(body.state('n'))]);
  t.same(
    seqs,
    Array.from({ length: 21 }, (_, i) => BigInt(i + 1)),
  );
  t.equal(outbox.depth(), 10);
  t.equal(outbox.evicted(), 11);
  t.same(
    (await outbox.peek(20)).map((r) => r.seq),
    [12n, 13n, 14n, 15n, 16n, 17n, 18n, 19n, 20n, 21n],
    'the newest steps and the state change stay',
  );
  t.same(writes, [{ ops: 11, sync: true }], 'one synced batch: 10 puts and the high-water mark (evicted steps are never written)');
  await Promise.all([outbox.ack(14n), outbox.ack(12n), outbox.append(body.step('n'))]);
  t.same(writes.slice(1), [{ ops: 5, sync: true }], 'acks and appends that arrive together share one synced batch');
  t.same(
    (await outbox.peek(20)).map((r) => r.seq),
    [15n, 16n, 17n, 18n, 19n, 20n, 21n, 22n],
  );
});

t.test('reopen rebuilds depth and oldest from the store', async (t) => {
  const { open } = await tempStore(t);
  let store = await open();
  let clock = 5000;
  let outbox = await withOutbox(store, { now: () => clock });
  for (let i = 0; i < 5; i++) {
    clock += 10;
    await outbox.append(i === 2 ? body.health() : body.step('n'));
  }
  await outbox.ack(1n);
  await store.close();
  store = await open();
  t.teardown(() => store.close());
  outbox = await withOutbox(store, { maxEvents: 3 });
  t.equal(outbox.depth(), 4);
  t.same(outbox.oldest(), { seq: 2n, atUnixMs: 5020 });
  await outbox.append(body.step('n'));
  t.same(
    (await outbox.peek(10)).map((r) => r.seq),
    [3n, 5n, 6n],
    'the bound applies to what was already stored',
  );
});

t.test('append without a body is refused; listeners hear durable appends', async (t) => {
  const { open } = await tempStore(t);
  const store = await open();
  t.teardown(() => store.close());
  const outbox = await withOutbox(store);
  await t.rejects(outbox.append({ case: undefined } as unknown as ReportBody));
  let heard = 0;
  const off = outbox.onAppend(() => heard++);
  await outbox.append(body.step('n'));
  off();
  await outbox.append(body.step('n'));
  t.equal(heard, 1);
  t.equal(outbox.highWater(), 2n);
});

t.test('a bound given as a function is read on every append (a manifest can tighten it)', async (t) => {
  const { open } = await tempStore(t);
  const store = await open();
  t.teardown(() => store.close());
  let bound = 100;
  const outbox = await openOutbox(store.sublevel<StoredReport>('outbox'), { maxEvents: () => bound, log });
  for (let i = 0; i < 5; i++) await outbox.append(body.step('a', `s${i}`));
  t.equal(outbox.depth(), 5);
  bound = 3;
  await outbox.append(body.state('a'));
  t.equal(outbox.depth(), 3, 'the new bound holds from the next append');
  t.equal(outbox.evicted(), 3);
});
