// The one HTTP client the agent uses to reach central (manifest pull, report push). Everything that
// can be wrong with its TLS material is found here, at construction, and named by config field; a
// request later only fails for reasons central or the network cause.
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import { Agent } from 'undici';
import { UplinkFileError, UplinkRequestError } from '../errors.js';

export interface UplinkClientOptions {
  /** Pinned CA (PEM). When set, ONLY this CA is trusted for central's certificate, not the system store. */
  readonly caFile?: string;
  /** Client certificate and key (PEM) for mTLS; both or neither. */
  readonly certFile?: string;
  readonly keyFile?: string;
  /** Bearer token sent on every request. */
  readonly token?: string;
  /** Bound for connecting, for the response headers, and for each pause in the body. */
  readonly timeoutMs: number;
  /** There is deliberately no way to turn certificate verification off. */
  readonly insecure?: never;
}

export interface UplinkClient {
  readonly dispatcher: Agent;
  /** Headers every request to central carries (authorization). */
  readonly headers: Readonly<Record<string, string>>;
  readonly timeoutMs: number;
  /**
   * Ends every connection, in-flight requests included: a report POST cut short stays in the
   * outbox (it was never acked) and a manifest pull is tried again at the next start.
   */
  close(): Promise<void>;
}

function readPem(field: string, file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'unreadable';
    throw new UplinkFileError(field, file, `cannot read it (${code}). Fix: point ${field} at a readable PEM file`, { cause: err });
  }
}

export function createUplinkClient(opts: UplinkClientOptions): UplinkClient {
  if ((opts.certFile === undefined) !== (opts.keyFile === undefined)) {
    const missing = opts.certFile === undefined ? 'uplink.certFile' : 'uplink.keyFile';
    throw new UplinkFileError(missing, '(unset)', 'a client certificate needs both certFile and keyFile. Fix: set both or neither');
  }
  const ca = opts.caFile === undefined ? undefined : readPem('uplink.caFile', opts.caFile);
  const cert = opts.certFile === undefined ? undefined : readPem('uplink.certFile', opts.certFile);
  const key = opts.keyFile === undefined ? undefined : readPem('uplink.keyFile', opts.keyFile);
  // Parse the material now so a wrong PEM is a start-up error naming the field, not a failed pull an hour later.
  if (ca !== undefined && opts.caFile !== undefined) {
    try {
      // createSecureContext silently skips non-PEM text in `ca`; X509Certificate does not.
      new X509Certificate(ca);
      createSecureContext({ ca });
    } catch (err) {
      throw new UplinkFileError('uplink.caFile', opts.caFile, `not a usable PEM CA certificate (${(err as Error).message})`, { cause: err });
    }
  }
  if (cert !== undefined && key !== undefined) {
    try {
      createSecureContext({ cert, key });
    } catch (err) {
      throw new UplinkFileError(
        'uplink.certFile',
        `${opts.certFile} + ${opts.keyFile}`,
        `certificate and key are not a usable pair (${(err as Error).message})`,
        { cause: err },
      );
    }
  }
  const dispatcher = new Agent({
    // `ca` replaces Node's default root store for these connections: that is the pinning.
    connect: { timeout: opts.timeoutMs, ...(ca === undefined ? {} : { ca }), ...(cert === undefined ? {} : { cert, key }) },
    headersTimeout: opts.timeoutMs,
    // Between body chunks, not for the whole body: a big manifest over a slow but live WAN completes.
    bodyTimeout: opts.timeoutMs,
    keepAliveTimeout: 30_000,
  });
  const headers: Record<string, string> = opts.token === undefined ? {} : { authorization: `Bearer ${opts.token}` };
  return {
    dispatcher,
    headers,
    timeoutMs: opts.timeoutMs,
    close: () => dispatcher.destroy(),
  };
}

const TIMEOUT_CODES = new Set(['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'ETIMEDOUT']);

// Certificate problems do not heal between two retries a few seconds apart; say so instead of retrying.
function isTlsCode(code: string): boolean {
  return /^(ERR_TLS_|ERR_SSL_|CERT_|UNABLE_TO_|SELF_SIGNED|DEPTH_ZERO|HOSTNAME_MISMATCH)/.test(code);
}

/** Maps what undici or the socket threw to the catalogue error; walks `cause` because undici wraps. */
export function classifyRequestError(err: unknown): UplinkRequestError {
  if (err instanceof UplinkRequestError) return err;
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === undefined) continue;
    if (TIMEOUT_CODES.has(code)) return new UplinkRequestError('timeout', `${code}: ${e.message}`, { retryable: true, cause: err });
    if (isTlsCode(code)) return new UplinkRequestError('tls', `${code}: ${e.message}`, { retryable: false, cause: err });
  }
  const e = err as NodeJS.ErrnoException;
  const detail = e instanceof Error ? `${e.code ?? e.name}: ${e.message}` : String(err);
  return new UplinkRequestError('unreachable', detail, { retryable: true, cause: err });
}

/** The error for a response status that is not a success: 5xx and 429 may pass, other 4xx will not. */
export function statusError(status: number, what: string): UplinkRequestError {
  const retryable = status >= 500 || status === 429;
  return new UplinkRequestError('status', `${what} answered HTTP ${status}`, { status, retryable });
}
