// Runs our TFTP service alone, for the test bed and the benchmark (inside a namespace or on
// loopback): node dist/test/tftp/bed/serve-tftp.js ROOT ADDRESS PORT [MAX_TRANSFERS_PER_CLIENT]
// The last one is for benchmarks, where one address plays many machines (default: the config's).
// Prints "listening <port>" once bound; stops cleanly on SIGTERM/SIGINT.
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { DEFAULT_TFTP } from '../../../agent/config/load.js';
import { createTftpService } from '../../../agent/tftp/server.js';
import { recordingObserver } from '../../fakes/observer.js';

const [root, address = '0.0.0.0', port = '69', perClient] = process.argv.slice(2);
if (root === undefined) {
  process.stderr.write('usage: serve-tftp ROOT [ADDRESS] [PORT]\n');
  process.exit(2);
}
const observer = recordingObserver();
const registry = new Registry();
const service = createTftpService({
  root,
  address,
  port: Number(port),
  observer,
  registry,
  bounds: perClient === undefined ? DEFAULT_TFTP : { ...DEFAULT_TFTP, maxTransfersPerClient: Number(perClient) },
  log: pino({ level: process.env.LOG_LEVEL ?? 'warn' }, pino.destination(2)),
});
const stop = new AbortController();
for (const signal of ['SIGTERM', 'SIGINT'] as const) process.once(signal, () => stop.abort());
const running = service.run(stop.signal);
service.ready.then(
  ({ port: bound }) => process.stdout.write(`listening ${bound}\n`),
  () => undefined,
);
running.then(
  async () => {
    const retransmits = (await registry.getSingleMetric('maskin_tftp_retransmits_total')?.get())?.values[0]?.value ?? 0;
    const done = observer.steps.filter((s) => s.step === 'tftp-transfer').length;
    const failed = observer.steps.filter((s) => s.step === 'tftp-failed').length;
    process.stdout.write(`stopped transfers=${done} failed=${failed} retransmits=${retransmits}\n`);
  },
  (err: unknown) => {
    process.stderr.write(`tftp service failed: ${String(err)}\n`);
    process.exitCode = 1;
  },
);
