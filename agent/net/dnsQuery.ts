// The one DNS question the pre-flight asks a DHCP-named resolver (RFC 1035 §4.1): `. NS`, which
// any working resolver answers, and the header of its reply.

/** RFC 1035 §4.1.1 RCODEs the pre-flight names; others are shown as numbers. */
export const RCODE_NAMES: Readonly<Record<number, string>> = { 0: 'NOERROR', 1: 'FORMERR', 2: 'SERVFAIL', 3: 'NXDOMAIN', 4: 'NOTIMP', 5: 'REFUSED' };

export interface DnsReplyHeader {
  readonly id: number;
  readonly rcode: number;
  readonly answers: number;
}

/** A recursive (RD) query for the root's NS records, class IN. */
export function encodeRootNsQuery(id: number): Buffer {
  const buf = Buffer.alloc(12 + 5);
  buf.writeUInt16BE(id, 0);
  buf.writeUInt16BE(0x0100, 2); // RD
  buf.writeUInt16BE(1, 4); // QDCOUNT
  // QNAME is the root: one zero-length label (buf[12] = 0), then QTYPE NS (2), QCLASS IN (1).
  buf.writeUInt16BE(2, 13);
  buf.writeUInt16BE(1, 15);
  return buf;
}

/** The header of the reply to query `id`, or undefined when `buf` is not one (short, no QR bit, other id). */
export function decodeDnsReplyHeader(buf: Buffer, id: number): DnsReplyHeader | undefined {
  if (buf.length < 12) return undefined;
  const flags = buf.readUInt16BE(2);
  if (buf.readUInt16BE(0) !== id || (flags & 0x8000) === 0) return undefined;
  return { id, rcode: flags & 0x000f, answers: buf.readUInt16BE(6) };
}
