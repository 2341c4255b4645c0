// The UDP probe against loopback servers on ephemeral ports: an NTP answer with its offset, a DNS
// answer, a server that stays silent, a port where nothing listens, and a stray datagram ignored.
import t from 'tap';
import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { udpServerProbe } from '../../agent/net/serverProbe.js';

async function server(t: { teardown(fn: () => unknown): void }, answer: (msg: Buffer, reply: (b: Buffer) => void) => void): Promise<Socket> {
  const s = createSocket('udp4');
  s.on('message', (msg, rinfo) => answer(msg, (b) => s.send(b, rinfo.port, rinfo.address)));
  s.bind(0, '127.0.0.1');
  await once(s, 'listening');
  t.teardown(() => s.close());
  return s;
}

/** An NTP server 2.5 s ahead of the client, stratum 10. */
function ntpAnswer(msg: Buffer, reply: (b: Buffer) => void): void {
  const out = Buffer.alloc(48);
  out[0] = (4 << 3) | 4;
  out[1] = 10;
  msg.copy(out, 24, 40, 48); // originate = the client's transmit
  const seconds = msg.readUInt32BE(40) + 2;
  const fraction = msg.readUInt32BE(44) + 2 ** 31; // + 0.5 s (wraps are ignored: off by 1 s at most)
  for (const at of [32, 40]) {
    out.writeUInt32BE(seconds + (fraction >= 2 ** 32 ? 1 : 0), at);
    out.writeUInt32BE(fraction % 2 ** 32, at + 4);
  }
  reply(Buffer.from('stray, not an answer'));
  reply(out);
}

t.test('an NTP server answers: stratum and offset', async (t) => {
  const s = await server(t, ntpAnswer);
  const probe = udpServerProbe({ ntpPort: s.address().port, timeoutMs: 2000 });
  const o = await probe.ntp('127.0.0.1');
  t.equal(o.kind, 'answered');
  if (o.kind !== 'answered') return;
  t.equal(o.stratum, 10);
  t.equal(o.leap, 0);
  t.ok(Math.abs(o.offsetSeconds - 2.5) < 0.05, `offset ${o.offsetSeconds} ≈ 2.5 s`);
});

t.test('a DNS server answers with its rcode', async (t) => {
  const s = await server(t, (msg, reply) => {
    const out = Buffer.from(msg);
    out.writeUInt16BE(0x8180 | 5, 2);
    reply(out);
  });
  const o = await udpServerProbe({ dnsPort: s.address().port }).dns('127.0.0.1');
  t.same(o, { kind: 'answered', rcode: 5 });
});

t.test('silence ends at the timeout; a closed port is refused', async (t) => {
  const quiet = await server(t, () => undefined);
  const started = Date.now();
  t.same(await udpServerProbe({ ntpPort: quiet.address().port, timeoutMs: 200 }).ntp('127.0.0.1'), { kind: 'silent', timeoutMs: 200 });
  t.ok(Date.now() - started < 1500, 'bounded by the timeout');
  const gone = createSocket('udp4');
  gone.bind(0, '127.0.0.1');
  await once(gone, 'listening');
  const port = gone.address().port;
  await new Promise<void>((resolve) => gone.close(() => resolve()));
  t.same(await udpServerProbe({ dnsPort: port, timeoutMs: 2000 }).dns('127.0.0.1'), { kind: 'refused' });
});
