// Read-only TFTP service for the chainload binaries (RFC 1350, 2347-2349, 7440). Thin transport: requests arrive on
// address:port, each accepted read runs on its own socket (transfer.ts). Undecodable datagrams
// are dropped and counted; only failing to bind is fatal. What outside input can make it hold is
// bounded: transfers at once (admission.ts), each transfer's retransmission timeout (negotiate.ts)
// and lifetime (transfer.ts), the file cache's bytes (files.ts). A socket that cannot be had
// (descriptors or ephemeral ports exhausted) refuses that one request and nothing else.
import dgram, { type RemoteInfo, type Socket } from 'node:dgram';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { TftpSettings } from '../config/model.js';
import { MalformedPacketError } from '../errors.js';
import { aborted } from '../runtime/wait.js';
import type { Service } from '../runtime/service.js';
import { bindUdp, udpReady, type UdpBound } from '../net/udp.js';
import { sizeReceiveBuffer, udpDrops } from '../net/udpDrops.js';
import type { BootObserver } from '../nodes/model.js';
import { TransferSlots, type Refusal, type Slot } from './admission.js';
import { decodeTftp, encodeTftp, ErrorCode, type TftpMessage } from './codec.js';
import { createServedFiles, type TransferMode } from './files.js';
import { tftpMetrics } from './metrics.js';
import { negotiate } from './negotiate.js';
import { runTransfer, SUPERSEDED } from './transfer.js';

export interface TftpDeps {
  /** Directory served; nothing outside it is ever read. */
  readonly root: string;
  readonly address: string;
  readonly port: number;
  readonly observer: BootObserver;
  readonly log: Logger;
  /** Transfers at once (server-wide, per client), the largest client timeout honoured, the longest transfer. */
  readonly bounds: TftpSettings;
  /** Cap on the negotiated blksize; 1468 fits a 1500-byte MTU (RFC 2348). */
  readonly maxBlksize?: number;
  /** Cap on the negotiated windowsize (RFC 7440). */
  readonly maxWindowsize?: number;
  readonly registry?: Registry;
  /** Default 1000 ms (or the client's `timeout` option) and 5 retransmissions. */
  readonly retransmit?: { readonly timeoutMs: number; readonly retries: number };
  /** Byte bound of the file cache; default 64 MiB, many times the chainload binaries. */
  readonly maxCachedBytes?: number;
}

export interface TftpService extends Service {
  /** The bound port; throws before the service has bound. */
  port(): number;
  /** Resolves with the bound port once listening; rejects if binding fails. */
  readonly ready: Promise<UdpBound>;
}

type ReadRequest = Extract<TftpMessage, { op: 'RRQ' | 'WRQ' }>;

function connect(socket: Socket, address: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    socket.once('error', reject);
    socket.connect(port, address, () => {
      socket.off('error', reject);
      resolve();
    });
  });
}

/** Errors that mean "no socket to be had right now": descriptors, kernel buffers or ephemeral ports (we bind port 0) run out. */
const NO_SOCKET = new Set(['EMFILE', 'ENFILE', 'ENOBUFS', 'ENOMEM', 'EADDRINUSE']);

function isNoSocket(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && NO_SOCKET.has(code);
}

function closeQuietly(socket: Socket): void {
  try {
    socket.close();
  } catch {
    // Already closed.
  }
}

const WARN_EVERY_MS = 10_000;

/** A warning per key at most every WARN_EVERY_MS, carrying how many were suppressed since the last. */
function throttledWarn(log: Logger): (key: string, fields: Record<string, unknown>, message: string) => void {
  const last = new Map<string, { at: number; suppressed: number }>();
  return (key, fields, message) => {
    const now = Date.now();
    const seen = last.get(key);
    if (seen !== undefined && now - seen.at < WARN_EVERY_MS) {
      seen.suppressed += 1;
      return;
    }
    log.warn({ ...fields, suppressed: seen?.suppressed ?? 0 }, message);
    last.set(key, { at: now, suppressed: 0 });
  };
}

export function createTftpService(deps: TftpDeps): TftpService {
  const log = deps.log.child({ component: 'tftp' });
  const files = createServedFiles(deps.root, { maxCachedBytes: deps.maxCachedBytes ?? 64 * 1024 * 1024 });
  const metrics = tftpMetrics(deps.registry, { cacheBytes: () => files.stats().bytes });
  const kernelDrops = udpDrops(deps.registry);
  const limits = { maxBlksize: deps.maxBlksize ?? 1468, maxWindowsize: deps.maxWindowsize ?? 64, maxTimeoutSeconds: deps.bounds.maxTimeoutSeconds };
  if (limits.maxBlksize < 8 || limits.maxBlksize > 65464) throw new RangeError('maxBlksize must be 8..65464');
  const retransmit = deps.retransmit ?? { timeoutMs: 1000, retries: 5 };
  const slots = new TransferSlots(deps.bounds);
  const warn = throttledWarn(log);
  let boundPort: number | undefined;
  const { ready, bound, failed } = udpReady();

  interface Running {
    readonly key: string;
    readonly stop: AbortController;
    readonly done: Promise<void>;
  }
  /** The transfer each client ip:port runs, so a retransmitted RRQ does not start a second one. */
  const active = new Map<string, Running>();
  /** Every transfer not finished yet, including those a newer RRQ of the same client replaced. */
  const running = new Set<Running>();

  function refuse(listener: Socket, rinfo: RemoteInfo, code: number, message: string): void {
    try {
      listener.send(encodeTftp({ op: 'ERROR', code, message }), rinfo.port, rinfo.address);
    } catch (err) {
      // The listener closed while the lookup ran (shutdown): nothing left to answer with.
      log.debug({ err }, 'tftp error reply not sent');
    }
  }

  /** Turned away before any transfer: counted, logged at most every WARN_EVERY_MS per reason, never recorded on a timeline. */
  function turnAway(listener: Socket, rinfo: RemoteInfo, reason: Refusal | 'no-socket', file: string, err?: unknown): void {
    metrics.refused.inc({ reason });
    // Over its own share, a client is told; a full server (or one out of sockets) stays silent, so
    // firmware retransmits its RRQ and gets a slot once one frees instead of failing its boot.
    if (reason === 'client-limit') refuse(listener, rinfo, ErrorCode.notDefined, 'too many transfers from this address');
    const fields = { client: rinfo.address, file, active: slots.active(), clients: slots.clients(), ...(err ? { err } : {}) };
    warn(reason, fields, `tftp request refused: ${reason}`);
  }

  async function serveRead(listener: Socket, req: ReadRequest, rinfo: RemoteInfo, stop: AbortController): Promise<void> {
    const subject = { ip: rinfo.address };
    const file = req.filename;
    const failed = (result: string, reason: string, detail?: string): void => {
      metrics.transfers.inc({ result });
      deps.observer.record(subject, 'tftp-failed', { file, reason, ...(detail ? { detail } : {}) });
      log.info({ client: rinfo.address, file, reason, detail }, 'tftp request failed');
    };
    if (req.mode !== 'octet' && req.mode !== 'netascii') {
      refuse(listener, rinfo, ErrorCode.illegalOperation, 'only octet and netascii modes are served');
      return failed('refused', 'unsupported-mode', req.mode);
    }
    const found = await files.lookup(file, req.mode as TransferMode);
    if (found.kind === 'missing') {
      refuse(listener, rinfo, ErrorCode.fileNotFound, 'file not found');
      return failed('not-found', 'not-found');
    }
    if (found.kind === 'refused') {
      refuse(listener, rinfo, ErrorCode.accessViolation, 'access violation');
      return failed('refused', 'path-refused', found.reason);
    }
    if (stop.signal.aborted) return;
    const { params, oack } = negotiate(req.options, found.file.size, limits);
    const image = found.file.image(params.blksize);
    let socket: Socket | undefined;
    try {
      socket = dgram.createSocket('udp4');
      await bindUdp(socket, deps.address, 0);
      await connect(socket, rinfo.address, rinfo.port);
    } catch (err) {
      if (socket) closeQuietly(socket);
      if (!isNoSocket(err)) throw err;
      return turnAway(listener, rinfo, 'no-socket', file, err);
    }
    const started = Date.now();
    metrics.active.inc();
    try {
      const outcome = await runTransfer(
        {
          socket,
          image,
          oack,
          windowsize: params.windowsize,
          timeoutMs: params.timeoutMs ?? retransmit.timeoutMs,
          retries: retransmit.retries,
          maxDurationMs: deps.bounds.maxTransferMs,
          onDropped: (reason) => metrics.dropped.inc({ reason }),
          onRetransmit: () => metrics.retransmits.inc(),
        },
        stop.signal,
      );
      if (outcome.ok) {
        metrics.transfers.inc({ result: 'ok' });
        metrics.bytes.inc(image.size);
        const detail = { file, bytes: image.size, blksize: params.blksize, windowsize: params.windowsize, ms: Date.now() - started };
        deps.observer.record(subject, 'tftp-transfer', detail);
        log.debug({ client: rinfo.address, ...detail }, 'tftp transfer done');
      } else if (outcome.reason === 'size-probe') {
        log.debug({ client: rinfo.address, file }, 'tftp size probe');
      } else if (outcome.reason !== 'aborted') {
        failed('failed', outcome.reason, outcome.detail);
      }
    } finally {
      metrics.active.dec();
      closeQuietly(socket);
    }
  }

  function onRequest(listener: Socket, req: ReadRequest, rinfo: RemoteInfo): void {
    if (req.op === 'WRQ') {
      refuse(listener, rinfo, ErrorCode.accessViolation, 'read-only server');
      metrics.transfers.inc({ result: 'refused' });
      deps.observer.record({ ip: rinfo.address }, 'tftp-failed', { file: req.filename, reason: 'write-refused' });
      return;
    }
    const peer = `${rinfo.address}:${rinfo.port}`;
    const key = [req.filename, req.mode, ...req.options].join('\0');
    const current = active.get(peer);
    // The client resent its RRQ because our first reply was slow or lost: the running transfer
    // retransmits by itself, a second one from another TID would only earn an ERROR 5.
    if (current?.key === key) return;
    const taken = slots.take(rinfo.address);
    if (!taken.ok) return turnAway(listener, rinfo, taken.reason, req.filename);
    current?.stop.abort(SUPERSEDED);
    start(listener, req, rinfo, peer, key, taken.slot);
  }

  function start(listener: Socket, req: ReadRequest, rinfo: RemoteInfo, peer: string, key: string, slot: Slot): void {
    const stop = new AbortController();
    const done = serveRead(listener, req, rinfo, stop)
      .catch((err: unknown) => {
        if (isNoSocket(err)) return turnAway(listener, rinfo, 'no-socket', req.filename, err);
        // Unreadable root...: tell the client rather than let it retry.
        warn('server-error', { err, client: rinfo.address, file: req.filename }, 'tftp transfer crashed');
        refuse(listener, rinfo, ErrorCode.notDefined, 'server error');
        metrics.transfers.inc({ result: 'failed' });
        deps.observer.record({ ip: rinfo.address }, 'tftp-failed', { file: req.filename, reason: 'server-error' });
      })
      .finally(() => {
        slot.release();
        running.delete(transfer);
        if (active.get(peer) === transfer) active.delete(peer);
      });
    const transfer: Running = { key, stop, done };
    running.add(transfer);
    active.set(peer, transfer);
  }

  return {
    name: 'tftp',
    ready,
    port() {
      if (boundPort === undefined) throw new Error('tftp service is not bound yet');
      return boundPort;
    },
    async run(signal) {
      const listener = dgram.createSocket('udp4');
      try {
        boundPort = await bindUdp(listener, deps.address, deps.port);
      } catch (err) {
        listener.close();
        failed(err);
        throw err;
      }
      // Every request arrives on this one socket; what its buffer cannot hold the kernel drops and counts.
      const receiveBuffer = sizeReceiveBuffer(listener);
      const unwatch = kernelDrops.watch('tftp', listener);
      log.info({ address: deps.address, port: boundPort, root: deps.root, bounds: deps.bounds, receiveBuffer }, 'tftp listening');
      bound(boundPort);
      listener.on('error', (err) => warn('socket-error', { err }, 'tftp socket error'));
      listener.on('message', (buf: Buffer, rinfo: RemoteInfo) => {
        let msg: TftpMessage;
        try {
          msg = decodeTftp(buf);
        } catch (err) {
          if (!(err instanceof MalformedPacketError)) throw err;
          metrics.dropped.inc({ reason: 'malformed' });
          log.debug({ client: rinfo.address, reason: err.message }, 'tftp packet dropped');
          // A broken request still deserves an answer so the client fails at once instead of
          // retrying (RFC 1350 §7: error 4, illegal operation); the reply is never larger than
          // the request and starts nothing.
          const opcode = buf.length >= 2 ? buf.readUInt16BE(0) : 0;
          if (opcode === 1 || opcode === 2) refuse(listener, rinfo, ErrorCode.illegalOperation, 'malformed request');
          return;
        }
        if (msg.op === 'RRQ' || msg.op === 'WRQ') onRequest(listener, msg, rinfo);
        else metrics.dropped.inc({ reason: 'unexpected' });
      });
      await aborted(signal);
      listener.close();
      unwatch();
      const left = [...running];
      for (const transfer of left) transfer.stop.abort();
      await Promise.all(left.map((transfer) => transfer.done));
      log.info('tftp stopped');
    },
  };
}
