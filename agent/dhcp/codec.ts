// Pure DHCPv4 codec (RFC 2131 §2 message format, RFC 2132 options, RFC 3396 long options).
// decodeDhcp throws MalformedPacketError on anything it cannot trust; encodeDhcp never overloads.
import { MalformedPacketError } from '../errors.js';
import { codecByCode, codecByKey, Opt, writeIp, type DhcpOptions } from './options.js';

export interface DhcpMessage {
  /** 1 = BOOTREQUEST, 2 = BOOTREPLY */
  op: number;
  htype: number;
  hlen: number;
  hops: number;
  xid: number;
  secs: number;
  /** Bit 15 is the broadcast flag (RFC 2131 §2, figure 2). */
  flags: number;
  ciaddr: string;
  yiaddr: string;
  siaddr: string;
  giaddr: string;
  /** The `hlen` bytes of the client hardware address. */
  chaddr: Buffer;
  sname: string;
  file: string;
  options: DhcpOptions;
  /** Option codes in wire order; decode fills it, encode follows it and appends the rest. */
  optionOrder?: number[];
}

export const BROADCAST_FLAG = 0x8000;
const MAGIC = 0x63825363;
const FIXED = 236;
/** BOOTP minimum (RFC 1542 §3.1.1): some relays and ROMs drop shorter messages. */
const MIN_SIZE = 300;
export const ZERO_IP = '0.0.0.0';

function fail(reason: string): never {
  throw new MalformedPacketError('dhcp', reason);
}

function ipAt(buf: Buffer, off: number): string {
  return `${buf[off]}.${buf[off + 1]}.${buf[off + 2]}.${buf[off + 3]}`;
}

function cString(buf: Buffer, start: number, len: number): string {
  const nul = buf.indexOf(0, start);
  const end = nul < 0 || nul > start + len ? start + len : nul;
  return buf.toString('latin1', start, end);
}

/** Reads code/length/value triples from one area into `parts`, keeping first-seen order. */
function scanOptions(buf: Buffer, start: number, end: number, parts: Map<number, Buffer[]>, order: number[], area: string): void {
  let i = start;
  while (i < end) {
    const code = buf[i] as number;
    if (code === Opt.END) return;
    if (code === Opt.PAD) {
      i++;
      continue;
    }
    if (i + 1 >= end) fail(`${area}: option ${code} has no length byte`);
    const len = buf[i + 1] as number;
    if (i + 2 + len > end) fail(`${area}: option ${code} (length ${len}) overruns the packet`);
    const value = buf.subarray(i + 2, i + 2 + len);
    const seen = parts.get(code);
    if (seen) seen.push(value);
    else {
      parts.set(code, [value]);
      order.push(code);
    }
    i += 2 + len;
  }
  // A missing END after the last option is tolerated: some clients fill the area exactly.
}

export function decodeDhcp(buf: Buffer): DhcpMessage {
  if (buf.length < FIXED + 4) fail(`length ${buf.length} is shorter than ${FIXED + 4}`);
  const op = buf[0] as number;
  if (op !== 1 && op !== 2) fail(`op ${op} is neither BOOTREQUEST nor BOOTREPLY`);
  const hlen = buf[2] as number;
  if (hlen > 16) fail(`hlen ${hlen} exceeds the 16-byte chaddr field`);
  if (buf.readUInt32BE(FIXED) !== MAGIC) fail('bad magic cookie');

  const parts = new Map<number, Buffer[]>();
  const order: number[] = [];
  scanOptions(buf, FIXED + 4, buf.length, parts, order, 'options');
  // RFC 2131 §4.1: option 52 moves further options into `file` (1), `sname` (2) or both (3),
  // read in the order options, file, sname.
  let overload = 0;
  const overloadParts = parts.get(Opt.OVERLOAD);
  if (overloadParts) {
    const value = Buffer.concat(overloadParts);
    if (value.length !== 1 || (value[0] as number) < 1 || (value[0] as number) > 3) fail('option 52: bad overload value');
    overload = value[0] as number;
    parts.delete(Opt.OVERLOAD);
    order.splice(order.indexOf(Opt.OVERLOAD), 1);
    if (overload & 1) scanOptions(buf, 108, 236, parts, order, 'file');
    if (overload & 2) scanOptions(buf, 44, 108, parts, order, 'sname');
  }

  const options: DhcpOptions = {};
  for (const code of order) {
    const chunks = parts.get(code) as Buffer[];
    // RFC 3396 §7: repeated instances of one option are concatenated.
    const value = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks);
    const codec = codecByCode.get(code);
    if (codec) (options as Record<string, unknown>)[codec.key] = codec.decode(value);
    else (options.unknown ??= new Map()).set(code, Buffer.from(value));
  }

  return {
    op,
    htype: buf[1] as number,
    hlen,
    hops: buf[3] as number,
    xid: buf.readUInt32BE(4),
    secs: buf.readUInt16BE(8),
    flags: buf.readUInt16BE(10),
    ciaddr: ipAt(buf, 12),
    yiaddr: ipAt(buf, 16),
    siaddr: ipAt(buf, 20),
    giaddr: ipAt(buf, 24),
    chaddr: Buffer.from(buf.subarray(28, 28 + hlen)),
    sname: overload & 2 ? '' : cString(buf, 44, 64),
    file: overload & 1 ? '' : cString(buf, 108, 128),
    options,
    optionOrder: order,
  };
}

/** Wire bytes of every present option, in `order` first, then by code (53 leading). */
function optionValues(options: DhcpOptions, order: readonly number[] | undefined): Array<[number, Buffer]> {
  const out: Array<[number, Buffer]> = [];
  const done = new Set<number>();
  const emit = (code: number): void => {
    if (done.has(code)) return;
    done.add(code);
    const codec = codecByCode.get(code);
    if (codec) {
      const value = options[codec.key];
      if (value === undefined || (Array.isArray(value) && value.length === 0)) return;
      out.push([code, codec.encode(value as never)]);
    } else {
      const value = options.unknown?.get(code);
      if (value) out.push([code, value]);
    }
  };
  if (order) for (const code of order) emit(code);
  emit(53);
  for (const key of Object.keys(options)) {
    const codec = codecByKey.get(key);
    if (codec) emit(codec.code);
  }
  if (options.unknown) for (const code of [...options.unknown.keys()].sort((a, b) => a - b)) emit(code);
  return out;
}

export function encodeDhcp(msg: DhcpMessage): Buffer {
  const values = optionValues(msg.options, msg.optionOrder);
  let optionBytes = 1; // END
  for (const [, value] of values) optionBytes += value.length + 2 * Math.max(1, Math.ceil(value.length / 255));
  const buf = Buffer.alloc(Math.max(MIN_SIZE, FIXED + 4 + optionBytes));
  buf[0] = msg.op;
  buf[1] = msg.htype;
  buf[2] = msg.hlen;
  buf[3] = msg.hops;
  buf.writeUInt32BE(msg.xid >>> 0, 4);
  buf.writeUInt16BE(msg.secs, 8);
  buf.writeUInt16BE(msg.flags, 10);
  writeIp(buf, 12, msg.ciaddr);
  writeIp(buf, 16, msg.yiaddr);
  writeIp(buf, 20, msg.siaddr);
  writeIp(buf, 24, msg.giaddr);
  msg.chaddr.copy(buf, 28, 0, Math.min(16, msg.chaddr.length));
  if (msg.sname.length > 63) throw new RangeError('sname longer than 63 bytes');
  if (msg.file.length > 127) throw new RangeError('file longer than 127 bytes');
  buf.write(msg.sname, 44, 'latin1');
  buf.write(msg.file, 108, 'latin1');
  buf.writeUInt32BE(MAGIC, FIXED);
  let i = FIXED + 4;
  for (const [code, value] of values) {
    // RFC 3396 §5: a value longer than 255 bytes is split into consecutive instances.
    let start = 0;
    do {
      const len = Math.min(255, value.length - start);
      buf[i++] = code;
      buf[i++] = len;
      value.copy(buf, i, start, start + len);
      i += len;
      start += len;
    } while (start < value.length);
  }
  buf[i] = Opt.END;
  return buf;
}

/** Lower-case, colon-separated hardware address (the manifest's form). */
export function macOf(msg: DhcpMessage): string {
  let out = '';
  for (let i = 0; i < msg.chaddr.length; i++) {
    const b = msg.chaddr[i] as number;
    out += (i ? ':' : '') + (b < 16 ? '0' : '') + b.toString(16);
  }
  return out;
}
