// The pre-flight's verdict on the NTP and DNS servers DHCP hands out, from a table of what each
// server said (test/fakes/serverProbe.ts): which warnings, naming which field, address and fix.
import t from 'tap';
import { parseConfig } from '../agent/config/load.js';
import { answeringServers, checkDhcpServers, dhcpServerFindings } from '../agent/preflight.js';
import { fixedServerProbe } from './fakes/serverProbe.js';

const config = parseConfig(`provisioning: { interface: prov0, address: 198.18.9.1, subnet: 198.18.9.0/24 }
dhcp:
  pool: { start: 198.18.9.100, end: 198.18.9.199 }
  ntp: [198.18.9.1, 198.18.9.2, 198.18.9.3, 198.18.9.4]
  dns: [198.18.9.1, 198.18.9.5, 198.18.9.6]
`);

const probe = fixedServerProbe(
  {
    '198.18.9.2': { kind: 'answered', leap: 0, stratum: 10, offsetSeconds: -0.00012 },
    '198.18.9.3': { kind: 'answered', leap: 3, stratum: 0, offsetSeconds: 0 },
    '198.18.9.4': { kind: 'refused' },
  },
  { '198.18.9.5': { kind: 'answered', rcode: 0 }, '198.18.9.6': { kind: 'answered', rcode: 5 } },
);

t.test('each server is asked once, and each bad answer is one warning naming field, address and fix', async (t) => {
  const checks = await checkDhcpServers(config, probe);
  t.same(probe.asked.sort(), ['dns 198.18.9.1', 'dns 198.18.9.5', 'dns 198.18.9.6', 'ntp 198.18.9.1', 'ntp 198.18.9.2', 'ntp 198.18.9.3', 'ntp 198.18.9.4']);
  const findings = dhcpServerFindings(config, checks, true);
  t.same(
    findings.map((f) => f.field),
    ['dhcp.ntp[0]', 'dhcp.ntp[2]', 'dhcp.ntp[3]', 'dhcp.dns[0]', 'dhcp.dns[2]'],
  );
  const by = (field: string): string => findings.find((f) => f.field === field)!.message;
  t.match(
    by('dhcp.ntp[0]'),
    /^NTP server 198\.18\.9\.1 \(this is the agent host itself, provisioning\.address\) did not answer an SNTP request on UDP 123 within 1 s; Talos waits for time sync/,
  );
  t.match(
    by('dhcp.ntp[0]'),
    /Fix: run an NTP server there \(.*chrony.*image\/rootfs\/etc\/chrony\/conf\.d\/maskin-agent\.conf\), set the field to a server that answers, or remove it$/,
  );
  t.match(
    by('dhcp.ntp[2]'),
    /198\.18\.9\.3 answers but is not synchronised \(leap indicator 3, stratum 0\), so Talos does not take its time\. Fix: .*local stratum 10/,
  );
  t.match(by('dhcp.ntp[3]'), /198\.18\.9\.4 refused an SNTP request on UDP 123: nothing listens there/);
  t.match(
    by('dhcp.dns[0]'),
    /^DNS server 198\.18\.9\.1 \(this is the agent host itself.*did not answer a query on UDP 53 within 1 s.*Fix: run a DNS resolver there/,
  );
  t.match(by('dhcp.dns[2]'), /198\.18\.9\.6 answers but refuses queries from this host \(REFUSED\)/);
  t.same(answeringServers(checks), ['dhcp.ntp[1] 198.18.9.2: NTP answers, stratum 10, offset -0.0001 s', 'dhcp.dns[1] 198.18.9.5: DNS answers (NOERROR)']);
});

t.test("run on another host, the agent's own address is still asked, and the warning says where the query went", async (t) => {
  const findings = dhcpServerFindings(config, await checkDhcpServers(config, fixedServerProbe({})), false);
  t.match(
    findings[0]!.message,
    /198\.18\.9\.1 \(this is the agent's provisioning\.address, which no interface of this host holds: the query went wherever this host routes it; run check-config on the agent host/,
  );
  t.notMatch(findings[1]!.message, /provisioning\.address/, 'other addresses carry no such note');
});

t.test('a server that could not be asked at all says why', async (t) => {
  const checks = await checkDhcpServers(config, fixedServerProbe({ '198.18.9.2': { kind: 'unsent', reason: 'ENETUNREACH' } }));
  t.match(dhcpServerFindings(config, checks, true)[1]!.message, /198\.18\.9\.2 could not be sent an SNTP request on UDP 123 from this host \(ENETUNREACH\)/);
});

t.test('no servers configured, nothing asked, nothing to say', async (t) => {
  const bare = parseConfig(
    'provisioning: { interface: prov0, address: 198.18.9.1, subnet: 198.18.9.0/24 }\ndhcp: { pool: { start: 198.18.9.100, end: 198.18.9.199 } }\n',
  );
  const p = fixedServerProbe({});
  t.same(dhcpServerFindings(bare, await checkDhcpServers(bare, p), true), []);
  t.same(p.asked, []);
});
