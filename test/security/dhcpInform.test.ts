// DHCPINFORM as a reflector: the real DHCP service on loopback (provisioning subnet 127.0.0.0/24)
// gets INFORMs whose ciaddr points elsewhere (127.0.1.5, outside the subnet, where a listener
// waits) and one from a client on the subnet. Only that client is answered; the others are
// dropped and counted (RFC 2131 §4.3.5).
import t from 'tap';
import dgram from 'node:dgram';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { Registry } from 'prom-client';
import { decodeDhcp, encodeDhcp, type DhcpMessage } from '../../agent/dhcp/codec.js';
import type { LeaseRecord } from '../../agent/dhcp/leaseTable.js';
import { openLeasePool } from '../../agent/dhcp/leases.js';
import { MessageType as M } from '../../agent/dhcp/options.js';
import { createDhcpService } from '../../agent/dhcp/server.js';
import { openStore } from '../../agent/store/store.js';
import { request, testConfig, testDirectory } from '../dhcp/fixtures.js';

async function bound(address: string, port: number): Promise<dgram.Socket> {
  const s = dgram.createSocket({ type: 'udp4', reuseAddr: true });
  await new Promise<void>((resolve, reject) => {
    s.once('error', reject);
    s.bind({ port, address }, () => resolve());
  });
  return s;
}

t.test('INFORMs pointing off the served subnets get no reply; one from the subnet does', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'maskin-secinform-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  // The client port: a socket on the subnet (127.0.0.5) and one off it (127.0.1.5), both listening.
  const onSubnet = await bound('127.0.0.5', 0);
  const port = onSubnet.address().port;
  const offSubnet = await bound('127.0.1.5', port);
  const sender = await bound('127.0.0.9', 0);
  t.teardown(() => [onSubnet, offSubnet, sender].forEach((s) => s.close()));
  const offReplies: DhcpMessage[] = [];
  offSubnet.on('message', (buf) => offReplies.push(decodeDhcp(buf)));

  const config = testConfig({
    provisioning: { interface: 'lo', address: '127.0.0.1', subnet: '127.0.0.0/24' },
    ports: { dhcp: 0, dhcpClient: port, pxe: 0, tftp: 0, http: 0 },
    dhcp: { poolStart: '127.0.0.100', poolEnd: '127.0.0.109', routers: ['127.0.0.1'], dns: ['127.0.0.1'], ntp: ['127.0.0.1'], relays: [] },
  });
  const store = await openStore(dir);
  const registry = new Registry();
  const service = createDhcpService({
    config,
    directory: () => testDirectory([]),
    leases: await openLeasePool(store.sublevel<LeaseRecord>('leases')),
    observer: { record: () => {} },
    log: pino({ level: 'silent' }),
    registry,
  });
  const controller = new AbortController();
  const running = service.run(controller.signal);
  t.teardown(async () => {
    controller.abort();
    await running;
    await store.close();
  });
  const { port: serverPort } = await service.ready;
  const inform = (ciaddr: string): void => {
    sender.send(encodeDhcp(request('02:00:00:00:94:01', { messageType: M.INFORM }, { ciaddr, flags: 0 })), serverPort, '127.0.0.1');
  };

  const answer = (): Promise<DhcpMessage> => new Promise((resolve) => onSubnet.once('message', (buf) => resolve(decodeDhcp(buf))));
  const answered = answer();
  for (const ciaddr of ['127.0.1.5', '127.0.0.255', '127.0.0.1']) inform(ciaddr);
  inform('127.0.0.5');
  // The service handles and answers datagrams in order: once the last one is answered, the others
  // were handled; one more round trip lets any reply sent before it arrive too.
  const ack = await answered;
  t.equal(ack.options.messageType, M.ACK);
  t.equal(ack.ciaddr, '127.0.0.5');
  const again = answer();
  inform('127.0.0.5');
  await again;
  t.equal(offReplies.length, 0, 'nothing was sent off the subnet');
  t.match(await registry.metrics(), /maskin_dhcp_dropped_total\{reason="inform-foreign-address"\} 3/);
});
