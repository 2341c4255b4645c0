// sendBlob's file pump over real loopback sockets: byte-exact bodies and ranges across chunk
// boundaries, HEAD without a body, and the file closed again when a client goes away mid-download
// or the file turns out shorter than its recorded size.
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readlink, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Fastify from 'fastify';
import { pumpFile, sendBlob } from '../../agent/http/blobResponse.js';
import type { BlobInfo } from '../../agent/images/model.js';

const CHUNK = 256 * 1024;

/** Descriptors this process holds on `file`. */
async function openFds(file: string): Promise<number> {
  const fds = await readdir('/proc/self/fd');
  const targets = await Promise.all(fds.map((fd) => readlink(`/proc/self/fd/${fd}`).catch(() => '')));
  return targets.filter((target) => target === file).length;
}

async function until(what: string, check: () => Promise<boolean>, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

interface Got {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  complete: boolean;
}

function get(port: number, headers: http.OutgoingHttpHeaders = {}, method = 'GET'): Promise<Got> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: '/blob', method, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      const done = (): void => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks), complete: res.complete });
      res.on('end', done);
      res.on('error', done);
    });
    req.on('error', reject);
    req.end();
  });
}

t.test('the pump serves whole files, ranges and HEAD byte-exact, and closes the file after', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'maskin-pump-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  // Neither a whole number of chunks nor of the two buffers: the last read is short.
  const bytes = randomBytes(5 * CHUNK + 12_345);
  const file = path.join(dir, 'blob');
  await writeFile(file, bytes);
  const blob: BlobInfo = { digest: 'sha256:' + 'a'.repeat(64), size: bytes.length, path: file, storedAt: '', lastUsedAt: '' };
  const app = Fastify();
  // assets.ts records each download from its onResponse hook: it must still run for pumped replies.
  const responses: string[] = [];
  app.addHook(
    'onResponse',
    async (request, reply) => void responses.push(`${request.method} ${reply.statusCode} ${String(reply.getHeader('content-length'))}`),
  );
  app.route({ method: ['GET', 'HEAD'], url: '/blob', handler: async (request, reply) => sendBlob(request, reply.header('x-extra', 'kept'), blob) });
  await app.listen({ host: '127.0.0.1', port: 0 });
  t.teardown(() => app.close());
  const port = (app.server.address() as AddressInfo).port;

  const full = await get(port);
  t.equal(full.status, 200);
  t.ok(full.complete);
  t.ok(full.body.equals(bytes), 'the whole file, byte-exact');
  t.equal(full.headers['content-length'], String(bytes.length));
  t.equal(full.headers.etag, `"${blob.digest}"`);
  t.equal(full.headers['cache-control'], 'public, max-age=31536000, immutable');
  t.equal(full.headers['content-type'], 'application/octet-stream');
  t.equal(full.headers['accept-ranges'], 'bytes');
  t.equal(full.headers['x-extra'], 'kept', 'headers the caller set before sendBlob are sent');

  const ranges: [string, number, number][] = [
    [`bytes=${CHUNK - 1}-${2 * CHUNK}`, CHUNK - 1, 2 * CHUNK],
    [`bytes=${CHUNK}-${3 * CHUNK - 1}`, CHUNK, 3 * CHUNK - 1],
    [`bytes=100-`, 100, bytes.length - 1],
    [`bytes=-${CHUNK + 7}`, bytes.length - CHUNK - 7, bytes.length - 1],
    ['bytes=0-0', 0, 0],
    [`bytes=${bytes.length - 1}-${bytes.length + 1000}`, bytes.length - 1, bytes.length - 1],
  ];
  for (const [range, first, last] of ranges) {
    const part = await get(port, { range });
    t.equal(part.status, 206, range);
    t.equal(part.headers['content-range'], `bytes ${first}-${last}/${bytes.length}`, range);
    t.equal(part.headers['content-length'], String(last - first + 1), range);
    t.ok(part.body.equals(bytes.subarray(first, last + 1)), `${range}: byte-exact`);
  }
  const unsatisfiable = await get(port, { range: `bytes=${bytes.length}-` });
  t.equal(unsatisfiable.status, 416);
  t.equal(unsatisfiable.headers['content-range'], `bytes */${bytes.length}`);
  t.equal((await get(port, { 'if-none-match': `"${blob.digest}"` })).status, 304);

  const head = await get(port, {}, 'HEAD');
  t.equal(head.status, 200);
  t.equal(head.headers['content-length'], String(bytes.length));
  t.equal(head.body.length, 0, 'HEAD: no body');

  await until('the file to be closed', async () => (await openFds(file)) === 0);
  t.pass('no descriptor left on the file');
  t.equal(responses[0], `GET 200 ${bytes.length}`, 'onResponse hooks see the pumped response');
  t.equal(responses[1], `GET 206 ${2 * CHUNK - (CHUNK - 1) + 1}`);
  t.equal(responses.length, 1 + ranges.length + 3, 'one onResponse per request: whole, ranges, 416, 304, HEAD');
});

t.test('a client that goes away mid-download releases the file', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'maskin-pump-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  // Far more than loopback socket buffers hold: the pump is still waiting on a write when the
  // client leaves.
  const size = 64 * 1024 * 1024;
  const file = path.join(dir, 'blob');
  await writeFile(file, Buffer.alloc(size, 7));
  const app = Fastify();
  app.get('/blob', async (request, reply) => sendBlob(request, reply, { digest: 'sha256:' + 'b'.repeat(64), size, path: file, storedAt: '', lastUsedAt: '' }));
  await app.listen({ host: '127.0.0.1', port: 0 });
  t.teardown(() => app.close());
  const port = (app.server.address() as AddressInfo).port;

  const during: number[] = [];
  for (let i = 0; i < 3; i++) {
    const received = await new Promise<number>((resolve, reject) => {
      const req = http.get({ host: '127.0.0.1', port, path: '/blob', agent: false }, (res) => {
        let n = 0;
        res.on('data', (c: Buffer) => {
          n += c.length;
          // Stop reading: the server's writes back up, then the client leaves.
          if (n >= CHUNK) {
            res.pause();
            setTimeout(() => {
              void openFds(file).then((fds) => {
                during.push(fds);
                req.destroy();
                resolve(n);
              }, reject);
            }, 200);
          }
        });
      });
      req.on('error', (err) => (err.message.includes('socket hang up') ? undefined : reject(err)));
    });
    t.ok(received < size, `client ${i + 1} left after ${received} of ${size} bytes`);
  }
  t.same(during, [1, 1, 1], 'the file was open while each download was under way, and the earlier aborted ones had closed it');
  await until('the file to be closed', async () => (await openFds(file)) === 0);
  t.pass('every descriptor on the file closed after the aborts');
});

t.test('a file shorter than its recorded size cuts the connection and releases the file', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'maskin-pump-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'blob');
  const bytes = randomBytes(CHUNK + 10);
  await writeFile(file, bytes);
  const logged: string[] = [];
  const app = Fastify({ logger: { level: 'error', stream: { write: (line: string) => void logged.push(line) } } });
  const size = 3 * CHUNK;
  app.get('/blob', async (request, reply) => sendBlob(request, reply, { digest: 'sha256:' + 'c'.repeat(64), size, path: file, storedAt: '', lastUsedAt: '' }));
  await app.listen({ host: '127.0.0.1', port: 0 });
  t.teardown(() => app.close());
  const port = (app.server.address() as AddressInfo).port;

  const got = await get(port);
  t.equal(got.headers['content-length'], String(size));
  t.notOk(got.complete, 'the response is cut, not ended as if whole');
  t.ok(got.body.equals(bytes), 'the bytes that exist, then nothing');
  await until('the file to be closed', async () => (await openFds(file)) === 0);
  t.pass('descriptor closed');
  await until('the failure to be logged', async () => logged.length > 0);
  t.match(logged.join(''), /shorter than its recorded size/, 'the failure is logged with its cause');
  t.match(logged.join(''), /serving a cached blob failed/);
});

t.test('after a slow read the pump goes on through the threadpool, byte-exact', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'maskin-pump-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const bytes = randomBytes(4 * CHUNK + 999);
  const file = path.join(dir, 'blob');
  await writeFile(file, bytes);
  const [first, last] = [CHUNK - 5, 4 * CHUNK + 100];
  // slowReadMs -1: every synchronous read counts as slow, so all but the first use FileHandle.read.
  const server = http.createServer((req, res) => {
    const [a, b] = req.url === '/blob' ? [0, bytes.length - 1] : [first, last];
    res.writeHead(200, { 'content-length': b - a + 1 });
    void pumpFile(res, file, a, b, -1);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const port = (server.address() as AddressInfo).port;
  const full = await get(port);
  t.ok(full.complete);
  t.ok(full.body.equals(bytes), 'the whole file');
  const part = await new Promise<Buffer>((resolve, reject) =>
    http
      .get({ host: '127.0.0.1', port, path: '/part', agent: false }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c)).on('end', () => resolve(Buffer.concat(chunks)));
      })
      .on('error', reject),
  );
  t.ok(part.equals(bytes.subarray(first, last + 1)), 'a range across chunk boundaries');
  await until('the file to be closed', async () => (await openFds(file)) === 0);
  t.pass('descriptor closed');
});
