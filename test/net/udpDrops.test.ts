// Kernel receive-buffer drops: /proc/net/udp parsed as a table, then real drops on a loopback
// socket with the smallest buffer, counted on scrape; an unreadable /proc never throws.
import dgram from 'node:dgram';
import { Registry } from 'prom-client';
import t from 'tap';
import { parseProcNetUdp, sizeReceiveBuffer, udpDrops } from '../../agent/net/udpDrops.js';

const header = '   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops';
const row = (sl: number, local: string, uid: number, inode: number, drops: number): string =>
  [
    `${String(sl).padStart(5)}:`,
    local,
    '00000000:0000 07 00000000:00000000 00:00000000 00000000',
    String(uid).padStart(5),
    '       0',
    inode,
    2,
    '00000000d987d56a',
    drops,
  ].join(' ');

t.test('/proc/net/udp rows: address in host order, port big-endian, uid, inode, drops', async (t) => {
  const text = [header, row(1, '0100007F:BAB0', 0, 127893, 0), row(2, '00000000:0043', 998, 2001, 315000), row(3, '011212C6:0045', 0, 7, 12), ''].join('\n');
  t.same(parseProcNetUdp(text, true), [
    { localAddress: '127.0.0.1', localPort: 47792, uid: 0, inode: 127893, drops: 0 },
    { localAddress: '0.0.0.0', localPort: 67, uid: 998, inode: 2001, drops: 315000 },
    { localAddress: '198.18.18.1', localPort: 69, uid: 0, inode: 7, drops: 12 },
  ]);
  t.equal(parseProcNetUdp(row(1, 'C6121201:0045', 0, 7, 12), false)[0]?.localAddress, '198.18.18.1', 'a big-endian host prints the word as is');
  t.same(parseProcNetUdp('garbage\n  1: nothex:zz 0 0\n' + row(1, '0100007F:0045', 0, 1, 0).replace(/ 0$/, ' x')), [], 'what does not parse is skipped');
});

const metric = async (registry: Registry, name: string, service: string): Promise<number | undefined> =>
  (await registry.getSingleMetric(name)?.get())?.values.find((v) => v.labels.service === service)?.value;

t.test('datagrams the kernel drops on a full receive buffer are counted on scrape', async (t) => {
  const registry = new Registry();
  const receiver = dgram.createSocket('udp4');
  const sender = dgram.createSocket('udp4');
  t.teardown(() => {
    receiver.close();
    sender.close();
  });
  let received = 0;
  receiver.on('message', () => (received += 1));
  await new Promise<void>((resolve) => receiver.bind(0, '127.0.0.1', resolve));
  await new Promise<void>((resolve) => sender.bind(0, '127.0.0.1', resolve));
  // The kernel raises 1 byte to its minimum: a couple of datagrams fit.
  const buffer = sizeReceiveBuffer(receiver, 1);
  t.ok(buffer !== undefined && buffer < 16 * 1024, `smallest buffer granted (${buffer})`);
  t.ok((sizeReceiveBuffer(sender) ?? 0) > (buffer ?? 0), 'a larger one is granted up to what the kernel allows');
  const unwatch = udpDrops(registry).watch('test', receiver);
  t.equal(udpDrops(registry), udpDrops(registry), 'one instance per registry: DHCP and TFTP share the metrics');
  t.equal(await metric(registry, 'maskin_udp_receive_drops_total', 'test'), 0, 'a watched socket shows 0 before any drop');
  const sent = 2000;
  let acknowledged = 0;
  // Sent while this event loop cannot read: the receive buffer overflows.
  await new Promise<void>((resolve) => {
    for (let i = 0; i < sent; i += 1) sender.send(Buffer.alloc(1000), receiver.address().port, '127.0.0.1', () => ++acknowledged === sent && resolve());
  });
  const settled = async (): Promise<boolean> => received + ((await metric(registry, 'maskin_udp_receive_drops_total', 'test')) ?? 0) === sent;
  for (const until = Date.now() + 5000; !(await settled()) && Date.now() < until;) await new Promise((resolve) => setImmediate(resolve));
  const drops = (await metric(registry, 'maskin_udp_receive_drops_total', 'test')) ?? 0;
  t.ok(drops > 0, `the kernel dropped ${drops} of ${sent}`);
  t.equal(received + drops, sent, 'every datagram was either received or counted as dropped');
  t.equal(await metric(registry, 'maskin_udp_receive_buffer_bytes', 'test'), buffer);
  const labels = (await registry.getSingleMetric('maskin_udp_receive_drops_total')?.get())?.values[0]?.labels;
  t.same(labels, { service: 'test', address: `127.0.0.1:${receiver.address().port}` });
  unwatch();
  t.equal(await metric(registry, 'maskin_udp_receive_drops_total', 'test'), undefined, 'an unwatched socket leaves the metrics');
});

t.test('an unreadable or garbled /proc/net/udp never throws', async (t) => {
  for (const procFile of ['/nonexistent/maskin/udp', '/etc/hostname']) {
    const registry = new Registry();
    const socket = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
    udpDrops(registry, { procFile }).watch('test', socket);
    await t.resolves(registry.metrics(), procFile);
    socket.close();
  }
  const unbound = dgram.createSocket('udp4');
  t.doesNotThrow(() => udpDrops(new Registry()).watch('test', unbound)(), 'an unbound socket is not watched');
  t.equal(sizeReceiveBuffer(unbound), undefined, 'nor sized');
  unbound.close();
});
