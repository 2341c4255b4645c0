// The node log sink's TCP transport (agent/console/sink.ts) on loopback: lines from the leased
// address reach the node's buffer and milestones its timeline; other addresses are closed at once
// and counted; connections, lines and rates stay bounded; a taken port is a log line, not a crash.
import net from 'node:net';
import pino from 'pino';
import { Registry } from 'prom-client';
import t from 'tap';
import { ConsoleBuffers, DEFAULT_CONSOLE_LIMITS } from '../../agent/console/buffer.js';
import type { ConsoleLine, Milestone } from '../../agent/console/lines.js';
import { createConsoleSink, DEFAULT_SINK_LIMITS, type SinkDeps } from '../../agent/console/sink.js';

interface Running {
  port: number;
  buffers: ConsoleBuffers;
  milestones: { node: string; milestone: Milestone; line: ConsoleLine }[];
  registry: Registry;
  lease: Map<string, string>;
  logs: string[];
  stop(): Promise<void>;
}

async function start(t: { teardown(fn: () => unknown): void }, over: Partial<SinkDeps> = {}): Promise<Running> {
  const buffers = new ConsoleBuffers({ ...DEFAULT_CONSOLE_LIMITS, linesPerNode: 100 }, Date.now);
  const registry = new Registry();
  const milestones: Running['milestones'] = [];
  const lease = new Map([['127.0.0.1', 'n1']]);
  const logs: string[] = [];
  const log = pino({ level: 'debug' }, { write: (s: string) => logs.push(s) });
  const stop = new AbortController();
  let port = 0;
  const listening = new Promise<void>((resolve) => {
    const running = createConsoleSink({
      address: '127.0.0.1',
      port: 0,
      attribute: (ip) => lease.get(ip),
      buffers,
      onMilestone: (node, milestone, line) => milestones.push({ node, milestone, line }),
      log,
      registry,
      onListening: (p) => {
        port = p;
        resolve();
      },
      ...over,
    }).run(stop.signal);
    t.teardown(async () => {
      stop.abort();
      await running;
    });
  });
  await listening;
  return { port, buffers, milestones, registry, lease, logs, stop: async () => stop.abort() };
}

/** Connects from `localAddress`, sends `data` and ends; resolves once the connection is closed. */
function send(port: number, data: string | Buffer, localAddress = '127.0.0.1'): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port, localAddress });
    socket.on('error', (err: NodeJS.ErrnoException) => (err.code === 'ECONNRESET' || err.code === 'EPIPE' ? undefined : reject(err)));
    socket.on('connect', () => socket.end(data));
    socket.on('close', () => resolve());
  });
}

/**
 * Connects and sends `data` without ending: an accepted connection stays open (its idle limit is minutes), so
 * this resolves only when the sink closes it; a sink that accepted it fails the test by timeout.
 */
function closedBySink(port: number, localAddress = '127.0.0.1', data?: string): Promise<void> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port, localAddress });
    socket.on('error', () => undefined);
    if (data !== undefined) socket.on('connect', () => socket.write(data));
    socket.on('close', () => resolve());
  });
}

async function until(what: string, test: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!test()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const metric = async (registry: Registry, name: string, labels: Record<string, string>): Promise<number> => {
  const m = (await registry.getMetricsAsJSON()).find((x) => x.name === name);
  return m?.values.find((v) => Object.entries(labels).every(([k, val]) => v.labels[k] === val))?.value ?? 0;
};

const kernel = (msg: string): string => JSON.stringify({ facility: 'kern', priority: 'info', msg, 'talos-level': 'info' }) + '\n';
const service = (msg: string, level = 'info'): string => JSON.stringify({ msg, 'talos-level': level, 'talos-service': 'installer' }) + '\n';

t.test('lines from the leased address: kept in order, malformed ones counted, milestones once per connection', async (t) => {
  const s = await start(t);
  await send(s.port, kernel('Linux version 6.12') + 'garbage\n' + service('install-failed: no disk', 'error') + service('install-failed: again', 'error'));
  await until('three lines', () => s.buffers.lines('n1').lines.length === 3);
  t.same(
    s.buffers.lines('n1').lines.map((l) => `${l.source}/${l.level}: ${l.msg}`),
    ['kernel/info: Linux version 6.12', 'installer/error: install-failed: no disk', 'installer/error: install-failed: again'],
  );
  t.same(
    s.milestones.map((m) => `${m.node} ${m.milestone}`),
    ['n1 kernel-started', 'n1 installer-error'],
  );
  t.equal(await metric(s.registry, 'maskin_console_lines_total', { outcome: 'malformed' }), 1);
  t.equal(await metric(s.registry, 'maskin_console_lines_total', { outcome: 'kept' }), 3);
});

t.test('an address this agent did not lease is closed at once and counted; nothing is kept', async (t) => {
  const s = await start(t);
  await closedBySink(s.port, '127.0.0.2', kernel('Linux version spoofed'));
  t.equal(await metric(s.registry, 'maskin_console_connections_refused_total', { reason: 'not-leased' }), 1);
  t.equal(s.buffers.nodeCount(), 0);
});

t.test('a lease that moves to another MAC ends the connection', async (t) => {
  const s = await start(t);
  const socket = net.connect({ host: '127.0.0.1', port: s.port });
  await new Promise((r) => socket.once('connect', r));
  socket.write(service('first'));
  await until('first line', () => s.buffers.lines('n1').lines.length === 1);
  s.lease.set('127.0.0.1', 'n2');
  const closed = new Promise((r) => socket.once('close', r));
  socket.on('error', () => undefined);
  socket.write(service('after the lease moved'));
  await closed;
  t.equal(s.buffers.lines('n2').lines.length, 0, 'never attributed to the new holder');
  t.equal(s.buffers.lines('n1').lines.length, 1);
});

t.test('connections per address are bounded', async (t) => {
  const s = await start(t, { limits: { ...DEFAULT_SINK_LIMITS, maxConnectionsPerAddress: 2 } });
  const open = await Promise.all(
    [1, 2].map(
      () =>
        new Promise<net.Socket>((resolve) => {
          const c = net.connect({ host: '127.0.0.1', port: s.port }, () => resolve(c));
        }),
    ),
  );
  t.teardown(() => open.forEach((c) => c.destroy()));
  // A line on each shows the sink accepted both (a client's connect can precede the server's accept).
  open.forEach((c, i) => c.write(service(`open ${i}`)));
  await until('both accepted', () => s.buffers.lines('n1').lines.length === 2);
  await closedBySink(s.port);
  t.equal(await metric(s.registry, 'maskin_console_connections_refused_total', { reason: 'too-many-from-address' }), 1);
});

t.test('a flood: the buffer stays bounded, the rest is dropped and counted, an endless line is cut', async (t) => {
  const s = await start(t);
  const lines = Array.from({ length: 20_000 }, (_, i) => service(`line ${i}`)).join('');
  await send(s.port, Buffer.concat([Buffer.from(lines), Buffer.alloc(200_000, 0x41), Buffer.from('\n')]));
  const counted = async (): Promise<number> =>
    (await metric(s.registry, 'maskin_console_lines_total', { outcome: 'kept' })) +
    (await metric(s.registry, 'maskin_console_lines_total', { outcome: 'rate-dropped' })) +
    (await metric(s.registry, 'maskin_console_lines_total', { outcome: 'malformed' }));
  const deadline = Date.now() + 20_000;
  while ((await counted()) < 20_001 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  t.equal(await counted(), 20_001, 'every line accounted for (the cut one is not JSON any more)');
  t.equal(s.buffers.lines('n1').lines.length, 100, 'linesPerNode');
  t.ok((await metric(s.registry, 'maskin_console_lines_total', { outcome: 'rate-dropped' })) >= 20_000 - DEFAULT_CONSOLE_LIMITS.burstLines - 1000);
  t.equal(await metric(s.registry, 'maskin_console_lines_total', { outcome: 'oversized' }), 1);
});

t.test('a port already taken: an error line naming the fix, and the service runs on until stopped', async (t) => {
  const blocker = net.createServer();
  await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
  t.teardown(() => new Promise<void>((r) => blocker.close(() => r())));
  const port = (blocker.address() as net.AddressInfo).port;
  const logs: string[] = [];
  const stop = new AbortController();
  let settled = false;
  const running = createConsoleSink({
    address: '127.0.0.1',
    port,
    attribute: () => 'n1',
    buffers: new ConsoleBuffers(DEFAULT_CONSOLE_LIMITS, Date.now),
    onMilestone: () => undefined,
    log: pino({ level: 'info' }, { write: (s: string) => logs.push(s) }),
  })
    .run(stop.signal)
    .finally(() => (settled = true));
  await until('the error line', () => logs.some((l) => l.includes('EADDRINUSE')));
  t.match(logs.join(''), /nodeLogs\.port/);
  t.equal(settled, false, 'still running');
  stop.abort();
  await running;
});
