// TFTP wire codec (RFC 1350 §5, options per RFC 2347). Pure: bytes in, messages out, and back.
// Strings are decoded as latin1 so every byte survives a round trip unchanged; the path check
// (paths.ts) decides what a name may contain.
import { MalformedPacketError } from '../errors.js';

export const Opcode = { RRQ: 1, WRQ: 2, DATA: 3, ACK: 4, ERROR: 5, OACK: 6 } as const;

/** RFC 1350 §5 error codes, plus 8 from RFC 2347. */
export const ErrorCode = {
  notDefined: 0,
  fileNotFound: 1,
  accessViolation: 2,
  diskFull: 3,
  illegalOperation: 4,
  unknownTid: 5,
  fileExists: 6,
  noSuchUser: 7,
  optionRefused: 8,
} as const;

/** Option names are lower-cased on decode (RFC 2347: case-insensitive); insertion order is kept. */
export type TftpOptions = ReadonlyMap<string, string>;

export type TftpMessage =
  | { readonly op: 'RRQ' | 'WRQ'; readonly filename: string; readonly mode: string; readonly options: TftpOptions }
  | { readonly op: 'DATA'; readonly block: number; readonly data: Buffer }
  | { readonly op: 'ACK'; readonly block: number }
  | { readonly op: 'ERROR'; readonly code: number; readonly message: string }
  | { readonly op: 'OACK'; readonly options: TftpOptions };

/** RFC 2347 §2: "the request packet must not exceed 512 octets". */
export const MAX_REQUEST_BYTES = 512;
/** RFC 2348: the largest blksize, so the largest DATA payload. */
export const MAX_BLKSIZE = 65464;

function malformed(reason: string): never {
  throw new MalformedPacketError('tftp', reason);
}

/** Splits `buf` from `start` into NUL-terminated strings; every string must be terminated. */
function cStrings(buf: Buffer, start: number): string[] {
  const out: string[] = [];
  let at = start;
  while (at < buf.length) {
    const end = buf.indexOf(0, at);
    if (end < 0) malformed('string without NUL terminator');
    out.push(buf.toString('latin1', at, end));
    at = end + 1;
  }
  return out;
}

function optionList(strings: readonly string[]): Map<string, string> {
  // Some PXE ROMs pad requests with NUL bytes; trailing empty strings are padding, not options.
  let count = strings.length;
  while (count > 0 && strings[count - 1] === '') count -= 1;
  if (count % 2 !== 0) malformed('option without a value');
  const options = new Map<string, string>();
  for (let i = 0; i < count; i += 2) {
    const name = (strings[i] ?? '').toLowerCase();
    const value = strings[i + 1] ?? '';
    if (name === '') malformed('empty option name');
    // RFC 2347 does not define duplicates; the first one wins so a later one cannot override it.
    if (!options.has(name)) options.set(name, value);
  }
  return options;
}

export function decodeTftp(buf: Buffer): TftpMessage {
  if (buf.length < 2) malformed('shorter than an opcode');
  const opcode = buf.readUInt16BE(0);
  switch (opcode) {
    case Opcode.RRQ:
    case Opcode.WRQ: {
      if (buf.length > MAX_REQUEST_BYTES) malformed(`request of ${buf.length} bytes exceeds ${MAX_REQUEST_BYTES}`);
      const strings = cStrings(buf, 2);
      const [filename, mode] = strings;
      if (filename === undefined || mode === undefined) malformed('request without filename and mode');
      if (filename === '') malformed('empty filename');
      if (mode === '') malformed('empty mode');
      return {
        op: opcode === Opcode.RRQ ? 'RRQ' : 'WRQ',
        filename,
        mode: mode.toLowerCase(),
        options: optionList(strings.slice(2)),
      };
    }
    case Opcode.DATA:
      if (buf.length < 4) malformed('DATA without block number');
      if (buf.length - 4 > MAX_BLKSIZE) malformed('DATA payload larger than the largest blksize');
      return { op: 'DATA', block: buf.readUInt16BE(2), data: buf.subarray(4) };
    case Opcode.ACK:
      if (buf.length !== 4) malformed(`ACK of ${buf.length} bytes, expected 4`);
      return { op: 'ACK', block: buf.readUInt16BE(2) };
    case Opcode.ERROR: {
      if (buf.length < 5) malformed('ERROR without code and message');
      const strings = cStrings(buf, 4);
      if (strings.length !== 1 && !(strings.length > 1 && strings.slice(1).every((s) => s === ''))) {
        malformed('ERROR with trailing data');
      }
      return { op: 'ERROR', code: buf.readUInt16BE(2), message: strings[0] ?? '' };
    }
    case Opcode.OACK: {
      const strings = cStrings(buf, 2);
      return { op: 'OACK', options: optionList(strings) };
    }
    default:
      return malformed(`unknown opcode ${opcode}`);
  }
}

function header(opcode: number, second?: number): Buffer {
  const head = Buffer.allocUnsafe(second === undefined ? 2 : 4);
  head.writeUInt16BE(opcode, 0);
  if (second !== undefined) head.writeUInt16BE(second, 2);
  return head;
}

function cString(text: string): Buffer {
  if (text.includes('\0')) throw new RangeError('TFTP strings cannot contain NUL');
  return Buffer.concat([Buffer.from(text, 'latin1'), Buffer.alloc(1)]);
}

function encodeOptions(options: TftpOptions): Buffer[] {
  const parts: Buffer[] = [];
  for (const [name, value] of options) parts.push(cString(name), cString(value));
  return parts;
}

function checkU16(n: number, what: string): number {
  if (!Number.isInteger(n) || n < 0 || n > 0xffff) throw new RangeError(`${what} ${n} is not a 16-bit number`);
  return n;
}

export function encodeTftp(msg: TftpMessage): Buffer {
  switch (msg.op) {
    case 'RRQ':
    case 'WRQ':
      return Buffer.concat([header(msg.op === 'RRQ' ? Opcode.RRQ : Opcode.WRQ), cString(msg.filename), cString(msg.mode), ...encodeOptions(msg.options)]);
    case 'DATA':
      if (msg.data.length > MAX_BLKSIZE) throw new RangeError('DATA payload larger than the largest blksize');
      return Buffer.concat([header(Opcode.DATA, checkU16(msg.block, 'block')), msg.data]);
    case 'ACK':
      return header(Opcode.ACK, checkU16(msg.block, 'block'));
    case 'ERROR':
      return Buffer.concat([header(Opcode.ERROR, checkU16(msg.code, 'error code')), cString(msg.message)]);
    case 'OACK':
      return Buffer.concat([header(Opcode.OACK), ...encodeOptions(msg.options)]);
  }
}
