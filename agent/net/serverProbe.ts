// Asks a server one question over UDP and reports what came back: the thin transport under the
// pre-flight's NTP and DNS checks (agent/preflight.ts decides what an answer means).
import { randomInt } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { decodeDnsReplyHeader, encodeRootNsQuery } from './dnsQuery.js';
import { clockOffsetSeconds, decodeSntpReply, encodeSntpRequest } from './sntp.js';

/** No answer: `silent` when nothing came back in time, `refused` on ICMP port unreachable, `unsent` when the host could not send at all. */
export type NoAnswer =
  { readonly kind: 'silent'; readonly timeoutMs: number } | { readonly kind: 'refused' } | { readonly kind: 'unsent'; readonly reason: string };

export type NtpOutcome = { readonly kind: 'answered'; readonly leap: number; readonly stratum: number; readonly offsetSeconds: number } | NoAnswer;
export type DnsOutcome = { readonly kind: 'answered'; readonly rcode: number } | NoAnswer;

export interface ServerProbe {
  /** One SNTP client request (RFC 4330) to `address`. */
  ntp(address: string): Promise<NtpOutcome>;
  /** One DNS query (`. NS`) to `address`. */
  dns(address: string): Promise<DnsOutcome>;
}

export interface UdpProbeOptions {
  /** Per question; the pre-flight asks all at once, so this bounds the whole check. */
  readonly timeoutMs?: number;
  /** Tests point these at loopback servers on ephemeral ports. */
  readonly ntpPort?: number;
  readonly dnsPort?: number;
  readonly now?: () => number;
}

/**
 * Sends `request` from a socket connected to address:port (so ICMP port unreachable surfaces as
 * ECONNREFUSED and only that peer's datagrams arrive) and resolves with the first datagram
 * `accept` takes, or how it failed.
 */
function ask<T>(address: string, port: number, request: Buffer, timeoutMs: number, accept: (reply: Buffer) => T | undefined): Promise<T | NoAnswer> {
  return new Promise((resolve) => {
    const socket = createSocket('udp4');
    let done = false;
    const finish = (outcome: T | NoAnswer): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.close();
      resolve(outcome);
    };
    const timer = setTimeout(() => finish({ kind: 'silent', timeoutMs }), timeoutMs);
    socket.on('error', (err: NodeJS.ErrnoException) =>
      finish(err.code === 'ECONNREFUSED' ? { kind: 'refused' } : { kind: 'unsent', reason: err.code ?? err.message }),
    );
    socket.on('message', (msg) => {
      const outcome = accept(msg);
      if (outcome !== undefined) finish(outcome);
    });
    // A failed connect (no route: the address is on no interface yet) calls back with the error;
    // send() on the socket left unconnected would then throw (ERR_SOCKET_BAD_PORT) outside any caller.
    const unsent = (err: unknown): void => finish({ kind: 'unsent', reason: (err as NodeJS.ErrnoException).code ?? (err as Error).message });
    try {
      socket.connect(port, address, (err?: Error) => {
        if (err) return unsent(err);
        try {
          socket.send(request, (sendErr) => sendErr && unsent(sendErr));
        } catch (thrown) {
          unsent(thrown);
        }
      });
    } catch (thrown) {
      unsent(thrown);
    }
  });
}

export function udpServerProbe(opts: UdpProbeOptions = {}): ServerProbe {
  const timeoutMs = opts.timeoutMs ?? 1000;
  const now = opts.now ?? Date.now;
  return {
    ntp(address) {
      const sentMs = now();
      const request = encodeSntpRequest(sentMs);
      return ask(address, opts.ntpPort ?? 123, request, timeoutMs, (msg): NtpOutcome | undefined => {
        const receivedMs = now();
        const reply = decodeSntpReply(msg, request);
        if (!reply) return undefined;
        return { kind: 'answered', leap: reply.leap, stratum: reply.stratum, offsetSeconds: clockOffsetSeconds(reply, sentMs, receivedMs) };
      });
    },
    dns(address) {
      const id = randomInt(0, 0x10000);
      return ask(address, opts.dnsPort ?? 53, encodeRootNsQuery(id), timeoutMs, (msg): DnsOutcome | undefined => {
        const header = decodeDnsReplyHeader(msg, id);
        return header && { kind: 'answered', rcode: header.rcode };
      });
    },
  };
}
