// The responder's decisions as tables: which sources are looked at, what each query gets and how
// it is sent, known answers, the once-a-second multicast limit, conflicts and the unicast budget.
import t from 'tap';
import dnsPacket, { type DecodedPacket, type Question } from 'dns-packet';
import { admit, conflicts, decide, TokenBucket, type Arrival } from '../../agent/announce/policy.js';
import { announcedRecords, recordKey } from '../../agent/announce/records.js';
import { parseSubnet } from '../../agent/net/ipv4.js';

const a = announcedRecords({
  instanceName: 'maskin-agent edge-01 (rack1)',
  identity: { agentId: 'edge-01', rackId: 'rack1', version: '0.1.0' },
  port: 80,
  address: '198.19.1.1',
});
const link = { address: '198.19.1.1', subnet: parseSubnet('198.19.1.0/24') };
const provisioning = parseSubnet('198.18.1.0/24');
const own = new Set(['198.19.1.1', '198.18.1.1', '127.0.0.1']);
const peer: Arrival = { address: '198.19.1.2', port: 5353 };
const resolver: Arrival = { address: '198.19.1.2', port: 40000 };

/** A query as it comes off the wire (encoded, then decoded by dns-packet). */
function query(questions: Question[], extra: { id?: number; answers?: DecodedPacket['answers']; flags?: number } = {}): DecodedPacket {
  return dnsPacket.decode(dnsPacket.encode({ type: 'query', id: extra.id ?? 0, flags: extra.flags ?? 0, questions, answers: extra.answers ?? [] }));
}
const names = (list: readonly { name: string; type: string }[] = []): string[] => list.map((r) => `${r.type} ${r.name}`);

t.test('admission: only the link subnet, never the provisioning subnet, never ourselves', async (t) => {
  const cases: [string, ReturnType<typeof admit>][] = [
    ['198.19.1.2', 'ok'],
    ['198.19.1.1', 'own'],
    ['198.18.1.1', 'own'],
    ['198.18.1.50', 'foreign-source'],
    ['198.19.2.2', 'foreign-source'],
    ['10.0.0.1', 'foreign-source'],
    ['fe80::1%wan0', 'foreign-source'],
  ];
  for (const [address, want] of cases) t.equal(admit({ address, port: 5353 }, link, own, provisioning), want, address);
  const overlap = { address: '198.18.1.2', subnet: parseSubnet('198.18.0.0/16') };
  t.equal(admit({ address: '198.18.1.50', port: 5353 }, overlap, own, provisioning), 'foreign-source', 'inside the link but on the provisioning subnet');
});

t.test('what each question gets', async (t) => {
  const cases: [string, Question[], string[], string[]][] = [
    [
      'browse the type',
      [{ name: '_maskin-agent._tcp.local', type: 'PTR' }],
      ['PTR _maskin-agent._tcp.local'],
      [`SRV ${a.serviceName}`, `TXT ${a.serviceName}`, `A ${a.hostName}`],
    ],
    ['browse the types', [{ name: '_services._dns-sd._udp.local', type: 'PTR' }], ['PTR _services._dns-sd._udp.local'], []],
    ['resolve the instance', [{ name: a.serviceName, type: 'SRV' }], [`SRV ${a.serviceName}`], [`A ${a.hostName}`]],
    ['TXT only', [{ name: a.serviceName.toUpperCase(), type: 'TXT' }], [`TXT ${a.serviceName}`], []],
    ['ANY on the instance', [{ name: a.serviceName, type: 'ANY' as Question['type'] }], [`SRV ${a.serviceName}`, `TXT ${a.serviceName}`], [`A ${a.hostName}`]],
    ['the host', [{ name: a.hostName, type: 'A' }], [`A ${a.hostName}`], []],
  ];
  for (const [what, questions, answers, additionals] of cases) {
    const d = decide(query(questions), peer, a.records, new Map(), 0);
    t.equal(d.kind, 'multicast', what);
    if (d.kind !== 'multicast') continue;
    t.same(names(d.packet.answers), answers, `${what}: answers`);
    t.same(names(d.packet.additionals), additionals, `${what}: additionals`);
    t.same(d.packet.questions, undefined, `${what}: a multicast answer carries no question`);
  }
  for (const [what, q] of [
    ['another service', [{ name: '_http._tcp.local', type: 'PTR' }]],
    ['AAAA of our host', [{ name: a.hostName, type: 'AAAA' }]],
    ['class CH', [{ name: a.hostName, type: 'A', class: 'CH' }]],
  ] as [string, Question[]][])
    t.same(decide(query(q), peer, a.records, new Map(), 0), { kind: 'none', reason: 'not-ours' }, what);
  const response = dnsPacket.decode(dnsPacket.encode({ type: 'response', answers: [a.records[1]!] }));
  t.same(decide(response, peer, a.records, new Map(), 0), { kind: 'none', reason: 'not-a-query' });
});

t.test('legacy unicast (source port not 5353): id and question repeated, TTL ≤ 10, no cache-flush', async (t) => {
  const questions: Question[] = [{ name: '_maskin-agent._tcp.local', type: 'PTR' }];
  const d = decide(query(questions, { id: 4242 }), resolver, a.records, new Map([[recordKey(a.records[1]!), 0]]), 10);
  t.equal(d.kind, 'legacy-unicast', 'never rate-limited like multicast');
  if (d.kind !== 'legacy-unicast') return;
  t.same(d.to, resolver);
  t.equal(d.packet.id, 4242);
  t.same(names(d.packet.questions as { name: string; type: string }[]), ['PTR _maskin-agent._tcp.local']);
  const all = [...(d.packet.answers ?? []), ...(d.packet.additionals ?? [])] as { ttl?: number; flush?: boolean }[];
  t.ok(all.every((r) => r.ttl !== undefined && r.ttl <= 10 && r.flush === false));
  t.doesNotThrow(() => dnsPacket.encode(d.packet), 'encodable');
});

t.test('QU questions from a responder get a unicast answer', async (t) => {
  const wire = dnsPacket.encode({ type: 'query', id: 0, questions: [{ name: '_maskin-agent._tcp.local', type: 'PTR', class: 'IN' }] });
  wire[wire.length - 2]! |= 0x80; // the QU bit: top bit of the question's class
  const d = decide(dnsPacket.decode(wire), peer, a.records, new Map(), 0);
  t.equal(d.kind, 'unicast');
  if (d.kind === 'unicast') t.same(d.to, peer, 'to the querier, port 5353');
});

t.test('known answers (RFC 6762 §7.1): held with half our TTL or more, left out', async (t) => {
  const ptr = a.records[1]! as { ttl: number };
  const q = [{ name: '_maskin-agent._tcp.local', type: 'PTR' }] as Question[];
  t.same(decide(query(q, { answers: [{ ...a.records[1]!, ttl: ptr.ttl / 2 } as never] }), peer, a.records, new Map(), 0), { kind: 'none', reason: 'known' });
  t.equal(
    decide(query(q, { answers: [{ ...a.records[1]!, ttl: ptr.ttl / 2 - 1 } as never] }), peer, a.records, new Map(), 0).kind,
    'multicast',
    'about to expire',
  );
});

t.test('a record is multicast at most once a second (RFC 6762 §6)', async (t) => {
  const q = query([{ name: '_maskin-agent._tcp.local', type: 'PTR' }]);
  const first = decide(q, peer, a.records, new Map(), 5000);
  if (first.kind !== 'multicast') return t.fail('multicast expected');
  const sent = new Map(first.sent.map((k) => [k, 5000]));
  t.same(decide(q, peer, a.records, sent, 5999), { kind: 'none', reason: 'rate-limited' });
  t.equal(decide(q, peer, a.records, sent, 6000).kind, 'multicast');
});

t.test('conflicts: another host with our unique names and other data', async (t) => {
  const theirs = (answers: unknown[]): DecodedPacket => dnsPacket.decode(dnsPacket.encode({ type: 'response', answers: answers as never }));
  t.same(conflicts(theirs([{ ...a.records[4]!, data: '198.19.1.9' }]), a.records), [a.hostName], 'our host name, another address');
  t.same(conflicts(theirs([a.records[4]!, a.records[2]!]), a.records), [], 'the same data (a cache repeating us) is no conflict');
  t.same(conflicts(theirs([{ ...a.records[1]!, data: `other._maskin-agent._tcp.local` }]), a.records), [], 'PTRs are shared');
  t.same(conflicts(theirs([{ ...a.records[4]!, data: '198.19.1.9', ttl: 0 }]), a.records), [], 'a goodbye is no claim');
});

t.test('the unicast budget refills at its rate and never holds more than its burst', async (t) => {
  const b = new TokenBucket(20, 40, 0);
  let n = 0;
  while (b.take(0)) n++;
  t.equal(n, 40, 'the burst');
  t.notOk(b.take(49), 'less than one token after 49 ms');
  t.ok(b.take(50), 'one after 50 ms');
  const back = new TokenBucket(20, 1, 1000);
  t.ok(back.take(1000));
  t.notOk(back.take(0), 'a clock going back adds nothing');
  const idle = new TokenBucket(20, 40, 0);
  for (let i = 0; i < 40; i++) idle.take(0);
  let after = 0;
  while (idle.take(3_600_000)) after++;
  t.equal(after, 40, 'an hour idle still gives at most the burst');
});
