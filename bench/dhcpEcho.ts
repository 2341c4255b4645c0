// A DHCP responder that answers from memory, for finding the load generator's own ceiling: no
// lease store, no policy, no option parsing beyond the message type (RFC 2132 §9.6, option 53).
// It answers DISCOVER with OFFER and REQUEST with ACK, giving each client hardware address the
// next address of 198.19.1.0/16 onwards. If perfdhcp reaches no higher rate against it than
// against a real server, the client side is the limit.
//   node dist/bench/dhcpEcho.js <server address>
// Prints "ready 67" once bound; stops on SIGTERM.
import dgram from 'node:dgram';

const server = process.argv[2];
if (!server) {
  process.stderr.write('usage: dhcpEcho.js <server address>\n');
  process.exit(2);
}
const serverBytes = server.split('.').map(Number);
const FIXED = 236;
const MAGIC = [0x63, 0x82, 0x53, 0x63];
const addresses = new Map<string, number>();

/** The message type of a BOOTREQUEST, or 0 when it has none or is not a DHCP message. */
function messageType(msg: Buffer): number {
  if (msg.length < FIXED + 4 || msg[0] !== 1) return 0;
  for (let i = 0; i < 4; i++) if (msg[FIXED + i] !== MAGIC[i]) return 0;
  let i = FIXED + 4;
  while (i + 1 < msg.length) {
    const code = msg[i] as number;
    if (code === 255) return 0;
    if (code === 0) {
      i++;
      continue;
    }
    const len = msg[i + 1] as number;
    if (code === 53 && len === 1 && i + 2 < msg.length) return msg[i + 2] as number;
    i += 2 + len;
  }
  return 0;
}

function reply(request: Buffer, type: number): Buffer {
  const out = Buffer.alloc(300);
  request.copy(out, 0, 0, FIXED);
  out[0] = 2; // BOOTREPLY
  out.writeUInt32BE(0, 12); // ciaddr
  const key = request.toString('hex', 28, 34);
  let index = addresses.get(key);
  if (index === undefined) {
    index = addresses.size;
    addresses.set(key, index);
  }
  const host = 256 + (index % 60000);
  out.set([198, 19, host >> 8, host & 0xff], 16); // yiaddr
  out.set(serverBytes, 20); // siaddr
  let o = FIXED;
  out.set(MAGIC, o);
  o += 4;
  out.set([53, 1, type], o);
  o += 3;
  out.set([54, 4, ...serverBytes], o);
  o += 6;
  out.set([51, 4, 0, 0, 0x0e, 0x10], o); // 3600 s
  o += 6;
  out.set([1, 4, 255, 255, 0, 0], o);
  o += 6;
  out[o] = 255;
  return out;
}

const listen = dgram.createSocket({ type: 'udp4', reuseAddr: true });
const speak = dgram.createSocket({ type: 'udp4', reuseAddr: true });
// A unicast request to the server address arrives on `speak` (the more specific bind), a broadcast on `listen`.
const onMessage = (msg: Buffer): void => {
  const type = messageType(msg);
  const answer = type === 1 ? 2 : type === 3 ? 5 : 0; // DISCOVER → OFFER, REQUEST → ACK
  if (!answer) return;
  // RFC 2131 §4.1: a relayed request (perfdhcp sends as a relay, giaddr = its own address) is
  // answered to the relay's server port; a direct one by broadcast.
  const giaddr = msg.readUInt32BE(24);
  if (giaddr !== 0) speak.send(reply(msg, answer), 67, `${msg[24]}.${msg[25]}.${msg[26]}.${msg[27]}`);
  else speak.send(reply(msg, answer), 68, '255.255.255.255');
};
listen.on('message', onMessage);
speak.on('message', onMessage);
listen.on('error', (err) => process.stderr.write(`listen: ${err.message}\n`));
speak.on('error', (err) => process.stderr.write(`speak: ${err.message}\n`));
listen.bind({ address: '0.0.0.0', port: 67 }, () => {
  speak.bind({ address: server, port: 67 }, () => {
    speak.setBroadcast(true);
    process.stdout.write('ready 67\n');
  });
});
process.on('SIGTERM', () => {
  listen.close();
  speak.close();
});
