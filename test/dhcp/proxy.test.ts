// The proxy half of the pure DHCP policy: port 67 offers without an address, port 4011 ACKs, and
// the address bindings they make (PXE spec 2.1 §2.2.3, §2.2.5).
import t, { type Test } from 'tap';
import { decodeDhcp, encodeDhcp, type DhcpMessage } from '../../agent/dhcp/codec.js';
import type { LeaseRecord } from '../../agent/dhcp/leaseTable.js';
import { openLeasePool } from '../../agent/dhcp/leases.js';
import { MessageType as M, type DhcpOptions } from '../../agent/dhcp/options.js';
import { decide, decideBootServer, reservationsOf, type Decision, type PolicySelf, type Sender } from '../../agent/dhcp/policy.js';
import { probeMacFor } from '../../agent/dhcp/probe.js';
import { createProxyBindings, withProxyBindings } from '../../agent/dhcp/proxyBindings.js';
import { memorySublevel } from '../fakes/sublevel.js';
import { nicNode, request, testConfig, testDirectory } from './fixtures.js';

const SERVER = '198.18.70.1';
const PXE_MAC = '52:54:00:70:00:01';
const UUID = Buffer.concat([Buffer.from([0]), Buffer.alloc(16, 0xab)]);
const bios: DhcpOptions = { vendorClass: 'PXEClient:Arch:00000:UNDI:002001', clientArch: [0], clientUuid: UUID };
const efi: DhcpOptions = { vendorClass: 'PXEClient:Arch:00007:UNDI:003016', clientArch: [7] };
const ipxe: DhcpOptions = { userClass: { form: 'plain', value: 'iPXE' }, vendorClass: 'PXEClient:Arch:00000:UNDI:002001', clientArch: [0] };
const http: DhcpOptions = { vendorClass: 'HTTPClient:Arch:00016:UNDI:003001', clientArch: [16] };

async function selfFor(mode: 'full' | 'proxy'): Promise<PolicySelf> {
  const leases = await openLeasePool(memorySublevel<LeaseRecord>().sublevel, { now: () => 1_700_000_000_000 });
  return { config: testConfig(), leases, reservations: reservationsOf(testDirectory()), now: 1_700_000_000_000, mode, probeMac: probeMacFor('rack-test') };
}

/** Every reply must survive the codec. */
function roundTrips(t: Test, d: Decision): DhcpMessage {
  const bytes = encodeDhcp(d.reply!.message);
  t.same(encodeDhcp(decodeDhcp(bytes)), bytes, 'the reply survives the codec');
  return decodeDhcp(bytes);
}

const discover = (mac: string, o: DhcpOptions, over: Partial<DhcpMessage> = {}) => request(mac, { messageType: M.DISCOVER, ...o }, over);

t.test('proxy mode: a PXE ROM gets an offer with the boot file and no address, lease or network options', async (t) => {
  const self = await selfFor('proxy');
  const d = decide(discover(PXE_MAC, bios), undefined, self);
  const offer = roundTrips(t, d);
  t.equal(offer.options.messageType, M.OFFER);
  t.equal(offer.yiaddr, '0.0.0.0', 'no address: the other server hands it out');
  t.equal(offer.siaddr, SERVER, 'siaddr names the TFTP server');
  t.equal(offer.file, 'undionly.kpxe');
  t.equal(offer.options.bootFile, 'undionly.kpxe');
  t.equal(offer.options.tftpServer, SERVER);
  t.equal(offer.options.serverId, SERVER);
  t.equal(offer.options.vendorClass, 'PXEClient', 'option 60 PXEClient, or PXE ROMs ignore it');
  t.same([...(offer.options.vendorSpecific ?? [])], [6, 1, 8, 255], 'option 43: discovery control, use the boot file');
  t.same(offer.options.clientUuid, UUID, 'option 97 echoed');
  for (const key of ['leaseTime', 'subnetMask', 'routers', 'dns', 'ntpServers', 'domainName', 'renewalTime'] as const)
    t.equal(offer.options[key], undefined, `no ${key}: the address server's`);
  t.equal(d.change, undefined, 'no lease held');
  t.same(d.reply!.to, { address: '255.255.255.255', port: 68, broadcast: true }, 'broadcast: the client has no address yet');
  t.same(
    d.steps.map((s) => [s.step, s.detail.proxy]),
    [
      ['dhcp-discover', true],
      ['dhcp-offer', true],
    ],
  );
});

t.test('proxy mode: iPXE gets the script URL with PXEClient; HTTP Boot gets HTTPClient; EFI gets its binary', async (t) => {
  const self = await selfFor('proxy');
  const i = roundTrips(t, decide(discover(PXE_MAC, ipxe), undefined, self));
  t.equal(i.options.bootFile, 'http://198.18.70.1:8080/boot.ipxe', 'iPXE is chained to the HTTP script, as in full mode');
  t.equal(i.options.vendorClass, 'PXEClient', 'iPXE takes an addressless offer as proxyDHCP only when it says PXEClient');
  t.equal(i.siaddr, '0.0.0.0', 'no next server: iPXE then asks on port 4011, from the address it holds');
  const h = roundTrips(t, decide(discover(PXE_MAC, http), undefined, self));
  t.equal(h.options.vendorClass, 'HTTPClient');
  t.equal(h.options.bootFile, 'http://198.18.70.1:8080/boot/snponly.efi');
  const e = roundTrips(t, decide(discover(nicNode.macs[0]!, efi), nicNode, self));
  t.equal(e.options.bootFile, 'ipxe.efi', "the node's own UEFI boot file, as in full mode");
});

t.test('proxy mode answers nothing else on port 67', async (t) => {
  const self = await selfFor('proxy');
  const cases: [string, DhcpMessage, string][] = [
    ['an OS client', discover('02:00:00:00:00:05', { clientArch: [0] }), 'proxy-not-pxe'],
    [
      'a REQUEST to the address server',
      request(PXE_MAC, { messageType: M.REQUEST, serverId: '198.18.70.2', requestedIp: '198.18.70.60', ...bios }),
      'other-server',
    ],
    [
      'a REQUEST for an address from us',
      request(PXE_MAC, { messageType: M.REQUEST, serverId: SERVER, requestedIp: '198.18.70.60', ...bios }),
      'proxy-no-address',
    ],
    ['an INFORM', request(PXE_MAC, { messageType: M.INFORM, ...bios }, { ciaddr: '198.18.70.60' }), 'unexpected-type'],
    ['a RELEASE', request(PXE_MAC, { messageType: M.RELEASE }, { ciaddr: '198.18.70.60' }), 'unexpected-type'],
    ["the agent's own probe", discover(probeMacFor('rack-test'), {}), 'own-probe'],
  ];
  for (const [name, msg, reason] of cases) {
    const d = decide(msg, undefined, self);
    t.equal(d.reply, undefined, `${name}: no reply`);
    t.equal(d.change, undefined, `${name}: no lease change`);
    t.equal(d.dropped, reason, `${name}: ${reason}`);
  }
  t.equal(decide(discover(probeMacFor('rack-test'), {}), undefined, await selfFor('full')).dropped, 'own-probe', 'full mode ignores the probe too');
});

t.test('boot-server port: an ACK with the boot file back to the sender; the address binds in proxy mode only', async (t) => {
  const self = await selfFor('proxy');
  const from: Sender = { address: '198.18.70.60', port: 68 };
  const req = request(PXE_MAC, { messageType: M.REQUEST, ...ipxe, serverId: SERVER }, { ciaddr: '198.18.70.60', flags: 0 });
  const d = decideBootServer(req, undefined, self, from);
  const ack = roundTrips(t, d);
  t.equal(ack.options.messageType, M.ACK);
  t.equal(ack.yiaddr, '0.0.0.0');
  t.equal(ack.options.bootFile, 'http://198.18.70.1:8080/boot.ipxe');
  t.equal(ack.siaddr, SERVER, 'a next server: iPXE ignores a ProxyDHCP ACK without one');
  t.same(d.reply!.to, { address: '198.18.70.60', port: 68, broadcast: false }, "unicast to the request's source");
  t.same(d.binding, { mac: PXE_MAC, ip: '198.18.70.60' });
  t.same(
    d.steps.map((s) => [s.step, s.detail.ip, s.detail.proxy]),
    [['dhcp-ack', '198.18.70.60', true]],
  );
  const edk2 = decideBootServer(request(PXE_MAC, { messageType: M.REQUEST, ...efi }, { ciaddr: '198.18.70.61' }), undefined, self, {
    address: '198.18.70.61',
    port: 4011,
  });
  t.same(edk2.reply!.to, { address: '198.18.70.61', port: 4011, broadcast: false }, 'EDK2 listens on the port it sent from');
  t.equal(decideBootServer(req, undefined, await selfFor('full'), from).binding, undefined, 'full mode: its own leases are the evidence');
});

t.test('boot-server port refuses what would send packets elsewhere or to non-PXE clients', async (t) => {
  const self = await selfFor('proxy');
  const pxeReq = (ciaddr: string) => request(PXE_MAC, { messageType: M.REQUEST, ...bios }, { ciaddr });
  const cases: [string, DhcpMessage, Sender, string][] = [
    ['ciaddr is not the sender', pxeReq('198.18.70.61'), { address: '198.18.70.60', port: 68 }, 'boot-server-foreign-address'],
    ['a sender on no served subnet', pxeReq('0.0.0.0'), { address: '10.1.2.3', port: 68 }, 'boot-server-foreign-address'],
    ['the subnet broadcast address', pxeReq('0.0.0.0'), { address: '198.18.70.255', port: 68 }, 'boot-server-foreign-address'],
    ['an OS client', request(PXE_MAC, { messageType: M.REQUEST }, { ciaddr: '198.18.70.60' }), { address: '198.18.70.60', port: 68 }, 'proxy-not-pxe'],
    ['a DISCOVER', request(PXE_MAC, { messageType: M.DISCOVER, ...bios }), { address: '198.18.70.60', port: 68 }, 'unexpected-type'],
    ['a reply', { ...pxeReq('198.18.70.60'), op: 2 }, { address: '198.18.70.60', port: 68 }, 'not-a-request'],
  ];
  for (const [name, msg, from, reason] of cases) {
    const d = decideBootServer(msg, undefined, self, from);
    t.equal(d.reply, undefined, `${name}: no reply`);
    t.equal(d.binding, undefined, `${name}: no binding`);
    t.equal(d.dropped, reason, `${name}: ${reason}`);
  }
  t.ok(decideBootServer(pxeReq('0.0.0.0'), undefined, self, { address: '198.18.70.60', port: 68 }).reply, 'ciaddr 0: the sender is the address');
});

t.test('proxy bindings: bounded, one address per MAC and MAC per address, expiring, after own leases', async (t) => {
  let clock = 0;
  const b = createProxyBindings({ ttlMs: 1000, max: 3, now: () => clock });
  b.bind('52:54:00:00:00:01', '198.18.70.60');
  b.bind('52:54:00:00:00:01', '198.18.70.61');
  t.equal(b.ipOf('52:54:00:00:00:01'), '198.18.70.61', 'the latest address');
  t.equal(b.macOf('198.18.70.60'), undefined, 'the earlier address is free');
  b.bind('52:54:00:00:00:02', '198.18.70.61');
  t.equal(b.ipOf('52:54:00:00:00:01'), undefined, 'another MAC showing the address takes it');
  for (let i = 0; i < 100; i++) b.bind(`52:54:00:00:01:${i.toString(16).padStart(2, '0')}`, `198.18.70.${100 + i}`);
  t.equal(b.size(), 3, 'a flood keeps max entries');
  t.equal(b.ipOf('52:54:00:00:01:63'), '198.18.70.199');
  clock = 1000;
  t.equal(b.ipOf('52:54:00:00:01:63'), undefined, 'expired after one lease time');
  const view = withProxyBindings(
    { ipOf: (mac) => (mac === 'aa' ? '198.18.70.5' : undefined), macOf: () => undefined },
    { ipOf: () => '198.18.70.6', macOf: () => 'bb' },
  );
  t.equal(view.ipOf('aa'), '198.18.70.5', "the agent's own bound lease first");
  t.equal(view.ipOf('cc'), '198.18.70.6');
  t.equal(view.macOf('198.18.70.6'), 'bb');
});
