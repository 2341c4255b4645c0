// Sends mutated and random DHCP and TFTP datagrams at an agent, from inside an attacker namespace.
//   node dist/test/security/bed/fuzzer.js TARGET_IP DHCP_COUNT TFTP_COUNT SEED MAX_MS [PER_SECOND]
// Seeded, so a campaign that finds something can be replayed. Prints one JSON summary line.
import dgram from 'node:dgram';

const [target, dhcpArg, tftpArg, seedArg, maxArg, rateArg] = process.argv.slice(2);
if (!target) {
  process.stderr.write('usage: fuzzer.js TARGET_IP DHCP_COUNT TFTP_COUNT SEED MAX_MS [PER_SECOND]\n');
  process.exit(0);
}
const dhcpCount = Number(dhcpArg ?? 1000);
const tftpCount = Number(tftpArg ?? 1000);
const maxMs = Number(maxArg ?? 30_000);
// Paced so the agent, not the kernel's receive queue, sees most of them.
const perSecond = Number(rateArg ?? 5000);

// mulberry32: a small seeded PRNG.
let state = Number(seedArg ?? 1) >>> 0;
const random = (): number => {
  state = (state + 0x6d2b79f5) >>> 0;
  let x = state;
  x = Math.imul(x ^ (x >>> 15), x | 1);
  x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
  return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
};
const int = (n: number): number => Math.floor(random() * n);
const INTERESTING = [0, 1, 2, 0x7f, 0x80, 0xfe, 0xff];

/** A well-formed BOOTREQUEST: DISCOVER or REQUEST with PXE-ish options, from a random MAC. */
function dhcpSeed(): Buffer {
  const b = Buffer.alloc(576);
  b[0] = 1; // BOOTREQUEST
  b[1] = 1; // Ethernet
  b[2] = 6;
  b.writeUInt32BE(int(2 ** 32), 4);
  b[28] = 0x52;
  b[29] = 0x54;
  for (let i = 30; i < 34; i++) b[i] = int(256);
  b.writeUInt32BE(0x63825363, 236);
  const options = [
    [53, int(2) === 0 ? 1 : 3],
    [55, 1, 3, 6, 15, 42, 43, 60, 66, 67, 97, 175],
    [93, 0, [0, 6, 7, 9, 11, 16][int(6)]!],
    [60, ...Buffer.from('PXEClient:Arch:00000:UNDI:002001')],
    [61, 1, 0x52, 0x54, 0, 0, 0, int(256)],
    [77, ...Buffer.from('iPXE')],
    [50, 198, 18, 0, int(256)],
    [54, 198, 18, 0, 1],
  ];
  let at = 240;
  for (const [code, ...value] of options) {
    b[at++] = code!;
    b[at++] = value.length;
    for (const v of value) b[at++] = v!;
  }
  b[at++] = 255;
  return b.subarray(0, Math.max(at, 300));
}

/** A TFTP request or stray packet; RRQs are never ACKed. */
function tftpSeed(): Buffer {
  const files = ['undionly.kpxe', 'snponly.efi', '../etc/passwd', 'x'.repeat(int(600)), '%2e%2e/x', 'UNDIONLY.KPXE'];
  const opts = [
    ['blksize', String([8, 512, 1428, 1468, 65464, 0, 99999][int(7)])],
    ['timeout', String([1, 255, 0, 256][int(4)])],
    ['tsize', '0'],
    ['windowsize', String([1, 64, 65535, 0][int(4)])],
  ].filter(() => int(2) === 0);
  const kind = int(6);
  if (kind <= 2) {
    const parts = [files[int(files.length)]!, ['octet', 'netascii', 'mail', 'OCTET'][int(4)]!, ...opts.flat()];
    return Buffer.concat([Buffer.from([0, int(2) === 0 ? 1 : 2]), ...parts.map((p) => Buffer.from(`${p}\0`))]);
  }
  if (kind === 3) return Buffer.from([0, 4, int(256), int(256)]); // stray ACK
  if (kind === 4) return Buffer.concat([Buffer.from([0, 5, 0, int(9)]), Buffer.from('oops\0')]); // ERROR
  return Buffer.concat([Buffer.from([0, int(8)]), Buffer.alloc(int(600), int(256))]);
}

/** Bit flips, interesting bytes, truncation, extension, or pure noise. */
function mutate(seed: Buffer): Buffer {
  const b = Buffer.from(seed);
  switch (int(6)) {
    case 0:
      for (let n = 1 + int(8); n > 0; n--) {
        const i = int(b.length);
        b[i] = b[i]! ^ (1 << int(8));
      }
      return b;
    case 1:
      for (let n = 1 + int(4); n > 0; n--) b[int(b.length)] = INTERESTING[int(INTERESTING.length)]!;
      return b;
    case 2:
      return b.subarray(0, int(b.length));
    case 3:
      return Buffer.concat([b, Buffer.alloc(int(1200), int(256))]);
    case 4: {
      const noise = Buffer.alloc(int(1500));
      for (let i = 0; i < noise.length; i++) noise[i] = int(256);
      return noise;
    }
    default:
      return b;
  }
}

const socket = dgram.createSocket('udp4');
await new Promise<void>((resolve) => socket.bind(0, resolve));
const started = Date.now();
const sent = { dhcp: 0, tftp: 0 };
let inFlight = 0;
const send = (buf: Buffer, port: number): Promise<void> =>
  new Promise((resolve) => {
    inFlight++;
    socket.send(buf, port, target, () => {
      inFlight--;
      resolve();
    });
  });
let pending: Promise<void>[] = [];
for (let i = 0; (sent.dhcp < dhcpCount || sent.tftp < tftpCount) && Date.now() - started < maxMs; i++) {
  const doDhcp = sent.dhcp < dhcpCount && (sent.tftp >= tftpCount || int(dhcpCount + tftpCount) < dhcpCount);
  if (doDhcp) {
    pending.push(send(mutate(dhcpSeed()), 67));
    sent.dhcp++;
  } else {
    pending.push(send(mutate(tftpSeed()), 69));
    sent.tftp++;
  }
  // Bounded in flight: the kernel's send queue, not our memory, sets the pace.
  if (pending.length >= 64) {
    await Promise.all(pending);
    pending = [];
    const ahead = ((sent.dhcp + sent.tftp) * 1000) / perSecond - (Date.now() - started);
    if (ahead > 0) await new Promise((r) => setTimeout(r, ahead));
  }
}
await Promise.all(pending);
socket.close();
process.stdout.write(`${JSON.stringify({ ...sent, ms: Date.now() - started, inFlight })}\n`);
