// The agent's own settings, frozen at start. Only agent/config reads files or the environment.

/**
 * full: this agent leases addresses; proxy: another server does and this agent only names boot
 * files (PXE spec 2.1 §2.2.x proxyDHCP); auto: proxy while another server answers the probes.
 */
export type DhcpMode = 'full' | 'proxy' | 'auto';

export interface DhcpSettings {
  readonly mode: DhcpMode;
  /** Seconds between the agent's own DHCPDISCOVER probes for other servers on the segment. */
  readonly probeIntervalSeconds: number;
  /** First and last address of the dynamic pool (inclusive). */
  readonly poolStart: string;
  readonly poolEnd: string;
  /** Lease time in seconds (option 51). */
  readonly leaseTime: number;
  /** How long an OFFER holds its address before it returns to the pool, seconds. */
  readonly offerHold: number;
  /**
   * Percent of each pool (its first addresses) that machines the manifest does not know may hold;
   * the rest is kept for manifest nodes.
   */
  readonly unknownPoolPercent: number;
  /** Lease time for PXE/iPXE clients the manifest does not know, seconds (capped at leaseTime). */
  readonly unknownPxeLeaseTime: number;
  readonly routers: readonly string[];
  readonly dns: readonly string[];
  /** Talos blocks boot until time syncs: option 42 matters. */
  readonly ntp: readonly string[];
  readonly domain?: string;
  /** Pools for relayed subnets, chosen by giaddr (RFC 2131 §4.3.1). */
  readonly relays: readonly RelayPool[];
}

export interface RelayPool {
  /** Subnet the relay agent's giaddr belongs to, CIDR. */
  readonly subnet: string;
  readonly poolStart: string;
  readonly poolEnd: string;
  readonly routers: readonly string[];
}

export interface BootFiles {
  /** Option 93 = 0 (BIOS): chainloaded over TFTP. */
  readonly bios: string;
  /** Option 93 = 6/7/9 (x86 UEFI). snponly.efi by default: ipxe.efi carries NIC drivers that hang on some NICs. */
  readonly uefiX64: string;
  /** Option 93 = 11 (arm64 UEFI). */
  readonly uefiArm64: string;
}

export interface TrustedKey {
  readonly id: string;
  /** SPKI PEM of an Ed25519 public key, read from uplink.trustedKeys[].publicKeyFile at load. */
  readonly publicKeyPem: string;
}

export interface UplinkSettings {
  /** Pull source of this rack's SignedManifest; unset = no pull. */
  readonly manifestUrl?: string;
  /** Where report batches go; unset = reports stay queued (bounded) until it is set. */
  readonly reportUrl?: string;
  readonly pullIntervalSeconds: number;
  readonly timeoutSeconds: number;
  /** Pinned CA for central's TLS certificate. */
  readonly caFile?: string;
  readonly certFile?: string;
  readonly keyFile?: string;
  /** Bearer token for central (from tokenFile or MASKIN_UPLINK_TOKEN). */
  readonly token?: string;
  /** Bearer token central must present to PUT a manifest (from pushTokenFile or MASKIN_PUSH_TOKEN); unset = push disabled. */
  readonly pushToken?: string;
  readonly trustedKeys: readonly TrustedKey[];
  readonly maxManifestBytes: number;
}

/** The provisioning lifecycle (agent/provision): pacing, per-step limits, hand-over. Times in ms. */
export interface ProvisionSettings {
  /** BMC power sequences in flight at once across the rack. */
  readonly concurrency: number;
  /** Least time between two power-ons. */
  readonly staggerMs: number;
  /** Tries of a step (BMC call, or power cycle awaiting netboot/install) before the node fails there. */
  readonly maxAttempts: number;
  readonly backoffMs: number;
  readonly maxBackoffMs: number;
  readonly timeouts: {
    /** One BMC call (inventory, one-shot PXE, power). */
    readonly bmcCallMs: number;
    /** Power cycle → install script served. */
    readonly netbootMs: number;
    /** Install script served → installer report or netboot again. */
    readonly installMs: number;
    /** Installed → Talos API port answers. */
    readonly handoverMs: number;
  };
  readonly probeIntervalMs: number;
  /** Talos apid. */
  readonly handoverPort: number;
  /** Safety-net re-check of every node, besides manifest and netboot events. */
  readonly reconcileIntervalMs: number;
}

/** Bounds of the TFTP server: what one client, or all of them, can make it hold at once. */
export interface TftpSettings {
  /** Transfers in progress at once (each holds one UDP socket), all clients together. */
  readonly maxTransfers: number;
  /** Transfers in progress at once from one client address. */
  readonly maxTransfersPerClient: number;
  /** Largest client `timeout` option honoured (RFC 2349), seconds; a larger one is ignored. */
  readonly maxTimeoutSeconds: number;
  /** Longest one transfer may run, whatever the client's pace. */
  readonly maxTransferMs: number;
}

export interface BmcCredentialEntry {
  readonly username: string;
  readonly password: string;
}

export interface BmcSettings {
  /** YAML/JSON map: credentials name → { username, password, caFile?, insecure? }; read on use. */
  readonly secretsFile?: string;
  /** From MASKIN_BMC_<NAME>_USERNAME / _PASSWORD, keyed by NAME. */
  readonly envCredentials: Readonly<Record<string, BmcCredentialEntry>>;
  /** IPMI BMCs of this rack (ipmitool lanplus). */
  readonly ipmi: {
    /** ipmitool -C; absent = ipmitool's default (17 on 1.8.19). */
    readonly cipherSuite?: number;
    /** How much of the boot flags the BMCs keep on read-back: all, or only the device. */
    readonly bootFlagCheck: 'full' | 'device-only';
  };
}

/**
 * Per-source bounds of the HTTP surface (agent/http/limits.ts, requestLog.ts), far above what a
 * rack's own clients need: a node fetches its config once or a few times per boot and posts a
 * handful of installer reports; loopback callers (the CLI on the agent host) are never limited.
 */
export interface HttpLimits {
  /** Window of every limit below, ms. */
  readonly windowMs: number;
  /** Requests per window and source to /v1/boot/<token>/config and /events together. */
  readonly bootToken: number;
  /** Requests per window and non-loopback source to the admin API. */
  readonly admin: number;
  /** PUT /v1/manifest requests per window and source. */
  readonly push: number;
  /** Log lines about refused requests per window and source; the rest are counted in one summary line. */
  readonly refusalLogLines: number;
}

/** Router advertisements for iPXE on the provisioning NIC (agent/ra). */
export interface RouterAdvertisementSettings {
  readonly mode: 'auto' | 'off';
  readonly radvd: string;
  readonly maxIntervalSeconds: number;
}

/** The node log sink (agent/console): Talos log delivery over TCP on provisioning.address. */
export interface NodeLogSettings {
  readonly enabled: boolean;
  readonly port: number;
  /** Console lines kept per node. */
  readonly linesPerNode: number;
}

/** mDNS/DNS-SD self-announcement (agent/announce): the uplink and management NICs only. */
export interface AnnounceSettings {
  readonly enabled: boolean;
  /** NICs announced on; never provisioning.interface (refused at load). */
  readonly interfaces: readonly string[];
  /** DNS-SD instance name: one label, at most 63 bytes, no dot. */
  readonly instanceName: string;
}

/**
 * The admin listener (agent/http/adminListen.ts): the admin API, metrics and the status page,
 * never on the provisioning network (refused at load, and skipped at run time for a NIC found there).
 */
export interface AdminSettings {
  /** IPv4 addresses and NIC names (each NIC's IPv4 addresses) to listen on. */
  readonly listen: readonly string[];
  readonly port: number;
}

export interface AgentConfig {
  /** Defaults to the host name. */
  readonly agentId: string;
  /** Required with an uplink: signed manifests for another rack are refused. */
  readonly rackId?: string;
  readonly uplink: UplinkSettings;
  readonly outboxMaxEvents: number;
  readonly nodes: {
    /** Records kept for machines the manifest does not know; the least recently active go first beyond it. */
    readonly maxUnknown: number;
  };
  readonly images: {
    /** Image Factory or a central mirror of it: /image/<schematic>/<version>/kernel-<arch>. */
    readonly factoryUrl: string;
    /** Cache size limit; images the manifest references are pinned regardless. */
    readonly limitBytes: number;
    /** Registry host → upstream base URL for the /v2/ mirror; rendered configs point these hosts at the agent. */
    readonly registryUpstreams: Readonly<Record<string, string>>;
  };
  readonly provisioning: {
    /** The provisioning NIC; the service must be confined to it at the OS level (systemd unit). */
    readonly interface: string;
    /** This agent's address on the provisioning network: DHCP server id (54), siaddr, TFTP/HTTP host. */
    readonly address: string;
    /** CIDR of the provisioning network, e.g. 198.18.0.0/24. */
    readonly subnet: string;
  };
  readonly ports: {
    readonly dhcp: number;
    /** Port DHCP replies go to on clients (68); overridable for loopback tests. */
    readonly dhcpClient: number;
    /** PXE boot-server port (4011): ProxyDHCP REQUESTs from iPXE (and BINL clients) once they hold an address. */
    readonly pxe: number;
    readonly tftp: number;
    readonly http: number;
  };
  readonly tftp: TftpSettings;
  /** Address the HTTP server binds to (default 0.0.0.0). */
  readonly httpListen: string;
  /** Base URL nodes use to reach the HTTP server; default http://<address>[:<port>]. */
  readonly httpBaseUrl: string;
  readonly httpLimits: HttpLimits;
  readonly dataDir: string;
  readonly bootBinariesDir: string;
  readonly bootFiles: BootFiles;
  readonly assetsDir: string;
  /** Local manifest (YAML); with an uplink, only used while no signed manifest was ever applied. */
  readonly manifestFile?: string;
  readonly dhcp: DhcpSettings;
  /** Lifetime of a per-boot config token, seconds. */
  readonly bootTokenTtl: number;
  /** Bearer token for the admin API from non-loopback clients; unset = loopback only. */
  readonly adminToken?: string;
  readonly admin: AdminSettings;
  readonly logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace';
  readonly lifecycle: ProvisionSettings;
  readonly bmc: BmcSettings;
  readonly announce: AnnounceSettings;
  readonly routerAdvertisements: RouterAdvertisementSettings;
  readonly nodeLogs: NodeLogSettings;
}

/** Where nodes send their logs (`tcp://address:port`), or undefined when the sink is off. */
export function nodeLogsUrl(config: Pick<AgentConfig, 'nodeLogs' | 'provisioning'>): string | undefined {
  return config.nodeLogs.enabled ? `tcp://${config.provisioning.address}:${config.nodeLogs.port}` : undefined;
}
