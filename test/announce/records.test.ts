// The announced names and records: derivation from agent and rack id, TXT contents, byte bounds,
// and that every record survives a dns-packet round trip.
import t from 'tap';
import dnsPacket from 'dns-packet';
import { announcedRecords, goodbye, hostLabelFor, instanceNameFor, oversizedTxt, recordKey, truncateUtf8, txtFor } from '../../agent/announce/records.js';

t.test('instance names: agent and rack, no dot, at most 63 bytes on a character boundary', async (t) => {
  const cases: [string, string | undefined, string][] = [
    ['edge-01', 'rack1', 'maskin-agent edge-01 (rack1)'],
    ['edge-01', undefined, 'maskin-agent edge-01'],
    ['edge01.dc1.example', 'r.1', 'maskin-agent edge01-dc1-example (r-1)'],
    ['a\\b\u0007c', undefined, 'maskin-agent a-bc'],
  ];
  for (const [agent, rack, want] of cases) t.equal(instanceNameFor(agent, rack), want, `${agent} ${rack}`);
  const long = instanceNameFor('ä'.repeat(40), 'rack1');
  t.ok(Buffer.byteLength(long) <= 63, 'bytes, not characters');
  t.notMatch(long, /\uFFFD/, 'no character cut in half');
  t.equal(truncateUtf8('aé', 2), 'a');
});

t.test('host labels are LDH, lower-case, prefixed, at most 63 bytes', async (t) => {
  t.equal(hostLabelFor('Edge_01', 'rack1'), 'maskin-edge-01-rack1');
  t.equal(hostLabelFor('edge01.dc1', undefined), 'maskin-edge01-dc1');
  t.equal(hostLabelFor('---', undefined), 'maskin');
  const long = hostLabelFor('x'.repeat(100), 'rack1');
  t.ok(long.length <= 63 && /^[a-z0-9-]+[a-z0-9]$/.test(long));
});

t.test('TXT: txtvers first, agent id, rack id when there is one, version', async (t) => {
  t.same(txtFor({ agentId: 'edge-01', rackId: 'rack1', version: '0.1.0' }), ['txtvers=1', 'id=edge-01', 'rack=rack1', 'version=0.1.0']);
  t.same(txtFor({ agentId: 'edge-01', version: '0.1.0' }), ['txtvers=1', 'id=edge-01', 'version=0.1.0']);
  t.same(oversizedTxt({ agentId: 'x'.repeat(252), version: '1' }), [], '3 + 252 = 255 bytes fit');
  t.same(oversizedTxt({ agentId: 'x'.repeat(253), version: '1' }), [`id=${'x'.repeat(253)}`]);
});

t.test('records: PTRs shared, SRV/TXT/A unique with the interface address, and they round-trip', async (t) => {
  const a = announcedRecords({
    instanceName: 'maskin-agent edge-01 (rack1)',
    identity: { agentId: 'edge-01', rackId: 'rack1', version: '0.1.0' },
    port: 80,
    address: '198.19.1.1',
  });
  t.equal(a.serviceName, 'maskin-agent edge-01 (rack1)._maskin-agent._tcp.local');
  t.equal(a.hostName, 'maskin-edge-01-rack1.local');
  t.same(
    a.records.map((r) => [r.name, r.type, (r as { flush?: boolean }).flush === true]),
    [
      ['_services._dns-sd._udp.local', 'PTR', false],
      ['_maskin-agent._tcp.local', 'PTR', false],
      [a.serviceName, 'SRV', true],
      [a.serviceName, 'TXT', true],
      [a.hostName, 'A', true],
    ],
  );
  const wire = dnsPacket.encode({ type: 'response', answers: [...a.records] });
  const back = dnsPacket.decode(wire);
  t.same(back.answers?.map(recordKey), a.records.map(recordKey), 'every record decodes to itself');
  t.equal(dnsPacket.encode({ type: 'response', answers: back.answers ?? [] }).length, wire.length, 'encode → decode → encode, lengths equal');
  t.same(
    goodbye(a.records).map((r) => (r as { ttl?: number }).ttl),
    [0, 0, 0, 0, 0],
    'goodbye: TTL 0',
  );
});
