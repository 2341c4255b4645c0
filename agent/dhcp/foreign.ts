// Other DHCP servers on the provisioning segment, from the replies the agent hears on the client
// port: answers to its own probe DISCOVERs (probe.ts) and OFFERs/ACKs other servers broadcast to
// their clients. In full mode a second server is an outage in waiting (clients take whichever
// offer comes first); in auto mode it decides proxy vs full. Pure: no sockets, no clock.
import { inSubnet, ipToInt, type Subnet } from '../net/ipv4.js';
import { ZERO_IP, macOf, type DhcpMessage } from './codec.js';
import { MessageType } from './options.js';

export interface ForeignServer {
  /** Option 54 of its replies (its UDP source when it sends none). */
  readonly serverId: string;
  /** UDP source of the last reply seen. */
  readonly address: string;
  /** From the kernel's neighbour table, once known. */
  readonly mac?: string;
  /** It hands out addresses (yiaddr set); a proxyDHCP server does not. */
  readonly offersAddresses: boolean;
  /** ms since the epoch */
  readonly firstSeen: number;
  readonly lastSeen: number;
  /** How it was last heard: answering the agent's probe, or replying to some client. */
  readonly seenBy: 'probe' | 'listen';
}

export interface HeardReply {
  readonly serverId: string;
  readonly offersAddresses: boolean;
  readonly seenBy: 'probe' | 'listen';
}

/**
 * What a packet on the client port says about other servers: an OFFER or ACK from a server that
 * is not this agent. `probe` is the xid and chaddr of the agent's probe in flight: a reply to it
 * was sent by a server that heard the probe on the provisioning segment. Other replies count
 * only when they come from the provisioning subnet, since the client port also hears servers on
 * other interfaces (the appliance's uplink).
 */
export function heardReply(
  message: DhcpMessage,
  from: string,
  self: { readonly ours: string; readonly subnet: Subnet; readonly probe?: { xid: number; mac: string } },
): HeardReply | undefined {
  if (message.op !== 2) return undefined;
  const type = message.options.messageType;
  if (type !== MessageType.OFFER && type !== MessageType.ACK) return undefined;
  const serverId = message.options.serverId ?? from;
  if (serverId === self.ours || from === self.ours) return undefined;
  const offersAddresses = message.yiaddr !== ZERO_IP;
  if (self.probe && message.xid === self.probe.xid && macOf(message) === self.probe.mac) return { serverId, offersAddresses, seenBy: 'probe' };
  const source = ipToInt(from);
  if (Number.isNaN(source) || !inSubnet(source, self.subnet)) return undefined;
  return { serverId, offersAddresses, seenBy: 'listen' };
}

export interface ForeignTable {
  /** Records a reply; `isNew` when the server was not in the table. */
  observe(heard: HeardReply, from: string, at: number): { server: ForeignServer; isNew: boolean };
  setMac(serverId: string, mac: string): void;
  /** Servers heard since `since` (ms), newest first. */
  seenSince(since: number): ForeignServer[];
  size(): number;
}

/** At most `max` servers; the one heard longest ago makes room (a flood of made-up ids stays bounded). */
export function createForeignTable(max: number): ForeignTable {
  const servers = new Map<string, ForeignServer>();
  return {
    observe(heard, from, at) {
      const earlier = servers.get(heard.serverId);
      const server: ForeignServer = {
        serverId: heard.serverId,
        address: from,
        ...(earlier?.mac !== undefined && earlier.address === from ? { mac: earlier.mac } : {}),
        offersAddresses: heard.offersAddresses || (earlier?.offersAddresses ?? false),
        firstSeen: earlier?.firstSeen ?? at,
        lastSeen: at,
        seenBy: heard.seenBy,
      };
      servers.delete(heard.serverId);
      servers.set(heard.serverId, server);
      while (servers.size > max) servers.delete(servers.keys().next().value as string);
      return { server, isNew: earlier === undefined };
    },
    setMac(serverId, mac) {
      const s = servers.get(serverId);
      if (s) servers.set(serverId, { ...s, mac });
    },
    seenSince: (since) => [...servers.values()].filter((s) => s.lastSeen >= since).sort((a, b) => b.lastSeen - a.lastSeen),
    size: () => servers.size,
  };
}

/**
 * The mode in force. auto: proxy while a server that hands out addresses was heard within
 * `windowMs`, and also before the first probe has had its answers (handing out addresses next to
 * a server not yet heard would be the outage itself); full otherwise.
 */
export function modeInForce(configured: 'full' | 'proxy' | 'auto', state: { firstProbeDone: boolean; servers: readonly ForeignServer[] }): 'full' | 'proxy' {
  if (configured !== 'auto') return configured;
  if (!state.firstProbeDone) return 'proxy';
  return state.servers.some((s) => s.offersAddresses) ? 'proxy' : 'full';
}

/** A line of /proc/net/arp: "IP address  HW type  Flags  HW address  Mask  Device"; the MAC of `ip`, if complete (flag 0x2). */
export function arpMac(procNetArp: string, ip: string): string | undefined {
  for (const line of procNetArp.split('\n').slice(1)) {
    const [address, , flags, mac] = line.trim().split(/\s+/);
    if (address === ip && mac && (Number(flags) & 0x2) !== 0 && mac !== '00:00:00:00:00:00') return mac.toLowerCase();
  }
  return undefined;
}
