// Test bed: real DHCP clients (dhclient, udhcpc), a real relay (isc-dhcp-relay's dhcrelay) and
// perfdhcp against our DHCP service running in the rack namespace.
// Addresses: 198.18.72.0/24 is the rack segment, 198.18.73.0/24 the relayed segment (this file only).
import t from 'tap';
import { mkdtemp, readFile, rm, writeFile, chmod } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createRack, sh, type Rack } from '../bed/netns.js';
import { testConfig } from './fixtures.js';

const SERVE = path.resolve('dist/test/dhcp/bed/serve-dhcp.js');

function waitFor(child: ReturnType<Rack['spawn']>, pattern: RegExp, ms: number, what: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => reject(new Error(`${what}: no ${pattern} within ${ms} ms; output:\n${seen}`)), ms);
    const on = (chunk: Buffer): void => {
      seen += chunk.toString();
      const m = pattern.exec(seen);
      if (m) {
        clearTimeout(timer);
        resolve(m[0]);
      }
    };
    child.stdout?.on('data', on);
    child.stderr?.on('data', on);
    child.once('exit', (code) => {
      clearTimeout(timer);
      if (!pattern.test(seen)) reject(new Error(`${what} exited (${code}) early; output:\n${seen}`));
    });
  });
}

t.test('real clients and a real relay get leases with the configured options', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'maskin-dhcp-bed-'));
  const rack = await createRack('dhcpbed', 72);
  const clientNs = 'maskin-dhcpbed-c2';
  t.teardown(async () => {
    await rack.destroy();
    await sh('ip', ['netns', 'del', clientNs]).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  });
  const config = testConfig({
    provisioning: { interface: rack.bridge, address: rack.address, subnet: rack.subnet },
    dataDir: path.join(dir, 'data'),
    httpBaseUrl: 'http://198.18.72.1:8080',
    dhcp: {
      poolStart: '198.18.72.100',
      poolEnd: '198.18.72.150',
      routers: ['198.18.72.1'],
      dns: ['198.18.72.53'],
      ntp: ['198.18.72.123'],
      domain: 'bed.test',
      relays: [{ subnet: '198.18.73.0/24', poolStart: '198.18.73.100', poolEnd: '198.18.73.110', routers: ['198.18.73.1'] }],
    },
  });
  const server = rack.spawn('node', [SERVE, JSON.stringify(config)]);
  await waitFor(server, /ready 67/, 10_000, 'serve-dhcp');

  await t.test('dhclient', async (t) => {
    const host = await rack.addHost('dhc', { mac: '02:00:00:72:00:01' });
    const leaseFile = path.join(dir, 'dhclient.leases');
    const conf = path.join(dir, 'dhclient.conf');
    await writeFile(conf, 'request subnet-mask, routers, domain-name-servers, domain-name, ntp-servers;\n');
    const child = rack.spawn('dhclient', ['-4', '-d', '-1', '-cf', conf, '-lf', leaseFile, '-pf', path.join(dir, 'dhclient.pid'), '-sf', '/bin/true', 'eth0'], {
      ns: host,
    });
    await waitFor(child, /bound to 198\.18\.72\.\d+/, 20_000, 'dhclient');
    const lease = await readFile(leaseFile, 'utf8');
    t.match(lease, /fixed-address 198\.18\.72\.1\d\d;/);
    t.match(lease, /option subnet-mask 255\.255\.255\.0;/);
    t.match(lease, /option routers 198\.18\.72\.1;/);
    t.match(lease, /option domain-name-servers 198\.18\.72\.53;/);
    t.match(lease, /option ntp-servers 198\.18\.72\.123;/);
    t.match(lease, /option domain-name "bed\.test";/);
    t.match(lease, /option dhcp-server-identifier 198\.18\.72\.1;/);
    t.notMatch(lease, /filename/, 'a plain client gets no boot file');
  });

  const udhcpcScript = path.join(dir, 'udhcpc.sh');
  await writeFile(udhcpcScript, `#!/bin/sh\n[ "$1" = bound ] && env > "${dir}/udhcpc.$(cat /proc/sys/kernel/hostname).$interface.env"\nexit 0\n`);
  await chmod(udhcpcScript, 0o755);
  const udhcpc = async (ns: string): Promise<Record<string, string>> => {
    await rack.exec('udhcpc', ['-i', 'eth0', '-n', '-q', '-f', '-t', '5', '-T', '1', '-O', 'ntpsrv', '-O', 'domain', '-s', udhcpcScript], ns);
    const host = (await rack.exec('cat', ['/proc/sys/kernel/hostname'], ns)).trim();
    const env = await readFile(path.join(dir, `udhcpc.${host}.eth0.env`), 'utf8');
    await rm(path.join(dir, `udhcpc.${host}.eth0.env`));
    return Object.fromEntries(
      env
        .split('\n')
        .filter((l) => l.includes('='))
        .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
    );
  };

  await t.test('udhcpc', async (t) => {
    const host = await rack.addHost('udh', { mac: '02:00:00:72:00:02' });
    const env = await udhcpc(host);
    t.match(env.ip, /^198\.18\.72\.1\d\d$/);
    t.equal(env.subnet, '255.255.255.0');
    t.equal(env.router, '198.18.72.1');
    t.equal(env.dns, '198.18.72.53');
    t.equal(env.ntpsrv, '198.18.72.123');
    t.equal(env.domain, 'bed.test');
    t.equal(env.serverid, '198.18.72.1');
    t.equal(env.lease, '3600');
  });

  await t.test('through dhcrelay: pool by giaddr, reply to the relay', async (t) => {
    const relayNs = await rack.addHost('rl', { address: '198.18.72.2/24' });
    await sh('ip', ['netns', 'add', clientNs]);
    await sh('ip', ['-n', relayNs, 'link', 'add', 'eth1', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', clientNs]);
    await sh('ip', ['-n', relayNs, 'addr', 'add', '198.18.73.1/24', 'dev', 'eth1']);
    await sh('ip', ['-n', relayNs, 'link', 'set', 'eth1', 'up']);
    await sh('ip', ['-n', clientNs, 'link', 'set', 'lo', 'up']);
    await sh('ip', ['-n', clientNs, 'link', 'set', 'eth0', 'address', '02:00:00:73:00:01']);
    await sh('ip', ['-n', clientNs, 'link', 'set', 'eth0', 'up']);
    await sh('ip', ['-n', rack.ns, 'route', 'add', '198.18.73.0/24', 'via', '198.18.72.2']);
    const relay = rack.spawn('dhcrelay', ['-4', '-d', '-id', 'eth1', '-iu', 'eth0', '-pf', path.join(dir, 'dhcrelay.pid'), rack.address], { ns: relayNs });
    await waitFor(relay, /Sending on\s+Socket/, 10_000, 'dhcrelay');
    const env = await udhcpc(clientNs);
    t.match(env.ip, /^198\.18\.73\.1(0\d|10)$/, 'address from the relay pool');
    t.equal(env.router, '198.18.73.1');
    t.equal(env.subnet, '255.255.255.0');
    t.equal(env.ntpsrv, '198.18.72.123');
  });

  await t.test('perfdhcp (acts as a relay: sets giaddr) completes exchanges without drops', async (t) => {
    const host = await rack.addHost('pd', { address: '198.18.72.3/24' });
    const out = await rack
      .exec('perfdhcp', ['-4', '-l', 'eth0', '-r', '100', '-R', '30', '-p', '2', '-t', '1', '198.18.72.1'], host)
      .catch((err: { stdout?: string }) => err.stdout ?? String(err));
    const sent = /sent packets: (\d+)/.exec(out);
    const received = /received packets: (\d+)/.exec(out);
    t.ok(sent && Number(sent[1]) > 100, `perfdhcp sent packets:\n${out}`);
    t.ok(received && Number(received[1]) >= Number(sent?.[1]) * 0.99, 'and got (nearly) all answers');
  });
});
