// One read transfer on its own connected UDP socket (RFC 1350 §4: the server's TID is a fresh
// port; connecting it lets the kernel drop datagrams from any other peer). Sends the OACK if
// options were accepted (RFC 2347 §3: the client answers with ACK 0), then DATA in windows
// (RFC 7440) and retransmits on timeout, a bounded number of times. However the client paces its
// ACKs, the whole transfer ends after maxDurationMs.
import type { Socket } from 'node:dgram';
import { MalformedPacketError } from '../errors.js';
import { decodeTftp, encodeTftp, ErrorCode } from './codec.js';
import type { PacketImage } from './files.js';

/**
 * Abort reason for a transfer whose client sent a new RRQ from the same port: it ends without an
 * ERROR, which would reach the client first and be taken as the answer to its new request.
 */
export const SUPERSEDED = 'superseded';

export interface TransferSpec {
  /** Connected to the client's TID. */
  readonly socket: Socket;
  readonly image: PacketImage;
  readonly oack: ReadonlyMap<string, string> | undefined;
  readonly windowsize: number;
  readonly timeoutMs: number;
  /** Retransmissions of one window (or the OACK) before giving up. */
  readonly retries: number;
  /** Longest the whole transfer may take: a client that ACKs just in time cannot hold its socket longer. */
  readonly maxDurationMs: number;
  onDropped(reason: 'malformed' | 'unexpected'): void;
  onRetransmit(): void;
}

export type TransferOutcome =
  | { readonly ok: true }
  | {
      readonly ok: false;
      readonly reason: 'timeout' | 'expired' | 'client-error' | 'size-probe' | 'socket-error' | 'aborted';
      readonly detail?: string;
    };

export function runTransfer(spec: TransferSpec, signal: AbortSignal): Promise<TransferOutcome> {
  const { socket, image, oack, windowsize } = spec;
  return new Promise((resolve) => {
    let awaitingOackAck = oack !== undefined;
    /** Highest block (1-based, absolute: no wrap) the client has acknowledged. */
    let acked = 0;
    /** Highest block sent in the current window. */
    let sent = 0;
    let attempts = 0;
    let timer: NodeJS.Timeout | undefined;
    let lifetime: NodeJS.Timeout | undefined;
    let settled = false;

    const finish = (outcome: TransferOutcome): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      clearTimeout(lifetime);
      signal.removeEventListener('abort', onAbort);
      socket.removeAllListeners('message');
      resolve(outcome);
    };
    const send = (packet: Buffer): void => {
      try {
        socket.send(packet);
      } catch (err) {
        finish({ ok: false, reason: 'socket-error', detail: String(err) });
      }
    };
    const sendError = (message: string): void => send(encodeTftp({ op: 'ERROR', code: ErrorCode.notDefined, message }));

    /** (Re)sends acked+1 .. acked+windowsize: RFC 7440 §4 restarts the window after the ACKed block. */
    const sendWindow = (): void => {
      const last = Math.min(image.blocks, acked + windowsize);
      for (let index = acked + 1; index <= last && !settled; index += 1) send(image.packet(index));
      sent = last;
    };
    const sendCurrent = (): void => {
      if (awaitingOackAck && oack !== undefined) send(encodeTftp({ op: 'OACK', options: oack }));
      else sendWindow();
    };
    // refresh() re-arms the same timer object: one allocation per transfer, not per ACK.
    const arm = (): void => {
      if (timer === undefined) timer = setTimeout(onTimeout, spec.timeoutMs);
      else timer.refresh();
    };
    function onTimeout(): void {
      attempts += 1;
      if (attempts > spec.retries) {
        sendError('timed out');
        finish({ ok: false, reason: 'timeout', detail: `no ACK after ${spec.retries} retransmissions` });
        return;
      }
      spec.onRetransmit();
      sendCurrent();
      arm();
    }
    function onExpired(): void {
      sendError('transfer took too long');
      finish({ ok: false, reason: 'expired', detail: `not done after ${spec.maxDurationMs} ms` });
    }
    function onAbort(): void {
      if (signal.reason !== SUPERSEDED) sendError('server shutting down');
      finish({ ok: false, reason: 'aborted' });
    }

    /** Maps a 16-bit ACK onto the outstanding window; undefined for duplicate or stale ACKs. */
    const ackedIndex = (block: number): number | undefined => {
      for (let index = acked + 1; index <= sent; index += 1) if ((index & 0xffff) === block) return index;
      return undefined;
    };

    socket.on('message', (buf: Buffer) => {
      // ACKs are nearly all the traffic of a boot storm: read them without building a message.
      if (buf.length === 4 && buf[0] === 0 && buf[1] === 4) return onAck(buf.readUInt16BE(2));
      let msg;
      try {
        msg = decodeTftp(buf);
      } catch (err) {
        if (err instanceof MalformedPacketError) return spec.onDropped('malformed');
        throw err;
      }
      if (msg.op === 'ERROR') {
        // PXE ROMs ask with tsize, read the size from the OACK and abort before any DATA, then
        // ask again: a probe, not a failure (Intel PXE spec, "TFTP file size" query).
        const probe = awaitingOackAck && oack?.has('tsize') === true;
        finish({ ok: false, reason: probe ? 'size-probe' : 'client-error', detail: `${msg.code} ${msg.message}` });
        return;
      }
      if (msg.op !== 'ACK') return spec.onDropped('unexpected');
      onAck(msg.block);
    });
    function onAck(block: number): void {
      if (settled) return;
      if (awaitingOackAck) {
        if (block !== 0) return;
        awaitingOackAck = false;
      } else {
        const index = ackedIndex(block);
        // Duplicate or old ACKs are ignored rather than answered with DATA: answering them is
        // the Sorcerer's Apprentice bug (RFC 1123 §4.2.3.1); our own timer covers real loss.
        if (index === undefined) return;
        acked = index;
      }
      attempts = 0;
      if (acked >= image.blocks) {
        finish({ ok: true });
        return;
      }
      sendWindow();
      arm();
    }
    socket.on('error', (err) => finish({ ok: false, reason: 'socket-error', detail: err.message }));
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    lifetime = setTimeout(onExpired, spec.maxDurationMs);
    sendCurrent();
    arm();
  });
}
