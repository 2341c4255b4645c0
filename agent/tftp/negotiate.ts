// Option negotiation for a read request (RFC 2347 framework). Pure.
// The server answers only options it understands and accepts; everything else is silently left
// out of the OACK (RFC 2347 §2: "the server ... omits options it does not support"). A request
// whose options are all ignored gets no OACK at all: a plain RFC 1350 transfer.
import type { TftpOptions } from './codec.js';

export interface NegotiationLimits {
  /** Largest blksize we grant: derived from the path MTU (1468 = 1500 - IP 20 - UDP 8 - TFTP 4). */
  readonly maxBlksize: number;
  /** Largest windowsize we grant (RFC 7440). */
  readonly maxWindowsize: number;
  /** Largest `timeout` we accept, seconds (RFC 2349); a larger one is ignored. */
  readonly maxTimeoutSeconds: number;
}

export const DEFAULT_LIMITS: NegotiationLimits = { maxBlksize: 1468, maxWindowsize: 64, maxTimeoutSeconds: 10 };

export interface TransferParams {
  /** Payload bytes per DATA block: 512 unless negotiated (RFC 1350). */
  readonly blksize: number;
  /** Blocks in flight before an ACK is needed: 1 unless negotiated (RFC 7440). */
  readonly windowsize: number;
  /** Retransmission timeout the client asked for, in ms (RFC 2349); undefined = our default. */
  readonly timeoutMs: number | undefined;
}

export interface Negotiation {
  readonly params: TransferParams;
  /** Options to acknowledge, in request order; undefined when nothing was accepted (no OACK). */
  readonly oack: Map<string, string> | undefined;
}

/** Decimal digits only: "0x10", "1e3", " 8" and "" are not numbers on the wire. */
function wireInteger(value: string): number | undefined {
  if (!/^[0-9]{1,6}$/.test(value)) return undefined;
  return Number(value);
}

/**
 * `size` is the number of bytes the transfer will carry (tsize answer, RFC 2349 §3: for a read
 * request the server returns the size of the file).
 */
export function negotiate(requested: TftpOptions, size: number, limits: NegotiationLimits = DEFAULT_LIMITS): Negotiation {
  let blksize = 512;
  let windowsize = 1;
  let timeoutMs: number | undefined;
  const oack = new Map<string, string>();
  for (const [name, raw] of requested) {
    const value = wireInteger(raw);
    if (value === undefined) continue;
    switch (name) {
      case 'blksize':
        // RFC 2348: valid 8..65464; the server may answer a smaller value, never a larger one.
        if (value < 8 || value > 65464) break;
        blksize = Math.min(value, limits.maxBlksize);
        oack.set(name, String(blksize));
        break;
      case 'tsize':
        // RFC 2349 §3: a read request carries tsize 0 and the server fills in the size.
        oack.set(name, String(size));
        break;
      case 'timeout':
        // RFC 2349 §2: 1..255 seconds, and an OACK must echo the value the client sent, so a
        // server cannot lower it: the only bound is to ignore it (left out of the OACK, RFC 2347),
        // which keeps our own retransmission timeout. A client asking for 255 would otherwise hold
        // a socket for 255 s per retransmission without ever answering.
        if (value < 1 || value > 255 || value > limits.maxTimeoutSeconds) break;
        timeoutMs = value * 1000;
        oack.set(name, String(value));
        break;
      case 'windowsize':
        // RFC 7440 §3: 1..65535; the server may answer a smaller value.
        if (value < 1 || value > 65535) break;
        windowsize = Math.min(value, limits.maxWindowsize);
        oack.set(name, String(windowsize));
        break;
      default:
        break;
    }
  }
  return { params: { blksize, windowsize, timeoutMs }, oack: oack.size > 0 ? oack : undefined };
}
