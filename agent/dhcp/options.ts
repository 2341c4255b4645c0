// Typed DHCP options (RFC 2132, RFC 3004 user class, RFC 3046 relay info, RFC 4578 PXE, iPXE 175).
// Each known option has a decoder from its value bytes and an encoder back to them; anything else
// is kept as raw bytes so it survives a decode → encode round trip.
import { MalformedPacketError } from '../errors.js';

export const MessageType = {
  DISCOVER: 1,
  OFFER: 2,
  REQUEST: 3,
  DECLINE: 4,
  ACK: 5,
  NAK: 6,
  RELEASE: 7,
  INFORM: 8,
} as const;
export type MessageType = (typeof MessageType)[keyof typeof MessageType];

export const messageTypeName: Readonly<Record<number, string>> = {
  1: 'discover',
  2: 'offer',
  3: 'request',
  4: 'decline',
  5: 'ack',
  6: 'nak',
  7: 'release',
  8: 'inform',
};

/** RFC 3004 user class: a list of opaque class strings; iPXE sends plain "iPXE" instead. */
export type UserClass = { readonly form: 'rfc3004'; readonly classes: readonly string[] } | { readonly form: 'plain'; readonly value: string };

/** RFC 4578 §2.2 client network interface identifier. */
export interface NicId {
  readonly type: number;
  readonly major: number;
  readonly minor: number;
}

export interface DhcpOptions {
  subnetMask?: string; // 1
  routers?: string[]; // 3
  dns?: string[]; // 6
  hostname?: string; // 12
  domainName?: string; // 15
  ntpServers?: string[]; // 42
  vendorSpecific?: Buffer; // 43
  requestedIp?: string; // 50
  leaseTime?: number; // 51
  messageType?: number; // 53
  serverId?: string; // 54
  parameterRequestList?: number[]; // 55
  message?: string; // 56
  maxMessageSize?: number; // 57
  renewalTime?: number; // 58
  rebindingTime?: number; // 59
  vendorClass?: string; // 60
  clientId?: Buffer; // 61
  tftpServer?: string; // 66
  bootFile?: string; // 67
  userClass?: UserClass; // 77
  relayAgentInfo?: Buffer; // 82, echoed back verbatim (RFC 3046 §2.2)
  clientArch?: number[]; // 93
  nicId?: NicId; // 94
  clientUuid?: Buffer; // 97, type byte + 16-byte GUID, echoed back
  ipxe?: Buffer; // 175, iPXE encapsulated options, kept raw
  /** Options without a typed field, by code. */
  unknown?: Map<number, Buffer>;
}

interface OptionCodec {
  readonly code: number;
  readonly key: Exclude<keyof DhcpOptions, 'unknown'>;
  decode(value: Buffer): unknown;
  encode(value: never): Buffer;
}

function bad(code: number, reason: string): never {
  throw new MalformedPacketError('dhcp', `option ${code}: ${reason}`);
}

function ipsFrom(code: number, value: Buffer, single: boolean): string[] {
  if (value.length === 0 || value.length % 4 !== 0 || (single && value.length !== 4)) bad(code, `length ${value.length} is not a list of IPv4 addresses`);
  const out: string[] = [];
  for (let i = 0; i < value.length; i += 4) out.push(`${value[i]}.${value[i + 1]}.${value[i + 2]}.${value[i + 3]}`);
  return out;
}

function ipsTo(ips: readonly string[]): Buffer {
  const buf = Buffer.alloc(ips.length * 4);
  ips.forEach((ip, i) => writeIp(buf, i * 4, ip));
  return buf;
}

/**
 * Writes a dotted quad; an unparsable address is a programming error, not a packet error. Parsed
 * by hand: every reply writes several addresses, and split() + Number() showed in profiles.
 */
export function writeIp(buf: Buffer, offset: number, ip: string): void {
  let part = 0;
  let octet = 0;
  let digits = 0;
  for (let i = 0; i <= ip.length; i++) {
    const c = i < ip.length ? ip.charCodeAt(i) : 0x2e;
    if (c === 0x2e) {
      if (digits === 0 || part > 3) throw new TypeError(`not an IPv4 address: ${ip}`);
      buf[offset + part] = octet;
      part++;
      octet = 0;
      digits = 0;
    } else if (c >= 0x30 && c <= 0x39 && digits < 3) {
      octet = octet * 10 + (c - 0x30);
      digits++;
      if (octet > 255) throw new TypeError(`not an IPv4 address: ${ip}`);
    } else throw new TypeError(`not an IPv4 address: ${ip}`);
  }
  if (part !== 4) throw new TypeError(`not an IPv4 address: ${ip}`);
}

function u32(code: number, value: Buffer): number {
  if (value.length !== 4) bad(code, `length ${value.length}, expected 4`);
  return value.readUInt32BE(0);
}

function u32To(n: number): Buffer {
  const buf = Buffer.alloc(4);
  buf.writeUInt32BE(n >>> 0, 0);
  return buf;
}

function text(value: Buffer): string {
  // RFC 2132 §2: strings are not NUL-terminated, but some clients add one anyway.
  let end = value.length;
  while (end > 0 && value[end - 1] === 0) end--;
  return value.toString('latin1', 0, end);
}

const textTo = (s: string): Buffer => Buffer.from(s, 'latin1');
const raw = (value: Buffer): Buffer => Buffer.from(value);

const ipList = (code: number, key: OptionCodec['key']): OptionCodec => ({
  code,
  key,
  decode: (v) => ipsFrom(code, v, false),
  encode: (v: string[]) => ipsTo(v),
});
const ipOne = (code: number, key: OptionCodec['key']): OptionCodec => ({
  code,
  key,
  decode: (v) => ipsFrom(code, v, true)[0],
  encode: (v: string) => ipsTo([v]),
});
const seconds = (code: number, key: OptionCodec['key']): OptionCodec => ({
  code,
  key,
  decode: (v) => u32(code, v),
  encode: (v: number) => u32To(v),
});
const str = (code: number, key: OptionCodec['key']): OptionCodec => ({ code, key, decode: text, encode: (v: string) => textTo(v) });
const bytes = (code: number, key: OptionCodec['key']): OptionCodec => ({ code, key, decode: raw, encode: (v: Buffer) => raw(v) });

/**
 * RFC 3004 §4: each class is a length byte then data. iPXE instead sends the bare string "iPXE",
 * whose first byte ('i' = 105) would claim a longer class than the option holds, so anything that
 * does not parse exactly as length-prefixed classes is taken as the plain form.
 */
function decodeUserClass(value: Buffer): UserClass {
  const classes: string[] = [];
  let i = 0;
  while (i < value.length) {
    const len = value[i] ?? 0;
    if (len === 0 || i + 1 + len > value.length) return { form: 'plain', value: text(value) };
    classes.push(value.toString('latin1', i + 1, i + 1 + len));
    i += 1 + len;
  }
  if (classes.length === 0) return { form: 'plain', value: '' };
  return { form: 'rfc3004', classes };
}

function encodeUserClass(value: UserClass): Buffer {
  if (value.form === 'plain') return textTo(value.value);
  return Buffer.concat(value.classes.map((c) => Buffer.concat([Buffer.from([c.length]), textTo(c)])));
}

export const optionCodecs: readonly OptionCodec[] = [
  ipOne(1, 'subnetMask'),
  ipList(3, 'routers'),
  ipList(6, 'dns'),
  str(12, 'hostname'),
  str(15, 'domainName'),
  ipList(42, 'ntpServers'),
  bytes(43, 'vendorSpecific'),
  ipOne(50, 'requestedIp'),
  seconds(51, 'leaseTime'),
  {
    code: 53,
    key: 'messageType',
    decode: (v) => (v.length === 1 ? v[0] : bad(53, `length ${v.length}, expected 1`)),
    encode: (v: number) => Buffer.from([v]),
  },
  ipOne(54, 'serverId'),
  { code: 55, key: 'parameterRequestList', decode: (v) => [...v], encode: (v: number[]) => Buffer.from(v) },
  str(56, 'message'),
  {
    code: 57,
    key: 'maxMessageSize',
    decode: (v) => (v.length === 2 ? v.readUInt16BE(0) : bad(57, `length ${v.length}, expected 2`)),
    encode: (v: number) => Buffer.from([v >> 8, v & 255]),
  },
  seconds(58, 'renewalTime'),
  seconds(59, 'rebindingTime'),
  str(60, 'vendorClass'),
  {
    code: 61,
    key: 'clientId',
    decode: (v) => (v.length >= 2 ? raw(v) : bad(61, 'shorter than 2 bytes (RFC 2132 §9.14)')),
    encode: (v: Buffer) => raw(v),
  },
  str(66, 'tftpServer'),
  str(67, 'bootFile'),
  { code: 77, key: 'userClass', decode: decodeUserClass, encode: encodeUserClass },
  bytes(82, 'relayAgentInfo'),
  {
    code: 93,
    key: 'clientArch',
    decode: (v) => {
      if (v.length === 0 || v.length % 2 !== 0) bad(93, `length ${v.length} is not a list of 16-bit types`);
      const out: number[] = [];
      for (let i = 0; i < v.length; i += 2) out.push(v.readUInt16BE(i));
      return out;
    },
    encode: (v: number[]) => {
      const buf = Buffer.alloc(v.length * 2);
      v.forEach((a, i) => buf.writeUInt16BE(a, i * 2));
      return buf;
    },
  },
  {
    code: 94,
    key: 'nicId',
    decode: (v) => (v.length === 3 ? { type: v[0], major: v[1], minor: v[2] } : bad(94, `length ${v.length}, expected 3`)),
    encode: (v: NicId) => Buffer.from([v.type, v.major, v.minor]),
  },
  bytes(97, 'clientUuid'),
  bytes(175, 'ipxe'),
];

export const codecByCode: ReadonlyMap<number, OptionCodec> = new Map(optionCodecs.map((c) => [c.code, c]));
export const codecByKey: ReadonlyMap<string, OptionCodec> = new Map(optionCodecs.map((c) => [c.key, c]));

export const Opt = { PAD: 0, OVERLOAD: 52, END: 255 } as const;
