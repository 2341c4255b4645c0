// Shared test data for the DHCP tests: a config on 198.18.70.0/24 (no traffic is sent to it by
// the pure tests), a directory, and a request builder.
import type { AgentConfig } from '../../agent/config/model.js';
import { profileFixture } from '../fakes/manifest.js';
import { directoryOf, type Manifest, type NodeSpec, type Profile } from '../../agent/manifest/model.js';
import type { DhcpMessage } from '../../agent/dhcp/codec.js';
import type { DhcpOptions } from '../../agent/dhcp/options.js';
import {
  DEFAULT_HTTP_LIMITS,
  DEFAULT_IMAGES,
  DEFAULT_PROVISION,
  DEFAULT_OUTBOX_MAX_EVENTS,
  DEFAULT_NODES,
  DEFAULT_TFTP,
  NO_ANNOUNCE,
  NO_BMC,
  NO_NODE_LOGS,
  DEFAULT_ADMIN,
  NO_UPLINK,
} from '../../agent/config/load.js';

export function testConfig(over: Partial<Omit<AgentConfig, 'dhcp'>> & { dhcp?: Partial<AgentConfig['dhcp']> } = {}): AgentConfig {
  const base: AgentConfig = {
    agentId: 'rack-test',
    provisioning: { interface: 'eth0', address: '198.18.70.1', subnet: '198.18.70.0/24' },
    ports: { dhcp: 67, dhcpClient: 68, pxe: 4011, tftp: 69, http: 8080 },
    httpListen: '0.0.0.0',
    httpBaseUrl: 'http://198.18.70.1:8080',
    httpLimits: DEFAULT_HTTP_LIMITS,
    dataDir: '/nonexistent',
    bootBinariesDir: '/usr/lib/ipxe',
    bootFiles: { bios: 'undionly.kpxe', uefiX64: 'snponly.efi', uefiArm64: 'snp-arm64.efi' },
    assetsDir: '/nonexistent',
    manifestFile: '/nonexistent',
    dhcp: {
      mode: 'full',
      probeIntervalSeconds: 300,
      poolStart: '198.18.70.100',
      poolEnd: '198.18.70.199',
      leaseTime: 3600,
      offerHold: 30,
      // No share for unknown machines and no shorter lease: the tests here use MACs the manifest
      // does not know on pools as small as one address; the share and the lease have their own.
      unknownPoolPercent: 100,
      unknownPxeLeaseTime: 3600,
      routers: ['198.18.70.1'],
      dns: ['198.18.70.1', '198.18.70.2'],
      ntp: ['198.18.70.1'],
      domain: 'rack.test',
      relays: [{ subnet: '198.18.71.0/24', poolStart: '198.18.71.50', poolEnd: '198.18.71.59', routers: ['198.18.71.1'] }],
    },
    bootTokenTtl: 600,
    logLevel: 'info',
    uplink: NO_UPLINK,
    outboxMaxEvents: DEFAULT_OUTBOX_MAX_EVENTS,
    nodes: DEFAULT_NODES,
    images: DEFAULT_IMAGES,
    lifecycle: DEFAULT_PROVISION,
    tftp: DEFAULT_TFTP,
    bmc: NO_BMC,
    announce: NO_ANNOUNCE,
    routerAdvertisements: { mode: 'off', radvd: '/usr/sbin/radvd', maxIntervalSeconds: 1800 },
    nodeLogs: NO_NODE_LOGS,
    admin: DEFAULT_ADMIN,
  };
  return { ...base, ...over, dhcp: { ...base.dhcp, ...over.dhcp } };
}

const profile: Profile = profileFixture({ name: 'worker' });

export function node(id: string, mac: string, extra: Partial<NodeSpec> = {}): NodeSpec {
  return { id, macs: [mac], profile: 'worker', patches: [], desired: 'installed', generation: 1, bootLocal: 'exit', ...extra };
}

export const fixedNode = node('fixed', '52:54:00:00:00:01', { ipv4: '198.18.70.10', hostname: 'fixed-1' });
export const nicNode = node('nic', '52:54:00:00:00:02', { uefiBootFile: 'ipxe.efi' });

export function testDirectory(nodes: NodeSpec[] = [fixedNode, nicNode]) {
  const manifest: Manifest = { version: 1, profiles: new Map([['worker', profile]]), nodes, images: [], settings: {} };
  return directoryOf(manifest);
}

export function macBytes(mac: string): Buffer {
  return Buffer.from(mac.split(':').map((h) => parseInt(h, 16)));
}

export function request(mac: string, options: DhcpOptions, over: Partial<DhcpMessage> = {}): DhcpMessage {
  return {
    op: 1,
    htype: 1,
    hlen: 6,
    hops: 0,
    xid: 0x1234abcd,
    secs: 0,
    flags: 0x8000,
    ciaddr: '0.0.0.0',
    yiaddr: '0.0.0.0',
    siaddr: '0.0.0.0',
    giaddr: '0.0.0.0',
    chaddr: macBytes(mac),
    sname: '',
    file: '',
    options,
    ...over,
  };
}
