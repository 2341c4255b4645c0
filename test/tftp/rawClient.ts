// A small TFTP read client over raw dgram, for tests and the benchmark: it can negotiate options,
// withhold an ACK to provoke a retransmission, and run many transfers in one process.
import dgram from 'node:dgram';
import { decodeTftp, encodeTftp } from '../../agent/tftp/codec.js';

export interface FetchOptions {
  readonly host: string;
  readonly port: number;
  readonly file: string;
  readonly mode?: string;
  readonly blksize?: number;
  readonly windowsize?: number;
  readonly tsize?: boolean;
  /** Client-side retransmission timeout, ms (default 1000). */
  readonly timeoutMs?: number;
  /** Give up after this long overall, ms (default 20000). */
  readonly deadlineMs?: number;
  /** Do not send the first ACK for this block number: the server must resend the block. */
  readonly withholdAck?: number;
  /** Source address to send from (the storm benchmark's simulated nodes each use their leased one). */
  readonly localAddress?: string;
}

export interface FetchResult {
  readonly data: Buffer;
  readonly oack: ReadonlyMap<string, string> | undefined;
  /** How often each DATA block number arrived (duplicates show retransmissions). */
  readonly received: ReadonlyMap<number, number>;
}

export class TftpClientError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(`TFTP error ${code}: ${message}`);
  }
}

export function fetchTftp(opts: FetchOptions): Promise<FetchResult> {
  const options = new Map<string, string>();
  if (opts.blksize !== undefined) options.set('blksize', String(opts.blksize));
  if (opts.tsize) options.set('tsize', '0');
  if (opts.windowsize !== undefined) options.set('windowsize', String(opts.windowsize));
  const rrq = encodeTftp({ op: 'RRQ', filename: opts.file, mode: opts.mode ?? 'octet', options });
  const socket = dgram.createSocket('udp4');
  return new Promise<FetchResult>((resolve, reject) => {
    let server: { address: string; port: number } | undefined;
    let oack: Map<string, string> | undefined;
    let blksize = 512;
    let windowsize = 1;
    /** Absolute index of the next block expected. */
    let next = 1;
    let inWindow = 0;
    let lastSent = rrq;
    let withheld = false;
    const chunks: Buffer[] = [];
    const received = new Map<number, number>();
    const timeoutMs = opts.timeoutMs ?? 1000;
    let timer: NodeJS.Timeout | undefined;
    const deadline = setTimeout(() => done(new Error(`transfer of ${opts.file} did not finish in time`)), opts.deadlineMs ?? 20000);

    function done(err?: Error): void {
      clearTimeout(timer);
      clearTimeout(deadline);
      socket.close();
      if (err) reject(err);
      else resolve({ data: Buffer.concat(chunks), oack, received });
    }
    function send(packet: Buffer): void {
      lastSent = packet;
      socket.send(packet, server?.port ?? opts.port, server?.address ?? opts.host);
      arm();
    }
    function arm(): void {
      clearTimeout(timer);
      timer = setTimeout(() => send(lastSent), timeoutMs);
    }
    function ack(index: number): void {
      const block = index & 0xffff;
      if (opts.withholdAck === block && !withheld) {
        withheld = true;
        arm();
        return;
      }
      send(encodeTftp({ op: 'ACK', block }));
    }

    socket.on('message', (buf, rinfo) => {
      if (server === undefined) server = { address: rinfo.address, port: rinfo.port };
      else if (rinfo.port !== server.port) return;
      const msg = decodeTftp(buf);
      if (msg.op === 'ERROR') return done(new TftpClientError(msg.code, msg.message));
      if (msg.op === 'OACK') {
        oack = new Map(msg.options);
        blksize = Number(oack.get('blksize') ?? 512);
        windowsize = Number(oack.get('windowsize') ?? 1);
        return ack(0);
      }
      if (msg.op !== 'DATA') return done(new Error(`unexpected ${msg.op}`));
      received.set(msg.block, (received.get(msg.block) ?? 0) + 1);
      if (msg.block !== (next & 0xffff)) {
        // Out of order or a repeat: acknowledge the last block we hold (RFC 7440 §4).
        inWindow = 0;
        return ack(next - 1);
      }
      chunks.push(Buffer.from(msg.data));
      next += 1;
      inWindow += 1;
      if (msg.data.length < blksize) {
        // Close only once the final ACK has left: closing first can discard it.
        clearTimeout(timer);
        socket.send(encodeTftp({ op: 'ACK', block: msg.block }), server.port, server.address, () => done());
        return;
      }
      if (inWindow >= windowsize) {
        inWindow = 0;
        ack(next - 1);
      } else arm();
    });
    socket.on('error', (err) => done(err));
    socket.bind({ port: 0, ...(opts.localAddress ? { address: opts.localAddress } : {}) }, () => send(rrq));
  });
}
