// Pulls this rack's SignedManifest from central at start and on a schedule, and hands new bytes to
// the manifest apply path. Conditional GET (If-None-Match) keeps an unchanged manifest to one 304;
// network trouble is retried with capped exponential backoff and full jitter, then left for the
// next tick — the rack keeps running on its last good manifest meanwhile.
import { Cron } from 'croner';
import type { Logger } from 'pino';
import { request } from 'undici';
import { MaskinError, UplinkRequestError } from '../errors.js';
import { sleep } from '../runtime/wait.js';
import type { Service } from '../runtime/service.js';
import { backoffDelay } from '../runtime/backoff.js';
import { classifyRequestError, statusError, type UplinkClient } from './client.js';

export type ApplyOutcome = 'applied' | 'unchanged' | 'rejected';

export interface ApplyResult {
  readonly outcome: ApplyOutcome;
  readonly version?: number;
  readonly reason?: string;
}

export type PullOutcome = ApplyOutcome | 'not-modified' | 'failed';

export interface PullResult {
  readonly result: PullOutcome;
  readonly version?: number;
  /** Why it was rejected or failed. */
  readonly error?: string;
  /** Requests made (1 + retries). */
  readonly attempts: number;
}

export interface PullStatus {
  readonly lastAttemptAt?: number;
  /** Last time central answered with a manifest we took or a 304. */
  readonly lastSuccessAt?: number;
  readonly lastResult?: PullOutcome;
  /** Cleared (undefined) by the next success. */
  readonly lastError?: string | undefined;
  readonly lastVersion?: number;
  /** Pulls in a row that failed (not attempts). */
  readonly consecutiveFailures: number;
}

export interface ManifestPullerDeps {
  readonly url: string;
  readonly client: UplinkClient;
  /** Read after every pull, so a manifest's pullIntervalSeconds takes effect from the next tick. */
  readonly intervalSeconds: number | (() => number);
  /** Extra attempts after a retryable failure; default 3. */
  readonly retries?: number;
  readonly backoff?: { readonly initialMs: number; readonly maxMs: number };
  /** Default 16 MiB; a bigger body fails the pull without being read. */
  readonly maxBytes?: number;
  readonly apply: (bytes: Uint8Array) => Promise<ApplyResult>;
  readonly log: Logger;
  readonly now?: () => number;
  readonly random?: () => number;
}

export interface ManifestPuller extends Service {
  /** Pull now; if a pull is already running, wait for that one instead of starting a second. */
  pullNow(): Promise<PullResult>;
  status(): PullStatus;
}

const DEFAULT_MAX_BYTES = 16 * 1024 * 1024;

type Fetched = { kind: 'not-modified' } | { kind: 'body'; bytes: Uint8Array; etag: string | undefined };

export function createManifestPuller(deps: ManifestPullerDeps): ManifestPuller {
  const retries = deps.retries ?? 3;
  const backoff = deps.backoff ?? { initialMs: 500, maxMs: 30_000 };
  const maxBytes = deps.maxBytes ?? DEFAULT_MAX_BYTES;
  const now = deps.now ?? Date.now;
  const random = deps.random ?? Math.random;
  const log = deps.log.child({ component: 'manifest-puller' });
  let etag: string | undefined;
  let status: PullStatus = { consecutiveFailures: 0 };
  let inFlight: Promise<PullResult> | undefined;
  // Aborted when the service stops, so a pull in progress (request or backoff) ends promptly.
  let stopping = new AbortController();

  async function fetchOnce(signal: AbortSignal): Promise<Fetched> {
    const headers: Record<string, string> = { ...deps.client.headers, accept: 'application/x-protobuf' };
    if (etag !== undefined) headers['if-none-match'] = etag;
    const res = await request(deps.url, { method: 'GET', dispatcher: deps.client.dispatcher, headers, signal });
    try {
      if (res.statusCode === 304) return { kind: 'not-modified' };
      if (res.statusCode !== 200) throw statusError(res.statusCode, 'manifest GET');
      const declared = Number(res.headers['content-length'] ?? NaN);
      if (declared > maxBytes) throw new UplinkRequestError('too-large', `manifest is ${declared} bytes, limit ${maxBytes}`, { retryable: false });
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of res.body) {
        size += (chunk as Buffer).length;
        // Without a content-length (chunked) the cap is enforced while reading.
        if (size > maxBytes) throw new UplinkRequestError('too-large', `manifest exceeds ${maxBytes} bytes`, { retryable: false });
        chunks.push(chunk as Buffer);
      }
      const tag = res.headers.etag;
      return { kind: 'body', bytes: new Uint8Array(Buffer.concat(chunks)), etag: typeof tag === 'string' ? tag : undefined };
    } finally {
      // Drains a short error body so the connection is reused; an oversized one is dropped unread.
      await res.body.dump({ limit: 64 * 1024 }).catch(() => undefined);
    }
  }

  function fail(err: UplinkRequestError | MaskinError | Error, attempts: number): PullResult {
    const first = status.consecutiveFailures === 0;
    status = { ...status, lastResult: 'failed', lastError: err.message, consecutiveFailures: status.consecutiveFailures + 1 };
    // One warning when an outage starts, not one per retry or per tick.
    if (first) log.warn({ err: err.message, url: deps.url }, 'manifest pull failing; keeping the manifest in force');
    else log.debug({ err: err.message, failures: status.consecutiveFailures }, 'manifest pull still failing');
    return { result: 'failed', error: err.message, attempts };
  }

  function reachable(): void {
    if (status.consecutiveFailures > 0) log.info({ failures: status.consecutiveFailures }, 'manifest pull recovered; central reachable again');
    status = { ...status, consecutiveFailures: 0, lastSuccessAt: now() };
  }

  async function pull(signal: AbortSignal): Promise<PullResult> {
    status = { ...status, lastAttemptAt: now() };
    let attempts = 0;
    let fetched: Fetched;
    for (;;) {
      attempts++;
      try {
        fetched = await fetchOnce(signal);
        break;
      } catch (err) {
        if (signal.aborted) return { result: 'failed', error: 'agent stopping', attempts };
        const failure = classifyRequestError(err);
        if (!failure.retryable || attempts > retries) return fail(failure, attempts);
        const delay = backoffDelay(attempts - 1, backoff.initialMs, backoff.maxMs, random);
        log.debug({ err: failure.message, attempt: attempts, delayMs: Math.round(delay) }, 'manifest pull retry');
        await sleep(delay, signal);
        if (signal.aborted) return { result: 'failed', error: 'agent stopping', attempts };
      }
    }
    if (fetched.kind === 'not-modified') {
      reachable();
      status = { ...status, lastResult: 'not-modified', lastError: undefined };
      return { result: 'not-modified', attempts, ...(status.lastVersion === undefined ? {} : { version: status.lastVersion }) };
    }
    let applied: ApplyResult;
    try {
      applied = await deps.apply(fetched.bytes);
    } catch (err) {
      reachable();
      return fail(err instanceof Error ? err : new Error(String(err)), attempts);
    }
    reachable();
    if (applied.outcome === 'rejected') {
      // Not remembering the ETag makes the next tick fetch again, so a fixed manifest is seen even
      // if central's ETag scheme were to repeat; an identical bad one is simply rejected again.
      etag = undefined;
      status = { ...status, lastResult: 'rejected', lastError: applied.reason ?? 'rejected' };
      return { result: 'rejected', attempts, error: applied.reason ?? 'rejected', ...(applied.version === undefined ? {} : { version: applied.version }) };
    }
    etag = fetched.etag;
    const version = applied.version ?? status.lastVersion;
    status = { ...status, lastResult: applied.outcome, lastError: undefined, ...(version === undefined ? {} : { lastVersion: version }) };
    return { result: applied.outcome, attempts, ...(version === undefined ? {} : { version }) };
  }

  /** Set while running: re-arms the schedule if the interval changed (set by run()). */
  let rearm = (): void => {};

  function pullNow(): Promise<PullResult> {
    // No overlapping pulls: a tick or caller arriving mid-pull shares the pull in progress.
    inFlight ??= pull(stopping.signal).finally(() => {
      inFlight = undefined;
      // The pull may have applied a manifest that changes the interval.
      rearm();
    });
    return inFlight;
  }

  return {
    name: 'manifest-puller',
    pullNow,
    status: () => status,
    async run(signal) {
      if (signal.aborted) return;
      stopping = new AbortController();
      const onAbort = (): void => stopping.abort(signal.reason);
      signal.addEventListener('abort', onAbort, { once: true });
      // croner with a `* * * * * *` pattern and `interval` (minimum seconds between runs) instead of
      // `*/N` seconds: `*/N` only ticks evenly for N dividing 60, and the interval is config.
      // startAt skips the tick right after the previous pull; `protect` is a second guard against overlap.
      const intervalOf = typeof deps.intervalSeconds === 'function' ? deps.intervalSeconds : (): number => deps.intervalSeconds as number;
      let job: Cron | undefined;
      let armedFor = 0;
      const arm = (): void => {
        const seconds = intervalOf();
        if (job && seconds === armedFor) return;
        if (job) deps.log.info({ from: armedFor, to: seconds }, 'pull interval changed');
        job?.stop();
        armedFor = seconds;
        job = new Cron('* * * * * *', { interval: seconds, protect: true, startAt: new Date(Date.now() + seconds * 1000), catch: true }, async () => {
          await pullNow();
        });
      };
      try {
        await pullNow();
        if (!signal.aborted) {
          arm();
          rearm = arm;
        }
        await new Promise<void>((resolve) => {
          if (signal.aborted) resolve();
          else signal.addEventListener('abort', () => resolve(), { once: true });
        });
      } finally {
        rearm = () => {};
        job?.stop();
        signal.removeEventListener('abort', onAbort);
        stopping.abort();
        await inFlight;
      }
    },
  };
}
