// Finds other DHCP servers on the provisioning segment: a DHCPDISCOVER of the agent's own at start
// and every dhcp.probeIntervalSeconds (never followed by a REQUEST, so no server binds an address),
// and every OFFER/ACK heard on the client port. Thin transport around foreign.ts; a port it cannot
// bind or a malformed packet is a log line and a counter, never a stop of the agent.
import { createHash, randomInt } from 'node:crypto';
import dgram from 'node:dgram';
import { readFile } from 'node:fs/promises';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { AgentConfig } from '../config/model.js';
import { parseSubnet } from '../net/ipv4.js';
import { bindUdp } from '../net/udp.js';
import { counter, gauge } from '../runtime/metrics.js';
import type { Service } from '../runtime/service.js';
import { aborted, sleep } from '../runtime/wait.js';
import { BROADCAST_FLAG, ZERO_IP, decodeDhcp, encodeDhcp, type DhcpMessage } from './codec.js';
import { arpMac, createForeignTable, heardReply, modeInForce, type ForeignServer } from './foreign.js';
import { MessageType } from './options.js';

/** How long the answers to one probe are waited for before auto mode decides. */
export const PROBE_WINDOW_MS = 3000;
const MAX_SERVERS = 16;
/** New-server warnings (and reports upstream) per hour, so made-up server ids cannot flood either. */
const MAX_WARNINGS_PER_HOUR = 16;
const DISCARD_PORT = 9;

/** A locally administered unicast MAC (IEEE 802 U/L bit set) derived from the agent id: the probes' chaddr. */
export function probeMacFor(agentId: string): string {
  const h = createHash('sha256').update(`maskin-probe:${agentId}`).digest();
  const bytes = [0x02, h[0]!, h[1]!, h[2]!, h[3]!, h[4]!];
  return bytes.map((b) => b.toString(16).padStart(2, '0')).join(':');
}

export function probeDiscover(mac: string, xid: number): DhcpMessage {
  return {
    op: 1,
    htype: 1,
    hlen: 6,
    hops: 0,
    xid,
    secs: 0,
    // Servers broadcast their OFFER: the probe has no address to unicast to.
    flags: BROADCAST_FLAG,
    ciaddr: ZERO_IP,
    yiaddr: ZERO_IP,
    siaddr: ZERO_IP,
    giaddr: ZERO_IP,
    chaddr: Buffer.from(mac.split(':').map((b) => parseInt(b, 16))),
    sname: '',
    file: '',
    options: { messageType: MessageType.DISCOVER, parameterRequestList: [1, 3, 6, 54], vendorClass: 'maskin-agent-probe' },
  };
}

export interface DhcpWatchStatus {
  readonly configured: 'full' | 'proxy' | 'auto';
  readonly inForce: 'full' | 'proxy';
  /** Servers heard within the last two probe intervals. */
  readonly foreignServers: readonly ForeignServer[];
  /** Probes sent since start, and when the answers to the last one were last weighed (ms). */
  readonly probes: number;
  readonly lastProbeAt?: number;
}

export interface DhcpWatch extends Service {
  readonly probeMac: string;
  mode(): 'full' | 'proxy';
  status(): DhcpWatchStatus;
}

export interface DhcpWatchDeps {
  readonly config: AgentConfig;
  readonly log: Logger;
  readonly registry?: Registry;
  /** A server not heard before (at most MAX_WARNINGS_PER_HOUR an hour), with the mode in force. */
  readonly onNewServer?: (server: ForeignServer, mode: 'full' | 'proxy') => void;
  readonly now?: () => number;
  readonly readArp?: () => Promise<string>;
}

export function createDhcpWatch(deps: DhcpWatchDeps): DhcpWatch {
  const { config, log } = deps;
  const now = deps.now ?? Date.now;
  const readArp = deps.readArp ?? (() => readFile('/proc/net/arp', 'utf8').catch(() => ''));
  const configured = config.dhcp.mode;
  const intervalMs = config.dhcp.probeIntervalSeconds * 1000;
  const windowMs = 2 * intervalMs + PROBE_WINDOW_MS;
  const probeMac = probeMacFor(config.agentId);
  const subnet = parseSubnet(config.provisioning.subnet);
  const ours = config.provisioning.address;
  const table = createForeignTable(MAX_SERVERS);
  const replies = counter(deps.registry, {
    name: 'maskin_dhcp_foreign_replies_total',
    help: 'DHCP OFFERs/ACKs heard from other servers on the provisioning segment, by how (probe: answering the agent probe; listen: to some client)',
    labelNames: ['seen_by'],
  });
  const malformed = counter(deps.registry, { name: 'maskin_dhcp_probe_malformed_total', help: 'Undecodable packets on the DHCP client port' });
  const serversGauge = gauge(deps.registry, {
    name: 'maskin_dhcp_foreign_servers',
    help: 'Other DHCP servers heard on the provisioning segment within the last two probe intervals',
  });
  const proxyGauge = gauge(deps.registry, { name: 'maskin_dhcp_proxy', help: 'Whether the DHCP server answers as proxyDHCP (1) or leases addresses (0)' });
  let firstProbeDone = configured !== 'auto';
  let probe: { xid: number; mac: string } | undefined;
  let inForce: 'full' | 'proxy' = modeInForce(configured, { firstProbeDone, servers: [] });
  proxyGauge.set(inForce === 'proxy' ? 1 : 0);
  let warnings = 0;
  let warningsHour = 0;
  let speak: dgram.Socket | undefined;
  let probes = 0;
  let lastProbeAt: number | undefined;

  const recent = (): ForeignServer[] => table.seenSince(now() - windowMs);
  const evaluate = (): void => {
    const servers = recent();
    serversGauge.set(servers.length);
    const next = modeInForce(configured, { firstProbeDone, servers });
    if (next === inForce) return;
    inForce = next;
    proxyGauge.set(next === 'proxy' ? 1 : 0);
    const address = servers.filter((s) => s.offersAddresses).map((s) => s.serverId);
    log.info(
      { mode: next, configured, servers: address },
      next === 'proxy'
        ? 'dhcp.mode auto: another DHCP server hands out addresses on the segment; answering PXE clients as proxyDHCP'
        : 'dhcp.mode auto: no other DHCP server answers on the segment; leasing addresses (full DHCP)',
    );
  };

  async function macOfServer(address: string): Promise<string | undefined> {
    const known = arpMac(await readArp(), address);
    if (known !== undefined || !speak) return known;
    // A datagram to it makes the kernel resolve its MAC (ARP); the discard port takes it (RFC 863).
    await new Promise<void>((resolve) => speak?.send(Buffer.alloc(1), DISCARD_PORT, address, () => resolve()));
    await new Promise((r) => setTimeout(r, 1000).unref());
    return arpMac(await readArp(), address);
  }

  function warnNew(server: ForeignServer): void {
    const hour = Math.floor(now() / 3_600_000);
    if (hour !== warningsHour) {
      warningsHour = hour;
      warnings = 0;
    }
    if (++warnings > MAX_WARNINGS_PER_HOUR) return;
    const fields = {
      serverId: server.serverId,
      address: server.address,
      mac: server.mac,
      offersAddresses: server.offersAddresses,
      seenBy: server.seenBy,
      mode: inForce,
    };
    if (inForce === 'full')
      log.warn(
        { ...fields, fix: 'stop that server, or let it lease the addresses and set dhcp.mode: proxy (or auto)' },
        'another DHCP server answers on the provisioning network: machines may take its offer instead of this agent’s',
      );
    else if (server.offersAddresses) log.info(fields, 'DHCP server on the segment hands out the addresses; this agent answers PXE clients as proxyDHCP');
    else log.warn({ ...fields, fix: 'keep one proxyDHCP server per segment' }, 'another proxyDHCP server answers on the provisioning network');
    deps.onNewServer?.(server, inForce);
  }

  function onPacket(buf: Buffer, rinfo: dgram.RemoteInfo): void {
    let message: DhcpMessage;
    try {
      message = decodeDhcp(buf);
    } catch {
      malformed.inc();
      return;
    }
    const heard = heardReply(message, rinfo.address, { ours, subnet, ...(probe ? { probe } : {}) });
    if (!heard) return;
    replies.inc({ seen_by: heard.seenBy });
    const { server, isNew } = table.observe(heard, rinfo.address, now());
    evaluate();
    if (!isNew) return;
    macOfServer(server.address)
      .then((mac) => {
        if (mac !== undefined) table.setMac(server.serverId, mac);
        warnNew(mac !== undefined ? { ...server, mac } : server);
      })
      .catch((err: unknown) => log.debug({ err }, 'could not look up a DHCP server MAC'));
  }

  return {
    name: 'dhcp-probe',
    probeMac,
    mode: () => inForce,
    status: () => ({ configured, inForce, foreignServers: recent(), probes, ...(lastProbeAt !== undefined ? { lastProbeAt } : {}) }),
    async run(signal) {
      const listen = dgram.createSocket({ type: 'udp4', reuseAddr: true });
      const sender = dgram.createSocket({ type: 'udp4', reuseAddr: true });
      try {
        // Replies to a probe are broadcast (its flag); a reply unicast to our address lands on `sender`.
        await bindUdp(listen, '0.0.0.0', config.ports.dhcpClient);
        await bindUdp(sender, ours, config.ports.dhcpClient);
        for (const s of [listen, sender]) {
          s.setBroadcast(true);
          s.on('message', onPacket);
          s.on('error', (err) => log.warn({ err: err.message }, 'DHCP probe socket error'));
        }
        speak = sender;
      } catch (err) {
        for (const s of [listen, sender]) s.close();
        log.error(
          { err: (err as Error).message, port: config.ports.dhcpClient, fix: 'free the DHCP client port on this host, or set dhcp.mode: full or proxy' },
          'cannot listen on the DHCP client port: other DHCP servers on the segment go unnoticed',
        );
        // auto stays in proxy: handing out addresses next to a server it cannot hear would be the outage.
        await aborted(signal);
        return;
      }
      log.info({ mac: probeMac, intervalSeconds: config.dhcp.probeIntervalSeconds, mode: configured }, 'probing for other DHCP servers on the segment');
      try {
        while (!signal.aborted) {
          probe = { xid: randomInt(1, 0xffffffff), mac: probeMac };
          const bytes = encodeDhcp(probeDiscover(probeMac, probe.xid));
          sender.send(bytes, config.ports.dhcp, '255.255.255.255', (err) => {
            if (err) log.warn({ err: err.message }, 'could not send the DHCP probe');
          });
          probes++;
          await sleep(PROBE_WINDOW_MS, signal);
          firstProbeDone = true;
          lastProbeAt = now();
          evaluate();
          await sleep(Math.max(0, intervalMs - PROBE_WINDOW_MS), signal);
        }
      } finally {
        speak = undefined;
        await Promise.all([listen, sender].map((s) => new Promise<void>((r) => s.close(() => r()))));
      }
    },
  };
}
