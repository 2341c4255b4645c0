// Crash-test child for the outbox (test/uplink/outboxCrash.test.ts): opens the outbox on the store
// in argv[2] and appends in a tight loop with `concurrency` appenders until killed. Prints
// `open <highWater>` once open, `a <seq>` after each append resolved and, in `drain` mode,
// `K <seq>` before acking through <seq> and `k <seq>` after that ack resolved. Each line is one
// write(2) to fd 1 (writeSync), so a line the parent reads was in the pipe before the child went
// on; process.stdout may hold lines in memory when the pipe is full, and a kill loses them.
//   node dist/test/uplink/bed/outboxWriter.js DIR append|drain CONCURRENCY
import { writeSync } from 'node:fs';
import pino from 'pino';
import { openStore } from '../../../agent/store/store.js';
import { openOutbox, type StoredReport } from '../../../agent/uplink/outbox.js';
import { body } from '../reports.js';

const say = (line: string): void => {
  writeSync(1, line);
};

const [dir, mode = 'append', concurrencyArg = '16'] = process.argv.slice(2);
if (!dir) throw new Error('usage: outboxWriter DIR append|drain CONCURRENCY');
const store = await openStore(dir);
const outbox = await openOutbox(store.sublevel<StoredReport>('outbox'), { maxEvents: 1_000_000, log: pino({ level: 'warn' }, pino.destination(2)) });
say(`open ${outbox.highWater()}\n`);

const kinds = [body.step('n1', 'dhcp'), body.state('n1'), body.discovery('n2'), body.health(1), body.manifest(3)];
async function appender(i: number): Promise<never> {
  for (let n = i; ; n++) {
    const seq = await outbox.append(kinds[n % kinds.length]!);
    say(`a ${seq}\n`);
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
    say(`K ${last.seq}\n`);
    await outbox.ack(last.seq);
    say(`k ${last.seq}\n`);
  }
}
const workers: Array<Promise<never>> = Array.from({ length: Number(concurrencyArg) }, (_, i) => appender(i));
if (mode === 'drain') workers.push(drainer());
await Promise.all(workers);
