import t from 'tap';
import { decodeDhcp, encodeDhcp, macOf } from '../../agent/dhcp/codec.js';
import type { DhcpOptions } from '../../agent/dhcp/options.js';
import { MalformedPacketError } from '../../agent/errors.js';
import { request } from './fixtures.js';

const mac = '52:54:00:ab:cd:ef';

// One entry per typed option (and an unknown one): encode → decode → encode gives equal bytes and
// the decoded value equals the original.
const cases: Array<[string, DhcpOptions]> = [
  ['1 subnet mask', { subnetMask: '255.255.255.0' }],
  ['3 routers', { routers: ['198.18.70.1', '198.18.70.2'] }],
  ['6 dns', { dns: ['198.18.70.53'] }],
  ['12 hostname', { hostname: 'node-1' }],
  ['15 domain', { domainName: 'rack.test' }],
  ['42 ntp', { ntpServers: ['198.18.70.1', '198.18.70.3'] }],
  ['43 vendor specific', { vendorSpecific: Buffer.from([6, 1, 8, 255]) }],
  ['50 requested ip', { requestedIp: '198.18.70.120' }],
  ['51 lease time', { leaseTime: 86400 }],
  ['53 message type', { messageType: 3 }],
  ['54 server id', { serverId: '198.18.70.1' }],
  ['55 parameter request list', { parameterRequestList: [1, 3, 6, 15, 42, 66, 67] }],
  ['56 message', { message: 'no' }],
  ['57 max size', { maxMessageSize: 1500 }],
  ['58 T1', { renewalTime: 1800 }],
  ['59 T2', { rebindingTime: 3150 }],
  ['60 vendor class', { vendorClass: 'PXEClient:Arch:00007:UNDI:003016' }],
  ['61 client id', { clientId: Buffer.from([1, 0x52, 0x54, 0, 0xab, 0xcd, 0xef]) }],
  ['66 tftp server', { tftpServer: '198.18.70.1' }],
  ['67 boot file', { bootFile: 'http://198.18.70.1:8080/boot.ipxe' }],
  ['77 user class, RFC 3004 form', { userClass: { form: 'rfc3004', classes: ['iPXE', 'talos'] } }],
  ['77 user class, iPXE plain form', { userClass: { form: 'plain', value: 'iPXE' } }],
  ['82 relay agent info', { relayAgentInfo: Buffer.from([1, 4, 0, 1, 0, 7, 2, 2, 0xaa, 0xbb]) }],
  ['93 client arch', { clientArch: [7] }],
  ['93 client arch, several', { clientArch: [16, 7] }],
  ['94 NIC id', { nicId: { type: 1, major: 3, minor: 16 } }],
  ['97 client uuid', { clientUuid: Buffer.concat([Buffer.from([0]), Buffer.alloc(16, 0x5a)]) }],
  ['175 iPXE encapsulated', { ipxe: Buffer.from([177, 5, 1, 1, 0, 1, 0, 19, 1, 1]) }],
  [
    'unknown option kept raw',
    {
      unknown: new Map([
        [224, Buffer.from('site-local')],
        [80, Buffer.alloc(0)],
      ]),
    },
  ],
  ['long value split per RFC 3396', { vendorSpecific: Buffer.alloc(600, 7) }],
];

for (const [name, options] of cases) {
  t.test(`round trip: ${name}`, async (t) => {
    const first = encodeDhcp(request(mac, { messageType: 1, ...options }));
    const decoded = decodeDhcp(first);
    const second = encodeDhcp(decoded);
    t.same(second, first, 'bytes equal after decode → encode');
    for (const [key, value] of Object.entries(options)) {
      t.same((decoded.options as Record<string, unknown>)[key], value, `${key} decoded`);
    }
    t.equal(macOf(decoded), mac);
  });
}

t.test('header fields and minimum size survive', async (t) => {
  const msg = request(
    mac,
    { messageType: 1 },
    { xid: 0xdeadbeef, secs: 9, flags: 0x8000, ciaddr: '198.18.70.5', giaddr: '198.18.71.1', hops: 2, file: 'x.efi', sname: 'srv' },
  );
  const buf = encodeDhcp(msg);
  t.ok(buf.length >= 300, 'padded to the BOOTP minimum');
  const back = decodeDhcp(buf);
  t.match(back, { op: 1, xid: 0xdeadbeef, secs: 9, flags: 0x8000, ciaddr: '198.18.70.5', giaddr: '198.18.71.1', hops: 2, file: 'x.efi', sname: 'srv' });
});

t.test('options follow optionOrder on the wire', async (t) => {
  const buf = encodeDhcp({ ...request(mac, { messageType: 2, serverId: '198.18.70.1', routers: ['198.18.70.1'] }), optionOrder: [54, 3] });
  t.same([...buf.subarray(240, 243)], [54, 4, 198]);
  t.same(decodeDhcp(buf).optionOrder, [54, 3, 53]);
});

t.test('repeated instances of an option are concatenated (RFC 3396)', async (t) => {
  const buf = encodeDhcp(request(mac, { messageType: 1 }));
  // Replace END with two dns instances, then END.
  const opts = Buffer.from([6, 4, 198, 18, 70, 1, 6, 4, 198, 18, 70, 2, 255]);
  const end = buf.indexOf(255, 240);
  opts.copy(buf, end);
  t.same(decodeDhcp(buf).options.dns, ['198.18.70.1', '198.18.70.2']);
});

t.test('option overload (52) reads options from file and sname', async (t) => {
  const buf = encodeDhcp(request(mac, { messageType: 1 }));
  const at = buf.indexOf(255, 240);
  Buffer.from([52, 1, 3, 255]).copy(buf, at);
  Buffer.from([67, 5, ...Buffer.from('a.efi'), 255]).copy(buf, 108); // file
  Buffer.from([12, 2, 0x68, 0x31, 255]).copy(buf, 44); // sname
  const msg = decodeDhcp(buf);
  t.equal(msg.options.bootFile, 'a.efi');
  t.equal(msg.options.hostname, 'h1');
  t.equal(msg.file, '');
  t.equal(msg.sname, '');
});

t.test('NUL-terminated strings are accepted', async (t) => {
  const buf = encodeDhcp(request(mac, { messageType: 1, vendorClass: 'PXEClient\0' }));
  t.equal(decodeDhcp(buf).options.vendorClass, 'PXEClient');
});

function withOptions(bytes: number[]): Buffer {
  const buf = encodeDhcp(request(mac, { messageType: 1 }));
  return Buffer.concat([buf.subarray(0, 240), Buffer.from(bytes)]);
}

const malformed: Array<[string, () => Buffer]> = [
  ['empty', () => Buffer.alloc(0)],
  ['shorter than the fixed header', () => encodeDhcp(request(mac, { messageType: 1 })).subarray(0, 200)],
  ['no room for the magic cookie', () => encodeDhcp(request(mac, { messageType: 1 })).subarray(0, 238)],
  [
    'bad magic cookie',
    () => {
      const b = encodeDhcp(request(mac, { messageType: 1 }));
      b[236] = 0;
      return b;
    },
  ],
  [
    'bad op',
    () => {
      const b = encodeDhcp(request(mac, { messageType: 1 }));
      b[0] = 3;
      return b;
    },
  ],
  [
    'hlen over 16',
    () => {
      const b = encodeDhcp(request(mac, { messageType: 1 }));
      b[2] = 17;
      return b;
    },
  ],
  ['option overruns the packet', () => withOptions([53, 1, 1, 12, 20, 0x61, 0x62])],
  ['option with no length byte', () => withOptions([53, 1, 1, 12])],
  ['message type of wrong length', () => withOptions([53, 2, 1, 1, 255])],
  ['subnet mask of wrong length', () => withOptions([53, 1, 1, 1, 3, 255, 255, 255, 255])],
  ['router list not a multiple of 4', () => withOptions([53, 1, 1, 3, 5, 1, 2, 3, 4, 5, 255])],
  ['lease time of wrong length', () => withOptions([53, 1, 1, 51, 2, 0, 1, 255])],
  ['client arch of odd length', () => withOptions([53, 1, 1, 93, 1, 0, 255])],
  ['NIC id of wrong length', () => withOptions([53, 1, 1, 94, 2, 1, 2, 255])],
  ['client id shorter than 2', () => withOptions([53, 1, 1, 61, 1, 1, 255])],
  ['max size of wrong length', () => withOptions([53, 1, 1, 57, 1, 5, 255])],
  ['bad overload value', () => withOptions([53, 1, 1, 52, 1, 4, 255])],
  [
    'overloaded file area overruns',
    () => {
      const b = withOptions([53, 1, 1, 52, 1, 1, 255]);
      b[126] = 67;
      b[127] = 200;
      return b;
    },
  ],
];

for (const [name, make] of malformed) {
  t.test(`malformed: ${name}`, async (t) => {
    let caught: unknown;
    try {
      decodeDhcp(make());
    } catch (err) {
      caught = err;
    }
    t.ok(caught instanceof MalformedPacketError, 'throws MalformedPacketError');
    t.equal((caught as MalformedPacketError | undefined)?.code, 'MASKIN_ERR_DHCP_MALFORMED');
  });
}

t.test('random garbage never throws anything but MalformedPacketError', async (t) => {
  let seed = 42;
  const rand = (): number => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
  const base = encodeDhcp(request(mac, { messageType: 1, parameterRequestList: [1, 3, 6], hostname: 'x' }));
  for (let i = 0; i < 2000; i++) {
    const b = Buffer.from(base.subarray(0, 236 + Math.floor(rand() * (base.length - 236))));
    for (let j = 0; j < 4; j++) b[Math.floor(rand() * b.length)] = Math.floor(rand() * 256);
    try {
      decodeDhcp(b);
    } catch (err) {
      if (!(err instanceof MalformedPacketError)) t.fail(`threw ${String(err)}`);
    }
  }
  t.pass('fuzzed');
});
