import t from 'tap';
import { decodeDhcp, encodeDhcp, type DhcpMessage } from '../../agent/dhcp/codec.js';
import type { LeaseRecord } from '../../agent/dhcp/leaseTable.js';
import { openLeasePool } from '../../agent/dhcp/leases.js';
import { MessageType as M, type DhcpOptions } from '../../agent/dhcp/options.js';
import { decide, reservationsOf, type Decision } from '../../agent/dhcp/policy.js';
import { memorySublevel } from '../fakes/sublevel.js';
import { fixedNode, nicNode, node, request, testConfig, testDirectory } from './fixtures.js';

const SERVER = '198.18.70.1';

async function harness(config = testConfig(), directory = testDirectory()) {
  let clock = 1_700_000_000_000;
  const leases = await openLeasePool(memorySublevel<LeaseRecord>().sublevel, { now: () => clock });
  const reservations = reservationsOf(directory);
  return {
    leases,
    advance: (seconds: number) => (clock += seconds * 1000),
    /** decide + apply, as the server does. */
    async send(msg: DhcpMessage): Promise<Decision> {
      const node = directory.byMac(msg.chaddr.toString('hex').replace(/(..)(?!$)/g, '$1:'));
      const d = decide(msg, node, { config, leases, reservations, now: clock });
      if (d.change) await leases.apply(d.change);
      // Every reply must survive the codec.
      if (d.reply) t.same(encodeDhcp(decodeDhcp(encodeDhcp(d.reply.message))), encodeDhcp(d.reply.message));
      return d;
    },
  };
}

const discover = (mac: string, o: DhcpOptions = {}, over: Partial<DhcpMessage> = {}) => request(mac, { messageType: M.DISCOVER, ...o }, over);
const select = (mac: string, ip: string, serverId = SERVER, o: DhcpOptions = {}, over: Partial<DhcpMessage> = {}) =>
  request(mac, { messageType: M.REQUEST, requestedIp: ip, serverId, ...o }, over);

t.test('plain client: DISCOVER → OFFER with network options, no boot file; REQUEST → ACK', async (t) => {
  const h = await harness();
  const d = await h.send(discover('02:00:00:00:00:01', { parameterRequestList: [1, 28, 3, 15, 6, 42] }));
  t.equal(d.reply?.message.options.messageType, M.OFFER);
  const offer = d.reply!.message;
  t.equal(offer.yiaddr, '198.18.70.100');
  t.match(offer.options, {
    serverId: SERVER,
    leaseTime: 3600,
    renewalTime: 1800,
    rebindingTime: 3150,
    subnetMask: '255.255.255.0',
    routers: ['198.18.70.1'],
    dns: ['198.18.70.1', '198.18.70.2'],
    ntpServers: ['198.18.70.1'],
    domainName: 'rack.test',
  });
  t.equal(offer.options.bootFile, undefined);
  t.equal(offer.file, '');
  t.equal(offer.options.vendorClass, undefined);
  t.same(d.reply!.to, { address: '255.255.255.255', port: 68, broadcast: true });
  t.same(
    d.steps.map((s) => s.step),
    ['dhcp-discover', 'dhcp-offer'],
  );
  // PRL order after the leading options: 1 then 3, 15, 6, 42.
  const wire = decodeDhcp(encodeDhcp(offer)).optionOrder!;
  t.same(wire.slice(0, 10), [53, 54, 51, 58, 59, 1, 3, 15, 6, 42]);
  const ack = await h.send(select('02:00:00:00:00:01', offer.yiaddr));
  t.equal(ack.reply?.message.options.messageType, M.ACK);
  t.equal(ack.reply?.message.yiaddr, '198.18.70.100');
  t.equal(h.leases.ipOf('02:00:00:00:00:01'), '198.18.70.100');
  t.equal(h.leases.macOf('198.18.70.100'), '02:00:00:00:00:01');
});

const pxeCases: Array<[string, DhcpOptions, { file: string; siaddr: string; vc?: string; tftp?: string }]> = [
  ['BIOS (0)', { vendorClass: 'PXEClient:Arch:00000:UNDI:002001', clientArch: [0] }, { file: 'undionly.kpxe', siaddr: SERVER, vc: 'PXEClient', tftp: SERVER }],
  [
    'UEFI x64 (7)',
    { vendorClass: 'PXEClient:Arch:00007:UNDI:003016', clientArch: [7] },
    { file: 'snponly.efi', siaddr: SERVER, vc: 'PXEClient', tftp: SERVER },
  ],
  [
    'UEFI x64 (9)',
    { vendorClass: 'PXEClient:Arch:00009:UNDI:003016', clientArch: [9] },
    { file: 'snponly.efi', siaddr: SERVER, vc: 'PXEClient', tftp: SERVER },
  ],
  [
    'UEFI IA32 (6)',
    { vendorClass: 'PXEClient:Arch:00006:UNDI:003016', clientArch: [6] },
    { file: 'snponly.efi', siaddr: SERVER, vc: 'PXEClient', tftp: SERVER },
  ],
  [
    'UEFI arm64 (11)',
    { vendorClass: 'PXEClient:Arch:00011:UNDI:003016', clientArch: [11] },
    { file: 'snp-arm64.efi', siaddr: SERVER, vc: 'PXEClient', tftp: SERVER },
  ],
  [
    'HTTP boot x64 (16)',
    { vendorClass: 'HTTPClient:Arch:00016:UNDI:003016', clientArch: [16] },
    { file: 'http://198.18.70.1:8080/boot/snponly.efi', siaddr: '0.0.0.0', vc: 'HTTPClient' },
  ],
  [
    'HTTP boot x86 (15)',
    { vendorClass: 'HTTPClient:Arch:00015:UNDI:003016', clientArch: [15] },
    { file: 'http://198.18.70.1:8080/boot/snponly.efi', siaddr: '0.0.0.0', vc: 'HTTPClient' },
  ],
  [
    'HTTP boot arm64 (19)',
    { vendorClass: 'HTTPClient:Arch:00019:UNDI:003016', clientArch: [19] },
    { file: 'http://198.18.70.1:8080/boot/snp-arm64.efi', siaddr: '0.0.0.0', vc: 'HTTPClient' },
  ],
  [
    'iPXE (77)',
    { vendorClass: 'PXEClient:Arch:00007:UNDI:003010', clientArch: [7], userClass: { form: 'plain', value: 'iPXE' } },
    { file: 'http://198.18.70.1:8080/boot.ipxe', siaddr: '0.0.0.0' },
  ],
  [
    'iPXE (175)',
    { vendorClass: 'PXEClient:Arch:00000:UNDI:002001', clientArch: [0], ipxe: Buffer.from([177, 1, 1]) },
    { file: 'http://198.18.70.1:8080/boot.ipxe', siaddr: '0.0.0.0' },
  ],
];

for (const [name, options, want] of pxeCases) {
  t.test(`boot reply for ${name}: file header and option 67, siaddr/66, 60, 97 echo, in OFFER and ACK`, async (t) => {
    const h = await harness();
    const uuid = Buffer.concat([Buffer.from([0]), Buffer.alloc(16, 0x11)]);
    const mac = '02:00:00:00:01:01';
    for (const msg of [discover(mac, { ...options, clientUuid: uuid }), select(mac, '198.18.70.100', SERVER, { ...options, clientUuid: uuid })]) {
      const d = await h.send(msg);
      const r = d.reply!.message;
      t.equal(r.file, want.file);
      t.equal(r.options.bootFile, want.file);
      t.equal(r.siaddr, want.siaddr);
      t.equal(r.options.tftpServer, want.tftp);
      t.equal(r.options.vendorClass, want.vc);
      // PXE discovery control "use the boot file": without it EDK2 treats the offer as BINL.
      if (want.vc === 'PXEClient') t.same([...(r.options.vendorSpecific ?? [])], [6, 1, 8, 255]);
      else t.equal(r.options.vendorSpecific, undefined);
      t.same(r.options.clientUuid, uuid);
      t.equal(r.options.serverId, SERVER);
      t.equal(r.options.subnetMask, '255.255.255.0');
      t.equal(r.options.leaseTime, 3600);
      t.equal(d.steps.at(-1)?.detail.bootFile, want.file);
    }
  });
}

t.test('fixed reservation: the node gets its address, with hostname; nobody else can', async (t) => {
  const h = await harness();
  const d = await h.send(discover(fixedNode.macs[0]!));
  t.equal(d.reply?.message.yiaddr, '198.18.70.10');
  t.equal(d.reply?.message.options.hostname, 'fixed-1');
  const other = await h.send(discover('02:00:00:00:00:09', { requestedIp: '198.18.70.10' }));
  t.not(other.reply?.message.yiaddr, '198.18.70.10');
  const nak = await h.send(select('02:00:00:00:00:09', '198.18.70.10'));
  t.equal(nak.reply?.message.options.messageType, M.NAK);
  const nak2 = await h.send(select(fixedNode.macs[0]!, '198.18.70.150'));
  t.equal(nak2.reply?.message.options.messageType, M.NAK, 'reserved node asking for another address');
});

t.test('sticky: the same MAC gets the same address back after release and after expiry', async (t) => {
  const h = await harness();
  const mac = '02:00:00:00:00:02';
  await h.send(discover('02:00:00:00:00:01'));
  const first = (await h.send(discover(mac))).reply!.message.yiaddr;
  await h.send(select(mac, first));
  await h.send(request(mac, { messageType: M.RELEASE, serverId: SERVER }, { ciaddr: first }));
  t.equal(h.leases.ipOf(mac), undefined, 'released');
  t.equal((await h.send(discover(mac))).reply!.message.yiaddr, first);
  await h.send(select(mac, first));
  h.advance(7200);
  t.equal(h.leases.ipOf(mac), undefined, 'expired');
  t.equal((await h.send(discover(mac))).reply!.message.yiaddr, first);
});

t.test('an offer holds its address for offerHold seconds, then it returns to the pool', async (t) => {
  const h = await harness(testConfig({ dhcp: { poolStart: '198.18.70.100', poolEnd: '198.18.70.100' } }));
  t.equal((await h.send(discover('02:00:00:00:00:01'))).reply?.message.yiaddr, '198.18.70.100');
  const blocked = await h.send(discover('02:00:00:00:00:02'));
  t.equal(blocked.reply, undefined);
  t.equal(blocked.dropped, 'pool-exhausted');
  h.advance(31);
  t.equal((await h.send(discover('02:00:00:00:00:02'))).reply?.message.yiaddr, '198.18.70.100');
});

t.test('pool exhaustion drops with a reason and never throws', async (t) => {
  const h = await harness(testConfig({ dhcp: { poolStart: '198.18.70.100', poolEnd: '198.18.70.102' } }));
  for (let i = 1; i <= 3; i++) {
    const mac = `02:00:00:00:00:0${i}`;
    const d = await h.send(discover(mac));
    await h.send(select(mac, d.reply!.message.yiaddr));
  }
  const d = await h.send(discover('02:00:00:00:00:09'));
  t.equal(d.dropped, 'pool-exhausted');
  t.equal(d.reply, undefined);
  t.same(
    d.steps.map((s) => s.step),
    ['dhcp-discover'],
  );
  h.advance(3601);
  t.ok((await h.send(discover('02:00:00:00:00:09'))).reply, 'expired leases are reused');
});

t.test('REQUEST naming another server: silent, and our offer is released', async (t) => {
  const h = await harness(testConfig({ dhcp: { poolStart: '198.18.70.100', poolEnd: '198.18.70.100' } }));
  await h.send(discover('02:00:00:00:00:01'));
  const d = await h.send(select('02:00:00:00:00:01', '198.18.70.100', '198.18.70.254'));
  t.equal(d.reply, undefined);
  t.equal(d.dropped, 'other-server');
  t.equal((await h.send(discover('02:00:00:00:00:02'))).reply?.message.yiaddr, '198.18.70.100', 'address free again');
});

t.test('NAK cases', async (t) => {
  const h = await harness();
  const mac = '02:00:00:00:00:05';
  const offered = (await h.send(discover(mac))).reply!.message.yiaddr;
  await h.send(select(mac, offered));
  const other = '02:00:00:00:00:06';
  const cases: Array<[string, DhcpMessage]> = [
    ['SELECTING an address held by another client', select(other, offered)],
    ['INIT-REBOOT with an address from another network', request(other, { messageType: M.REQUEST, requestedIp: '10.1.2.3' })],
    ['INIT-REBOOT with an address held by another client', request(other, { messageType: M.REQUEST, requestedIp: offered })],
    ['RENEWING (ciaddr) with an address held by another client', request(other, { messageType: M.REQUEST }, { ciaddr: offered, flags: 0 })],
    ['INIT-REBOOT outside the pool', request(other, { messageType: M.REQUEST, requestedIp: '198.18.70.250' })],
  ];
  for (const [name, msg] of cases) {
    const d = await h.send(msg);
    const r = d.reply?.message;
    t.equal(r?.options.messageType, M.NAK, name);
    t.equal(r?.yiaddr, '0.0.0.0', `${name}: no yiaddr`);
    t.equal(r?.options.leaseTime, undefined, `${name}: no lease time`);
    t.equal(r?.options.serverId, SERVER);
    t.same(d.reply?.to, { address: '255.255.255.255', port: 68, broadcast: true }, `${name}: NAK is broadcast`);
    t.same(
      d.steps.map((s) => s.step),
      ['dhcp-nak'],
    );
  }
  t.equal(h.leases.ipOf(mac), offered, 'the rightful holder keeps its lease');
  const renew = await h.send(request(mac, { messageType: M.REQUEST }, { ciaddr: offered, flags: 0 }));
  t.equal(renew.reply?.message.options.messageType, M.ACK, 'the holder renews');
  t.same(renew.reply?.to, { address: offered, port: 68, broadcast: false }, 'renewal ACK unicast to ciaddr');
  t.equal(renew.reply?.message.ciaddr, offered);
});

t.test('DECLINE quarantines the address; the client gets another one', async (t) => {
  const h = await harness();
  const mac = '02:00:00:00:00:07';
  const ip = (await h.send(discover(mac))).reply!.message.yiaddr;
  await h.send(select(mac, ip));
  const d = await h.send(request(mac, { messageType: M.DECLINE, requestedIp: ip, serverId: SERVER }));
  t.equal(d.reply, undefined);
  t.same(
    d.steps.map((s) => s.step),
    ['dhcp-decline'],
  );
  t.equal(h.leases.ipOf(mac), undefined);
  const again = (await h.send(discover(mac))).reply!.message.yiaddr;
  t.not(again, ip);
  t.not((await h.send(discover('02:00:00:00:00:08', { requestedIp: ip }))).reply!.message.yiaddr, ip, 'nobody gets it');
  h.advance(3601);
  t.equal((await h.send(discover('02:00:00:00:00:0f', { requestedIp: ip }))).reply!.message.yiaddr, ip, 'back after quarantine');
  const foreign = await h.send(request(mac, { messageType: M.DECLINE, requestedIp: again, serverId: '198.18.70.254' }));
  t.equal(foreign.change, undefined, 'a DECLINE for another server changes nothing');
});

t.test('RELEASE of someone else’s address changes nothing', async (t) => {
  const h = await harness();
  const ip = (await h.send(discover('02:00:00:00:00:01'))).reply!.message.yiaddr;
  await h.send(select('02:00:00:00:00:01', ip));
  const d = await h.send(request('02:00:00:00:00:02', { messageType: M.RELEASE, serverId: SERVER }, { ciaddr: ip }));
  t.equal(d.change, undefined);
  t.equal(h.leases.ipOf('02:00:00:00:00:01'), ip);
});

t.test('INFORM: options, no yiaddr, no lease time, unicast to ciaddr', async (t) => {
  const h = await harness();
  const d = await h.send(request('02:00:00:00:00:03', { messageType: M.INFORM }, { ciaddr: '198.18.70.42', flags: 0 }));
  const r = d.reply!.message;
  t.equal(r.options.messageType, M.ACK);
  t.equal(r.yiaddr, '0.0.0.0');
  t.equal(r.ciaddr, '198.18.70.42');
  t.equal(r.options.leaseTime, undefined);
  t.equal(r.options.renewalTime, undefined);
  t.same(r.options.dns, ['198.18.70.1', '198.18.70.2']);
  t.same(d.reply!.to, { address: '198.18.70.42', port: 68, broadcast: false });
  t.equal(d.change, undefined);
});

/** [name, ciaddr, giaddr, expected: `to <address>:<port> mask <subnet mask> router <first router>` or `dropped <reason>`] */
const informRows: [string, string, string, string][] = [
  ['a client on the provisioning subnet', '198.18.70.42', '0.0.0.0', 'to 198.18.70.42:68 mask 255.255.255.0 router 198.18.70.1'],
  ['outside the pool, still on the subnet', '198.18.70.250', '0.0.0.0', 'to 198.18.70.250:68 mask 255.255.255.0 router 198.18.70.1'],
  ['a relayed-subnet client asking us directly: its subnet options', '198.18.71.7', '0.0.0.0', 'to 198.18.71.7:68 mask 255.255.255.0 router 198.18.71.1'],
  ['through its relay: the reply goes to the relay', '198.18.71.7', '198.18.71.1', 'to 198.18.71.1:67 mask 255.255.255.0 router 198.18.71.1'],
  ['loopback', '127.0.0.1', '0.0.0.0', 'dropped inform-foreign-address'],
  ['another network', '10.1.2.3', '0.0.0.0', 'dropped inform-foreign-address'],
  ['a neighbouring network', '198.18.72.5', '0.0.0.0', 'dropped inform-foreign-address'],
  ['no ciaddr', '0.0.0.0', '0.0.0.0', 'dropped inform-foreign-address'],
  ['the limited broadcast address', '255.255.255.255', '0.0.0.0', 'dropped inform-foreign-address'],
  ["the subnet's broadcast address", '198.18.70.255', '0.0.0.0', 'dropped inform-foreign-address'],
  ["the subnet's network address", '198.18.70.0', '0.0.0.0', 'dropped inform-foreign-address'],
  ["a relayed subnet's broadcast address", '198.18.71.255', '0.0.0.0', 'dropped inform-foreign-address'],
  ["this agent's own address", '198.18.70.1', '0.0.0.0', 'dropped inform-foreign-address'],
  ['loopback, through a relay', '127.0.0.1', '198.18.71.1', 'dropped inform-foreign-address'],
  ['a relay no pool serves', '198.18.70.42', '198.18.99.1', 'dropped no-relay-pool'],
];
for (const [name, ciaddr, giaddr, want] of informRows) {
  t.test(`INFORM (RFC 2131 §4.3.5): ${name}`, async (t) => {
    const h = await harness();
    const d = await h.send(request('02:00:00:00:00:03', { messageType: M.INFORM }, { ciaddr, giaddr, flags: 0 }));
    const r = d.reply;
    t.equal(
      d.dropped ? `dropped ${d.dropped}` : `to ${r?.to.address}:${r?.to.port} mask ${r?.message.options.subnetMask} router ${r?.message.options.routers?.[0]}`,
      want,
    );
    t.equal(d.change, undefined, 'never a lease change');
    if (r) t.equal(r.message.yiaddr, '0.0.0.0');
  });
}

t.test('relay: pool chosen by giaddr, reply unicast to the relay on the server port, 82 echoed', async (t) => {
  const h = await harness();
  const info = Buffer.from([1, 3, 0x65, 0x74, 0x68]);
  const d = await h.send(discover('02:00:00:00:00:0a', { relayAgentInfo: info }, { giaddr: '198.18.71.1', hops: 1 }));
  const r = d.reply!.message;
  t.equal(r.yiaddr, '198.18.71.50');
  t.same(r.options.routers, ['198.18.71.1']);
  t.equal(r.giaddr, '198.18.71.1');
  t.same(r.options.relayAgentInfo, info);
  t.same(d.reply!.to, { address: '198.18.71.1', port: 67, broadcast: false });
  t.equal(decodeDhcp(encodeDhcp(r)).optionOrder!.at(-1), 82, 'option 82 last');
  t.equal(d.steps[0]?.detail.relay, '198.18.71.1');
  const nak = await h.send(select('02:00:00:00:00:0a', '198.18.70.120', SERVER, {}, { giaddr: '198.18.71.1' }));
  t.equal(nak.reply?.message.options.messageType, M.NAK, 'an address from the wrong subnet');
  t.same(nak.reply?.to, { address: '198.18.71.1', port: 67, broadcast: false });
  t.ok(nak.reply!.message.flags & 0x8000, 'relayed NAK has the broadcast bit');
  const unknown = await h.send(discover('02:00:00:00:00:0b', {}, { giaddr: '198.18.99.1' }));
  t.equal(unknown.dropped, 'no-relay-pool');
  const local = await h.send(discover('02:00:00:00:00:0c', {}, { giaddr: '198.18.70.2' }));
  t.equal(local.reply?.message.yiaddr.startsWith('198.18.70.'), true, 'a relay on our own segment uses our pool');
});

t.test('a node with a per-node UEFI binary gets it', async (t) => {
  const h = await harness();
  const d = await h.send(discover(nicNode.macs[0]!, { vendorClass: 'PXEClient:Arch:00007:UNDI:003016', clientArch: [7] }));
  t.equal(d.reply?.message.file, 'ipxe.efi');
});

t.test('drops: BOOTP, replies, unexpected types', async (t) => {
  const h = await harness();
  t.equal((await h.send(request('02:00:00:00:00:01', {}))).dropped, 'bootp');
  t.equal((await h.send(request('02:00:00:00:00:01', { messageType: M.OFFER }, { op: 2 }))).dropped, 'not-a-request');
  t.equal((await h.send(request('02:00:00:00:00:01', { messageType: M.ACK }))).dropped, 'unexpected-type');
  t.equal((await h.send(request('02:00:00:00:00:01', { messageType: M.REQUEST }))).dropped, 'no-address');
});

// The unknown share: machines the manifest does not know hold at most unknownPoolPercent of a pool
// (its first addresses); manifest nodes take from the rest first, then from the share.
const known = (i: number) => node(`k${i}`, `52:54:00:00:70:${String(i).padStart(2, '0')}`);
const KNOWN = Array.from({ length: 12 }, (_, i) => known(i + 1));
const junk = (i: number): string => `02:00:00:00:70:${String(i).padStart(2, '0')}`;
const PXE: DhcpOptions = { vendorClass: 'PXEClient:Arch:00007:UNDI:003016', clientArch: [7] };

type Client = string | { known: number };
const macOfClient = (c: Client): string => (typeof c === 'string' ? c : KNOWN[c.known - 1]!.macs[0]!);

/** [name, unknownPoolPercent, pool (last octets, inclusive), clients bound first (in order), the asking client and its message, expected] */
const shareRows: [string, number, [number, number], Client[], Client, 'discover' | { request: string } | { discoverAsking: string }, string][] = [
  ['unknown client: the first address of the share', 50, [100, 109], [], junk(1), 'discover', 'offer .100'],
  ['unknown clients fill the share', 50, [100, 109], [junk(1), junk(2), junk(3), junk(4)], junk(5), 'discover', 'offer .104'],
  ['share full: the next unknown client is dropped', 50, [100, 109], [1, 2, 3, 4, 5].map(junk), junk(6), 'discover', 'dropped unknown-share-exhausted'],
  ['share full: a manifest node still gets an address, from the rest', 50, [100, 109], [1, 2, 3, 4, 5].map(junk), { known: 1 }, 'discover', 'offer .105'],
  ['a manifest node takes from the rest first', 50, [100, 109], [], { known: 1 }, 'discover', 'offer .105'],
  ['the rest full: a manifest node takes from the share', 50, [100, 109], [1, 2, 3, 4, 5].map((known) => ({ known })), { known: 6 }, 'discover', 'offer .100'],
  [
    'the whole pool full: a manifest node is dropped as exhausted',
    50,
    [100, 109],
    [...[1, 2, 3, 4, 5].map(junk), ...[1, 2, 3, 4, 5].map((known) => ({ known }))],
    { known: 6 },
    'discover',
    'dropped pool-exhausted',
  ],
  [
    'manifest nodes filling the share leave unknown clients nothing',
    50,
    [100, 109],
    [1, 2, 3, 4, 5, 6].map((known) => ({ known })),
    junk(1),
    'discover',
    'offer .101',
  ],
  ['rounded down: 50% of 5 addresses is 2', 50, [100, 104], [junk(1), junk(2)], junk(3), 'discover', 'dropped unknown-share-exhausted'],
  ['a one-address pool at 50% is all reserve', 50, [100, 100], [], junk(1), 'discover', 'dropped unknown-share-exhausted'],
  ['0%: no address for unknown clients at all', 0, [100, 109], [], junk(1), 'discover', 'dropped unknown-share-exhausted'],
  ['0%: manifest nodes get the whole pool', 0, [100, 109], [], { known: 1 }, 'discover', 'offer .100'],
  ['100%: no reserve, the whole pool for anyone', 100, [100, 109], [1, 2, 3, 4, 5, 6, 7, 8, 9].map(junk), junk(10), 'discover', 'offer .109'],
  ['100%: exhausted is exhausted', 100, [100, 100], [junk(1)], junk(2), 'discover', 'dropped pool-exhausted'],
  ['an unknown client asking for a reserve address gets one from its share', 50, [100, 109], [], junk(1), { discoverAsking: '.107' }, 'offer .100'],
  ['an unknown client asking for a share address gets it', 50, [100, 109], [], junk(1), { discoverAsking: '.103' }, 'offer .103'],
  ['a manifest node asking for a share address gets it', 50, [100, 109], [], { known: 1 }, { discoverAsking: '.102' }, 'offer .102'],
  ['an unknown client REQUESTing a reserve address (INIT-REBOOT): NAK', 50, [100, 109], [], junk(1), { request: '.106' }, 'nak'],
  ['an unknown client REQUESTing a share address: ACK', 50, [100, 109], [], junk(1), { request: '.101' }, 'ack .101'],
  ['a manifest node REQUESTing a reserve address: ACK', 50, [100, 109], [], { known: 1 }, { request: '.108' }, 'ack .108'],
];

for (const [name, percent, [first, last], bound, asking, message, want] of shareRows) {
  t.test(`unknown share: ${name}`, async (t) => {
    const config = testConfig({ dhcp: { poolStart: `198.18.70.${first}`, poolEnd: `198.18.70.${last}`, unknownPoolPercent: percent } });
    const h = await harness(config, testDirectory(KNOWN));
    for (const c of bound) {
      const offer = await h.send(discover(macOfClient(c)));
      t.ok(offer.reply, `${macOfClient(c)} is offered an address`);
      await h.send(select(macOfClient(c), offer.reply!.message.yiaddr));
    }
    const mac = macOfClient(asking);
    const msg =
      message === 'discover'
        ? discover(mac)
        : 'request' in message
          ? request(mac, { messageType: M.REQUEST, requestedIp: `198.18.70${message.request}` })
          : discover(mac, { requestedIp: `198.18.70${message.discoverAsking}` });
    const d = await h.send(msg);
    const type = d.reply?.message.options.messageType;
    const yiaddr = d.reply?.message.yiaddr.replace('198.18.70', '');
    const got = d.dropped ? `dropped ${d.dropped}` : type === M.OFFER ? `offer ${yiaddr}` : type === M.ACK ? `ack ${yiaddr}` : type === M.NAK ? 'nak' : '?';
    t.equal(got, want);
  });
}

t.test('unknown share: an unknown client whose old address is outside its share is moved into it; expired share addresses are reused', async (t) => {
  const config = testConfig({ dhcp: { poolStart: '198.18.70.100', poolEnd: '198.18.70.103', unknownPoolPercent: 50 } });
  let directory = testDirectory(KNOWN);
  let clock = 1_700_000_000_000;
  const leases = await openLeasePool(memorySublevel<LeaseRecord>().sublevel, { now: () => clock });
  const send = async (msg: DhcpMessage): Promise<Decision> => {
    const d = decide(msg, directory.byMac(msg.chaddr.toString('hex').replace(/(..)(?!$)/g, '$1:')), {
      config,
      leases,
      reservations: reservationsOf(directory),
      now: clock,
    });
    if (d.change) await leases.apply(d.change);
    return d;
  };
  const mac = KNOWN[0]!.macs[0]!;
  t.equal((await send(select(mac, '198.18.70.103'))).reply?.message.options.messageType, M.ACK, 'a manifest node bound in the reserve');
  directory = testDirectory(KNOWN.slice(1));
  t.equal((await send(discover(mac))).reply?.message.yiaddr, '198.18.70.100', 'out of the manifest: its old reserve address is not sticky');
  t.equal(
    (await send(request(mac, { messageType: M.REQUEST }, { ciaddr: '198.18.70.103', flags: 0 }))).reply?.message.options.messageType,
    M.NAK,
    'nor renewable',
  );
  await send(select(mac, '198.18.70.100'));
  await send(select(junk(1), (await send(discover(junk(1)))).reply!.message.yiaddr));
  t.equal((await send(discover(junk(2)))).dropped, 'unknown-share-exhausted', 'the share (.100, .101) is full');
  clock += 3601_000;
  const reused = [(await send(discover(junk(2)))).reply?.message.yiaddr, (await send(discover(junk(3)))).reply?.message.yiaddr];
  t.same(reused.sort(), ['198.18.70.100', '198.18.70.101'], 'expired share addresses come back, and only those');
  t.equal((await send(discover(junk(4)))).dropped, 'unknown-share-exhausted', 'held by the offers');
});

t.test('unknown share: relay pools have their own', async (t) => {
  const config = testConfig({ dhcp: { unknownPoolPercent: 30 } }); // relay pool 198.18.71.50-59: 3 addresses for unknown clients
  const h = await harness(config, testDirectory(KNOWN));
  const got: string[] = [];
  for (let i = 1; i <= 4; i++) {
    const d = await h.send(discover(junk(i), {}, { giaddr: '198.18.71.1' }));
    got.push(d.dropped ?? d.reply!.message.yiaddr);
    if (d.reply) await h.send(select(junk(i), d.reply.message.yiaddr, SERVER, {}, { giaddr: '198.18.71.1' }));
  }
  t.same(got, ['198.18.71.50', '198.18.71.51', '198.18.71.52', 'unknown-share-exhausted']);
  t.equal((await h.send(discover(KNOWN[0]!.macs[0]!, {}, { giaddr: '198.18.71.1' }))).reply?.message.yiaddr, '198.18.71.53');
});

/** [name, manifest node?, options, leaseTime, unknownPxeLeaseTime, expected lease seconds] */
const leaseRows: [string, boolean, DhcpOptions, number, number, number][] = [
  ['unknown PXE client: the short lease', false, PXE, 3600, 600, 600],
  ['unknown iPXE client: the short lease', false, { ...PXE, userClass: { form: 'plain', value: 'iPXE' } }, 3600, 600, 600],
  ['unknown UEFI HTTP client: the short lease', false, { vendorClass: 'HTTPClient:Arch:00016:UNDI:003016', clientArch: [16] }, 3600, 600, 600],
  ['unknown plain OS client: the full lease', false, {}, 3600, 600, 3600],
  ['manifest PXE node: the full lease', true, PXE, 3600, 600, 3600],
  ['the short lease never exceeds leaseTime', false, PXE, 300, 600, 300],
];
for (const [name, isKnown, options, leaseTime, unknownPxeLeaseTime, want] of leaseRows) {
  t.test(`lease time: ${name}`, async (t) => {
    const h = await harness(testConfig({ dhcp: { leaseTime, unknownPxeLeaseTime, unknownPoolPercent: 50 } }), testDirectory(KNOWN));
    const mac = isKnown ? KNOWN[0]!.macs[0]! : junk(1);
    const offer = await h.send(discover(mac, options));
    t.equal(offer.reply?.message.options.leaseTime, want, 'OFFER');
    t.equal(offer.reply?.message.options.renewalTime, Math.floor(want / 2), 'T1');
    const ack = await h.send(select(mac, offer.reply!.message.yiaddr, SERVER, options));
    t.equal(ack.reply?.message.options.leaseTime, want, 'ACK');
    t.equal(ack.change?.op === 'bind' && ack.change.until, 1_700_000_000_000 + want * 1000, 'the binding ends with the lease');
    h.advance(want - 1);
    t.equal(h.leases.ipOf(mac), offer.reply!.message.yiaddr);
    h.advance(2);
    t.equal(h.leases.ipOf(mac), undefined, 'and is gone after it');
  });
}
