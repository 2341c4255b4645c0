// The announce section: defaults, and the provisioning NIC and oversized names refused by field.
import t from 'tap';
import { parseConfig } from '../../agent/config/load.js';

const base = (extra = '', provIf = 'prov0'): string => `
agentId: edge-01
rackId: rack1
provisioning: { interface: ${provIf}, address: 198.18.0.1, subnet: 198.18.0.0/24 }
dhcp: { pool: { start: 198.18.0.100, end: 198.18.0.199 } }
${extra}`;

t.test('defaults: on, wan0 and oob0, name from agent and rack', async (t) => {
  t.same(parseConfig(base(), { env: {} }).announce, { enabled: true, interfaces: ['wan0', 'oob0'], instanceName: 'maskin-agent edge-01 (rack1)' });
  t.same(parseConfig(base('', 'oob0'), { env: {} }).announce.interfaces, ['wan0'], 'the default never holds the provisioning NIC');
  const c = parseConfig(base('announce: { enabled: false, interfaces: [mgmt0], instanceName: rack one }'), { env: {} });
  t.same(c.announce, { enabled: false, interfaces: ['mgmt0'], instanceName: 'rack one' });
});

t.test('refused, naming the field', async (t) => {
  const cases: [string, RegExp][] = [
    [
      'announce: { interfaces: [wan0, prov0] }',
      /announce\.interfaces\.1: prov0 is provisioning\.interface; the agent never announces itself on the provisioning network\. Fix: remove it/,
    ],
    ['announce: { interfaces: [] }', /announce\.interfaces: /],
    ['announce: { interfaces: [wan0, wan0] }', /announce\.interfaces: /],
    ['announce: { instanceName: a.b }', /announce\.instanceName: /],
    [`announce: { instanceName: ${'é'.repeat(40)} }`, /announce\.instanceName: is 80 bytes of UTF-8; a DNS-SD instance name holds at most 63/],
    ['announce: { enable: true }', /announce\.enable: unknown field\. Fix: remove it or rename it to `enabled`/],
  ];
  for (const [extra, says] of cases) t.throws(() => parseConfig(base(extra), { env: {} }), says, extra.slice(0, 60));
  t.throws(
    () => parseConfig(base().replace('agentId: edge-01', `agentId: ${'x'.repeat(300)}`), { env: {} }),
    /agentId: is too long for the mDNS TXT entry id=/,
  );
  t.doesNotThrow(
    () => parseConfig(base('announce: { enabled: false }').replace('agentId: edge-01', `agentId: ${'x'.repeat(300)}`), { env: {} }),
    'not announcing: any length',
  );
  t.throws(
    () => parseConfig(base('announce: { enabled: false, interfaces: [prov0] }'), { env: {} }),
    /announce\.interfaces\.0: prov0 is provisioning\.interface/,
    'refused even while disabled',
  );
});
