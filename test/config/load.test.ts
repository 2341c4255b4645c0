import t from 'tap';
import { parseConfig } from '../../agent/config/load.js';
import { ConfigError } from '../../agent/errors.js';

const minimal = `
provisioning: { interface: eth1, address: 198.18.0.1, subnet: 198.18.0.0/24 }
dhcp: { pool: { start: 198.18.0.100, end: 198.18.0.199 } }
`;

t.test('defaults fill everything a rack operator leaves out', async (t) => {
  const c = parseConfig(minimal, { env: {} });
  t.same(c.ports, { dhcp: 67, dhcpClient: 68, pxe: 4011, tftp: 69, http: 80 });
  t.equal(c.httpBaseUrl, 'http://198.18.0.1');
  t.equal(c.bootBinariesDir, '/usr/lib/ipxe');
  t.same(c.bootFiles, { bios: 'undionly.kpxe', uefiX64: 'snponly.efi', uefiArm64: 'snp-arm64.efi' });
  t.equal(c.dhcp.leaseTime, 3600);
  t.equal(c.bootTokenTtl, 3600);
  t.equal(c.nodes.maxUnknown, 1024);
  t.equal(c.dhcp.unknownPoolPercent, 50);
  t.equal(c.dhcp.unknownPxeLeaseTime, 600);
  t.equal(c.dhcp.mode, 'full', 'full DHCP unless told otherwise');
  t.equal(c.dhcp.probeIntervalSeconds, 300);
  t.ok(Object.isFrozen(c) && Object.isFrozen(c.dhcp), 'frozen');
});

t.test('dhcp.mode and the probe interval are read and bounded', async (t) => {
  const c = parseConfig(minimal.replace('end: 198.18.0.199 }', 'end: 198.18.0.199 }, mode: proxy, probeIntervalSeconds: 30'), { env: {} });
  t.equal(c.dhcp.mode, 'proxy');
  t.equal(c.dhcp.probeIntervalSeconds, 30);
  t.throws(() => parseConfig(minimal.replace('end: 198.18.0.199 }', 'end: 198.18.0.199 }, mode: relay'), { env: {} }), /dhcp\.mode/);
  t.throws(
    () => parseConfig(minimal.replace('end: 198.18.0.199 }', 'end: 198.18.0.199 }, probeIntervalSeconds: 1'), { env: {} }),
    /dhcp\.probeIntervalSeconds/,
  );
});

t.test('the unknown machines share and lease time are read and bounded', async (t) => {
  const c = parseConfig(minimal.replace('end: 198.18.0.199 }', 'end: 198.18.0.199 }, unknownPoolPercent: 20, unknownPxeLeaseTime: 120'), { env: {} });
  t.equal(c.dhcp.unknownPoolPercent, 20);
  t.equal(c.dhcp.unknownPxeLeaseTime, 120);
  t.throws(() => parseConfig(minimal.replace('end: 198.18.0.199 }', 'end: 198.18.0.199 }, unknownPoolPercent: 101'), { env: {} }), /dhcp\.unknownPoolPercent/);
  t.throws(() => parseConfig(minimal.replace('end: 198.18.0.199 }', 'end: 198.18.0.199 }, unknownPxeLeaseTime: 10'), { env: {} }), /dhcp\.unknownPxeLeaseTime/);
});

t.test('nodes.maxUnknown is read and bounded', async (t) => {
  t.equal(parseConfig(minimal + 'nodes: { maxUnknown: 50 }\n', { env: {} }).nodes.maxUnknown, 50);
  t.throws(() => parseConfig(minimal + 'nodes: { maxUnknown: 0 }\n', { env: {} }), /nodes\.maxUnknown/);
});

t.test('TFTP bounds: defaults, and seconds given become ms', async (t) => {
  t.same(parseConfig(minimal, { env: {} }).tftp, { maxTransfers: 256, maxTransfersPerClient: 16, maxTimeoutSeconds: 10, maxTransferMs: 60_000 });
  const c = parseConfig(minimal + 'tftp: { maxTransfers: 64, maxTransfersPerClient: 4, maxTimeoutSeconds: 5, maxTransferSeconds: 30 }\n', { env: {} });
  t.same(c.tftp, { maxTransfers: 64, maxTransfersPerClient: 4, maxTimeoutSeconds: 5, maxTransferMs: 30_000 });
});

t.test('HTTP limits: defaults, and each field set on its own', async (t) => {
  t.same(parseConfig(minimal, { env: {} }).httpLimits, { windowMs: 60_000, bootToken: 30, admin: 120, push: 30, refusalLogLines: 20 });
  const c = parseConfig(minimal + 'http: { limits: { windowSeconds: 10, bootToken: 5, admin: 50, push: 2, refusalLogLines: 0 } }\n', { env: {} });
  t.same(c.httpLimits, { windowMs: 10_000, bootToken: 5, admin: 50, push: 2, refusalLogLines: 0 });
  t.throws(() => parseConfig(minimal + 'http: { limits: { bootToken: 0 } }\n', { env: {} }), /http\.limits\.bootToken/);
  t.throws(() => parseConfig(minimal + 'http: { limits: { burst: 3 } }\n', { env: {} }), /http\.limits\.burst: unknown field/);
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
  [
    'address outside subnet',
    minimal.replace('address: 198.18.0.1', 'address: 198.19.0.1'),
    /provisioning\.address: 198\.19\.0\.1 is outside provisioning\.subnet/,
  ],
  ['pool contains own address', minimal.replace('start: 198.18.0.100', 'start: 198.18.0.1'), /dhcp\.pool: the pool contains this agent's own address/],
  [
    'reversed pool',
    minimal.replace('start: 198.18.0.100, end: 198.18.0.199', 'start: 198.18.0.199, end: 198.18.0.100'),
    /dhcp\.pool: start .* is after end .* Fix: swap start and end/,
  ],
  ['port out of range', minimal + 'ports: { http: 70000 }\n', /ports\.http: .*Fix: use a value must be <= 65535/],
  ['TFTP timeout cap over RFC 2349', minimal + 'tftp: { maxTimeoutSeconds: 256 }\n', /tftp\.maxTimeoutSeconds: .*<= 255/],
  ['no TFTP transfers at all', minimal + 'tftp: { maxTransfers: 0 }\n', /tftp\.maxTransfers: .*>= 1/],
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

t.test('uplink: trusted keys are read and checked, secrets come from files or env, relations hold', async (t) => {
  const { mkdtemp, rm, writeFile } = await import('node:fs/promises');
  const { generateKeyPairSync } = await import('node:crypto');
  const path = await import('node:path');
  const { tmpdir } = await import('node:os');
  const dir = await mkdtemp(path.join(tmpdir(), 'maskin-cfg-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const { publicKey } = generateKeyPairSync('ed25519');
  await writeFile(path.join(dir, 'k1.pub'), publicKey.export({ type: 'spki', format: 'pem' }));
  const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey;
  await writeFile(path.join(dir, 'rsa.pub'), rsa.export({ type: 'spki', format: 'pem' }));
  await writeFile(path.join(dir, 'push.token'), 'push-secret\n');
  const uplink = (extra: string) => `${minimal}rackId: rack1\nuplink:\n  manifestUrl: https://central.test/v1/racks/rack1/manifest\n${extra}`;
  const c = parseConfig(uplink(`  trustedKeys: [{ id: k1, publicKeyFile: k1.pub }]\n  pushTokenFile: push.token\n`), {
    env: { MASKIN_UPLINK_TOKEN: 'up' },
    file: path.join(dir, 'agent.yaml'),
  });
  t.equal(c.rackId, 'rack1');
  t.equal(c.uplink.trustedKeys[0]?.id, 'k1');
  t.match(c.uplink.trustedKeys[0]?.publicKeyPem, /BEGIN PUBLIC KEY/);
  t.equal(c.uplink.pushToken, 'push-secret');
  t.equal(c.uplink.token, 'up');
  t.equal(c.uplink.pullIntervalSeconds, 60);
  t.equal(c.outboxMaxEvents, 100_000);
  const rejects: [string, RegExp][] = [
    [uplink(''), /uplink\.trustedKeys: is empty, so no signed manifest could ever be accepted/],
    [uplink(`  trustedKeys: [{ id: k1, publicKeyFile: rsa.pub }]\n`), /uplink\.trustedKeys\.0\.publicKeyFile: is not an Ed25519 public key/],
    [uplink(`  trustedKeys: [{ id: k1, publicKeyFile: missing.pub }]\n`), /uplink\.trustedKeys\.0\.publicKeyFile: cannot read/],
    [uplink(`  trustedKeys: [{ id: k1, publicKeyFile: k1.pub }, { id: k1, publicKeyFile: k1.pub }]\n`), /uplink\.trustedKeys\.1\.id: duplicate key id k1/],
    [uplink(`  trustedKeys: [{ id: k1, publicKeyFile: k1.pub }]\n  certFile: c.pem\n`), /uplink\.keyFile: client certificate and key come together/],
    [uplink(`  trustedKeys: [{ id: k1, publicKeyFile: k1.pub }]\n`).replace('rackId: rack1\n', ''), /rackId: is required when manifests come from central/],
  ];
  for (const [text, pattern] of rejects) {
    let caught: unknown;
    try {
      parseConfig(text, { env: {}, file: path.join(dir, 'agent.yaml') });
    } catch (err) {
      caught = err;
    }
    t.match((caught as Error | undefined)?.message, pattern);
  }
});

t.test('lifecycle and BMC settings: defaults, seconds → ms, env credentials, clear field errors', async (t) => {
  const d = parseConfig(minimal, { env: {} });
  t.same(d.lifecycle, {
    concurrency: 4,
    staggerMs: 5000,
    maxAttempts: 3,
    backoffMs: 10000,
    maxBackoffMs: 120000,
    timeouts: { bmcCallMs: 60000, netbootMs: 600000, installMs: 1800000, handoverMs: 900000 },
    probeIntervalMs: 10000,
    handoverPort: 50000,
    reconcileIntervalMs: 30000,
  });
  t.same(d.bmc, { envCredentials: {}, ipmi: { bootFlagCheck: 'full' } });
  const c = parseConfig(
    minimal +
      'lifecycle: { concurrency: 8, staggerSeconds: 0.5, maxAttempts: 5, timeoutSeconds: { netboot: 300 }, handoverPort: 50001 }\nbmc: { secretsFile: bmc.yaml, ipmi: { cipherSuite: 3, bootFlagCheck: device-only } }\n',
    {
      env: { MASKIN_BMC_RACK_7_USERNAME: 'root', MASKIN_BMC_RACK_7_PASSWORD: 'pw' },
      file: '/etc/maskin/agent.yaml',
    },
  );
  t.match(c.lifecycle, { concurrency: 8, staggerMs: 500, maxAttempts: 5, timeouts: { netbootMs: 300000, installMs: 1800000 }, handoverPort: 50001 });
  t.equal(c.bmc.secretsFile, '/etc/maskin/bmc.yaml', 'relative to the config file');
  t.same(c.bmc.envCredentials, { RACK_7: { username: 'root', password: 'pw' } });
  t.same(c.bmc.ipmi, { cipherSuite: 3, bootFlagCheck: 'device-only' });
  const bad: [string, Record<string, string>, RegExp][] = [
    ['lifecycle: { concurrency: 0 }', {}, /lifecycle\.concurrency: .*Fix/],
    ['lifecycle: { timeoutSeconds: { netbot: 5 } }', {}, /lifecycle\.timeoutSeconds\.netbot: unknown field\. Fix: remove it or rename it to `netboot`/],
    ['lifecycle: { backoffSeconds: 300, maxBackoffSeconds: 60 }', {}, /lifecycle\.backoffSeconds: 300 s is above lifecycle\.maxBackoffSeconds/],
    ['bmc: { secretFile: x }', {}, /bmc\.secretFile: unknown field\. Fix: remove it or rename it to `secretsFile`/],
    ['', { MASKIN_BMC_R1_USERNAME: 'root' }, /MASKIN_BMC_R1_USERNAME: is set but MASKIN_BMC_R1_PASSWORD is not/],
  ];
  for (const [yaml, env, pattern] of bad) t.throws(() => parseConfig(minimal + yaml + '\n', { env }), pattern, yaml || JSON.stringify(env));
});

t.test('two unreadable files give two problems in one ConfigError', async (t) => {
  const text = `${minimal}adminTokenFile: nowhere/admin.token\nrackId: rack1\nuplink:\n  manifestUrl: https://central.test/m\n  trustedKeys: [{ id: k1, publicKeyFile: nowhere/k1.pub }]\n`;
  let caught: unknown;
  try {
    parseConfig(text, { env: {}, file: '/nonexistent/agent.yaml' });
  } catch (err) {
    caught = err;
  }
  t.ok(caught instanceof ConfigError, 'throws ConfigError');
  t.same(
    (caught as ConfigError).problems.map((p) => p.field),
    ['adminTokenFile', 'uplink.trustedKeys.0.publicKeyFile'],
    'one problem per file, nothing else',
  );
  t.match((caught as Error).message, /adminTokenFile: cannot read .*\n.*uplink\.trustedKeys\.0\.publicKeyFile: cannot read /);
});

t.test('${CREDENTIALS_DIRECTORY} in a secret path is where systemd put the credentials', async (t) => {
  const { mkdtemp, writeFile, rm } = await import('node:fs/promises');
  const { tmpdir } = await import('node:os');
  const path = await import('node:path');
  const dir = await mkdtemp(path.join(tmpdir(), 'maskin-cred-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await writeFile(path.join(dir, 'maskin-agent.admin-token'), 'from-credential\n');
  const text = `${minimal}adminTokenFile: \${CREDENTIALS_DIRECTORY}/maskin-agent.admin-token\n`;
  t.equal(parseConfig(text, { env: { CREDENTIALS_DIRECTORY: dir }, file: '/etc/maskin-agent/agent.yaml' }).adminToken, 'from-credential');
  // Outside a unit with credentials the path stays as written, and the problem names the field.
  t.throws(() => parseConfig(text, { env: {}, file: '/etc/maskin-agent/agent.yaml' }), /adminTokenFile: cannot read .*CREDENTIALS_DIRECTORY/);
});
