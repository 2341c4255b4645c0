// The admin listener: which addresses admin.listen resolves to (pure), the service opening and
// closing real sockets as a NIC view changes, and the config refusals that keep it off the
// provisioning network.
import t from 'tap';
import { createServer, type AddressInfo } from 'node:net';
import type { NetworkInterfaceInfo } from 'node:os';
import pino from 'pino';
import Fastify from 'fastify';
import { parseConfig } from '../../agent/config/load.js';
import { ConfigError } from '../../agent/errors.js';
import { listenPlan, type Nics } from '../../agent/http/adminListen.js';
import { createAdminService } from '../../agent/http/service.js';
import { parseSubnet } from '../../agent/net/ipv4.js';

const side = { subnet: parseSubnet('198.18.90.0/24'), address: '198.18.90.1' };

function nic(address: string, prefix = 24, family: 'IPv4' | 'IPv6' = 'IPv4'): NetworkInterfaceInfo {
  return { address, netmask: '', family, mac: '52:54:00:00:00:01', internal: false, cidr: `${address}/${prefix}` } as NetworkInterfaceInfo;
}

t.test('listenPlan: addresses and NICs, each address once, never the provisioning network', async (t) => {
  const nics: Nics = {
    lo: [{ ...nic('127.0.0.1', 8), internal: true }],
    oob0: [nic('198.19.90.2'), nic('fe80::1', 64, 'IPv6'), nic('198.19.91.2')],
    br0: [nic('198.18.90.1')],
    vlan7: [nic('198.18.90.77', 25)],
    wide: [nic('198.18.0.5', 16)],
    down0: [nic('fe80::2', 64, 'IPv6')],
  };
  const plan = listenPlan(['127.0.0.1', 'oob0', '198.19.90.2', 'br0', 'vlan7', 'wide', 'down0', 'gone0', '198.19.99.9', '127.0.0.9'], nics, side);
  t.same(plan.serve, [
    { entry: '127.0.0.1', address: '127.0.0.1' },
    { entry: 'oob0', address: '198.19.90.2' },
    { entry: 'oob0', address: '198.19.91.2' },
    { entry: '127.0.0.9', address: '127.0.0.9' },
  ]);
  t.same(plan.waiting, [
    { entry: 'br0', reason: 'provisioning' },
    { entry: 'vlan7', reason: 'provisioning' },
    { entry: 'wide', reason: 'provisioning' },
    { entry: 'down0', reason: 'no-address' },
    { entry: 'gone0', reason: 'absent' },
    { entry: '198.19.99.9', reason: 'absent' },
  ]);
  t.same(listenPlan(['198.18.90.5'], nics, side).waiting, [{ entry: '198.18.90.5', reason: 'provisioning' }], 'a literal in the subnet is never served');
});

const base = `provisioning: { interface: br0, address: 198.18.90.1, subnet: 198.18.90.0/24 }\ndhcp: { pool: { start: 198.18.90.100, end: 198.18.90.199 } }\n`;
function problems(extra: string): string {
  try {
    parseConfig(base + extra, { env: {} });
    return '';
  } catch (err) {
    if (err instanceof ConfigError) return err.message;
    throw err;
  }
}

t.test('config: defaults, and the refusals name the field and the fix', async (t) => {
  const c = parseConfig(base, { env: {} });
  t.same(c.admin, { listen: ['127.0.0.1', 'oob0'], port: 9180 });
  const oobIsProvisioning = parseConfig(base.replace('interface: br0', 'interface: oob0'), { env: {} });
  t.same(oobIsProvisioning.admin.listen, ['127.0.0.1'], 'the default leaves out a provisioning NIC named oob0');
  const onLoopback = parseConfig(
    base
      .replace(/198\.18\.90\./g, '127.0.0.')
      .replace('127.0.0.0/24', '127.0.0.0/8')
      .replace('br0', 'lo'),
    { env: {} },
  );
  t.same(onLoopback.admin.listen, ['oob0'], 'and loopback when the provisioning network is loopback');
  t.match(
    problems('admin: { listen: [127.0.0.1, br0] }'),
    /admin\.listen\.1.*br0 is provisioning\.interface.*never served on the provisioning network.*list loopback/s,
  );
  t.match(problems('admin: { listen: [0.0.0.0] }'), /admin\.listen\.0.*every address/s);
  t.match(problems("admin: { listen: ['::'] }"), /admin\.listen\.0.*every address/s);
  t.match(problems('admin: { listen: [198.18.90.9] }'), /admin\.listen\.0.*198\.18\.90\.9 is in provisioning\.subnet 198\.18\.90\.0\/24/s);
  t.match(problems('admin: { listen: [198.19.0.300] }'), /admin\.listen\.0.*not an IPv4 address/s);
  t.match(problems('admin: { port: 80 }'), /admin\.port.*80 is ports\.http as well.*pick another port/s);
  t.match(problems('admin: { port: 5170 }'), /admin\.port.*5170 is nodeLogs\.port as well/s);
  t.equal(problems('admin: { port: 5170 }\nnodeLogs: { enabled: false }'), '', 'a port the sink does not use is free');
  t.match(problems('admin: { listen: [] }'), /admin\.listen/);
});

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

async function answers(address: string, port: number): Promise<string | undefined> {
  try {
    const res = await fetch(`http://${address}:${port}/who`, { signal: AbortSignal.timeout(5000) });
    return await res.text();
  } catch {
    return undefined;
  }
}

/** Polls (the service rechecks every few ms here) until `test` holds. */
async function until(test: () => boolean | Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!(await test())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within 20 s`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

t.test('the service follows its NICs: opens a new address, closes one gone, skips one moved to the provisioning network', async (t) => {
  const port = await freePort();
  let view: Nics = { lo: [{ ...nic('127.0.0.1', 8), internal: true }] };
  const lines: string[] = [];
  const log = pino({ level: 'info' }, { write: (s: string) => void lines.push(s) });
  const app = Fastify();
  app.get('/who', async () => 'admin');
  const stop = new AbortController();
  const service = createAdminService(app, {
    config: { admin: { listen: ['127.0.0.1', 'mgmt'], port }, provisioning: { interface: 'br0', address: '198.18.90.1', subnet: '198.18.90.0/24' } },
    log,
    interfaces: () => view,
    recheckMs: 10,
  });
  const running = service.run(stop.signal);
  t.teardown(async () => {
    stop.abort();
    await running.catch(() => undefined);
  });
  await service.ready;
  t.same(service.addresses(), ['127.0.0.1']);
  t.equal(await answers('127.0.0.1', port), 'admin');
  t.equal(await answers('127.0.0.3', port), undefined, 'nothing on an address not listed');
  t.equal(lines.filter((l) => l.includes('admin.listen mgmt')).length, 1, 'the absent NIC is said once');

  view = { ...view, mgmt: [nic('127.0.0.3', 8)] };
  await until(() => service.addresses().includes('127.0.0.3'), 'mgmt served');
  t.equal(await answers('127.0.0.3', port), 'admin');

  view = { ...view, mgmt: [nic('198.18.90.44')] };
  await until(() => !service.addresses().includes('127.0.0.3'), 'mgmt closed');
  t.equal(await answers('127.0.0.3', port), undefined, 'the old address is closed');
  await until(() => lines.some((l) => l.includes('on the provisioning network')), 'the move said');
  t.same(service.addresses(), ['127.0.0.1']);

  stop.abort();
  await running;
  t.equal(await answers('127.0.0.1', port), undefined, 'closed on stop');
});

t.test('the admin port taken at start fails the service and names admin.port', async (t) => {
  const port = await freePort();
  const squatter = createServer();
  await new Promise<void>((r) => squatter.listen(port, '127.0.0.1', r));
  t.teardown(() => new Promise((r) => squatter.close(r)));
  const service = createAdminService(Fastify(), {
    config: { admin: { listen: ['127.0.0.1'], port }, provisioning: { interface: 'br0', address: '198.18.90.1', subnet: '198.18.90.0/24' } },
    log: pino({ level: 'silent' }),
  });
  await t.rejects(service.run(new AbortController().signal), new RegExp(`admin\\.port ${port} is in use on 127\\.0\\.0\\.1.*set admin\\.port`));
  await t.rejects(service.ready);
});
