// Takes one health snapshot, through the health service as the agent runs it, while this process
// has no file descriptor left (run it under a low `ulimit -n`): node dist/test/security/bed/healthUnderEmfile.js
// Prints "exhausted <sockets>" once out of descriptors, then "snapshot <json>" and exits 0; a
// probe whose failure escaped would end it with an uncaught exception instead.
import dgram from 'node:dgram';
import { pino } from 'pino';
import { createHealthService } from '../../../agent/uplink/health.js';
import type { ReportBody } from '../../../agent/uplink/outbox.js';

const held: dgram.Socket[] = [];
for (;;) {
  const socket = dgram.createSocket('udp4');
  const bound = await new Promise<boolean>((resolve) => {
    socket.once('error', () => resolve(false));
    socket.bind(0, '127.0.0.1', () => resolve(true));
  });
  if (!bound) break;
  held.push(socket);
}
process.stdout.write(`exhausted ${held.length}\n`);

const stop = new AbortController();
let snapshot: ReportBody | undefined;
const service = createHealthService({
  outbox: {
    append: async (body) => {
      snapshot = body;
      stop.abort();
      return 1n;
    },
    depth: () => 0,
    evicted: () => 0,
  },
  extra: () => ({ manifestVersion: 1 }),
  log: pino({ level: 'silent' }),
  intervalMs: 60_000,
});
await service.run(stop.signal);
for (const socket of held) socket.close();
const value = snapshot?.case === 'health' ? snapshot.value : undefined;
process.stdout.write(`snapshot ${JSON.stringify({ memTotalBytes: String(value?.memTotalBytes), nics: value?.nics.length })}\n`);
