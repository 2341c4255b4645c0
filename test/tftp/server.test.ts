// Loopback integration: our service on 127.0.0.1, port 0, against the raw client and the npm
// `tftp` client.
import dgram from 'node:dgram';
import { copyFile, mkdtemp, readFile, rm, symlink } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import t from 'tap';
import tftp from 'tftp';
import { DEFAULT_TFTP } from '../../agent/config/load.js';
import { decodeTftp, encodeTftp, type TftpMessage } from '../../agent/tftp/codec.js';
import { createTftpService, type TftpDeps } from '../../agent/tftp/server.js';
import { recordingObserver } from '../fakes/observer.js';
import { fetchTftp } from './rawClient.js';

const IPXE = '/usr/lib/ipxe';
type Teardown = { teardown(fn: () => unknown): void };

async function servedRoot(t: Teardown): Promise<string> {
  const root = await mkdtemp(path.join(os.tmpdir(), 'maskin-tftp-srv-'));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  await copyFile(path.join(IPXE, 'undionly.kpxe'), path.join(root, 'undionly.kpxe'));
  await copyFile(path.join(IPXE, 'snponly.efi'), path.join(root, 'snponly.efi'));
  await symlink('/etc/passwd', path.join(root, 'passwd'));
  return root;
}

async function startServer(t: Teardown, extra: Partial<TftpDeps> = {}) {
  const root = await servedRoot(t);
  const observer = recordingObserver();
  const registry = new Registry();
  const service = createTftpService({
    address: '127.0.0.1',
    port: 0,
    observer,
    log: pino({ level: 'silent' }),
    registry,
    retransmit: { timeoutMs: 200, retries: 3 },
    bounds: DEFAULT_TFTP,
    ...extra,
    root: extra.root ?? root,
  });
  const stop = new AbortController();
  const running = service.run(stop.signal);
  t.teardown(async () => {
    stop.abort();
    await running;
  });
  const { port } = await service.ready;
  const metric = async (name: string, labels: Record<string, string> = {}): Promise<number> => {
    const values = (await registry.getSingleMetric(name)?.get())?.values ?? [];
    return values.filter((v) => Object.entries(labels).every(([k, l]) => (v.labels as Record<string, unknown>)[k] === l)).reduce((sum, v) => sum + v.value, 0);
  };
  return { root, observer, registry, service, port, stop, running, metric };
}

/** Sends raw bytes to the server and collects what comes back within `ms`. */
async function exchange(port: number, packet: Buffer, ms = 300): Promise<TftpMessage[]> {
  const socket = dgram.createSocket('udp4');
  const replies: TftpMessage[] = [];
  socket.on('message', (buf) => replies.push(decodeTftp(buf)));
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  socket.send(packet, port, '127.0.0.1');
  await new Promise((resolve) => setTimeout(resolve, ms));
  socket.close();
  return replies;
}

/** The server records a transfer when the final ACK arrives, just after the client is done. */
async function eventually(check: () => boolean | Promise<boolean>, ms = 2000): Promise<boolean> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (await check()) return true;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return check();
}

const rrq = (filename: string, options: [string, string][] = []): Buffer => encodeTftp({ op: 'RRQ', filename, mode: 'octet', options: new Map(options) });

t.test('serves undionly.kpxe and snponly.efi byte-identical with blksize 1468, windowsize 8, tsize', async (t) => {
  const { port, observer, metric } = await startServer(t);
  for (const file of ['undionly.kpxe', 'snponly.efi']) {
    const expected = await readFile(path.join(IPXE, file));
    const got = await fetchTftp({ host: '127.0.0.1', port, file, blksize: 1468, windowsize: 8, tsize: true });
    t.ok(got.data.equals(expected), `${file} is byte-identical`);
    t.same(
      [...(got.oack ?? [])],
      [
        ['blksize', '1468'],
        ['tsize', String(expected.length)],
        ['windowsize', '8'],
      ],
    );
    await eventually(() => observer.steps.some((s) => s.step === 'tftp-transfer' && s.detail.file === file));
    const step = observer.steps.find((s) => s.step === 'tftp-transfer' && s.detail.file === file);
    t.match(step, { subject: { ip: '127.0.0.1' }, detail: { bytes: expected.length, blksize: 1468, windowsize: 8 } });
  }
  t.equal(await metric('maskin_tftp_transfers_total', { result: 'ok' }), 2);
});

t.test('plain RFC 1350 read: no options, no OACK, 512-byte blocks', async (t) => {
  const { port } = await startServer(t);
  const expected = await readFile(path.join(IPXE, 'undionly.kpxe'));
  const got = await fetchTftp({ host: '127.0.0.1', port, file: '/UNDIONLY.KPXE' });
  t.equal(got.oack, undefined);
  t.ok(got.data.equals(expected), 'byte-identical through a leading slash and other case');
  t.equal(got.received.size, Math.floor(expected.length / 512) + 1);
});

t.test('the npm tftp client fetches snponly.efi byte-identical', async (t) => {
  const { port } = await startServer(t);
  const expected = await readFile(path.join(IPXE, 'snponly.efi'));
  const client = tftp.createClient({ host: '127.0.0.1', port, blockSize: 1468, windowSize: 8 });
  const data = await new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    const stream = client.createGetStream('snponly.efi');
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('error', reject);
    stream.on('end', () => resolve(Buffer.concat(chunks)));
  });
  t.ok(data.equals(expected), 'byte-identical');
});

t.test('names outside the root are refused with an ERROR and nothing is sent', async (t) => {
  const { port, observer } = await startServer(t);
  const cases: [string, Buffer, number][] = [
    ['../etc/passwd', rrq('../etc/passwd'), 2],
    ['../../../../etc/passwd', rrq('../../../../etc/passwd'), 2],
    ['/etc/passwd (root-relative, absent)', rrq('/etc/passwd'), 1],
    ['%2e%2e/%2e%2e/etc/passwd', rrq('%2e%2e/%2e%2e/etc/passwd'), 2],
    ['..%2fetc%2fpasswd', rrq('..%2fetc%2fpasswd'), 2],
    ['symlink to /etc/passwd', rrq('passwd'), 2],
    ['backslashes', rrq('..\\..\\etc\\passwd'), 2],
    // A NUL inside the name ends it; what follows lands in the mode field and is refused.
    ['name with NUL', Buffer.from('\x00\x01undionly.kpxe\x00../../etc/passwd\x00octet\x00', 'latin1'), 4],
  ];
  for (const [name, packet, code] of cases) {
    const replies = await exchange(port, packet, 150);
    t.same(replies, [{ op: 'ERROR', code, message: replies[0]?.op === 'ERROR' ? replies[0].message : '' }], name);
  }
  await t.rejects(fetchTftp({ host: '127.0.0.1', port, file: '../etc/passwd' }), { code: 2 });
  t.ok(observer.steps.some((s) => s.step === 'tftp-failed' && s.detail.reason === 'path-refused'));
});

t.test('write requests are refused with ERROR 2', async (t) => {
  const { port, observer } = await startServer(t);
  const replies = await exchange(port, encodeTftp({ op: 'WRQ', filename: 'undionly.kpxe', mode: 'octet', options: new Map() }));
  t.match(replies, [{ op: 'ERROR', code: 2 }]);
  t.equal(replies.length, 1);
  t.ok(observer.steps.some((s) => s.step === 'tftp-failed' && s.detail.reason === 'write-refused'));
});

t.test('a withheld ACK makes the server resend the block', async (t) => {
  const { port, metric } = await startServer(t);
  const expected = await readFile(path.join(IPXE, 'undionly.kpxe'));
  const lockstep = await fetchTftp({ host: '127.0.0.1', port, file: 'undionly.kpxe', blksize: 1468, withholdAck: 5, timeoutMs: 5000 });
  t.equal(lockstep.received.get(5), 2, 'block 5 arrived twice');
  t.equal(lockstep.received.get(4), 1);
  t.ok(lockstep.data.equals(expected));
  const windowed = await fetchTftp({ host: '127.0.0.1', port, file: 'undionly.kpxe', blksize: 1468, windowsize: 4, withholdAck: 8, timeoutMs: 5000 });
  t.equal(windowed.received.get(5), 2, 'the whole unacknowledged window is resent');
  t.equal(windowed.received.get(8), 2);
  t.equal(windowed.received.get(9), 1);
  t.ok(windowed.data.equals(expected));
  const retransmits = await metric('maskin_tftp_retransmits_total');
  t.equal(retransmits, 2, `retransmits ${retransmits}`);
});

t.test("duplicate ACKs are not answered (no Sorcerer's Apprentice)", async (t) => {
  const { port } = await startServer(t, { retransmit: { timeoutMs: 2000, retries: 1 } });
  const socket = dgram.createSocket('udp4');
  t.teardown(() => socket.close());
  const data: number[] = [];
  let tid = 0;
  socket.on('message', (buf, rinfo) => {
    const msg = decodeTftp(buf);
    if (msg.op !== 'DATA') return;
    tid = rinfo.port;
    data.push(msg.block);
    if (msg.block === 1) {
      const ack = encodeTftp({ op: 'ACK', block: 1 });
      socket.send(ack, tid, '127.0.0.1');
      socket.send(ack, tid, '127.0.0.1');
      socket.send(encodeTftp({ op: 'ACK', block: 0 }), tid, '127.0.0.1');
    }
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  socket.send(rrq('undionly.kpxe'), port, '127.0.0.1');
  await new Promise((resolve) => setTimeout(resolve, 400));
  t.same(data, [1, 2], 'one DATA 2 for two ACK 1 and a stale ACK 0');
});

t.test('a silent client is given up on after the bounded retransmissions', async (t) => {
  const { port, observer, metric } = await startServer(t, { retransmit: { timeoutMs: 100, retries: 2 } });
  const replies = await exchange(port, rrq('undionly.kpxe'), 700);
  t.same(
    replies.map((r) => (r.op === 'DATA' ? `DATA ${r.block}` : r.op)),
    ['DATA 1', 'DATA 1', 'DATA 1', 'ERROR'],
  );
  t.equal(await metric('maskin_tftp_transfers_total', { result: 'failed' }), 1);
  t.match(
    observer.steps.find((s) => s.step === 'tftp-failed'),
    { subject: { ip: '127.0.0.1' }, detail: { reason: 'timeout' } },
  );
});

t.test('malformed packets are dropped and counted; the server keeps serving', async (t) => {
  const { port, metric } = await startServer(t);
  const junk = [Buffer.alloc(0), Buffer.from([0, 9, 1, 2]), Buffer.from('\x00\x03\x00', 'latin1'), Buffer.alloc(2000, 1)];
  for (const packet of junk) t.same(await exchange(port, packet, 50), [], 'no answer');
  t.same(await exchange(port, encodeTftp({ op: 'ACK', block: 3 }), 50), [], 'stray ACK ignored');
  t.match(await exchange(port, Buffer.from('\x00\x01noterminator', 'latin1'), 100), [{ op: 'ERROR', code: 4 }], 'a broken request is answered with ERROR 4');
  t.equal(await metric('maskin_tftp_dropped_total', { reason: 'malformed' }), junk.length + 1);
  t.equal(await metric('maskin_tftp_dropped_total', { reason: 'unexpected' }), 1);
  const got = await fetchTftp({ host: '127.0.0.1', port, file: 'undionly.kpxe', blksize: 1468 });
  t.equal(got.data.length, (await readFile(path.join(IPXE, 'undionly.kpxe'))).length);
});

t.test('missing file: ERROR 1', async (t) => {
  const { port } = await startServer(t);
  t.match(await exchange(port, rrq('nothere.efi')), [{ op: 'ERROR', code: 1 }]);
});

t.test('50 concurrent transfers all complete byte-identical', async (t) => {
  // One loopback address plays 50 machines here, each of which would have its own.
  const { port } = await startServer(t, { bounds: { ...DEFAULT_TFTP, maxTransfersPerClient: 50 } });
  const expected = await readFile(path.join(IPXE, 'snponly.efi'));
  const results = await Promise.all(
    Array.from({ length: 50 }, () => fetchTftp({ host: '127.0.0.1', port, file: 'snponly.efi', blksize: 1468, windowsize: 8 })),
  );
  t.ok(results.every((r) => r.data.equals(expected)));
});

t.test('stops on abort, closing its sockets; a taken port is a fatal bind error', async (t) => {
  const { port, stop, running } = await startServer(t);
  const other = createTftpService({
    root: '/nonexistent',
    address: '127.0.0.1',
    port,
    observer: recordingObserver(),
    log: pino({ level: 'silent' }),
    bounds: DEFAULT_TFTP,
  });
  await t.rejects(other.run(new AbortController().signal), { code: 'EADDRINUSE' });
  await t.rejects(other.ready);
  stop.abort();
  await running;
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(port, '127.0.0.1', resolve);
  });
  socket.close();
  t.pass('port is free again');
});

t.test('a PXE size probe (OACK answered with ERROR) is not a failure; a retransmitted RRQ starts no second transfer', async (t) => {
  const { port, observer } = await startServer(t, { retransmit: { timeoutMs: 1000, retries: 1 } });
  const socket = dgram.createSocket('udp4');
  t.teardown(() => socket.close());
  const seen: { port: number; msg: TftpMessage }[] = [];
  socket.on('message', (buf, rinfo) => seen.push({ port: rinfo.port, msg: decodeTftp(buf) }));
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const probe = rrq('undionly.kpxe', [['tsize', '0']]);
  socket.send(probe, port, '127.0.0.1');
  socket.send(probe, port, '127.0.0.1');
  await eventually(() => seen.length > 0);
  await new Promise((resolve) => setTimeout(resolve, 100));
  t.equal(seen.length, 1, 'one OACK for two identical RRQs');
  const [first] = seen;
  if (first === undefined) return;
  t.match(first.msg, { op: 'OACK' });
  t.equal(first.msg.op === 'OACK' ? first.msg.options.get('tsize') : undefined, String((await readFile(path.join(IPXE, 'undionly.kpxe'))).length));
  socket.send(encodeTftp({ op: 'ERROR', code: 0, message: 'TFTP Aborted' }), first.port, '127.0.0.1');
  await new Promise((resolve) => setTimeout(resolve, 200));
  t.equal(seen.length, 1, 'nothing more after the abort');
  t.same(
    observer.steps.filter((s) => s.step === 'tftp-failed'),
    [],
    'no failure recorded for a probe',
  );
});

t.test('a client ERROR in the middle of a transfer is recorded as a failure', async (t) => {
  const { port, observer } = await startServer(t);
  const socket = dgram.createSocket('udp4');
  t.teardown(() => socket.close());
  socket.on('message', (buf, rinfo) => {
    const msg = decodeTftp(buf);
    if (msg.op === 'DATA' && msg.block === 1) socket.send(encodeTftp({ op: 'ERROR', code: 3, message: 'disk full' }), rinfo.port, '127.0.0.1');
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  socket.send(rrq('undionly.kpxe'), port, '127.0.0.1');
  t.ok(await eventually(() => observer.steps.some((s) => s.step === 'tftp-failed')));
  t.match(
    observer.steps.find((s) => s.step === 'tftp-failed'),
    { detail: { reason: 'client-error', detail: '3 disk full' } },
  );
});

t.test('an unreadable root answers ERROR 0 instead of leaving the client waiting', async (t) => {
  const { port, observer } = await startServer(t, { root: '/nonexistent/maskin-tftp-root' });
  t.match(await exchange(port, rrq('undionly.kpxe')), [{ op: 'ERROR', code: 0 }]);
  t.match(observer.steps, [{ step: 'tftp-failed', detail: { reason: 'server-error' } }]);
});

/** Sends `packet` and collects replies until `enough` holds for them (or `ms` passes). */
async function repliesUntil(port: number, packet: Buffer, enough: (replies: TftpMessage[]) => boolean, ms = 3000): Promise<TftpMessage[]> {
  const socket = dgram.createSocket('udp4');
  const replies: TftpMessage[] = [];
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    socket.on('message', (buf) => {
      replies.push(decodeTftp(buf));
      if (enough(replies)) {
        clearTimeout(timer);
        resolve();
      }
    });
    socket.send(packet, port, '127.0.0.1');
  });
  socket.close();
  return replies;
}

/** Opens `count` read requests from their own sockets that never ACK; returns each socket's first reply (or none). */
async function silentClients(t: Teardown, port: number, packet: Buffer, count: number): Promise<{ replies: (TftpMessage | undefined)[] }> {
  const replies: (TftpMessage | undefined)[] = Array.from({ length: count }, () => undefined);
  for (let i = 0; i < count; i += 1) {
    const socket = dgram.createSocket('udp4');
    t.teardown(() => socket.close());
    socket.on('message', (buf) => (replies[i] ??= decodeTftp(buf)));
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
    socket.send(packet, port, '127.0.0.1');
  }
  return { replies };
}

t.test('over its share a client gets ERROR 0; over the server bound a request is dropped; both counted', async (t) => {
  const bounds = { ...DEFAULT_TFTP, maxTransfers: 3, maxTransfersPerClient: 2 };
  const { port, metric } = await startServer(t, { bounds, retransmit: { timeoutMs: 5000, retries: 1 } });
  const { replies } = await silentClients(t, port, rrq('undionly.kpxe', [['blksize', '1468']]), 3);
  t.ok(await eventually(() => replies.every((r) => r !== undefined)));
  t.same(
    replies.map((r) => r?.op),
    ['OACK', 'OACK', 'ERROR'],
  );
  t.match(replies[2], { code: 0, message: /too many transfers/ });
  t.equal(await metric('maskin_tftp_refused_total', { reason: 'client-limit' }), 1);
  // 127.0.0.2 is loopback too: a second client address, whose second request finds the server full.
  const other = dgram.createSocket('udp4');
  t.teardown(() => other.close());
  const otherReplies: TftpMessage[] = [];
  other.on('message', (buf) => otherReplies.push(decodeTftp(buf)));
  await new Promise<void>((resolve) => other.bind(0, '127.0.0.2', resolve));
  other.send(rrq('undionly.kpxe', [['blksize', '1468']]), port, '127.0.0.1');
  t.ok(await eventually(() => otherReplies.length === 1), 'the third slot goes to another address');
  const full = dgram.createSocket('udp4');
  t.teardown(() => full.close());
  const fullReplies: TftpMessage[] = [];
  full.on('message', (buf) => fullReplies.push(decodeTftp(buf)));
  await new Promise<void>((resolve) => full.bind(0, '127.0.0.2', resolve));
  full.send(rrq('undionly.kpxe'), port, '127.0.0.1');
  t.ok(await eventually(async () => (await metric('maskin_tftp_refused_total', { reason: 'server-limit' })) === 1));
  t.same(fullReplies, [], 'a full server stays silent, so the client retransmits');
  t.equal(await metric('maskin_tftp_active_transfers'), 3);
});

t.test('a client timeout over the cap is ignored, not answered; the transfer keeps our 1 s retransmission', async (t) => {
  const { port } = await startServer(t, { retransmit: { timeoutMs: 1000, retries: 1 } });
  const first = (replies: TftpMessage[]): boolean => replies.length > 0;
  const [reply] = await repliesUntil(
    port,
    rrq('undionly.kpxe', [
      ['timeout', '255'],
      ['tsize', '0'],
    ]),
    first,
  );
  t.match(reply, { op: 'OACK' });
  t.same(reply?.op === 'OACK' ? [...reply.options.keys()] : [], ['tsize'], 'timeout 255 left out of the OACK (RFC 2349 §2)');
  const [accepted] = await repliesUntil(port, rrq('undionly.kpxe', [['timeout', '3']]), first);
  t.same(accepted?.op === 'OACK' ? [...accepted.options] : [], [['timeout', '3']], 'one under the cap is accepted as sent');
});

t.test('a transfer ends after its lifetime whatever the client does, and its slot frees', async (t) => {
  const bounds = { ...DEFAULT_TFTP, maxTransfersPerClient: 1, maxTransferMs: 300 };
  const { port, observer, metric } = await startServer(t, { bounds, retransmit: { timeoutMs: 150, retries: 100 } });
  const replies = await repliesUntil(port, rrq('undionly.kpxe'), (r) => r.at(-1)?.op === 'ERROR');
  t.match(replies.at(-1), { op: 'ERROR', message: 'transfer took too long' });
  t.ok(replies.length >= 2 && replies.length <= 4, `DATA 1 resent every 150 ms until 300 ms (${replies.length} replies)`);
  t.ok(await eventually(() => observer.steps.some((s) => s.step === 'tftp-failed' && s.detail.reason === 'expired')));
  t.ok(await eventually(async () => (await metric('maskin_tftp_active_transfers')) === 0));
  const got = await fetchTftp({ host: '127.0.0.1', port, file: 'undionly.kpxe', blksize: 1468 });
  t.equal(got.data.length, (await readFile(path.join(IPXE, 'undionly.kpxe'))).length, 'the client has its slot back');
});

t.test('a new RRQ from the same port replaces the running transfer without an ERROR from the old one', async (t) => {
  const { port } = await startServer(t, { retransmit: { timeoutMs: 2000, retries: 1 } });
  const socket = dgram.createSocket('udp4');
  t.teardown(() => socket.close());
  const seen: { port: number; msg: TftpMessage }[] = [];
  socket.on('message', (buf, rinfo) => seen.push({ port: rinfo.port, msg: decodeTftp(buf) }));
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  socket.send(rrq('undionly.kpxe', [['blksize', '512']]), port, '127.0.0.1');
  t.ok(await eventually(() => seen.length === 1));
  const first = seen[0]?.port;
  socket.send(rrq('undionly.kpxe', [['blksize', '1024']]), port, '127.0.0.1');
  t.ok(await eventually(() => seen.some((s) => s.port !== first)), 'the new request is answered from a new TID');
  t.same(
    seen.map((s) => s.msg.op),
    ['OACK', 'OACK'],
    'the first answer to the new request is its OACK, not an ERROR from the replaced transfer',
  );
});
