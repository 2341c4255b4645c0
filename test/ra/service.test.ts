// The router-advertisement service against real parts: Debian's radvd on a rack bridge (started in
// the rack namespace through a wrapper at routerAdvertisements.radvd), rdisc6 as a soliciting host,
// and a foreign radvd that advertises a prefix and a router lifetime: the service stops sending
// while that router is on the segment. Rack 198.18.212.0/24 (tag rasvc).
import t from 'tap';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { Registry } from 'prom-client';
import { createRack } from '../bed/netns.js';
import { testConfig } from '../dhcp/fixtures.js';
import { createRaService } from '../../agent/ra/service.js';

async function until(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`not seen within ${timeoutMs} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function captured() {
  let text = '';
  const log = pino({ level: 'debug' }, new Writable({ write: (chunk, _enc, cb) => ((text += chunk.toString()), cb()) }));
  return { log, text: () => text };
}

t.test('sends for iPXE, and stops while a router of the segment advertises', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'maskin-rasvc-'));
  const rack = await createRack('rasvc', 212);
  const stop = new AbortController();
  t.teardown(async () => {
    stop.abort();
    await rack.destroy();
    await rm(dir, { recursive: true, force: true });
  });
  const host = await rack.addHost('h1', { address: '198.18.212.50' });
  const router = await rack.addHost('r1', { address: '198.18.212.60' });
  const linkLocal = async (ns: string | undefined, dev: string): Promise<void> =>
    until(`${dev} link-local`, async () =>
      (await rack.exec('ip', ['-6', '-o', 'addr', 'show', 'dev', dev, 'scope', 'link', '-tentative'], ns)).includes('fe80'),
    );
  await linkLocal(host, 'eth0');
  await linkLocal(router, 'eth0');
  await linkLocal(undefined, rack.bridge);
  // The agent runs in the rack namespace in production; here the service does, through its radvd path.
  const wrapper = path.join(dir, 'radvd');
  await writeFile(wrapper, `#!/bin/sh\nexec ip netns exec ${rack.ns} radvd "$@"\n`);
  await chmod(wrapper, 0o755);
  const registry = new Registry();
  const { log, text } = captured();
  const config = testConfig({
    provisioning: { interface: rack.bridge, address: rack.address, subnet: rack.subnet },
    routerAdvertisements: { mode: 'auto', radvd: wrapper, maxIntervalSeconds: 1800 },
  });
  const service = createRaService({
    config,
    log,
    registry,
    dir: path.join(dir, 'ra'),
    recheckMs: 500,
    routes: (iface) => rack.exec('ip', ['-6', '-j', 'route', 'show', 'dev', iface]),
  });
  const running = service.run(stop.signal);
  const gauge = async (): Promise<number | undefined> => (await registry.getSingleMetric('maskin_ra_sending')?.get())?.values[0]?.value;

  const answer = await rack.exec('rdisc6', ['-1', '-r', '20', '-w', '1000', 'eth0'], host);
  t.match(answer, /Router lifetime\s*:\s*0 \(0x00000000\) seconds/, 'the host is answered with an RA of lifetime 0');
  t.notMatch(answer, /Prefix\s*:/, 'carrying no prefix');
  t.equal(await gauge(), 1, 'maskin_ra_sending is 1');

  const foreign = path.join(dir, 'foreign.conf');
  await writeFile(foreign, 'interface eth0 {\n  AdvSendAdvert on;\n  MaxRtrAdvInterval 10;\n  AdvDefaultLifetime 1800;\n  prefix 2001:db8:212::/64 { };\n};\n');
  const other = rack.spawn('radvd', ['-n', '-m', 'stderr', '-C', foreign, '-p', path.join(dir, 'foreign.pid')], { ns: router });
  let otherLog = '';
  other.stderr?.on('data', (c: Buffer) => (otherLog += c.toString()));
  try {
    await until('the service yields to the foreign router', () => text().includes('the segment has router advertisements of its own'));
  } catch (err) {
    t.comment(
      `foreign radvd:\n${otherLog}\nbridge routes:\n${await rack.exec('ip', ['-6', 'route', 'show', 'dev', rack.bridge])}\naccept_ra: ${await rack.exec('sysctl', ['-n', `net.ipv6.conf.${rack.bridge}.accept_ra`, 'net.ipv6.conf.all.forwarding'])}`,
    );
    throw err;
  }
  t.equal(await gauge(), 0, 'maskin_ra_sending is 0 while the segment has its own router');
  t.match(text(), /"state":"foreign-router"/, 'the log names the state');

  stop.abort();
  await running;
  t.notMatch(text(), /radvd exited; restarting it/, 'radvd never died under the service');
});

t.test('mode off and a missing radvd are log lines, not failures', async (t) => {
  for (const [settings, expect] of [
    [{ mode: 'off', radvd: '/usr/sbin/radvd', maxIntervalSeconds: 1800 }, /router advertisements off \(routerAdvertisements.mode\)/],
    [{ mode: 'auto', radvd: '/nonexistent/radvd', maxIntervalSeconds: 1800 }, /"fix":"install Debian package radvd.*radvd not found/],
  ] as const) {
    const { log, text } = captured();
    const stop = new AbortController();
    const running = createRaService({ config: testConfig({ routerAdvertisements: settings }), log, dir: tmpdir() }).run(stop.signal);
    await until('the log line', () => expect.test(text()));
    stop.abort();
    await running;
    t.pass(`${settings.mode} ${settings.radvd}: ${expect}`);
  }
});
