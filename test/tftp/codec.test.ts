import t from 'tap';
import { MalformedPacketError } from '../../agent/errors.js';
import { decodeTftp, encodeTftp, type TftpMessage } from '../../agent/tftp/codec.js';

const opts = (...pairs: [string, string][]): Map<string, string> => new Map(pairs);

const messages: [string, TftpMessage][] = [
  ['plain RRQ', { op: 'RRQ', filename: 'undionly.kpxe', mode: 'octet', options: opts() }],
  [
    'RRQ with options',
    { op: 'RRQ', filename: 'efi/snponly.efi', mode: 'octet', options: opts(['blksize', '1468'], ['tsize', '0'], ['windowsize', '8'], ['timeout', '3']) },
  ],
  ['WRQ', { op: 'WRQ', filename: 'x', mode: 'netascii', options: opts() }],
  ['DATA', { op: 'DATA', block: 65535, data: Buffer.from('hello') }],
  ['empty last DATA', { op: 'DATA', block: 7, data: Buffer.alloc(0) }],
  ['ACK 0', { op: 'ACK', block: 0 }],
  ['ERROR', { op: 'ERROR', code: 2, message: 'access violation' }],
  ['ERROR with empty message', { op: 'ERROR', code: 0, message: '' }],
  ['OACK', { op: 'OACK', options: opts(['blksize', '1468'], ['tsize', '74213']) }],
  ['latin1 name survives', { op: 'RRQ', filename: 'caf\u00e9.bin', mode: 'octet', options: opts() }],
];

for (const [name, msg] of messages) {
  t.test(`round trip: ${name}`, async (t) => {
    const wire = encodeTftp(msg);
    const back = decodeTftp(wire);
    t.same(back, msg);
    t.equal(encodeTftp(back).length, wire.length);
    t.same(encodeTftp(back), wire);
  });
}

t.test('RRQ bytes are as RFC 1350 §5 lays them out', async (t) => {
  const wire = encodeTftp({ op: 'RRQ', filename: 'a', mode: 'octet', options: opts(['tsize', '0']) });
  t.same(wire, Buffer.from('\x00\x01a\x00octet\x00tsize\x000\x00', 'latin1'));
});

t.test('option names and mode are case-insensitive (RFC 2347)', async (t) => {
  const msg = decodeTftp(Buffer.from('\x00\x01F.EFI\x00OCTET\x00BlkSize\x001468\x00TSIZE\x000\x00', 'latin1'));
  t.equal(msg.op, 'RRQ');
  if (msg.op !== 'RRQ') return;
  t.equal(msg.filename, 'F.EFI', 'the filename keeps its case');
  t.equal(msg.mode, 'octet');
  t.same(
    [...msg.options],
    [
      ['blksize', '1468'],
      ['tsize', '0'],
    ],
  );
});

t.test('trailing NUL padding after options is tolerated; first duplicate option wins', async (t) => {
  const msg = decodeTftp(Buffer.from('\x00\x01f\x00octet\x00blksize\x00512\x00BLKSIZE\x009000\x00\x00\x00', 'latin1'));
  if (msg.op !== 'RRQ') return t.fail('not an RRQ');
  t.same([...msg.options], [['blksize', '512']]);
});

const malformed: [string, Buffer][] = [
  ['empty', Buffer.alloc(0)],
  ['one byte', Buffer.from([0])],
  ['unknown opcode 0', Buffer.from([0, 0, 0, 1])],
  ['unknown opcode 7', Buffer.from([0, 7, 0, 1])],
  ['RRQ without terminator', Buffer.from('\x00\x01file\x00octet', 'latin1')],
  ['RRQ without mode', Buffer.from('\x00\x01file\x00', 'latin1')],
  ['RRQ with empty name', Buffer.from('\x00\x01\x00octet\x00', 'latin1')],
  ['RRQ with empty mode', Buffer.from('\x00\x01file\x00\x00', 'latin1')],
  ['RRQ with odd option list', Buffer.from('\x00\x01file\x00octet\x00blksize\x00', 'latin1')],
  ['RRQ with option value missing its NUL', Buffer.from('\x00\x01file\x00octet\x00blksize\x001468', 'latin1')],
  ['RRQ with empty option name', Buffer.from('\x00\x01file\x00octet\x00\x00512\x00', 'latin1')],
  ['oversize RRQ', Buffer.concat([Buffer.from([0, 1]), Buffer.alloc(600, 0x61), Buffer.from('\x00octet\x00', 'latin1')])],
  ['short ACK', Buffer.from([0, 4, 0])],
  ['long ACK', Buffer.from([0, 4, 0, 1, 0])],
  ['DATA without block', Buffer.from([0, 3, 0])],
  ['oversize DATA', Buffer.concat([Buffer.from([0, 3, 0, 1]), Buffer.alloc(65465)])],
  ['ERROR without message', Buffer.from([0, 5, 0, 1])],
  ['ERROR without terminator', Buffer.from('\x00\x05\x00\x01oops', 'latin1')],
  ['ERROR with trailing data', Buffer.from('\x00\x05\x00\x01oops\x00more\x00', 'latin1')],
  ['OACK with odd list', Buffer.from('\x00\x06blksize\x00', 'latin1')],
];

for (const [name, buf] of malformed) {
  t.test(`malformed: ${name}`, async (t) => {
    let caught: unknown;
    try {
      decodeTftp(buf);
    } catch (err) {
      caught = err;
    }
    t.ok(caught instanceof MalformedPacketError, 'throws MalformedPacketError');
    t.match(caught, { code: 'MASKIN_ERR_TFTP_MALFORMED' });
  });
}

t.test('encode refuses what cannot be put on the wire', async (t) => {
  t.throws(() => encodeTftp({ op: 'ACK', block: 65536 }), RangeError);
  t.throws(() => encodeTftp({ op: 'RRQ', filename: 'a\0b', mode: 'octet', options: opts() }), RangeError);
});
