// Crash-test child for the outbox (test/uplink/outboxCrash.test.ts): opens the outbox on the store
// in argv[2] and appends in a tight loop with `concurrency` appenders until killed. Prints
// `open <highWater>` once open, `a <seq>` after each append resolved and, in `drain` mode,
// `K <seq>` before acking through <seq> and `k <seq>` after that ack resolved. Pipes are synchronous on Linux, so a printed
// line was written before the kill could land.
//   node dist/test/uplink/bed/outboxWriter.js DIR append|drain CONCURRENCY
import pino from 'pino';
import { openStore } from '../../../agent/store/store.js';
import { openOutbox, type StoredReport } from '../../../agent/uplink/outbox.js';
import { body } from '../reports.js';

const [dir, mode = 'append', concurrencyArg = '16'] = process.argv.slice(2);
if (!dir) throw new Error('usage: outboxWriter DIR append|drain CONCURRENCY');
const store = await openStore(dir);
const outbox = await openOutbox(store.sublevel<StoredReport>('outbox'), { maxEvents: 1_000_000, log: pino({ level: 'warn' }, pino.destination(2)) });
process.stdout.write(`open ${outbox.highWater()}\n`);

const kinds = [body.step('n1', 'dhcp'), body.state('n1'), body.discovery('n2'), body.health(1), body.manifest(3)];
async function appender(i: number): Promise<never> {
  for (let n = i; ; n++) {
    const seq = await outbox.append(kinds[n % kinds.length]!);
    process.stdout.write(`a ${seq}\n`);
  }
}
async function drainer(): Promise<never> {
  for (;;) {
    const batch = await outbox.peek(50);
    const last = batch.at(-1);
    if (!last) {
      await new Promise((r) => setTimeout(r, 1));
      continue;
    }
    process.stdout.write(`K ${last.seq}\n`);
    await outbox.ack(last.seq);
    process.stdout.write(`k ${last.seq}\n`);
  }
}
const workers: Array<Promise<never>> = Array.from({ length: Number(concurrencyArg) }, (_, i) => appender(i));
if (mode === 'drain') workers.push(drainer());
await Promise.all(workers);
