// Image downloads (fetcher, OCI mirror) use node:http. undici 7 threw an uncatchable
// `assert(!this.paused)` from its socket 'end' handler when an upstream closed the connection while
// the body was paused by backpressure (nodejs/undici#5360; seen here with busybox httpd and
// Connection: close, mid-prefetch). undici 8 on Node 24 fixes it, and the uplink and BMC clients use
// it; downloads stay here because this one function is what they need and no more: a body that is a
// plain Node stream, an idle-body timeout, and redirects that drop Authorization at another origin.
import http from 'node:http';
import https from 'node:https';

export interface GetResponse {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  /** Paused-safe body stream; destroy it to abandon the response. */
  readonly body: http.IncomingMessage;
  /** The URL that answered, after redirects. */
  readonly url: string;
}

export interface GetOptions {
  readonly headers?: Readonly<Record<string, string>>;
  /** Connect/response timeout, and the longest pause allowed within the body. */
  readonly timeoutMs: number;
  readonly maxRedirects?: number;
  /** Aborts the request and its body (the agent is stopping). */
  readonly signal?: AbortSignal;
}

/** GET following redirects; a hop to another origin drops Authorization (it is not theirs). */
export async function httpGet(url: string, opts: GetOptions): Promise<GetResponse> {
  let target = new URL(url);
  let headers: Record<string, string> = { ...opts.headers };
  for (let hop = 0; ; hop++) {
    const res = await once(target, headers, opts.timeoutMs, opts.signal);
    const location = res.headers.location;
    if (res.statusCode !== undefined && res.statusCode >= 300 && res.statusCode < 400 && location !== undefined) {
      res.resume();
      if (hop >= (opts.maxRedirects ?? 5)) throw new Error(`too many redirects from ${url}`);
      const next = new URL(location, target);
      if (next.origin !== target.origin) {
        const { authorization: _dropped, Authorization: _Dropped, ...rest } = headers;
        headers = rest;
      }
      target = next;
      continue;
    }
    // An idle body beyond the timeout fails the download (it is retried and resumed).
    res.setTimeout(opts.timeoutMs, () => res.destroy(new Error(`no data from ${target.href} for ${opts.timeoutMs} ms`)));
    return { status: res.statusCode ?? 0, headers: res.headers, body: res, url: target.href };
  }
}

function once(target: URL, headers: Record<string, string>, timeoutMs: number, signal: AbortSignal | undefined): Promise<http.IncomingMessage> {
  const get = target.protocol === 'https:' ? https.get : target.protocol === 'http:' ? http.get : undefined;
  if (!get) return Promise.reject(new Error(`unsupported URL scheme ${target.protocol}`));
  return new Promise((resolve, reject) => {
    const req = get(target, { headers, timeout: timeoutMs, ...(signal ? { signal } : {}) }, resolve);
    req.on('timeout', () => req.destroy(new Error(`no response from ${target.href} within ${timeoutMs} ms`)));
    req.on('error', reject);
  });
}
