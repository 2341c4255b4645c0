// An attacker's TFTP client: from each source address in turn, `perSource` read requests, each
// from its own port (its own TID), asking for timeout 255 and never ACKing anything. Exits once
// every transfer the server started has ended with its ERROR (or at the deadline) and prints one
// JSON line: what came back, and how long the started transfers lived.
//   node dist/test/security/bed/tftpFlood.js '{"server":"198.18.169.1","port":69,"file":"snponly.efi","sources":[...],"perSource":200}'
import dgram from 'node:dgram';
import { decodeTftp, encodeTftp } from '../../../agent/tftp/codec.js';

interface FloodSpec {
  readonly server: string;
  readonly port: number;
  readonly file: string;
  readonly sources: readonly string[];
  readonly perSource: number;
  readonly deadlineMs?: number;
}

export interface FloodSummary {
  readonly sent: number;
  /** Transfers the server started (an OACK from a new TID). */
  readonly started: number;
  /** Started transfers whose OACK granted the timeout option. */
  readonly timeoutGranted: number;
  /** Requests answered with an ERROR by the listener, by message. */
  readonly refused: Readonly<Record<string, number>>;
  /** Requests never answered. */
  readonly silent: number;
  /** Started transfers that ended with an ERROR from their TID, by message. */
  readonly ended: Readonly<Record<string, number>>;
  /** Longest time from a transfer's OACK to its final ERROR, ms. */
  readonly longestMs: number;
  readonly timedOut: boolean;
}

const spec = JSON.parse(process.argv[2] ?? '{}') as FloodSpec;
const rrq = encodeTftp({
  op: 'RRQ',
  filename: spec.file,
  mode: 'octet',
  options: new Map([
    ['timeout', '255'],
    ['blksize', '1468'],
    ['tsize', '0'],
  ]),
});

interface Probe {
  readonly socket: dgram.Socket;
  first?: 'oack' | 'error';
  startedAt?: number;
  endedAt?: number;
}

const probes: Probe[] = [];
const refused: Record<string, number> = {};
const ended: Record<string, number> = {};
let timeoutGranted = 0;
let finished = false;
let deadline: NodeJS.Timeout | undefined;

function finish(timedOut: boolean): void {
  if (finished) return;
  finished = true;
  clearTimeout(deadline);
  const started = probes.filter((p) => p.first === 'oack');
  const summary: FloodSummary = {
    sent: probes.length,
    started: started.length,
    timeoutGranted,
    refused,
    silent: probes.filter((p) => p.first === undefined).length,
    ended,
    longestMs: Math.max(0, ...started.map((p) => (p.endedAt ?? Date.now()) - (p.startedAt ?? 0))),
    timedOut,
  };
  for (const p of probes) p.socket.close();
  process.stdout.write(`${JSON.stringify(summary)}\n`);
}

/**
 * Done once all were sent and every started transfer has ended. A transfer lives for seconds of
 * retransmissions while a request is answered (or not) within milliseconds, so by then every
 * answer that will ever come has come.
 */
function check(): void {
  const started = probes.filter((p) => p.first === 'oack');
  if (probes.length === spec.sources.length * spec.perSource && started.length > 0 && started.every((p) => p.endedAt !== undefined)) finish(false);
}

for (const source of spec.sources) {
  for (let i = 0; i < spec.perSource; i += 1) {
    const socket = dgram.createSocket('udp4');
    const probe: Probe = { socket };
    socket.on('message', (buf, rinfo) => {
      const msg = decodeTftp(buf);
      if (probe.first === undefined) {
        if (msg.op === 'OACK') {
          probe.first = 'oack';
          probe.startedAt = Date.now();
          if (msg.options.has('timeout')) timeoutGranted += 1;
        } else if (msg.op === 'ERROR' && rinfo.port === spec.port) {
          probe.first = 'error';
          refused[msg.message] = (refused[msg.message] ?? 0) + 1;
        }
      } else if (probe.first === 'oack' && msg.op === 'ERROR' && probe.endedAt === undefined) {
        probe.endedAt = Date.now();
        ended[msg.message] = (ended[msg.message] ?? 0) + 1;
        check();
      }
      // DATA and OACK retransmissions are never acknowledged.
    });
    await new Promise<void>((resolve) => socket.bind(0, source, resolve));
    probes.push(probe);
    socket.send(rrq, spec.port, spec.server);
  }
}
deadline = setTimeout(() => finish(true), spec.deadlineMs ?? 30_000);
check();
