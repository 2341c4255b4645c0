// Agent config: parse YAML, validate against config/agent.schema.json, apply defaults, check the
// relations a schema cannot express, freeze. The only place that reads the environment.
import { readFileSync } from 'node:fs';
import { isIPv4 } from 'node:net';
import { hostname } from 'node:os';
import path from 'node:path';
import { ConfigError, InvalidFieldError } from '../errors.js';
import { inSubnet, ipToInt, parseSubnet, type Subnet } from '../net/ipv4.js';
import { createPublicKey } from 'node:crypto';
import { instanceNameFor, MAX_LABEL_BYTES, oversizedTxt } from '../announce/records.js';
import type {
  AdminSettings,
  AgentConfig,
  AnnounceSettings,
  BmcCredentialEntry,
  BmcSettings,
  HttpLimits,
  NodeLogSettings,
  ProvisionSettings,
  TftpSettings,
  TrustedKey,
  UplinkSettings,
} from './model.js';
import { schemaValidator } from './schemaErrors.js';
import { parseYamlSource, YamlSyntaxError, type YamlSource } from './yamlSource.js';

const validate = schemaValidator('agent.schema.json', ['ipv4'], 'config');

export interface LoadOptions {
  /** Environment variables (MASKIN_*); defaults to process.env. */
  readonly env?: Readonly<Record<string, string | undefined>>;
}

export function loadConfigFile(file: string, options: LoadOptions = {}): AgentConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(file, [
      new InvalidFieldError('config', '', `cannot read file (${(err as Error).message})`, 'pass an existing YAML file with --config'),
    ]);
  }
  return parseConfig(text, { ...options, file });
}

/** Uplink defaults: nothing configured means no central (local manifest file only). */
export const NO_UPLINK: UplinkSettings = Object.freeze({ pullIntervalSeconds: 60, timeoutSeconds: 10, trustedKeys: [], maxManifestBytes: 16 * 1024 * 1024 });
export const DEFAULT_OUTBOX_MAX_EVENTS = 100_000;
/** Records kept for machines the manifest does not know. */
export const DEFAULT_NODES = Object.freeze({ maxUnknown: 1024 });
/** Machines the manifest does not know hold at most half of each pool, PXE ones for 10 minutes at a time. */
export const DEFAULT_DHCP = Object.freeze({ unknownPoolPercent: 50, unknownPxeLeaseTime: 600, probeIntervalSeconds: 300 });
export const DEFAULT_IMAGES = Object.freeze({
  factoryUrl: 'https://factory.talos.dev',
  limitBytes: 20 * 1024 ** 3,
  // Where Talos installer images come from: the Image Factory's registry, and ghcr.io for the rest.
  registryUpstreams: Object.freeze({ 'factory.talos.dev': 'https://factory.talos.dev', 'ghcr.io': 'https://ghcr.io' }),
});

/** Lifecycle defaults: 4 power-ons at once, 5 s apart; generous steps, since a real server's POST alone can take minutes. */
export const DEFAULT_PROVISION: ProvisionSettings = Object.freeze({
  concurrency: 4,
  staggerMs: 5_000,
  maxAttempts: 3,
  backoffMs: 10_000,
  maxBackoffMs: 120_000,
  timeouts: Object.freeze({ bmcCallMs: 60_000, netbootMs: 600_000, installMs: 1_800_000, handoverMs: 900_000 }),
  probeIntervalMs: 10_000,
  handoverPort: 50000,
  reconcileIntervalMs: 30_000,
});
/**
 * TFTP bounds: a boot storm is one or two transfers per machine, each well under a second on a
 * rack LAN, so 256 at once serves hundreds of machines; 16 from one address is more than any
 * firmware opens (a PXE ROM's size probe and its read, iPXE's retries).
 */
export const DEFAULT_TFTP: TftpSettings = Object.freeze({ maxTransfers: 256, maxTransfersPerClient: 16, maxTimeoutSeconds: 10, maxTransferMs: 60_000 });
/** HTTP limits per source and minute: 30 boot-token requests, 120 admin requests (loopback is never limited), 30 pushes, 20 refusal log lines. */
export const DEFAULT_HTTP_LIMITS: HttpLimits = Object.freeze({ windowMs: 60_000, bootToken: 30, admin: 120, push: 30, refusalLogLines: 20 });
/** The NICs systemd/11-maskin-oob0.link and 12-maskin-wan0.link name: management and uplink. */
export const DEFAULT_ANNOUNCE_INTERFACES: readonly string[] = Object.freeze(['wan0', 'oob0']);
/**
 * The admin listener on loopback and the management NIC (systemd/11-maskin-oob0.link), port 9180
 * (no IANA assignment; clear of the boot server's 80, the node log sink's 5170 and Talos's 50000/50001).
 */
export const DEFAULT_ADMIN: AdminSettings = Object.freeze({ listen: Object.freeze(['127.0.0.1', 'oob0']), port: 9180 });
/** The node log sink on: port 5170 (no IANA assignment; clear of DHCP, TFTP, HTTP and Talos's 50000/50001), 1,000 lines per node. */
export const DEFAULT_NODE_LOGS: NodeLogSettings = Object.freeze({ enabled: true, port: 5170, linesPerNode: 1000 });
/** The sink off (in-process tests and benchmarks that build an AgentConfig by hand). */
export const NO_NODE_LOGS: NodeLogSettings = Object.freeze({ ...DEFAULT_NODE_LOGS, enabled: false });
/** Announcing off (in-process tests and benchmarks that build an AgentConfig by hand). */
export const NO_ANNOUNCE: AnnounceSettings = Object.freeze({ enabled: false, interfaces: Object.freeze([]), instanceName: 'maskin-agent' });
export const NO_BMC: BmcSettings = Object.freeze({ envCredentials: Object.freeze({}), ipmi: Object.freeze({ bootFlagCheck: 'full' as const }) });

/** MASKIN_BMC_<NAME>_USERNAME / _PASSWORD pairs, keyed by NAME; a half pair is a field problem and left out. */
function bmcEnvCredentials(env: Readonly<Record<string, string | undefined>>, problems: InvalidFieldError[]): Record<string, BmcCredentialEntry> {
  const out: Record<string, BmcCredentialEntry> = {};
  for (const key of Object.keys(env)) {
    const m = /^MASKIN_BMC_([A-Z0-9_]+)_USERNAME$/.exec(key);
    if (!m) continue;
    const name = m[1]!;
    const username = env[key];
    const password = env[`MASKIN_BMC_${name}_PASSWORD`];
    if (!username || password === undefined || password === '') {
      const fix = `set both MASKIN_BMC_${name}_USERNAME and MASKIN_BMC_${name}_PASSWORD, or neither`;
      problems.push(new InvalidFieldError('environment', key, `is set but MASKIN_BMC_${name}_PASSWORD is not`, fix));
      continue;
    }
    out[name] = { username, password };
  }
  return out;
}

/**
 * Environment overrides: MASKIN_LOG_LEVEL, MASKIN_ADMIN_TOKEN, MASKIN_DATA_DIR, and the secrets
 * MASKIN_UPLINK_TOKEN, MASKIN_PUSH_TOKEN (secrets come from files or the environment only).
 * Past the schema, every problem (unreadable files, bad keys, relations) is collected into one ConfigError.
 */
export function parseConfig(text: string, options: LoadOptions & { file?: string } = {}): AgentConfig {
  const file = options.file ?? '(inline)';
  const env = options.env ?? process.env;
  let source: YamlSource;
  try {
    source = parseYamlSource(text);
  } catch (err) {
    if (err instanceof YamlSyntaxError) throw new ConfigError(file, [err.toFieldError('config')]);
    throw err;
  }
  if (source.values.length > 1)
    throw new ConfigError(file, [new InvalidFieldError('config', '', `holds ${source.values.length} YAML documents`, 'keep one (remove the --- separators)')]);
  const raw = source.values[0] ?? null;
  const schemaProblems = validate(raw, { place: (p) => source.place(p) });
  if (schemaProblems.length > 0) throw new ConfigError(file, schemaProblems);
  const c = raw as RawConfig;
  // `${CREDENTIALS_DIRECTORY}` in a path is where systemd put the unit's credentials (ImportCredential=,
  // LoadCredential=); outside such a unit it is left as written, so the file is not found and named.
  const credentials = env.CREDENTIALS_DIRECTORY;
  const expand = (p: string): string => (credentials === undefined || credentials === '' ? p : p.replaceAll('${CREDENTIALS_DIRECTORY}', credentials));
  const relTo = (p: string): string => {
    const q = expand(p);
    return path.isAbsolute(q) || options.file === undefined ? q : path.resolve(path.dirname(options.file), q);
  };

  const ports = {
    dhcp: c.ports?.dhcp ?? 67,
    dhcpClient: c.ports?.dhcpClient ?? 68,
    pxe: c.ports?.pxe ?? 4011,
    tftp: c.ports?.tftp ?? 69,
    http: c.ports?.http ?? 80,
  };
  const address = c.provisioning.address;
  const dataDir = relTo(env.MASKIN_DATA_DIR ?? c.dataDir ?? '/var/lib/maskin-agent');
  const problems: InvalidFieldError[] = [];
  const secret = (envName: string, fileField: string, secretFile: string | undefined): string | undefined => {
    if (env[envName] !== undefined && env[envName] !== '') return env[envName];
    if (secretFile === undefined) return undefined;
    try {
      return readFileSync(relTo(secretFile), 'utf8').trim();
    } catch (err) {
      problems.push(new InvalidFieldError('config', fileField, `cannot read (${(err as Error).message})`, `point it at a readable file, or set ${envName}`));
      return undefined;
    }
  };
  const adminToken = secret('MASKIN_ADMIN_TOKEN', 'adminTokenFile', c.adminTokenFile);
  const u = c.uplink ?? {};
  const keyEntries = u.trustedKeys ?? [];
  const trustedKeys: TrustedKey[] = keyEntries.flatMap((k, i) => {
    const field = `uplink.trustedKeys.${i}.publicKeyFile`;
    let pem: string;
    try {
      pem = readFileSync(relTo(k.publicKeyFile), 'utf8');
    } catch (err) {
      problems.push(
        new InvalidFieldError('config', field, `cannot read (${(err as Error).message})`, 'point it at the .pub file `maskin-agent manifest keygen` wrote'),
      );
      return [];
    }
    let type: string | undefined;
    try {
      type = createPublicKey(pem).asymmetricKeyType;
    } catch {
      type = undefined;
    }
    if (type !== 'ed25519') {
      problems.push(new InvalidFieldError('config', field, `is not an Ed25519 public key (PEM)`, 'use the .pub file `maskin-agent manifest keygen` wrote'));
      return [];
    }
    return [{ id: k.id, publicKeyPem: pem }];
  });
  const uplink: UplinkSettings = {
    ...(u.manifestUrl !== undefined ? { manifestUrl: u.manifestUrl } : {}),
    ...(u.reportUrl !== undefined ? { reportUrl: u.reportUrl } : {}),
    pullIntervalSeconds: u.pullIntervalSeconds ?? NO_UPLINK.pullIntervalSeconds,
    timeoutSeconds: u.timeoutSeconds ?? NO_UPLINK.timeoutSeconds,
    ...(u.caFile !== undefined ? { caFile: relTo(u.caFile) } : {}),
    ...(u.certFile !== undefined ? { certFile: relTo(u.certFile) } : {}),
    ...(u.keyFile !== undefined ? { keyFile: relTo(u.keyFile) } : {}),
    ...optional('token', secret('MASKIN_UPLINK_TOKEN', 'uplink.tokenFile', u.tokenFile)),
    ...optional('pushToken', secret('MASKIN_PUSH_TOKEN', 'uplink.pushTokenFile', u.pushTokenFile)),
    trustedKeys,
    maxManifestBytes: u.maxManifestBytes ?? NO_UPLINK.maxManifestBytes,
  };
  const config: AgentConfig = {
    agentId: c.agentId ?? hostname(),
    ...(c.rackId !== undefined ? { rackId: c.rackId } : {}),
    uplink,
    outboxMaxEvents: c.outbox?.maxEvents ?? DEFAULT_OUTBOX_MAX_EVENTS,
    nodes: { maxUnknown: c.nodes?.maxUnknown ?? DEFAULT_NODES.maxUnknown },
    images: {
      factoryUrl: c.images?.factoryUrl ?? DEFAULT_IMAGES.factoryUrl,
      limitBytes: c.images?.limitBytes ?? DEFAULT_IMAGES.limitBytes,
      registryUpstreams: c.images?.registryUpstreams ?? DEFAULT_IMAGES.registryUpstreams,
    },
    provisioning: { ...c.provisioning },
    ports,
    tftp: {
      maxTransfers: c.tftp?.maxTransfers ?? DEFAULT_TFTP.maxTransfers,
      maxTransfersPerClient: c.tftp?.maxTransfersPerClient ?? DEFAULT_TFTP.maxTransfersPerClient,
      maxTimeoutSeconds: c.tftp?.maxTimeoutSeconds ?? DEFAULT_TFTP.maxTimeoutSeconds,
      maxTransferMs: c.tftp?.maxTransferSeconds === undefined ? DEFAULT_TFTP.maxTransferMs : c.tftp.maxTransferSeconds * 1000,
    },
    httpListen: c.http?.listen ?? '0.0.0.0',
    httpBaseUrl: c.http?.baseUrl ?? `http://${address}${ports.http === 80 ? '' : `:${ports.http}`}`,
    httpLimits: httpLimitsOf(c.http?.limits),
    dataDir,
    bootBinariesDir: relTo(c.bootBinariesDir ?? '/usr/lib/ipxe'),
    bootFiles: { bios: 'undionly.kpxe', uefiX64: 'snponly.efi', uefiArm64: 'snp-arm64.efi', ...c.bootFiles },
    assetsDir: relTo(c.assetsDir ?? path.join(dataDir, 'assets')),
    ...(c.manifestFile !== undefined ? { manifestFile: relTo(c.manifestFile) } : {}),
    dhcp: {
      mode: c.dhcp.mode ?? 'full',
      probeIntervalSeconds: c.dhcp.probeIntervalSeconds ?? DEFAULT_DHCP.probeIntervalSeconds,
      poolStart: c.dhcp.pool.start,
      poolEnd: c.dhcp.pool.end,
      leaseTime: c.dhcp.leaseTime ?? 3600,
      offerHold: c.dhcp.offerHold ?? 30,
      unknownPoolPercent: c.dhcp.unknownPoolPercent ?? DEFAULT_DHCP.unknownPoolPercent,
      unknownPxeLeaseTime: c.dhcp.unknownPxeLeaseTime ?? DEFAULT_DHCP.unknownPxeLeaseTime,
      routers: c.dhcp.routers ?? [],
      dns: c.dhcp.dns ?? [],
      ntp: c.dhcp.ntp ?? [],
      ...(c.dhcp.domain !== undefined ? { domain: c.dhcp.domain } : {}),
      relays: (c.dhcp.relays ?? []).map((r) => ({ subnet: r.subnet, poolStart: r.pool.start, poolEnd: r.pool.end, routers: r.routers ?? [] })),
    },
    bootTokenTtl: c.bootTokenTtl ?? 3600,
    ...(adminToken ? { adminToken } : {}),
    admin: {
      listen: c.admin?.listen ?? defaultAdminListen(c.provisioning),
      port: c.admin?.port ?? DEFAULT_ADMIN.port,
    },
    logLevel: logLevelOf(env, problems) ?? c.logLevel ?? 'info',
    lifecycle: provisionSettingsOf(c.lifecycle),
    bmc: {
      ...(c.bmc?.secretsFile !== undefined ? { secretsFile: relTo(c.bmc.secretsFile) } : {}),
      envCredentials: bmcEnvCredentials(env, problems),
      ipmi: {
        ...(c.bmc?.ipmi?.cipherSuite !== undefined ? { cipherSuite: c.bmc.ipmi.cipherSuite } : {}),
        bootFlagCheck: c.bmc?.ipmi?.bootFlagCheck ?? 'full',
      },
    },
    announce: announceSettingsOf(c.announce, c.agentId ?? hostname(), c.rackId, c.provisioning.interface),
    routerAdvertisements: {
      mode: c.routerAdvertisements?.mode ?? 'auto',
      radvd: c.routerAdvertisements?.radvd ?? '/usr/sbin/radvd',
      maxIntervalSeconds: c.routerAdvertisements?.maxIntervalSeconds ?? 1800,
    },
    nodeLogs: {
      enabled: c.nodeLogs?.enabled ?? DEFAULT_NODE_LOGS.enabled,
      port: c.nodeLogs?.port ?? DEFAULT_NODE_LOGS.port,
      linesPerNode: c.nodeLogs?.linesPerNode ?? DEFAULT_NODE_LOGS.linesPerNode,
    },
  };
  problems.push(...announceProblems(config));
  problems.push(...adminProblems(config));
  if (config.nodeLogs.enabled && config.nodeLogs.port === config.ports.http)
    problems.push(
      new InvalidFieldError('config', 'nodeLogs.port', `${config.nodeLogs.port} is ports.http as well`, 'pick another port, or set nodeLogs.enabled: false'),
    );
  problems.push(
    ...checkRelations(
      config,
      keyEntries.map((k) => k.id),
    ),
  );
  if (config.lifecycle.backoffMs > config.lifecycle.maxBackoffMs)
    problems.push(
      new InvalidFieldError(
        'config',
        'lifecycle.backoffSeconds',
        `${config.lifecycle.backoffMs / 1000} s is above lifecycle.maxBackoffSeconds (${config.lifecycle.maxBackoffMs / 1000} s)`,
        'lower backoffSeconds or raise maxBackoffSeconds',
      ),
    );
  if (problems.length > 0) throw new ConfigError(file, problems);
  return deepFreeze(config);
}

const LOG_LEVELS: readonly AgentConfig['logLevel'][] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'];

/** MASKIN_LOG_LEVEL, when set: one of pino's levels, else a problem (pino would throw at start). */
function logLevelOf(env: Readonly<Record<string, string | undefined>>, problems: InvalidFieldError[]): AgentConfig['logLevel'] | undefined {
  const value = env.MASKIN_LOG_LEVEL;
  if (value === undefined || value === '') return undefined;
  if ((LOG_LEVELS as readonly string[]).includes(value)) return value as AgentConfig['logLevel'];
  problems.push(new InvalidFieldError('environment', 'MASKIN_LOG_LEVEL', `is ${JSON.stringify(value)}`, `use one of: ${LOG_LEVELS.join(', ')}`));
  return undefined;
}

/** The subnet, or undefined after reporting the field (the schema's pattern should have caught it first). */
function subnetOf(cidr: string, field: string, bad: (field: string, problem: string, fix: string) => void): Subnet | undefined {
  try {
    return parseSubnet(cidr);
  } catch {
    bad(field, `${JSON.stringify(cidr)} is not a CIDR subnet`, 'write it as four octets 0-255 and a prefix length, e.g. 198.18.0.0/24');
    return undefined;
  }
}

/** `keyIds`: every trusted key the file lists, read or not, so an unreadable key is not also "no keys". */
function checkRelations(c: AgentConfig, keyIds: readonly string[]): InvalidFieldError[] {
  const out: InvalidFieldError[] = [];
  const bad = (field: string, problem: string, fix: string): void => {
    out.push(new InvalidFieldError('config', field, problem, fix));
  };
  const subnet = subnetOf(c.provisioning.subnet, 'provisioning.subnet', bad);
  if (!subnet) return out;
  if (!inSubnet(ipToInt(c.provisioning.address), subnet))
    bad(
      'provisioning.address',
      `${c.provisioning.address} is outside provisioning.subnet ${c.provisioning.subnet}`,
      'use an address inside the subnet, or correct the subnet',
    );
  for (const [field, value] of [
    ['dhcp.pool.start', c.dhcp.poolStart],
    ['dhcp.pool.end', c.dhcp.poolEnd],
  ] as const)
    if (!inSubnet(ipToInt(value), subnet))
      bad(field, `${value} is outside provisioning.subnet ${c.provisioning.subnet}`, 'keep the pool inside the provisioning subnet');
  const start = ipToInt(c.dhcp.poolStart);
  const end = ipToInt(c.dhcp.poolEnd);
  if (start > end) bad('dhcp.pool', `start ${c.dhcp.poolStart} is after end ${c.dhcp.poolEnd}`, 'swap start and end');
  const self = ipToInt(c.provisioning.address);
  if (self >= start && self <= end)
    bad('dhcp.pool', `the pool contains this agent's own address ${c.provisioning.address}`, 'start the pool above (or end it below) provisioning.address');
  const u = c.uplink;
  if ((u.manifestUrl !== undefined || u.pushToken !== undefined) && c.rackId === undefined)
    bad('rackId', 'is required when manifests come from central (uplink.manifestUrl or a push token)', "set rackId to this rack's id as central names it");
  if ((u.manifestUrl !== undefined || u.pushToken !== undefined) && keyIds.length === 0)
    bad('uplink.trustedKeys', 'is empty, so no signed manifest could ever be accepted', 'add the public key(s) central signs with: [{ id, publicKeyFile }]');
  if ((u.certFile === undefined) !== (u.keyFile === undefined))
    bad(
      u.certFile === undefined ? 'uplink.certFile' : 'uplink.keyFile',
      'client certificate and key come together',
      'set both uplink.certFile and uplink.keyFile, or neither',
    );
  keyIds.forEach((id, i) => {
    if (keyIds.indexOf(id) !== i) bad(`uplink.trustedKeys.${i}.id`, `duplicate key id ${id}`, 'give every trusted key its own id');
  });
  c.dhcp.relays.forEach((relay, i) => {
    const relaySubnet = subnetOf(relay.subnet, `dhcp.relays.${i}.subnet`, bad);
    if (!relaySubnet) return;
    if (!inSubnet(ipToInt(relay.poolStart), relaySubnet) || !inSubnet(ipToInt(relay.poolEnd), relaySubnet))
      bad(`dhcp.relays.${i}.pool`, `pool ${relay.poolStart}-${relay.poolEnd} is outside ${relay.subnet}`, 'keep each relay pool inside its subnet');
    if (ipToInt(relay.poolStart) > ipToInt(relay.poolEnd)) bad(`dhcp.relays.${i}.pool`, 'start is after end', 'swap start and end');
  });
  return out;
}

/** The default interfaces leave out the provisioning NIC; a list the operator wrote is checked in announceProblems. */
function announceSettingsOf(a: RawConfig['announce'] = {}, agentId: string, rackId: string | undefined, provisioningInterface: string): AnnounceSettings {
  return {
    enabled: a.enabled ?? true,
    interfaces: a.interfaces ?? DEFAULT_ANNOUNCE_INTERFACES.filter((name) => name !== provisioningInterface),
    instanceName: a.instanceName ?? instanceNameFor(agentId, rackId),
  };
}

/** The agent never announces on the provisioning network, and every name must fit its DNS field. */
function announceProblems(c: AgentConfig): InvalidFieldError[] {
  const out: InvalidFieldError[] = [];
  const a = c.announce;
  a.interfaces.forEach((name, i) => {
    if (name === c.provisioning.interface)
      out.push(
        new InvalidFieldError(
          'config',
          `announce.interfaces.${i}`,
          `${name} is provisioning.interface; the agent never announces itself on the provisioning network`,
          'remove it and list the uplink and management NICs (wan0, oob0)',
        ),
      );
  });
  if (!a.enabled) return out;
  const bytes = Buffer.byteLength(a.instanceName);
  if (bytes > MAX_LABEL_BYTES)
    out.push(
      new InvalidFieldError(
        'config',
        'announce.instanceName',
        `is ${bytes} bytes of UTF-8; a DNS-SD instance name holds at most ${MAX_LABEL_BYTES}`,
        'shorten it',
      ),
    );
  for (const entry of oversizedTxt({ agentId: c.agentId, ...(c.rackId !== undefined ? { rackId: c.rackId } : {}), version: '' }))
    out.push(
      new InvalidFieldError(
        'config',
        'agentId',
        `is too long for the mDNS TXT entry ${entry.split('=')[0]}= (at most 255 bytes with its key)`,
        'shorten agentId, or set announce.enabled: false',
      ),
    );
  return out;
}

/** The subnet, or undefined when it does not parse (checkRelations names it). */
function subnetOrUndefined(cidr: string): Subnet | undefined {
  try {
    return parseSubnet(cidr);
  } catch {
    return undefined;
  }
}

/** Why admin.listen may not hold `entry`: never the provisioning network, nor every address at once. */
function adminListenRefusal(
  entry: string,
  provisioning: { interface: string; subnet: string },
  subnet: Subnet | undefined,
): { problem: string; fix: string } | undefined {
  const fix = 'list loopback (127.0.0.1) and the management NIC (oob0) or its address';
  if (entry === provisioning.interface)
    return { problem: `${entry} is provisioning.interface; the admin API is never served on the provisioning network`, fix };
  if (entry === '0.0.0.0' || entry === '::') return { problem: `${entry} is every address, the provisioning network's too`, fix };
  if (/^\d+(\.\d+){3}$/.test(entry) && !isIPv4(entry)) return { problem: `${entry} is not an IPv4 address`, fix: 'write four octets 0-255, or a NIC name' };
  if (isIPv4(entry) && subnet !== undefined && inSubnet(ipToInt(entry), subnet))
    return { problem: `${entry} is in provisioning.subnet ${provisioning.subnet}; the admin API is never served on the provisioning network`, fix };
  return undefined;
}

/**
 * DEFAULT_ADMIN.listen without what adminProblems would refuse: a provisioning NIC named oob0, or
 * loopback when the provisioning network is (in-process tests). A list the operator wrote is checked.
 */
function defaultAdminListen(p: RawConfig['provisioning']): readonly string[] {
  const subnet = subnetOrUndefined(p.subnet);
  return DEFAULT_ADMIN.listen.filter((entry) => adminListenRefusal(entry, p, subnet) === undefined);
}

/** admin.listen's refused entries, and an admin.port another listener has. */
function adminProblems(c: AgentConfig): InvalidFieldError[] {
  const out: InvalidFieldError[] = [];
  const bad = (field: string, problem: string, fix: string): void => {
    out.push(new InvalidFieldError('config', field, problem, fix));
  };
  const subnet = subnetOrUndefined(c.provisioning.subnet);
  c.admin.listen.forEach((entry, i) => {
    const refusal = adminListenRefusal(entry, c.provisioning, subnet);
    if (refusal) bad(`admin.listen.${i}`, refusal.problem, refusal.fix);
  });
  for (const [field, port] of [['ports.http', c.ports.http], ...(c.nodeLogs.enabled ? ([['nodeLogs.port', c.nodeLogs.port]] as const) : [])] as const)
    if (c.admin.port === port) bad('admin.port', `${c.admin.port} is ${field} as well`, `pick another port for admin.port (default ${DEFAULT_ADMIN.port})`);
  return out;
}

function provisionSettingsOf(l: RawConfig['lifecycle'] = {}): ProvisionSettings {
  const d = DEFAULT_PROVISION;
  const ms = (seconds: number | undefined, fallback: number): number => (seconds === undefined ? fallback : Math.round(seconds * 1000));
  const t = l.timeoutSeconds ?? {};
  return {
    concurrency: l.concurrency ?? d.concurrency,
    staggerMs: ms(l.staggerSeconds, d.staggerMs),
    maxAttempts: l.maxAttempts ?? d.maxAttempts,
    backoffMs: ms(l.backoffSeconds, d.backoffMs),
    maxBackoffMs: ms(l.maxBackoffSeconds, d.maxBackoffMs),
    timeouts: {
      bmcCallMs: ms(t.bmcCall, d.timeouts.bmcCallMs),
      netbootMs: ms(t.netboot, d.timeouts.netbootMs),
      installMs: ms(t.install, d.timeouts.installMs),
      handoverMs: ms(t.handover, d.timeouts.handoverMs),
    },
    probeIntervalMs: ms(l.probeIntervalSeconds, d.probeIntervalMs),
    handoverPort: l.handoverPort ?? d.handoverPort,
    reconcileIntervalMs: ms(l.reconcileIntervalSeconds, d.reconcileIntervalMs),
  };
}

function httpLimitsOf(l: NonNullable<RawConfig['http']>['limits'] = {}): HttpLimits {
  const d = DEFAULT_HTTP_LIMITS;
  return {
    windowMs: l.windowSeconds === undefined ? d.windowMs : l.windowSeconds * 1000,
    bootToken: l.bootToken ?? d.bootToken,
    admin: l.admin ?? d.admin,
    push: l.push ?? d.push,
    refusalLogLines: l.refusalLogLines ?? d.refusalLogLines,
  };
}

function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}

interface RawRange {
  start: string;
  end: string;
}
interface RawConfig {
  agentId?: string;
  rackId?: string;
  uplink?: {
    manifestUrl?: string;
    reportUrl?: string;
    pullIntervalSeconds?: number;
    timeoutSeconds?: number;
    caFile?: string;
    certFile?: string;
    keyFile?: string;
    tokenFile?: string;
    pushTokenFile?: string;
    maxManifestBytes?: number;
    trustedKeys?: { id: string; publicKeyFile: string }[];
  };
  outbox?: { maxEvents?: number };
  nodes?: { maxUnknown?: number };
  images?: { factoryUrl?: string; limitBytes?: number; registryUpstreams?: Record<string, string> };
  provisioning: { interface: string; address: string; subnet: string };
  ports?: { dhcp?: number; dhcpClient?: number; pxe?: number; tftp?: number; http?: number };
  tftp?: { maxTransfers?: number; maxTransfersPerClient?: number; maxTimeoutSeconds?: number; maxTransferSeconds?: number };
  http?: {
    listen?: string;
    baseUrl?: string;
    limits?: { windowSeconds?: number; bootToken?: number; admin?: number; push?: number; refusalLogLines?: number };
  };
  dataDir?: string;
  bootBinariesDir?: string;
  bootFiles?: { bios?: string; uefiX64?: string; uefiArm64?: string };
  assetsDir?: string;
  manifestFile?: string;
  dhcp: {
    mode?: 'full' | 'proxy' | 'auto';
    probeIntervalSeconds?: number;
    pool: RawRange;
    leaseTime?: number;
    offerHold?: number;
    unknownPoolPercent?: number;
    unknownPxeLeaseTime?: number;
    routers?: string[];
    dns?: string[];
    ntp?: string[];
    domain?: string;
    relays?: { subnet: string; pool: RawRange; routers?: string[] }[];
  };
  bootTokenTtl?: number;
  adminTokenFile?: string;
  admin?: { listen?: string[]; port?: number };
  logLevel?: AgentConfig['logLevel'];
  lifecycle?: {
    concurrency?: number;
    staggerSeconds?: number;
    maxAttempts?: number;
    backoffSeconds?: number;
    maxBackoffSeconds?: number;
    timeoutSeconds?: { bmcCall?: number; netboot?: number; install?: number; handover?: number };
    probeIntervalSeconds?: number;
    handoverPort?: number;
    reconcileIntervalSeconds?: number;
  };
  bmc?: { secretsFile?: string; ipmi?: { cipherSuite?: number; bootFlagCheck?: 'full' | 'device-only' } };
  announce?: { enabled?: boolean; interfaces?: string[]; instanceName?: string };
  routerAdvertisements?: { mode?: 'auto' | 'off'; radvd?: string; maxIntervalSeconds?: number };
  nodeLogs?: { enabled?: boolean; port?: number; linesPerNode?: number };
}
