// Thin UDP transport for the DHCP policy. Node's dgram cannot bind to a device or tell the arrival
// interface (no SO_BINDTODEVICE, no IP_PKTINFO), so: receive on 0.0.0.0:67; send from a second socket bound to the
// provisioning address on the same port, which makes the kernel route limited broadcasts out of
// the interface owning that address. Unicast requests to that address land on the second socket,
// so both sockets feed the same handler. Confinement to the provisioning NIC is the OS's job
// (systemd RestrictNetworkInterfaces=, nftables).
import dgram from 'node:dgram';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { AgentConfig } from '../config/model.js';
import { counter } from '../runtime/metrics.js';
import { aborted } from '../runtime/wait.js';
import type { Service } from '../runtime/service.js';
import type { NodeDirectory } from '../manifest/model.js';
import { bindUdp, udpReady, type UdpBound } from '../net/udp.js';
import { sizeReceiveBuffer, udpDrops } from '../net/udpDrops.js';
import type { BootObserver } from '../nodes/model.js';
import { decodeDhcp, encodeDhcp, macOf, type DhcpMessage } from './codec.js';
import { isDurable } from './leaseTable.js';
import type { LeasePool } from './leases.js';
import { messageTypeName } from './options.js';
import { decide, decideBootServer, reservationsOf, type Decision, type Sender } from './policy.js';
import type { ProxyBindings } from './proxyBindings.js';

export { bootFilesNamed } from './classify.js';

export interface DhcpServiceDeps {
  readonly config: AgentConfig;
  readonly directory: () => NodeDirectory;
  readonly leases: LeasePool;
  readonly observer: BootObserver;
  readonly log: Logger;
  readonly registry?: Registry;
  /** ms since the epoch; injected for tests. */
  readonly now?: () => number;
  /** The mode in force (dhcp.mode, auto resolved by the probe); default full. */
  readonly mode?: () => 'full' | 'proxy';
  /** chaddr of the agent's own probe DISCOVERs, which this server must not answer. */
  readonly probeMac?: string;
  /** Where boot-server REQUESTs in proxy mode bind a MAC to the address it holds. */
  readonly proxyBindings?: Pick<ProxyBindings, 'bind'>;
}

export interface DhcpService extends Service {
  /** Resolves with the bound server port once every socket (67 twice, 4011) is up (useful with port 0). */
  readonly ready: Promise<UdpBound>;
}

const WARN_EVERY_MS = 10_000;

export function createDhcpService(deps: DhcpServiceDeps): DhcpService {
  const { leases, observer } = deps;
  // Replaced once bound, so that with port 0 (tests) relay replies go to the real server port.
  let config = deps.config;
  const log = deps.log.child({ component: 'dhcp' });
  const now = deps.now ?? Date.now;
  const packets = counter(deps.registry, { name: 'maskin_dhcp_packets_total', help: 'DHCP requests received, by message type', labelNames: ['type'] });
  const dropped = counter(deps.registry, { name: 'maskin_dhcp_dropped_total', help: 'DHCP requests not answered, by reason', labelNames: ['reason'] });
  const replies = counter(deps.registry, { name: 'maskin_dhcp_replies_total', help: 'DHCP replies sent, by message type', labelNames: ['type'] });
  const kernelDrops = udpDrops(deps.registry);

  let lastExhaustedWarn = 0;
  let exhaustedSuppressed = 0;
  function warnExhausted(mac: string, relay: string): void {
    const t = now();
    if (t - lastExhaustedWarn < WARN_EVERY_MS) {
      exhaustedSuppressed++;
      return;
    }
    log.warn({ mac, relay, suppressed: exhaustedSuppressed }, 'address pool exhausted; not answering');
    lastExhaustedWarn = t;
    exhaustedSuppressed = 0;
  }

  const { ready, bound, failed } = udpReady();

  /** `from` is set for the PXE boot-server port. */
  async function handle(buf: Buffer, sender: dgram.Socket, from?: Sender): Promise<void> {
    let request: DhcpMessage;
    try {
      request = decodeDhcp(buf);
    } catch (err) {
      dropped.inc({ reason: 'malformed' });
      log.debug({ err: (err as Error).message, bytes: buf.length }, 'dropped undecodable packet');
      return;
    }
    packets.inc({ type: messageTypeName[request.options.messageType ?? 0] ?? 'none' });
    const directory = deps.directory();
    const mac = macOf(request);
    const node = directory.byMac(mac);
    const self = { config, leases, reservations: reservationsOf(directory), now: now(), mode: deps.mode?.() ?? 'full', probeMac: deps.probeMac };
    const decision: Decision = from ? decideBootServer(request, node, self, from) : decide(request, node, self);
    if (decision.binding) deps.proxyBindings?.bind(decision.binding.mac, decision.binding.ip);
    for (const s of decision.steps) observer.record({ mac, ip: s.detail.ip }, s.step, { ...s.detail });
    if (decision.dropped) {
      dropped.inc({ reason: decision.dropped });
      if (decision.dropped === 'pool-exhausted') warnExhausted(mac, request.giaddr);
      else log.debug({ mac, reason: decision.dropped }, 'request not answered');
    }
    if (decision.change) {
      const written = leases.apply(decision.change);
      if (isDurable(decision.change)) {
        // An ACK is a promise to the client: it goes out only once the binding is on disk.
        try {
          await written;
        } catch (err) {
          dropped.inc({ reason: 'store-failed' });
          log.error({ err, mac }, 'could not persist lease; not answering');
          return;
        }
      } else written.catch((err: unknown) => log.error({ err, mac }, 'could not persist lease hold'));
    }
    const reply = decision.reply;
    if (!reply) return;
    const bytes = encodeDhcp(reply.message);
    sender.send(bytes, reply.to.port, reply.to.address, (err) => {
      if (err) {
        dropped.inc({ reason: 'send-failed' });
        log.warn({ err: err.message, to: reply.to.address }, 'could not send reply');
      } else replies.inc({ type: messageTypeName[reply.message.options.messageType ?? 0] ?? 'none' });
    });
  }

  async function run(signal: AbortSignal): Promise<void> {
    const listen = dgram.createSocket({ type: 'udp4', reuseAddr: true });
    const speak = dgram.createSocket({ type: 'udp4', reuseAddr: true });
    // PXE boot-server requests are unicast to our address, or broadcast by clients that discover.
    const pxe = dgram.createSocket({ type: 'udp4', reuseAddr: true });
    let unwatch: (() => void)[] = [];
    const onMessage = (buf: Buffer): void => {
      handle(buf, speak).catch((err: unknown) => log.error({ err }, 'unexpected error handling a DHCP packet'));
    };
    const onPxe = (buf: Buffer, rinfo: dgram.RemoteInfo): void => {
      handle(buf, pxe, { address: rinfo.address, port: rinfo.port }).catch((err: unknown) =>
        log.error({ err }, 'unexpected error handling a PXE boot-server packet'),
      );
    };
    try {
      const port = await bindUdp(listen, '0.0.0.0', config.ports.dhcp);
      await bindUdp(speak, config.provisioning.address, port);
      const pxePort = await bindUdp(pxe, '0.0.0.0', config.ports.pxe);
      for (const s of [listen, speak, pxe]) s.setBroadcast(true);
      for (const s of [listen, speak, pxe]) sizeReceiveBuffer(s);
      unwatch = [listen, speak, pxe].map((s) => kernelDrops.watch('dhcp', s));
      config = { ...config, ports: { ...config.ports, dhcp: port, pxe: pxePort } };
      listen.on('message', onMessage);
      speak.on('message', onMessage);
      pxe.on('message', onPxe);
      for (const s of [listen, speak, pxe]) s.on('error', (err) => log.warn({ err: err.message }, 'DHCP socket error'));
      log.info({ port, pxePort, address: config.provisioning.address, mode: deps.config.dhcp.mode }, 'DHCP server listening');
      bound(port);
    } catch (err) {
      for (const s of [listen, speak, pxe]) s.close();
      failed(err);
      throw err;
    }
    await aborted(signal);
    await leases.flush().catch(() => undefined);
    await Promise.all([listen, speak, pxe].map((s) => new Promise<void>((r) => s.close(() => r()))));
    for (const stop of unwatch) stop();
  }

  return { name: 'dhcp', run, ready };
}
