import t from 'tap';
import { parseConfig } from '../../agent/config/load.js';
import { ConfigError } from '../../agent/errors.js';

const minimal = `
provisioning: { interface: eth1, address: 198.18.0.1, subnet: 198.18.0.0/24 }
dhcp: { pool: { start: 198.18.0.100, end: 198.18.0.199 } }
`;

t.test('defaults fill everything a rack operator leaves out', async (t) => {
  const c = parseConfig(minimal, { env: {} });
  t.same(c.ports, { dhcp: 67, dhcpClient: 68, tftp: 69, http: 80 });
  t.equal(c.httpBaseUrl, 'http://198.18.0.1');
  t.equal(c.bootBinariesDir, '/usr/lib/ipxe');
  t.same(c.bootFiles, { bios: 'undionly.kpxe', uefiX64: 'snponly.efi', uefiArm64: 'snp-arm64.efi' });
  t.equal(c.dhcp.leaseTime, 3600);
  t.equal(c.bootTokenTtl, 3600);
  t.ok(Object.isFrozen(c) && Object.isFrozen(c.dhcp), 'frozen');
});

t.test('a non-default HTTP port appears in the base URL', async (t) => {
  const c = parseConfig(minimal + 'ports: { http: 8080 }\n', { env: {} });
  t.equal(c.httpBaseUrl, 'http://198.18.0.1:8080');
});

t.test('environment overrides', async (t) => {
  const c = parseConfig(minimal, { env: { MASKIN_LOG_LEVEL: 'debug', MASKIN_ADMIN_TOKEN: 's3cret', MASKIN_DATA_DIR: '/tmp/d' } });
  t.equal(c.logLevel, 'debug');
  t.equal(c.adminToken, 's3cret');
  t.equal(c.dataDir, '/tmp/d');
});

const cases: [string, string, RegExp][] = [
  ['missing field', 'dhcp: { pool: { start: 198.18.0.100, end: 198.18.0.199 } }', /provisioning: is required\. Fix: add the field `provisioning`/],
  ['typo suggests the right name', minimal + 'dataDri: /x\n', /dataDri: unknown field\. Fix: remove it or rename it to `dataDir`/],
  ['bad address', minimal.replace('198.18.0.1,', '198.18.0.300,'), /provisioning\.address: .*Fix: use a dotted IPv4 address/],
  ['address outside subnet', minimal.replace('address: 198.18.0.1', 'address: 198.19.0.1'), /provisioning\.address: 198\.19\.0\.1 is outside provisioning\.subnet/],
  ['pool contains own address', minimal.replace('start: 198.18.0.100', 'start: 198.18.0.1'), /dhcp\.pool: the pool contains this agent's own address/],
  ['reversed pool', minimal.replace('start: 198.18.0.100, end: 198.18.0.199', 'start: 198.18.0.199, end: 198.18.0.100'), /dhcp\.pool: start .* is after end .* Fix: swap start and end/],
  ['port out of range', minimal + 'ports: { http: 70000 }\n', /ports\.http: .*Fix: use a value must be <= 65535/],
  ['bad log level', minimal + 'logLevel: loud\n', /logLevel: .*Fix: use one of: fatal, error, warn, info, debug, trace/],
  ['not yaml', 'provisioning: [', /not valid YAML/],
];
for (const [name, text, pattern] of cases) {
  t.test(`rejects: ${name}`, async (t) => {
    let caught: unknown;
    try {
      parseConfig(text, { env: {} });
    } catch (err) {
      caught = err;
    }
    t.ok(caught instanceof ConfigError, 'throws ConfigError');
    t.match((caught as Error).message, pattern);
  });
}
