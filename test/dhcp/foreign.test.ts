// The pure half of foreign-server detection: which replies count, the bounded table, the mode in
// force, the neighbour-table lookup, the probe packet and the report.
import t from 'tap';
import { decodeDhcp, encodeDhcp, macOf } from '../../agent/dhcp/codec.js';
import { arpMac, createForeignTable, heardReply, modeInForce, type ForeignServer } from '../../agent/dhcp/foreign.js';
import { MessageType as M } from '../../agent/dhcp/options.js';
import { probeDiscover, probeMacFor } from '../../agent/dhcp/probe.js';
import { parseSubnet } from '../../agent/net/ipv4.js';
import { foreignDhcpReport } from '../../agent/uplink/reports.js';
import { request } from './fixtures.js';

const self = { ours: '198.18.70.1', subnet: parseSubnet('198.18.70.0/24') };
const reply = (type: number, serverId: string | undefined, yiaddr = '198.18.70.60', xid = 7) => ({
  ...request('52:54:00:00:00:09', { messageType: type, ...(serverId ? { serverId } : {}) }, { xid, yiaddr }),
  op: 2,
});

t.test('an OFFER or ACK from another server counts; ours, requests and other types do not', async (t) => {
  t.same(heardReply(reply(M.OFFER, '198.18.70.2'), '198.18.70.2', self), {
    serverId: '198.18.70.2',
    offersAddresses: true,
    seenBy: 'listen',
  });
  t.same(heardReply(reply(M.ACK, undefined), '198.18.70.3', self)?.serverId, '198.18.70.3', 'no option 54: its source');
  t.equal(heardReply(reply(M.OFFER, '198.18.70.2', '0.0.0.0'), '198.18.70.2', self)?.offersAddresses, false, 'a proxyDHCP offer hands out no address');
  t.equal(heardReply(reply(M.OFFER, self.ours), self.ours, self), undefined, "this agent's own offer");
  t.equal(heardReply(reply(M.NAK, '198.18.70.2'), '198.18.70.2', self), undefined, 'a NAK');
  t.equal(heardReply({ ...reply(M.DISCOVER, undefined), op: 1 }, '198.18.70.9', self), undefined, 'a client request');
  t.equal(heardReply(reply(M.OFFER, '10.0.0.1'), '10.0.0.1', self), undefined, 'a server on another interface (the uplink)');
  const probe = { xid: 7, mac: '52:54:00:00:00:09' };
  t.same(
    heardReply(reply(M.OFFER, '10.0.0.1'), '10.0.0.1', { ...self, probe })?.seenBy,
    'probe',
    'an answer to our probe counts from any source: it heard the probe on the segment',
  );
});

t.test('the table keeps the freshest servers up to its bound and remembers first sight', async (t) => {
  const table = createForeignTable(3);
  const heard = (serverId: string) => ({ serverId, offersAddresses: true, seenBy: 'listen' as const });
  t.equal(table.observe(heard('198.18.70.2'), '198.18.70.2', 1).isNew, true);
  table.setMac('198.18.70.2', '02:00:00:00:00:02');
  const again = table.observe(heard('198.18.70.2'), '198.18.70.2', 5);
  t.equal(again.isNew, false);
  t.match(again.server, { firstSeen: 1, lastSeen: 5, mac: '02:00:00:00:00:02' });
  for (let i = 10; i < 110; i++) table.observe(heard(`198.18.71.${i}`), `198.18.71.${i}`, i);
  t.equal(table.size(), 3, 'a flood of made-up server ids stays within the bound');
  t.same(
    table.seenSince(108).map((s) => s.serverId),
    ['198.18.71.109', '198.18.71.108'],
    'newest first, since a time',
  );
});

t.test('auto is proxy until the first probe is weighed and while a server hands out addresses', async (t) => {
  const server = (offersAddresses: boolean): ForeignServer => ({ serverId: 's', address: 's', offersAddresses, firstSeen: 0, lastSeen: 0, seenBy: 'probe' });
  t.equal(modeInForce('auto', { firstProbeDone: false, servers: [] }), 'proxy');
  t.equal(modeInForce('auto', { firstProbeDone: true, servers: [] }), 'full');
  t.equal(modeInForce('auto', { firstProbeDone: true, servers: [server(true)] }), 'proxy');
  t.equal(modeInForce('auto', { firstProbeDone: true, servers: [server(false)] }), 'full', 'another proxy leases nothing');
  t.equal(modeInForce('full', { firstProbeDone: true, servers: [server(true)] }), 'full', 'full stays full');
  t.equal(modeInForce('proxy', { firstProbeDone: true, servers: [] }), 'proxy');
});

t.test('the MAC of a server from /proc/net/arp, complete entries only', async (t) => {
  const arp = `IP address       HW type     Flags       HW address            Mask     Device
198.18.70.2      0x1         0x2         02:6B:65:61:00:01     *        mbr-x
198.18.70.3      0x1         0x0         00:00:00:00:00:00     *        mbr-x
`;
  t.equal(arpMac(arp, '198.18.70.2'), '02:6b:65:61:00:01');
  t.equal(arpMac(arp, '198.18.70.3'), undefined, 'incomplete');
  t.equal(arpMac(arp, '198.18.70.4'), undefined);
  t.equal(arpMac('', '198.18.70.2'), undefined);
});

t.test('the probe: a broadcast DISCOVER from a locally administered MAC, and its report', async (t) => {
  const mac = probeMacFor('rack1-agent');
  t.match(mac, /^02(:[0-9a-f]{2}){5}$/, 'locally administered unicast');
  t.equal(probeMacFor('rack1-agent'), mac, 'stable per agent id');
  t.not(probeMacFor('rack2-agent'), mac);
  const packet = decodeDhcp(encodeDhcp(probeDiscover(mac, 42)));
  t.equal(packet.options.messageType, M.DISCOVER);
  t.equal(macOf(packet), mac);
  t.equal(packet.flags & 0x8000, 0x8000, 'broadcast flag: servers broadcast their answer');
  const body = foreignDhcpReport(
    { serverId: '198.18.70.2', address: '198.18.70.2', offersAddresses: true, firstSeen: 0, lastSeen: 0, seenBy: 'probe' },
    'full',
  );
  t.equal(body.case, 'foreignDhcp');
  t.match(body.value, { serverId: '198.18.70.2', mac: '', offersAddresses: true, seenBy: 'probe', mode: 'full' });
});
