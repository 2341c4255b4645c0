// The HTTP side of one Redfish BMC: one undici Agent (its CA or the warned insecure flag), bounded
// timeouts, retries with backoff for network errors and 5xx (503 honours Retry-After), and the
// login: a Redfish session (X-Auth-Token, re-login once on 401, logged out on close) or HTTP basic
// when the service has no SessionService. Statuses other than 401 and 5xx go back to the caller.
import { Agent } from 'undici';
import type { Logger } from 'pino';
import type { BmcCredentials } from '../driver.js';
import { BmcError } from '../../errors.js';
import type { Json } from './json.js';

export interface RedfishClientOptions {
  /** Origin, already normalised (`https://host[:port]`). */
  readonly origin: string;
  readonly credentials: BmcCredentials;
  readonly ca?: string;
  readonly insecure?: boolean;
  readonly auth: 'session' | 'basic';
  readonly timeoutMs: number;
  readonly retries: number;
  readonly log: Logger;
  readonly sleep: (ms: number) => Promise<void>;
}

export interface RedfishResponse {
  readonly status: number;
  readonly etag: string | undefined;
  readonly body: Json;
}

const TIMEOUT_CODES = new Set(['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'ETIMEDOUT']);
const isTlsCode = (code: string) => /^(ERR_TLS_|ERR_SSL_|CERT_|UNABLE_TO_|SELF_SIGNED|DEPTH_ZERO|HOSTNAME_MISMATCH)/.test(code);
const MAX_RETRY_AFTER_MS = 5_000;

type Failure = { readonly status: number } | { readonly code: string | undefined };

/**
 * Whether a failed request may be sent again. GET, PATCH (the same Boot values) and DELETE repeat
 * harmlessly; a POST (a Reset, a login) only when the BMC certainly did not act on it: refused
 * connection, connect timeout, or 503 busy. A repeated ForceRestart would boot twice and spend the
 * one-shot override on the first boot.
 */
export function mayRepeat(method: string, failure: Failure): boolean {
  if ('code' in failure && failure.code !== undefined && isTlsCode(failure.code)) return false;
  if (method !== 'POST') return true;
  if ('status' in failure) return failure.status === 503;
  return failure.code === 'ECONNREFUSED' || failure.code === 'UND_ERR_CONNECT_TIMEOUT';
}

/** The human part of a Redfish error body (`error.@Message.ExtendedInfo[0].Message` or `error.message`). */
export function redfishErrorText(body: Json): string | undefined {
  const err = body['error'] as Json | undefined;
  const info = err?.['@Message.ExtendedInfo'];
  const first = Array.isArray(info) ? (info[0] as Json | undefined)?.['Message'] : undefined;
  const text = first ?? err?.['message'];
  return typeof text === 'string' ? text : undefined;
}

export class RedfishClient {
  private readonly dispatcher: Agent;
  private token: string | undefined;
  private sessionPath: string | undefined;
  private mode: 'session' | 'basic';
  private sessionsPath: string | undefined;

  constructor(private readonly opts: RedfishClientOptions) {
    this.mode = opts.auth;
    this.dispatcher = new Agent({
      connect: {
        timeout: opts.timeoutMs,
        ...(opts.ca === undefined ? {} : { ca: opts.ca }),
        ...(opts.insecure === true ? { rejectUnauthorized: false } : {}),
      },
      headersTimeout: opts.timeoutMs,
      bodyTimeout: opts.timeoutMs,
      connections: 2,
    });
  }

  private fail(reason: BmcError['reason'], op: string, detail: string, cause?: unknown): BmcError {
    // A BMC may echo the request body in an error; never let the password through.
    const { password } = this.opts.credentials;
    const safe = password.length > 0 ? detail.split(password).join('***') : detail;
    return new BmcError(reason, this.opts.origin, op, safe, cause === undefined ? undefined : { cause });
  }

  /** Where sessions are created, from the service root; undefined means basic auth. */
  useSessionsAt(path: string | undefined): void {
    this.sessionsPath = path;
    if (path === undefined && this.mode === 'session') {
      this.opts.log.info('no SessionService on this BMC; using HTTP basic auth');
      this.mode = 'basic';
    }
  }

  private authHeaders(): Record<string, string> {
    if (this.mode === 'basic') {
      const { username, password } = this.opts.credentials;
      return { authorization: `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}` };
    }
    return this.token === undefined ? {} : { 'x-auth-token': this.token };
  }

  private async login(op: string): Promise<void> {
    if (this.sessionsPath === undefined) throw this.fail('protocol', op, 'session login before the service root was read');
    const { username, password } = this.opts.credentials;
    const res = await this.raw('POST', this.sessionsPath, { UserName: username, Password: password }, {}, op);
    if (res.status === 404 || res.status === 405 || res.status === 501) {
      this.opts.log.info({ status: res.status }, 'session creation refused; falling back to HTTP basic auth');
      this.mode = 'basic';
      return;
    }
    if (res.status === 401 || res.status === 403)
      throw this.fail(
        'auth',
        op,
        `login refused (HTTP ${res.status}) for user ${JSON.stringify(username)}. Fix: check this BMC's credentials in the local secrets`,
      );
    const token = res.headers['x-auth-token'];
    if (res.status >= 300 || typeof token !== 'string') throw this.fail('protocol', op, `session POST answered HTTP ${res.status} without an X-Auth-Token`);
    this.token = token;
    const loc = res.headers['location'];
    const id = res.body['@odata.id'];
    this.sessionPath = typeof loc === 'string' ? new URL(loc, this.opts.origin).pathname : typeof id === 'string' ? id : undefined;
    this.opts.log.debug('redfish session opened');
  }

  /** One request, authenticated unless told otherwise; 401 on a session re-logs in once. */
  async request(
    method: string,
    path: string,
    op: string,
    body?: unknown,
    headers: Record<string, string> = {},
    authenticated = true,
  ): Promise<RedfishResponse> {
    if (authenticated && this.mode === 'session' && this.token === undefined) await this.login(op);
    let res = await this.raw(method, path, body, authenticated ? { ...headers, ...this.authHeaders() } : headers, op);
    if (authenticated && res.status === 401 && this.mode === 'session') {
      this.opts.log.info({ op }, 'redfish session expired; logging in again');
      this.token = undefined;
      await this.login(op);
      res = await this.raw(method, path, body, { ...headers, ...this.authHeaders() }, op);
    }
    if (res.status === 401 || res.status === 403)
      throw this.fail(
        'auth',
        op,
        `HTTP ${res.status} for user ${JSON.stringify(this.opts.credentials.username)}. Fix: check this BMC's credentials and the account's role`,
      );
    const etag = res.headers['etag'];
    return { status: res.status, etag: typeof etag === 'string' ? etag : undefined, body: res.body };
  }

  /** GET that must succeed. */
  async get(path: string, op: string): Promise<RedfishResponse> {
    const res = await this.request('GET', path, op);
    if (res.status === 404) throw this.fail('unsupported', op, `GET ${path} answered 404`);
    if (res.status >= 300) throw this.fail('protocol', op, `GET ${path} answered HTTP ${res.status}${this.detail(res.body)}`);
    return res;
  }

  detail(body: Json): string {
    const text = redfishErrorText(body);
    return text === undefined ? '' : `: ${text}`;
  }

  /** Sends with retries for network errors and 5xx; returns any other status. */
  private async raw(
    method: string,
    path: string,
    body: unknown,
    headers: Record<string, string>,
    op: string,
  ): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Json }> {
    let lastErr: BmcError | undefined;
    let retryAfterMs: number | undefined;
    for (let attempt = 0; attempt <= this.opts.retries; attempt++) {
      if (attempt > 0) await this.opts.sleep(retryAfterMs ?? Math.min(250 * 2 ** (attempt - 1), 4_000));
      retryAfterMs = undefined;
      let failure: Failure;
      try {
        const res = await this.dispatcher.request({
          origin: this.opts.origin,
          path,
          method: method as 'GET',
          headers: { accept: 'application/json', 'odata-version': '4.0', ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
          // undici's own header/body timers tick at ~1 s; this keeps a short bound exact.
          signal: AbortSignal.timeout(this.opts.timeoutMs),
        });
        const text = await res.body.text();
        let json: Json = {};
        if (text.trim() !== '') {
          try {
            json = JSON.parse(text) as Json;
          } catch {
            if (res.statusCode < 300) throw this.fail('protocol', op, `${method} ${path} answered HTTP ${res.statusCode} with a body that is not JSON`);
          }
        }
        if (res.statusCode < 500) return { status: res.statusCode, headers: res.headers, body: json };
        const busy = res.statusCode === 503;
        const after = Number(res.headers['retry-after']);
        if (busy && Number.isFinite(after)) retryAfterMs = Math.min(after * 1000, MAX_RETRY_AFTER_MS);
        lastErr = this.fail(busy ? 'busy' : 'protocol', op, `${method} ${path} answered HTTP ${res.statusCode}${this.detail(json)} (attempt ${attempt + 1})`);
        failure = { status: res.statusCode };
      } catch (err) {
        if (err instanceof BmcError) throw err;
        const c = this.classify(err, op, `${method} ${path}`);
        lastErr = c.error;
        failure = { code: c.code };
      }
      if (!mayRepeat(method, failure)) throw lastErr;
      this.opts.log.debug({ op, attempt, err: lastErr.message }, 'redfish request failed; retrying');
    }
    throw lastErr!;
  }

  private classify(err: unknown, op: string, what: string): { error: BmcError; code: string | undefined } {
    for (let e: unknown = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
      // The abort signal's reason is a DOMException whose legacy numeric `code` means nothing here.
      const code = e.name === 'TimeoutError' ? 'ETIMEDOUT' : (e as NodeJS.ErrnoException).code;
      if (typeof code !== 'string') continue;
      if (TIMEOUT_CODES.has(code)) return { code, error: this.fail('timeout', op, `${what}: no answer within ${this.opts.timeoutMs} ms (${code})`, err) };
      if (isTlsCode(code))
        return {
          code,
          error: this.fail('unreachable', op, `TLS: ${code}: ${e.message}. Fix: give this BMC's CA certificate (ca), or, knowingly, set insecure`, err),
        };
      return { code, error: this.fail('unreachable', op, `${what}: ${code}: ${e.message}`, err) };
    }
    return { code: undefined, error: this.fail('unreachable', op, `${what}: ${err instanceof Error ? err.message : String(err)}`, err) };
  }

  /** Logs the session out (errors only logged: the BMC expires it anyway) and closes the sockets. */
  async close(): Promise<void> {
    if (this.token !== undefined && this.sessionPath !== undefined) {
      try {
        const res = await this.raw('DELETE', this.sessionPath, undefined, this.authHeaders(), 'logout');
        if (res.status >= 300) this.opts.log.warn({ status: res.status }, 'redfish logout refused; the BMC will expire the session');
      } catch (err) {
        this.opts.log.warn({ err: (err as Error).message }, 'redfish logout failed; the BMC will expire the session');
      }
    }
    this.token = undefined;
    this.sessionPath = undefined;
    await this.dispatcher.close();
  }
}
