// The node log sink: a TCP listener on the provisioning address that takes Talos's log delivery
// (lines.ts) and keeps each node's console (buffer.ts). A connection counts only from an address
// this agent leased (the lease names the MAC, the MAC the node record); any other is closed at
// once and counted. Connections are bounded in number, per address, and in idle time; lines in
// length and, per node, in rate. Milestone lines become timeline steps.
import net from 'node:net';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { counter, gauge } from '../runtime/metrics.js';
import type { Service } from '../runtime/service.js';
import type { ConsoleBuffers } from './buffer.js';
import { LineSplitter, milestoneOf, parseLogLine, type ConsoleLine, type Milestone } from './lines.js';

export interface SinkLimits {
  readonly maxConnections: number;
  readonly maxConnectionsPerAddress: number;
  /** A connection that sends nothing for this long is closed (Talos reconnects when it has lines). */
  readonly idleMs: number;
  readonly maxLineBytes: number;
}

export const DEFAULT_SINK_LIMITS: SinkLimits = { maxConnections: 256, maxConnectionsPerAddress: 4, idleMs: 15 * 60_000, maxLineBytes: 16 * 1024 };

export interface SinkDeps {
  readonly address: string;
  readonly port: number;
  /** The node an address belongs to: its leased MAC's record id; undefined: not ours. */
  readonly attribute: (ip: string) => string | undefined;
  readonly buffers: ConsoleBuffers;
  /** A milestone line (once per node and milestone per connection) for the node's timeline. */
  readonly onMilestone: (nodeId: string, milestone: Milestone, line: ConsoleLine) => void;
  readonly limits?: SinkLimits;
  readonly log: Logger;
  readonly registry?: Registry;
  readonly now?: () => Date;
  /** Called with the bound port once listening. */
  readonly onListening?: (port: number) => void;
}

export type SinkRefusal = 'not-leased' | 'too-many-connections' | 'too-many-from-address';

const unmapped = (ip: string | undefined): string => (ip ?? '').replace(/^::ffff:/, '');

export function createConsoleSink(deps: SinkDeps): Service {
  const limits = deps.limits ?? DEFAULT_SINK_LIMITS;
  const now = deps.now ?? (() => new Date());
  const refused = counter<'reason'>(deps.registry, {
    name: 'maskin_console_connections_refused_total',
    help: 'Node log connections closed at once, by reason',
    labelNames: ['reason'],
  });
  const lines = counter<'outcome'>(deps.registry, {
    name: 'maskin_console_lines_total',
    help: 'Node log lines received, by outcome (kept, rate-dropped, malformed, oversized)',
    labelNames: ['outcome'],
  });
  const open = gauge(deps.registry, { name: 'maskin_console_connections', help: 'Open node log connections' });
  const perAddress = new Map<string, number>();
  const sockets = new Set<net.Socket>();

  function refuse(socket: net.Socket, ip: string, reason: SinkRefusal): void {
    refused.inc({ reason });
    deps.log.debug({ from: ip, reason }, 'node log connection refused');
    socket.destroy();
  }

  function accept(socket: net.Socket): void {
    const ip = unmapped(socket.remoteAddress);
    if (sockets.size >= limits.maxConnections) return refuse(socket, ip, 'too-many-connections');
    if ((perAddress.get(ip) ?? 0) >= limits.maxConnectionsPerAddress) return refuse(socket, ip, 'too-many-from-address');
    const nodeId = deps.attribute(ip);
    if (nodeId === undefined) return refuse(socket, ip, 'not-leased');
    sockets.add(socket);
    perAddress.set(ip, (perAddress.get(ip) ?? 0) + 1);
    open.set(sockets.size);
    const splitter = new LineSplitter(limits.maxLineBytes);
    const marked = new Set<Milestone>();
    socket.setTimeout(limits.idleMs, () => socket.destroy());
    socket.on('data', (chunk: Buffer) => {
      // The lease may have moved to another MAC since the connection opened: looked up once per
      // chunk, not per line (the fixed-address fallback scans the manifest).
      if (deps.attribute(ip) !== nodeId) {
        refused.inc({ reason: 'not-leased' });
        socket.destroy();
        return;
      }
      const before = splitter.oversized;
      for (const text of splitter.push(chunk)) {
        const line = parseLogLine(text, now());
        if (!line) {
          lines.inc({ outcome: 'malformed' });
          continue;
        }
        if (!deps.buffers.append(nodeId, line)) {
          lines.inc({ outcome: 'rate-dropped' });
          continue;
        }
        lines.inc({ outcome: 'kept' });
        const milestone = milestoneOf(line);
        if (milestone && !marked.has(milestone)) {
          marked.add(milestone);
          deps.onMilestone(nodeId, milestone, line);
        }
      }
      if (splitter.oversized > before) lines.inc({ outcome: 'oversized' }, splitter.oversized - before);
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      sockets.delete(socket);
      const n = (perAddress.get(ip) ?? 1) - 1;
      if (n > 0) perAddress.set(ip, n);
      else perAddress.delete(ip);
      open.set(sockets.size);
    });
  }

  return {
    name: 'console',
    async run(signal) {
      const server = net.createServer({ allowHalfOpen: false }, accept);
      server.maxConnections = limits.maxConnections + 16;
      const stopped = new Promise<void>((resolve) => {
        if (signal.aborted) return resolve();
        signal.addEventListener('abort', () => resolve(), { once: true });
      });
      const bound = await new Promise<Error | undefined>((resolve) => {
        server.once('error', resolve);
        server.listen({ host: deps.address, port: deps.port, exclusive: true }, () => {
          server.off('error', resolve);
          resolve(undefined);
        });
      });
      // Provisioning does not need the consoles: a port taken by something else is an error line, not a stop.
      if (bound) {
        deps.log.error(
          { err: bound, address: deps.address, port: deps.port },
          'node log sink cannot listen; nodes install without their console. Fix: free the port, or set nodeLogs.port / nodeLogs.enabled: false',
        );
        return stopped;
      }
      server.on('error', (err) => deps.log.warn({ err }, 'node log listener error'));
      const port = (server.address() as net.AddressInfo).port;
      deps.log.info({ address: deps.address, port }, 'node log sink listening');
      deps.onListening?.(port);
      await stopped;
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
