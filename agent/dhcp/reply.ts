// Building reply messages (RFC 2131 §4.3.1 table 3) and choosing where they go (§4.1).
import type { AgentConfig } from '../config/model.js';
import type { NodeSpec } from '../manifest/model.js';
import type { BootTarget, ClientClass } from './classify.js';
import { BROADCAST_FLAG, ZERO_IP, type DhcpMessage } from './codec.js';
import { MessageType, type DhcpOptions } from './options.js';
import type { AddressPool } from './pools.js';

const PXE_USE_BOOTFILE = Buffer.from([6, 1, 0x08, 255]);

export interface Destination {
  readonly address: string;
  readonly port: number;
  readonly broadcast: boolean;
}

export const LIMITED_BROADCAST = '255.255.255.255';

/**
 * RFC 2131 §4.1: relayed → the relay's server port; NAK → broadcast; ciaddr known → unicast to it;
 * otherwise broadcast. (Unicasting to yiaddr before the client has the address needs an ARP entry
 * we cannot inject from Node's dgram, so we broadcast there too, which every client accepts.)
 */
export function replyDestination(request: DhcpMessage, type: number, config: AgentConfig): Destination {
  if (request.giaddr !== ZERO_IP) return { address: request.giaddr, port: config.ports.dhcp, broadcast: false };
  if (type !== MessageType.NAK && request.ciaddr !== ZERO_IP) {
    return { address: request.ciaddr, port: config.ports.dhcpClient, broadcast: false };
  }
  return { address: LIMITED_BROADCAST, port: config.ports.dhcpClient, broadcast: true };
}

export interface ReplyParts {
  readonly type: number;
  /** The address offered or acknowledged; undefined for INFORM and NAK. */
  readonly yiaddr?: string | undefined;
  readonly leaseTime?: number | undefined;
  readonly pool: AddressPool;
  readonly cls: ClientClass;
  readonly target: BootTarget | undefined;
  readonly node: NodeSpec | undefined;
  readonly message?: string | undefined;
}

const LEADING = [53, 54, 51, 58, 59, 1];

function header(request: DhcpMessage): DhcpMessage {
  return {
    op: 2,
    htype: request.htype,
    hlen: request.hlen,
    hops: 0,
    xid: request.xid,
    secs: 0,
    flags: request.flags,
    ciaddr: ZERO_IP,
    yiaddr: ZERO_IP,
    siaddr: ZERO_IP,
    giaddr: request.giaddr,
    chaddr: request.chaddr,
    sname: '',
    file: '',
    options: {},
  };
}

/**
 * The boot options of a reply, shared by full and proxy replies: `file`/67, and for TFTP siaddr
 * and 66; the vendor class the firmware looks for; for PXE ROMs option 43 saying "use this boot
 * file". `proxy` adds PXEClient for iPXE, which takes an offer without an address as a proxyDHCP
 * offer only when it says PXEClient and names its server (iPXE src/net/udp/dhcp.c).
 */
function bootOptions(reply: DhcpMessage, target: BootTarget, cls: ClientClass, config: AgentConfig, proxy: 'offer' | 'ack' | undefined): void {
  const o = reply.options;
  const name = target.via === 'tftp' ? target.file : target.url;
  o.bootFile = name;
  // The BOOTP `file` field holds 127 bytes; option 67 carries longer URLs on its own.
  if (name.length <= 127) reply.file = name;
  if (target.via === 'tftp') {
    reply.siaddr = config.provisioning.address;
    o.tftpServer = config.provisioning.address;
  }
  // iPXE boots from a proxy offer that names a next server and a boot file at once, and sends a
  // ProxyDHCP REQUEST to port 4011 only for one that does not; it takes the ACK to that REQUEST
  // only when the ACK names both (dhcp_has_pxeopts, iPXE src/net/udp/dhcp.c). The REQUEST, from
  // the address the client now holds, is the evidence proxy mode binds the node to: so the offer
  // of an HTTP URL names no next server and the ACK does.
  if (proxy === 'ack') reply.siaddr = config.provisioning.address;
  if (target.via === 'http' && target.vendorClass) o.vendorClass = target.vendorClass;
  // PXE ROMs ignore offers that do not say PXEClient (PXE spec 2.1 §2.2.1).
  else if (cls.firmware === 'bios' || cls.firmware === 'uefi') {
    o.vendorClass = 'PXEClient';
    // Option 43, PXE_DISCOVERY_CONTROL (tag 6) bit 3: "boot file name present: download it, do
    // not discover boot servers" (PXE spec 2.1 §2.4.1). Without it, a PXEClient offer lacking
    // option 43 is a BINL offer to EDK2/OVMF, which then asks siaddr:4011 and, with nobody
    // there, gives up on PXE (seen: OVMF fell over to HTTP boot).
    o.vendorSpecific = PXE_USE_BOOTFILE;
  } else if (proxy) o.vendorClass = 'PXEClient';
}

/**
 * A proxyDHCP OFFER (port 67) or boot-server ACK (port 4011): no address, lease or network
 * options, which are the address server's; server id, boot options, 97 and 82 echoed (PXE spec
 * 2.1 §2.2.3, §2.2.5).
 */
export function buildProxyReply(request: DhcpMessage, type: number, cls: ClientClass, target: BootTarget, config: AgentConfig): DhcpMessage {
  const reply = header(request);
  const o: DhcpOptions = reply.options;
  o.messageType = type;
  o.serverId = config.provisioning.address;
  bootOptions(reply, target, cls, config, type === MessageType.ACK ? 'ack' : 'offer');
  if (request.options.clientUuid) o.clientUuid = request.options.clientUuid;
  if (request.options.relayAgentInfo) o.relayAgentInfo = request.options.relayAgentInfo;
  reply.optionOrder = [53, 54, 60, 66, 67, 43, 97, 82];
  return reply;
}

export function buildReply(request: DhcpMessage, parts: ReplyParts, config: AgentConfig): DhcpMessage {
  const reply = header(request);
  const o: DhcpOptions = reply.options;
  o.messageType = parts.type;
  o.serverId = config.provisioning.address;
  if (parts.type === MessageType.NAK) {
    // Table 3: a NAK carries only 53, 54, 56 (and 61); relayed NAKs get the broadcast bit (§4.3.2).
    if (parts.message) o.message = parts.message;
    if (request.giaddr !== ZERO_IP) reply.flags |= BROADCAST_FLAG;
    if (request.options.relayAgentInfo) o.relayAgentInfo = request.options.relayAgentInfo;
    reply.optionOrder = [53, 54, 56, 82];
    return reply;
  }
  if (parts.type === MessageType.ACK && request.ciaddr !== ZERO_IP) reply.ciaddr = request.ciaddr;
  if (parts.yiaddr) reply.yiaddr = parts.yiaddr;
  if (parts.leaseTime !== undefined) {
    // RFC 2131 §4.4.5 defaults: T1 = 0.5, T2 = 0.875 of the lease.
    o.leaseTime = parts.leaseTime;
    o.renewalTime = Math.floor(parts.leaseTime * 0.5);
    o.rebindingTime = Math.floor(parts.leaseTime * 0.875);
  }
  o.subnetMask = parts.pool.subnet.maskIp;
  if (parts.pool.routers.length) o.routers = [...parts.pool.routers];
  if (config.dhcp.dns.length) o.dns = [...config.dhcp.dns];
  if (config.dhcp.ntp.length) o.ntpServers = [...config.dhcp.ntp];
  if (config.dhcp.domain) o.domainName = config.dhcp.domain;
  if (parts.node?.hostname) o.hostname = parts.node.hostname;

  if (parts.target) bootOptions(reply, parts.target, parts.cls, config, undefined);
  if (request.options.clientUuid) o.clientUuid = request.options.clientUuid;
  if (request.options.relayAgentInfo) o.relayAgentInfo = request.options.relayAgentInfo;

  // Honour the client's PRL order after the options every reply leads with; 82 goes last (RFC 3046 §2.2).
  const order = [...LEADING];
  for (const code of request.options.parameterRequestList ?? []) if (code !== 82) order.push(code);
  order.push(3, 6, 12, 15, 42, 60, 66, 67, 97, 82);
  reply.optionOrder = order;
  return reply;
}
