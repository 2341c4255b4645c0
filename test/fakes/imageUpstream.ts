// A switchable image upstream on 127.0.0.1:0 for the fetcher tests and the cold-storm benchmark:
// serves files with Range support and can drop the connection mid-body once, ignore Range, answer
// 404 or 500, redirect, serve tampered bytes, or pause before its final bytes.
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface UpstreamRequest {
  readonly path: string;
  readonly range: string | undefined;
}

export interface UpstreamBehaviour {
  /** Drop the connection after this many body bytes, once (then cleared). */
  cutAfter?: number;
  ignoreRange?: boolean;
  notFound?: boolean;
  /** Answer 500 this many times before serving. */
  fail500?: number;
  /** path → path: answer 302 to the target. */
  redirects?: Map<string, string>;
  /** Flip one byte in the middle of every body. */
  tamper?: boolean;
  /** Send everything but the last `bytes`, then wait for `until` before the rest. */
  holdLast?: { bytes: number; until: Promise<void>; reached?: () => void };
}

export interface ImageUpstream {
  readonly url: string;
  readonly requests: UpstreamRequest[];
  readonly behaviour: UpstreamBehaviour;
  /** GETs of one path. */
  gets(path: string): number;
  close(): Promise<void>;
}

export async function startImageUpstream(files: Map<string, Buffer>): Promise<ImageUpstream> {
  const requests: UpstreamRequest[] = [];
  const behaviour: UpstreamBehaviour = {};
  const server = http.createServer((req, res) => {
    const p = req.url ?? '/';
    requests.push({ path: p, range: req.headers.range });
    const target = behaviour.redirects?.get(p);
    if (target) return void res.writeHead(302, { location: target }).end();
    if (behaviour.fail500 && behaviour.fail500 > 0) {
      behaviour.fail500--;
      return void res.writeHead(500).end('busy');
    }
    const file = files.get(p);
    if (!file || behaviour.notFound) return void res.writeHead(404).end('no such image');
    let body = file;
    if (behaviour.tamper) {
      body = Buffer.from(file);
      const mid = body.length >> 1;
      body[mid] = body[mid]! ^ 0xff;
    }
    let start = 0;
    const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    if (m && !behaviour.ignoreRange) {
      start = Number(m[1]);
      res.writeHead(206, { 'content-length': body.length - start, 'content-range': `bytes ${start}-${body.length - 1}/${body.length}` });
    } else {
      res.writeHead(200, { 'content-length': body.length, 'accept-ranges': 'bytes' });
    }
    const rest = body.subarray(start);
    if (behaviour.cutAfter !== undefined && behaviour.cutAfter < rest.length) {
      const at = behaviour.cutAfter;
      delete behaviour.cutAfter;
      res.write(rest.subarray(0, at), () => res.socket?.destroy());
      return;
    }
    const hold = behaviour.holdLast;
    if (hold && hold.bytes < rest.length) {
      res.write(rest.subarray(0, rest.length - hold.bytes), () => hold.reached?.());
      void hold.until.then(() => res.end(rest.subarray(rest.length - hold.bytes)));
      return;
    }
    res.end(rest);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    behaviour,
    gets: (path) => requests.filter((r) => r.path === path).length,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
