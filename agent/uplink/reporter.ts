// Store-and-forward: drains the outbox to central as ReportBatch POSTs, oldest first,
// and deletes reports only once central's ReportAck covers them. Delivery is at-least-once;
// central de-duplicates by (agent_id, seq). While central is down, batches wait in the outbox and
// attempts back off exponentially with full jitter, so a fleet of racks coming back after a central
// outage does not hit it in lockstep.
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import type { Logger } from 'pino';
import { request, type Dispatcher } from 'undici';
import { ReportAckError, UplinkRequestError } from '../errors.js';
import { sleep } from '../runtime/wait.js';
import type { Service } from '../runtime/service.js';
import { classifyRequestError, statusError } from './client.js';
import { ReportAckSchema, ReportBatchSchema, type Report } from './gen/maskin/v1/report_pb.js';
import { backoffDelay } from '../runtime/backoff.js';
import type { Outbox } from './outbox.js';

/** POSTs one encoded ReportBatch and returns the ReportAck bytes; throws on any failure. */
export type ReportTransport = (body: Uint8Array, signal?: AbortSignal) => Promise<Uint8Array>;

export interface ReporterDeps {
  readonly outbox: Pick<Outbox, 'peek' | 'ack' | 'depth' | 'onAppend'>;
  readonly agentId: string;
  readonly rackId: string;
  readonly post: ReportTransport;
  /** Reports per POST; default 500. */
  readonly batchSize?: number;
  /** Full-jitter exponential backoff after a failed POST; default 1 s doubling to 60 s. */
  readonly backoff?: { readonly initialMs: number; readonly maxMs: number };
  /** With nothing queued and no append heard, look again after this long; default 30 s. */
  readonly idleMs?: number;
  /** After an append wakes the loop, wait this long so a burst goes in one batch; default 100 ms. */
  readonly lingerMs?: number;
  /** Subscribe to "something was appended"; default outbox.onAppend. Returns the unsubscribe function. */
  readonly wake?: (listener: () => void) => () => void;
  readonly now?: () => number;
  readonly random?: () => number;
  /** Waits after a failed POST (the backoff delay); default an abortable timer. */
  readonly backoffSleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  readonly log: Logger;
}

export interface ReporterStatus {
  readonly lastAttemptAt?: number | undefined;
  readonly lastSuccessAt?: number | undefined;
  readonly lastError?: string | undefined;
  /** POSTs in a row that failed. */
  readonly consecutiveFailures: number;
  /** Reports acked by central since start. */
  readonly delivered: number;
}

export interface Reporter extends Service {
  status(): ReporterStatus;
}

/**
 * The highest seq the ack lets us delete. Central acks the contiguous prefix it holds, which can
 * run past this batch (a batch re-sent after a crash lost our ack write): only what we sent here
 * is deleted. An ack below the batch means central stored none of it: a failure, retried later.
 */
export function ackedThrough(ackBytes: Uint8Array, agentId: string, sent: readonly Report[]): bigint {
  let ack;
  try {
    ack = fromBinary(ReportAckSchema, ackBytes);
  } catch (err) {
    throw new ReportAckError(`undecodable ReportAck (${(err as Error).message})`, { cause: err });
  }
  if (ack.agentId !== agentId) throw new ReportAckError(`ack is for agent ${JSON.stringify(ack.agentId)}, not ${JSON.stringify(agentId)}`);
  const first = sent[0]!.seq;
  const last = sent[sent.length - 1]!.seq;
  if (ack.ackedThroughSeq < first) {
    throw new ReportAckError(`acked through seq ${ack.ackedThroughSeq}, below the batch sent (${first}..${last}); central holds a gap before ${first}`);
  }
  return ack.ackedThroughSeq > last ? last : ack.ackedThroughSeq;
}

export function createReporter(deps: ReporterDeps): Reporter {
  const { outbox, agentId, rackId, post } = deps;
  const log = deps.log.child({ component: 'reporter' });
  const now = deps.now ?? Date.now;
  const random = deps.random ?? Math.random;
  const backoffSleep = deps.backoffSleep ?? ((ms: number, signal: AbortSignal) => sleep(ms, signal));
  const batchSize = deps.batchSize ?? 500;
  const { initialMs, maxMs } = deps.backoff ?? { initialMs: 1000, maxMs: 60_000 };
  const idleMs = deps.idleMs ?? 30_000;
  const lingerMs = deps.lingerMs ?? 100;
  const wake = deps.wake ?? ((listener: () => void) => outbox.onAppend(listener));

  let lastAttemptAt: number | undefined;
  let lastSuccessAt: number | undefined;
  let lastError: string | undefined;
  let consecutiveFailures = 0;
  let delivered = 0;
  // Set when central answers again after failures; logged once the backlog is gone.
  let recovery: { delivered: number; oldestAt: number } | undefined;

  async function deliver(reports: Report[], signal: AbortSignal): Promise<boolean> {
    lastAttemptAt = now();
    try {
      const batch = create(ReportBatchSchema, { agentId, rackId, reports });
      const ackBytes = await post(toBinary(ReportBatchSchema, batch), signal);
      const through = ackedThrough(ackBytes, agentId, reports);
      await outbox.ack(through);
      const count = reports.filter((r) => r.seq <= through).length;
      delivered += count;
      lastSuccessAt = now();
      if (consecutiveFailures > 0) recovery ??= { delivered: 0, oldestAt: Number(reports[0]!.atUnixMs) };
      if (recovery) recovery.delivered += count;
      consecutiveFailures = 0;
      lastError = undefined;
      return true;
    } catch (err) {
      if (signal.aborted) return true;
      consecutiveFailures++;
      lastError = err instanceof Error ? err.message : String(err);
      // Once per outage at warn; the retries in between would only repeat it.
      if (consecutiveFailures === 1) {
        const code = (err as { code?: string }).code;
        log.warn({ err, code, queued: outbox.depth() }, 'central unreachable for reports; they stay queued in the outbox and are retried with backoff');
      } else log.debug({ err, consecutiveFailures }, 'report delivery failed again');
      return false;
    }
  }

  function recovered(): void {
    if (!recovery) return;
    const queuedSeconds = Math.round((now() - recovery.oldestAt) / 1000);
    log.info(
      { delivered: recovery.delivered, queuedSeconds },
      `central reachable again; delivered ${recovery.delivered} reports queued for ${queuedSeconds} s`,
    );
    recovery = undefined;
  }

  return {
    name: 'reporter',
    status: () => ({ lastAttemptAt, lastSuccessAt, lastError, consecutiveFailures, delivered }),
    async run(signal) {
      let woken = false;
      let onWake: (() => void) | undefined;
      const unsubscribe = wake(() => {
        woken = true;
        onWake?.();
      });
      try {
        while (!signal.aborted) {
          woken = false;
          const reports = await outbox.peek(batchSize);
          if (reports.length === 0) {
            recovered();
            if (!woken) {
              await sleep(idleMs, signal, (wakeUp) => (onWake = wakeUp));
              onWake = undefined;
            }
            if (woken) await sleep(lingerMs, signal);
            continue;
          }
          if (!(await deliver(reports, signal))) await backoffSleep(backoffDelay(consecutiveFailures - 1, initialMs, maxMs, random), signal);
        }
      } finally {
        unsubscribe();
      }
    },
  };
}

export interface HttpReportTransportOptions {
  readonly url: string;
  /** The uplink client's dispatcher (pinned CA, client cert); default undici's global one. */
  readonly dispatcher?: Dispatcher;
  /** Sent with every POST (the uplink client's authorization header). */
  readonly headers?: Readonly<Record<string, string>>;
  /** Bound for the whole exchange, connect to last byte. */
  readonly timeoutMs: number;
  /** A ReportAck is a few bytes; anything bigger is not one. Default 64 KiB. */
  readonly maxResponseBytes?: number;
}

/** POSTs a ReportBatch as application/x-protobuf; returns the response body; non-2xx throws with its status. */
export function httpReportTransport(opts: HttpReportTransportOptions): ReportTransport {
  const maxBytes = opts.maxResponseBytes ?? 64 * 1024;
  return async (body, signal) => {
    const timeout = AbortSignal.timeout(opts.timeoutMs);
    const combined = signal ? AbortSignal.any([signal, timeout]) : timeout;
    try {
      const res = await request(opts.url, {
        method: 'POST',
        body,
        headers: { ...opts.headers, 'content-type': 'application/x-protobuf', accept: 'application/x-protobuf' },
        signal: combined,
        ...(opts.dispatcher ? { dispatcher: opts.dispatcher } : {}),
      });
      if (res.statusCode < 200 || res.statusCode > 299) {
        await res.body.dump();
        throw statusError(res.statusCode, `POST ${opts.url}`);
      }
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of res.body as AsyncIterable<Buffer>) {
        size += chunk.length;
        if (size > maxBytes) {
          res.body.destroy();
          throw new UplinkRequestError('too-large', `POST ${opts.url}: response over ${maxBytes} bytes`, { retryable: true });
        }
        chunks.push(chunk);
      }
      return new Uint8Array(Buffer.concat(chunks));
    } catch (err) {
      if (timeout.aborted && !signal?.aborted)
        throw new UplinkRequestError('timeout', `POST ${opts.url}: no complete answer within ${opts.timeoutMs} ms`, { retryable: true, cause: err });
      throw classifyRequestError(err);
    }
  };
}
