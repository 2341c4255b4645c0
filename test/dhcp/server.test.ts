// Loopback integration: the real service on 127.0.0.1 (server port 0), a tiny client socket.
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
import { MessageType as M, type DhcpOptions } from '../../agent/dhcp/options.js';
import { createDhcpService } from '../../agent/dhcp/server.js';
import type { StepName } from '../../agent/nodes/model.js';
import { openStore } from '../../agent/store/store.js';
import { request, testConfig, testDirectory } from './fixtures.js';

async function clientSocket(address = '0.0.0.0', port = 0): Promise<dgram.Socket> {
  const s = dgram.createSocket({ type: 'udp4', reuseAddr: true });
  await new Promise<void>((r) => s.bind({ port, address }, () => r()));
  s.setBroadcast(true);
  return s;
}

function next(s: dgram.Socket, ms = 2000): Promise<DhcpMessage | undefined> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      s.off('message', on);
      resolve(undefined);
    }, ms);
    const on = (buf: Buffer): void => {
      clearTimeout(timer);
      s.off('message', on);
      resolve(decodeDhcp(buf));
    };
    s.on('message', on);
  });
}

async function start(dir: string, clientPort: number) {
  const config = testConfig({
    provisioning: { interface: 'lo', address: '127.0.0.1', subnet: '127.0.0.0/24' },
    ports: { dhcp: 0, dhcpClient: clientPort, pxe: 0, tftp: 0, http: 0 },
    dhcp: { poolStart: '127.0.0.100', poolEnd: '127.0.0.109', routers: ['127.0.0.1'], dns: ['127.0.0.1'], ntp: ['127.0.0.1'], relays: [] },
  });
  const store = await openStore(dir);
  const leases = await openLeasePool(store.sublevel<LeaseRecord>('leases'));
  const steps: Array<[string | undefined, StepName]> = [];
  const registry = new Registry();
  const service = createDhcpService({
    config,
    directory: () => testDirectory([]),
    leases,
    observer: { record: (subject, step) => steps.push([subject.mac, step]) },
    log: pino({ level: 'silent' }),
    registry,
  });
  const controller = new AbortController();
  const running = service.run(controller.signal);
  const { port } = await service.ready;
  const stop = async (): Promise<void> => {
    controller.abort();
    await running;
    await store.close();
  };
  return { port, steps, registry, stop };
}

const mac = '02:00:00:00:00:31';

t.test('DORA over UDP, malformed packets counted, relay replies, leases kept across a restart', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'maskin-dhcp-srv-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const client = await clientSocket();
  t.teardown(() => client.close());
  const clientPort = client.address().port;
  let server = await start(dir, clientPort);
  t.teardown(() => server.stop().catch(() => undefined));
  const send = (msg: DhcpMessage, port = server.port): void => client.send(encodeDhcp(msg), port, '127.0.0.1');
  const ask = async (options: DhcpOptions, over: Partial<DhcpMessage> = {}) => {
    const reply = next(client);
    send(request(mac, options, over));
    return reply;
  };

  client.send(Buffer.from('definitely not dhcp'), server.port, '127.0.0.1');
  const offer = await ask({ messageType: M.DISCOVER, vendorClass: 'PXEClient:Arch:00000:UNDI:002001', clientArch: [0] });
  t.equal(offer?.options.messageType, M.OFFER);
  t.equal(offer?.yiaddr, '127.0.0.100');
  t.equal(offer?.file, 'undionly.kpxe');
  t.equal(offer?.siaddr, '127.0.0.1');
  const ack = await ask({ messageType: M.REQUEST, requestedIp: offer!.yiaddr, serverId: '127.0.0.1' });
  t.equal(ack?.options.messageType, M.ACK);
  t.equal(ack?.yiaddr, '127.0.0.100');

  // A relayed request: the reply goes to giaddr on the server port, where the "relay" listens.
  const relay = await clientSocket('127.0.0.2', server.port);
  t.teardown(() => relay.close());
  const relayed = next(relay);
  send(request('02:00:00:00:00:32', { messageType: M.DISCOVER }, { giaddr: '127.0.0.2' }));
  const viaRelay = await relayed;
  t.equal(viaRelay?.options.messageType, M.OFFER);
  t.equal(viaRelay?.giaddr, '127.0.0.2');

  const metrics = await server.registry.metrics();
  t.match(metrics, /maskin_dhcp_dropped_total\{reason="malformed"\} 1/);
  t.match(metrics, /maskin_dhcp_packets_total\{type="discover"\} 2/);
  t.match(metrics, /maskin_dhcp_packets_total\{type="request"\} 1/);
  t.same(
    server.steps.filter(([m]) => m === mac).map(([, s]) => s),
    ['dhcp-discover', 'dhcp-offer', 'dhcp-ack'],
  );

  await server.stop();
  server = await start(dir, clientPort);
  const renewed = await ask({ messageType: M.REQUEST }, { ciaddr: '127.0.0.100', flags: 0 });
  t.equal(renewed?.options.messageType, M.ACK, 'the binding survived the restart');
  const other = await ask({ messageType: M.REQUEST, requestedIp: '127.0.0.100' }, { chaddr: Buffer.from([2, 0, 0, 0, 0, 0x33]) });
  t.equal(other?.options.messageType, M.NAK, 'and nobody else may take it');
});

t.test('a port already taken is a fatal bind failure', async (t) => {
  const blocker = dgram.createSocket({ type: 'udp4' });
  await new Promise<void>((r) => blocker.bind({ port: 0, address: '127.0.0.1' }, () => r()));
  t.teardown(() => blocker.close());
  const dir = await mkdtemp(path.join(tmpdir(), 'maskin-dhcp-srv-'));
  const store = await openStore(dir);
  t.teardown(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });
  const service = createDhcpService({
    config: testConfig({
      provisioning: { interface: 'lo', address: '127.0.0.1', subnet: '127.0.0.0/24' },
      ports: { dhcp: blocker.address().port, dhcpClient: 0, pxe: 0, tftp: 0, http: 0 },
    }),
    directory: () => testDirectory([]),
    leases: await openLeasePool(store.sublevel<LeaseRecord>('leases')),
    observer: { record: () => {} },
    log: pino({ level: 'silent' }),
  });
  await t.rejects(service.run(new AbortController().signal), { code: 'EADDRINUSE' });
});
