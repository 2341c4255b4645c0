// An mDNS listener for the test bed: joins 224.0.0.251 on the given address and prints one JSON
// line per packet it receives (source, and each record's name, type and TTL). Run inside a peer
// namespace with `node dist/test/announce/bed/listen.js <address>`.
import { createSocket } from 'node:dgram';
import dnsPacket from 'dns-packet';

const address = process.argv[2]!;
const socket = createSocket({ type: 'udp4', reuseAddr: true });
socket.on('error', (err) => {
  console.error(err.message);
  process.exit(1);
});
socket.on('message', (buf, rinfo) => {
  try {
    const p = dnsPacket.decode(buf);
    const records = [...(p.answers ?? []), ...(p.additionals ?? [])].map((r) => ({ name: r.name, type: r.type, ttl: (r as { ttl?: number }).ttl }));
    console.log(JSON.stringify({ from: rinfo.address, type: p.type, records }));
  } catch {
    // the burst's own garbage, looped back
  }
});
socket.bind(5353, '0.0.0.0', () => {
  socket.addMembership('224.0.0.251', address);
  console.log(JSON.stringify({ listening: address }));
});
