// Datagrams the kernel drops because a UDP socket's receive buffer is full never reach the
// process, so no server counter sees them; the kernel counts them per socket, in the `drops`
// column of /proc/net/udp (this network namespace's sockets). The DHCP and TFTP servers size their
// sockets' receive buffers here and have those counts exported, read on scrape. Nothing here
// throws: a buffer the kernel caps keeps what it got, an unreadable /proc keeps the last counts.
import type { Socket } from 'node:dgram';
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import type { Counter, Gauge, Registry } from 'prom-client';
import { counter, gauge } from '../runtime/metrics.js';

/** Asked of every server socket: a boot storm's burst of requests waits here while the event loop is busy. */
export const RECEIVE_BUFFER_BYTES = 4 * 1024 * 1024;

/**
 * Asks for `bytes` of receive buffer on a bound socket and returns what it has (undefined when it
 * cannot tell). Linux caps the request at net.core.rmem_max without an error, and reports twice
 * the granted size (the other half is its bookkeeping).
 */
export function sizeReceiveBuffer(socket: Socket, bytes: number = RECEIVE_BUFFER_BYTES): number | undefined {
  try {
    socket.setRecvBufferSize(bytes);
  } catch {
    // Not bound, or the kernel refused the option: the default buffer stays.
  }
  try {
    return socket.getRecvBufferSize();
  } catch {
    return undefined;
  }
}

export interface UdpSocketRow {
  /** Dotted IPv4 local address, 0.0.0.0 for a wildcard bind. */
  readonly localAddress: string;
  readonly localPort: number;
  readonly uid: number;
  readonly inode: number;
  /** Datagrams dropped on this socket since it was created. */
  readonly drops: number;
}

/**
 * The rows of /proc/net/udp. Pure. The address is the kernel's 32-bit word in host byte order
 * (so reversed on a little-endian machine), the port is big-endian hex; lines that do not parse
 * (the header among them) are skipped.
 */
export function parseProcNetUdp(text: string, littleEndian: boolean = os.endianness() === 'LE'): UdpSocketRow[] {
  const rows: UdpSocketRow[] = [];
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    const local = /^([0-9A-Fa-f]{8}):([0-9A-Fa-f]{4})$/.exec(f[1] ?? '');
    if (!local || f.length < 13 || !/^\d+:$/.test(f[0] ?? '')) continue;
    const [uid, inode, drops] = [f[7], f[9], f[12]].map((v) => (v !== undefined && /^\d+$/.test(v) ? Number(v) : undefined));
    if (uid === undefined || inode === undefined || drops === undefined) continue;
    const word = local[1]!;
    const bytes = [0, 2, 4, 6].map((i) => parseInt(word.slice(i, i + 2), 16));
    rows.push({ localAddress: (littleEndian ? bytes.reverse() : bytes).join('.'), localPort: parseInt(local[2]!, 16), uid, inode, drops });
  }
  return rows;
}

export interface UdpDrops {
  /** Reports the bound `socket` under `service` and its local address until the returned function is called. */
  watch(service: string, socket: Socket): () => void;
}

interface Watched {
  readonly labels: { readonly service: string; readonly address: string };
  readonly address: string;
  readonly port: number;
  readonly buffer: number | undefined;
  /** What the counter holds for this socket. */
  counted: number;
}

export interface UdpDropsOptions {
  /** Default /proc/net/udp; tests point it elsewhere. */
  readonly procFile?: string;
}

/** One per registry: DHCP and TFTP share its metrics. Without a registry, one that is exposed nowhere. */
const perRegistry = new WeakMap<Registry, UdpDrops>();

export function udpDrops(registry?: Registry, opts: UdpDropsOptions = {}): UdpDrops {
  const existing = registry && perRegistry.get(registry);
  if (existing) return existing;
  const created = createUdpDrops(registry, opts.procFile ?? '/proc/net/udp');
  if (registry) perRegistry.set(registry, created);
  return created;
}

function createUdpDrops(registry: Registry | undefined, procFile: string): UdpDrops {
  const watched = new Set<Watched>();
  const uid = process.getuid?.();
  const count = (rows: readonly UdpSocketRow[], w: Watched): number =>
    rows.filter((r) => r.localPort === w.port && r.localAddress === w.address && (uid === undefined || r.uid === uid)).reduce((sum, r) => sum + r.drops, 0);

  const drops: Counter<'service' | 'address'> = counter(registry, {
    name: 'maskin_udp_receive_drops_total',
    help: "Datagrams the kernel dropped on a server's UDP socket because its receive buffer was full (/proc/net/udp drops), by service and local address",
    labelNames: ['service', 'address'],
    async collect() {
      const text = await readFile(procFile, 'latin1').catch(() => undefined);
      if (text === undefined) return;
      const rows = parseProcNetUdp(text);
      for (const w of watched) {
        const now = count(rows, w);
        if (now > w.counted) drops.inc(w.labels, now - w.counted);
        else if (now < w.counted) {
          // Another socket now holds this address (a restarted service): its count starts again.
          drops.remove(w.labels);
          drops.inc(w.labels, now);
        }
        w.counted = now;
      }
    },
  });
  const buffers: Gauge<'service' | 'address'> = gauge(registry, {
    name: 'maskin_udp_receive_buffer_bytes',
    help: "Receive buffer of a server's UDP socket as the kernel reports it (twice what it granted), by service and local address",
    labelNames: ['service', 'address'],
    collect() {
      for (const w of watched) if (w.buffer !== undefined) buffers.set(w.labels, w.buffer);
    },
  });

  return {
    watch(service, socket) {
      let local: { address: string; port: number };
      try {
        local = socket.address();
      } catch {
        return () => undefined;
      }
      const labels = { service, address: `${local.address}:${local.port}` };
      let buffer: number | undefined;
      try {
        buffer = socket.getRecvBufferSize();
      } catch {
        buffer = undefined;
      }
      const w: Watched = { labels, address: local.address, port: local.port, buffer, counted: 0 };
      watched.add(w);
      // The series exists from the start: a socket that drops nothing shows 0, not nothing.
      drops.inc(labels, 0);
      return () => {
        watched.delete(w);
        drops.remove(labels);
        buffers.remove(labels);
      };
    },
  };
}
