// The pure reply policy: decide(request, node, self) → what to send, which lease change to make and
// which boot step to report. Lease state is an input (a synchronous read view); nothing here
// touches a socket, the disk or the clock.
import type { AgentConfig } from '../config/model.js';
import type { NodeDirectory, NodeSpec } from '../manifest/model.js';
import type { FirmwareKind, StepName } from '../nodes/model.js';
import { inSubnet, intToIp, ipToInt } from '../net/ipv4.js';
import { bootTargetFor, classifyClient, type BootTarget, type ClientClass } from './classify.js';
import { ZERO_IP, macOf, type DhcpMessage } from './codec.js';
import type { LeaseChange, LeaseTable } from './leaseTable.js';
import { MessageType } from './options.js';
import { poolFor, poolHolding, type AddressPool } from './pools.js';
import { buildProxyReply, buildReply, replyDestination, type Destination } from './reply.js';

export type DropReason =
  | 'not-a-request'
  | 'bootp'
  | 'no-hardware-address'
  | 'no-relay-pool'
  | 'pool-exhausted'
  | 'unknown-share-exhausted'
  | 'reservation-outside-subnet'
  | 'other-server'
  | 'no-address'
  | 'not-ours'
  | 'inform-foreign-address'
  | 'unexpected-type'
  | 'own-probe'
  | 'proxy-not-pxe'
  | 'proxy-no-address'
  | 'boot-server-foreign-address';

export interface StepReport {
  readonly step: StepName;
  /** A field the request did not carry is undefined (and dropped when the step is stored as JSON). */
  readonly detail: {
    clientArch?: number | undefined;
    firmware?: FirmwareKind | undefined;
    ip?: string | undefined;
    bootFile?: string | undefined;
    relay?: string | undefined;
    /** Answered as a proxyDHCP server: boot options only, the address is another server's. */
    proxy?: true | undefined;
  };
}

export interface Decision {
  readonly mac: string;
  readonly reply?: { readonly message: DhcpMessage; readonly to: Destination } | undefined;
  readonly change?: LeaseChange | undefined;
  readonly steps: readonly StepReport[];
  readonly dropped?: DropReason;
  /**
   * Proxy mode: the address a PXE client showed it holds (its boot-server REQUEST on port 4011,
   * sent from that address with it as ciaddr), the evidence HTTP binds the node's script to.
   */
  readonly binding?: { readonly mac: string; readonly ip: string } | undefined;
}

/** Fixed reservations by address (as a number) → owning node id. */
export type Reservations = ReadonlyMap<number, string>;

export interface PolicySelf {
  readonly config: AgentConfig;
  readonly leases: LeaseTable;
  readonly reservations: Reservations;
  /** ms since the epoch */
  readonly now: number;
  /** The mode in force (auto resolved by the foreign-server probe); default full. */
  readonly mode?: 'full' | 'proxy';
  /** chaddr of this agent's own probe DISCOVERs (agent/dhcp/probe.ts): never answered. */
  readonly probeMac?: string | undefined;
}

const reservationCache = new WeakMap<NodeDirectory, Reservations>();

export function reservationsOf(directory: NodeDirectory): Reservations {
  let map = reservationCache.get(directory);
  if (!map) {
    map = new Map(directory.all().flatMap((n) => (n.ipv4 ? [[ipToInt(n.ipv4), n.id] as const] : [])));
    reservationCache.set(directory, map);
  }
  return map;
}

/**
 * The last address of the pool's unknown share: machines the manifest does not know may hold only
 * the first `dhcp.unknownPoolPercent` percent of a pool (rounded down; below `start` when none), so
 * the rest stays for manifest nodes however many made-up MACs ask.
 */
export function unknownShareEnd(pool: AddressPool, config: AgentConfig): number {
  const span = pool.end - pool.start + 1;
  return pool.start + Math.floor((span * config.dhcp.unknownPoolPercent) / 100) - 1;
}

/** The lease time a client gets: unknown PXE/iPXE clients the shorter `dhcp.unknownPxeLeaseTime`, so their addresses come back soon. */
export function leaseTimeFor(node: NodeSpec | undefined, cls: ClientClass, config: AgentConfig): number {
  const { leaseTime, unknownPxeLeaseTime } = config.dhcp;
  return !node && cls.firmware !== undefined ? Math.min(leaseTime, unknownPxeLeaseTime) : leaseTime;
}

/** May this client hold `ip` (a number) from `pool` now? */
function allowed(mac: string, node: NodeSpec | undefined, ip: number, pool: AddressPool, self: PolicySelf): boolean {
  if (node?.ipv4) return ip === ipToInt(node.ipv4);
  if (self.reservations.has(ip)) return false;
  if (ip < pool.start || ip > pool.end) return false;
  if (!node && ip > unknownShareEnd(pool, self.config)) return false;
  const holder = self.leases.byIp(ip);
  if (!holder || holder.expiresAt <= self.now) return true;
  return holder.mac === mac && holder.state !== 'declined';
}

type Choice = { ip: string } | { none: DropReason };

/**
 * Reservation, else the client's previous address (sticky), else the one it asks for, else a free
 * one: for a manifest node from the part of the pool unknown machines cannot take first, then from
 * their share; for an unknown machine from its share only.
 */
function chooseAddress(mac: string, node: NodeSpec | undefined, request: DhcpMessage, pool: AddressPool, self: PolicySelf): Choice {
  if (node?.ipv4) return inSubnet(ipToInt(node.ipv4), pool.subnet) ? { ip: node.ipv4 } : { none: 'reservation-outside-subnet' };
  const previous = self.leases.byMac(mac);
  if (previous && previous.state !== 'declined' && allowed(mac, node, ipToInt(previous.ip), pool, self)) return { ip: previous.ip };
  const asked = request.options.requestedIp;
  if (asked && allowed(mac, node, ipToInt(asked), pool, self)) return { ip: asked };
  const shareEnd = unknownShareEnd(pool, self.config);
  const reserved = (ip: number): boolean => self.reservations.has(ip);
  const free = (start: number, end: number): number | undefined => self.leases.freeAddress(start, end, self.now, reserved);
  const ip = node ? (free(shareEnd + 1, pool.end) ?? free(pool.start, shareEnd)) : free(pool.start, shareEnd);
  if (ip !== undefined) return { ip: intToIp(ip) };
  return { none: node || shareEnd >= pool.end ? 'pool-exhausted' : 'unknown-share-exhausted' };
}

export function decide(request: DhcpMessage, node: NodeSpec | undefined, self: PolicySelf): Decision {
  const mac = macOf(request);
  if (request.op !== 1) return { mac, steps: [], dropped: 'not-a-request' };
  const type = request.options.messageType;
  // Plain BOOTP (no option 53) is not served: every firmware we boot speaks DHCP.
  if (type === undefined) return { mac, steps: [], dropped: 'bootp' };
  if (request.hlen === 0) return { mac, steps: [], dropped: 'no-hardware-address' };
  const pool = poolFor(request.giaddr, self.config);
  if (!pool) return { mac, steps: [], dropped: 'no-relay-pool' };

  if (mac === self.probeMac) return { mac, steps: [], dropped: 'own-probe' };

  const cls = classifyClient(request.options);
  const target = bootTargetFor(cls, node, self.config);
  if (self.mode === 'proxy') return decideProxy(request, type, cls, target, self);
  const { config, now } = self;
  const ours = config.provisioning.address;
  const leaseTime = leaseTimeFor(node, cls, config);
  const step = (name: StepName, ip?: string): StepReport => stepReport(name, cls, target, request, ip);
  const answer = (replyType: number, ip: string | undefined, extra: { message?: string; lease?: boolean; pool?: AddressPool } = {}): Decision['reply'] => ({
    message: buildReply(
      request,
      { type: replyType, yiaddr: ip, leaseTime: extra.lease ? leaseTime : undefined, pool: extra.pool ?? pool, cls, target, node, message: extra.message },
      config,
    ),
    to: replyDestination(request, replyType, config),
  });

  switch (type) {
    case MessageType.DISCOVER: {
      const choice = chooseAddress(mac, node, request, pool, self);
      if ('none' in choice) return { mac, steps: [step('dhcp-discover')], dropped: choice.none };
      const held = self.leases.byIp(ipToInt(choice.ip));
      // An address already bound to this client keeps its binding; only new addresses are held.
      const change: LeaseChange | undefined =
        held && held.mac === mac && held.state === 'bound' && held.expiresAt > now
          ? undefined
          : { op: 'offer', mac, ip: choice.ip, until: now + config.dhcp.offerHold * 1000 };
      return {
        mac,
        reply: answer(MessageType.OFFER, choice.ip, { lease: true }),
        change,
        steps: [step('dhcp-discover', choice.ip), step('dhcp-offer', choice.ip)],
      };
    }
    case MessageType.REQUEST:
      return decideRequest(request, node, self, { mac, pool, ours, leaseTime, step, answer });
    case MessageType.DECLINE: {
      // §4.3.3: the client found the address in use (ARP); quarantine it for one lease time.
      const ip = request.options.requestedIp;
      if (request.options.serverId !== ours) return { mac, steps: [], dropped: 'other-server' };
      if (!ip || self.leases.byMac(mac)?.ip !== ip) return { mac, steps: [step('dhcp-decline', ip)], dropped: 'not-ours' };
      return { mac, change: { op: 'decline', mac, ip, until: now + config.dhcp.leaseTime * 1000 }, steps: [step('dhcp-decline', ip)] };
    }
    case MessageType.RELEASE: {
      const ip = request.ciaddr;
      if (request.options.serverId !== undefined && request.options.serverId !== ours) return { mac, steps: [], dropped: 'other-server' };
      const held = self.leases.byMac(mac);
      if (!held || held.ip !== ip) return { mac, steps: [step('dhcp-release', ip)], dropped: 'not-ours' };
      return { mac, change: { op: 'release', mac, ip, at: now }, steps: [step('dhcp-release', ip)] };
    }
    case MessageType.INFORM: {
      // §4.3.5: configuration only; no yiaddr, no lease time, unicast to ciaddr (§4.1). The client
      // already has ciaddr and may send the INFORM straight to us, not through its relay, so the
      // options are those of the subnet holding ciaddr. A ciaddr on no subnet this agent serves
      // (loopback, another network, a network or broadcast address, our own) gets nothing:
      // answering would send packets wherever a sender points.
      const served = poolHolding(request.ciaddr, config);
      if (!served) return { mac, steps: [], dropped: 'inform-foreign-address' };
      return { mac, reply: answer(MessageType.ACK, undefined, { pool: served }), steps: [] };
    }
    default:
      return { mac, steps: [], dropped: 'unexpected-type' };
  }
}

interface RequestContext {
  mac: string;
  pool: AddressPool;
  ours: string;
  /** Seconds: leaseTimeFor this client. */
  leaseTime: number;
  step: (name: StepName, ip?: string) => StepReport;
  answer: (type: number, ip: string | undefined, extra?: { message?: string; lease?: boolean }) => Decision['reply'];
}

/** RFC 2131 §4.3.2: SELECTING (54 + 50), INIT-REBOOT (50 only), RENEWING/REBINDING (ciaddr only). */
function decideRequest(request: DhcpMessage, node: NodeSpec | undefined, self: PolicySelf, ctx: RequestContext): Decision {
  const { mac, pool, ours, leaseTime, step, answer } = ctx;
  const serverId = request.options.serverId;
  if (serverId !== undefined && serverId !== ours) {
    // The client chose another server's offer: stay silent and free what we offered it.
    const held = self.leases.byMac(mac);
    const change: LeaseChange | undefined = held && held.state === 'offered' ? { op: 'forget-offer', mac, ip: held.ip, at: self.now } : undefined;
    return { mac, change, steps: [], dropped: 'other-server' };
  }
  const ip = request.options.requestedIp ?? (request.ciaddr !== ZERO_IP ? request.ciaddr : undefined);
  if (!ip) return { mac, steps: [], dropped: 'no-address' };
  const nak = (why: string): Decision => ({ mac, reply: answer(6, undefined, { message: why }), steps: [step('dhcp-nak', ip)] });
  const n = ipToInt(ip);
  if (Number.isNaN(n) || !inSubnet(n, pool.subnet)) return nak('requested address is not on this network');
  if (!allowed(mac, node, n, pool, self)) return nak('requested address is not available to this client');
  return {
    mac,
    reply: answer(MessageType.ACK, ip, { lease: true }),
    change: { op: 'bind', mac, ip, until: self.now + leaseTime * 1000 },
    steps: [step('dhcp-ack', ip)],
  };
}

/** A boot step for the timeline; `proxy` marks one answered as a proxyDHCP server (PXE spec 2.1 §2.2). */
function stepReport(name: StepName, cls: ClientClass, target: BootTarget | undefined, request: DhcpMessage, ip?: string, proxy?: true): StepReport {
  return {
    step: name,
    detail: {
      clientArch: cls.clientArch,
      firmware: cls.firmware,
      ip,
      bootFile: target ? (target.via === 'tftp' ? target.file : target.url) : undefined,
      relay: request.giaddr === ZERO_IP ? undefined : request.giaddr,
      ...(proxy ? { proxy } : {}),
    },
  };
}

/**
 * Proxy mode on port 67 (PXE spec 2.1 §2.2.3): another server leases the addresses, so a PXE or
 * iPXE client's DISCOVER gets an OFFER that holds no address, only the boot file, and the client
 * combines it with the address server's offer. Everything else is the address server's business
 * and gets no answer: a REQUEST (to it, or to us for an address we do not hand out), DECLINE,
 * RELEASE, INFORM, and any client that is not PXE firmware or iPXE.
 */
function decideProxy(request: DhcpMessage, type: number, cls: ClientClass, target: BootTarget | undefined, self: PolicySelf): Decision {
  const mac = macOf(request);
  if (type !== MessageType.DISCOVER) {
    const toUs = request.options.serverId === self.config.provisioning.address;
    return { mac, steps: [], dropped: toUs ? 'proxy-no-address' : type === MessageType.REQUEST ? 'other-server' : 'unexpected-type' };
  }
  if (!target) return { mac, steps: [], dropped: 'proxy-not-pxe' };
  return {
    mac,
    reply: { message: buildProxyReply(request, MessageType.OFFER, cls, target, self.config), to: replyDestination(request, MessageType.OFFER, self.config) },
    steps: [stepReport('dhcp-discover', cls, target, request, undefined, true), stepReport('dhcp-offer', cls, target, request, undefined, true)],
  };
}

/** Where a boot-server REQUEST came from (its UDP source). */
export interface Sender {
  readonly address: string;
  readonly port: number;
}

/**
 * The PXE boot-server port, 4011 (PXE spec 2.1 §2.2.5): a client that holds an address from
 * another server asks again, unicast, for its boot file. iPXE does after a proxyDHCP offer that
 * names no next server (its "ProxyDHCP REQUEST"); EDK2 does after a BINL offer (one without
 * option 43's "use this boot file"), and boots from the agent's offers directly (seen with
 * OVMF). The reply is an ACK that holds no address, sent back to the request's source. It is
 * answered only for PXE firmware and iPXE, from a host on a subnet this agent serves whose
 * ciaddr, if set, is that source: anything else would send packets wherever a sender points. In proxy mode the source address is then bound to
 * the MAC, which is how the node's script and config requests are checked.
 */
export function decideBootServer(request: DhcpMessage, node: NodeSpec | undefined, self: PolicySelf, from: Sender): Decision {
  const mac = macOf(request);
  if (request.op !== 1) return { mac, steps: [], dropped: 'not-a-request' };
  const type = request.options.messageType;
  if (type !== MessageType.REQUEST && type !== MessageType.INFORM) return { mac, steps: [], dropped: type === undefined ? 'bootp' : 'unexpected-type' };
  if (request.hlen === 0) return { mac, steps: [], dropped: 'no-hardware-address' };
  if (mac === self.probeMac) return { mac, steps: [], dropped: 'own-probe' };
  const cls = classifyClient(request.options);
  const target = bootTargetFor(cls, node, self.config);
  if (!target) return { mac, steps: [], dropped: 'proxy-not-pxe' };
  if (!poolHolding(from.address, self.config) || (request.ciaddr !== ZERO_IP && request.ciaddr !== from.address))
    return { mac, steps: [], dropped: 'boot-server-foreign-address' };
  return {
    mac,
    reply: { message: buildProxyReply(request, MessageType.ACK, cls, target, self.config), to: { address: from.address, port: from.port, broadcast: false } },
    steps: [stepReport('dhcp-ack', cls, target, request, from.address, true)],
    binding: self.mode === 'proxy' ? { mac, ip: from.address } : undefined,
  };
}

export type { BootTarget, ClientClass };
