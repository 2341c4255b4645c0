// SNTP client request and reply (RFC 4330 §4-5, the NTPv4 header of RFC 5905 §7.3): what the
// pre-flight needs to ask a DHCP-named NTP server for the time and judge the answer as Talos would.

/** Seconds from 1900-01-01 (NTP era 0) to 1970-01-01. */
const NTP_UNIX_OFFSET = 2_208_988_800;
export const SNTP_PACKET_BYTES = 48;

/** RFC 5905 §7.3: LI 3 = clock unsynchronised. */
export const LEAP_UNSYNCHRONISED = 3;

export interface SntpReply {
  readonly leap: number;
  readonly version: number;
  readonly stratum: number;
  /** The server's reference, receive and transmit times, ms since 1970. */
  readonly referenceMs: number;
  readonly receiveMs: number;
  readonly transmitMs: number;
  /** The originate timestamp as sent: the client's transmit timestamp echoed, 8 raw bytes. */
  readonly originate: Buffer;
  readonly rootDelaySeconds: number;
  readonly rootDispersionSeconds: number;
}

function readTimestamp(buf: Buffer, at: number): number {
  const seconds = buf.readUInt32BE(at);
  const fraction = buf.readUInt32BE(at + 4);
  if (seconds === 0 && fraction === 0) return 0;
  // RFC 4330 §3: a most significant bit of 0 means era 1 (from 2036-02-07).
  const era = seconds & 0x8000_0000 ? 0 : 2 ** 32;
  return (seconds + era - NTP_UNIX_OFFSET) * 1000 + (fraction / 2 ** 32) * 1000;
}

function writeTimestamp(buf: Buffer, at: number, ms: number): void {
  const total = ms / 1000 + NTP_UNIX_OFFSET;
  const seconds = Math.floor(total);
  buf.writeUInt32BE(seconds % 2 ** 32, at);
  buf.writeUInt32BE(Math.min(2 ** 32 - 1, Math.round((total - seconds) * 2 ** 32)), at + 4);
}

/** A mode 3 (client) request, version 4, with `nowMs` as its transmit timestamp (RFC 4330 §5). */
export function encodeSntpRequest(nowMs: number): Buffer {
  const buf = Buffer.alloc(SNTP_PACKET_BYTES);
  buf[0] = (0 << 6) | (4 << 3) | 3;
  writeTimestamp(buf, 40, nowMs);
  return buf;
}

/**
 * The server's (mode 4) answer to `request`, or undefined when `buf` is not one: too short,
 * another mode, or an originate timestamp that is not the request's transmit timestamp (a stale
 * or forged reply, RFC 4330 §5).
 */
export function decodeSntpReply(buf: Buffer, request: Buffer): SntpReply | undefined {
  if (buf.length < SNTP_PACKET_BYTES || (buf[0]! & 0x07) !== 4) return undefined;
  const originate = Buffer.from(buf.subarray(24, 32));
  if (!originate.equals(request.subarray(40, 48))) return undefined;
  return {
    leap: buf[0]! >> 6,
    version: (buf[0]! >> 3) & 0x07,
    stratum: buf[1]!,
    rootDelaySeconds: buf.readInt32BE(4) / 2 ** 16,
    rootDispersionSeconds: buf.readUInt32BE(8) / 2 ** 16,
    referenceMs: readTimestamp(buf, 16),
    originate,
    receiveMs: readTimestamp(buf, 32),
    transmitMs: readTimestamp(buf, 40),
  };
}

/** RFC 4330 §5: ((T2 - T1) + (T3 - T4)) / 2, in seconds, positive when the server is ahead. */
export function clockOffsetSeconds(reply: Pick<SntpReply, 'receiveMs' | 'transmitMs'>, sentMs: number, receivedMs: number): number {
  return (reply.receiveMs - sentMs + (reply.transmitMs - receivedMs)) / 2 / 1000;
}
