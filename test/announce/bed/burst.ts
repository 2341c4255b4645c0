// A hostile neighbour for the test bed: sends malformed mDNS datagrams (random bytes, truncated
// headers, counts far beyond the packet, compression-pointer loops, oversized labels) and a flood
// of valid legacy-unicast queries, to the group and to the target's address, then exits.
// `node dist/test/announce/bed/burst.js <target> <source address> <count>`
import { createSocket } from 'node:dgram';
import { randomBytes } from 'node:crypto';
import dnsPacket from 'dns-packet';

const [target = '', source = '', countText = '1000'] = process.argv.slice(2);
const count = Number(countText);

function malformed(i: number): Buffer {
  switch (i % 6) {
    case 0:
      return randomBytes(i % 600);
    case 1:
      return Buffer.from([0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]); // 65535 of everything, no body
    case 2: {
      const loop = Buffer.alloc(18);
      loop.writeUInt16BE(1, 4); // one question whose name points at itself
      loop.writeUInt16BE(0xc00c, 12);
      return loop;
    }
    case 3: {
      const q = dnsPacket.encode({ type: 'query', questions: [{ name: '_maskin-agent._tcp.local', type: 'PTR' }] });
      return q.subarray(0, q.length - 3); // cut inside the question
    }
    case 4: {
      const long = Buffer.alloc(12 + 1 + 200);
      long.writeUInt16BE(1, 4);
      long[12] = 200; // a label longer than 63
      return long;
    }
    default:
      return Buffer.concat([Buffer.from([0, 0, 0x84, 0, 0, 0, 0, 1, 0, 0, 0, 0]), randomBytes(40)]); // a response with a garbage answer
  }
}

const socket = createSocket({ type: 'udp4' });
socket.bind(0, source, async () => {
  socket.setMulticastInterface(source);
  const valid = dnsPacket.encode({ type: 'query', id: 7, questions: [{ name: '_maskin-agent._tcp.local', type: 'PTR' }] });
  const send = (buf: Buffer, to: string): Promise<void> => new Promise((resolve) => socket.send(buf, 5353, to, () => resolve()));
  for (let i = 0; i < count; i++) {
    await send(malformed(i), i % 2 === 0 ? target : '224.0.0.251');
    // Valid legacy-unicast queries between the garbage: far more than the unicast budget.
    if (i % 4 === 0) await send(valid, target);
  }
  socket.close();
  console.log(JSON.stringify({ sent: count, queries: Math.ceil(count / 4) }));
});
