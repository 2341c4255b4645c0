// What the host and the files on it must provide for the config and manifest to work, checked
// before serving (logged by `run`, printed by `check-config`): a missing boot file or Talos asset
// strands every machine that needs it in PXE, and an NTP server DHCP names that does not answer
// keeps every Talos node waiting for time sync, so the operator hears of it before a node does.
import { existsSync, realpathSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import path from 'node:path';
import type { AgentConfig } from './config/model.js';
import { bootFilesNamed } from './dhcp/classify.js';
import { assetFile, assetPins } from './images/pins.js';
import type { NodeDirectory } from './manifest/model.js';
import { RCODE_NAMES } from './net/dnsQuery.js';
import type { DnsOutcome, NoAnswer, NtpOutcome, ServerProbe } from './net/serverProbe.js';
import { isInsideRoot } from './net/servedPath.js';
import { LEAP_UNSYNCHRONISED } from './net/sntp.js';

export interface Finding {
  /** The config field or manifest part the finding is about. */
  readonly field: string;
  readonly message: string;
}

/** TFTP boot files DHCP may name that are not in bootBinariesDir. */
export function missingBootFiles(config: AgentConfig, directory: NodeDirectory, exists: (file: string) => boolean = existsSync): Finding[] {
  return bootFilesNamed(config, directory).flatMap((file): Finding[] => {
    if (file.via !== 'tftp') return [];
    const named = path.join(config.bootBinariesDir, file.name);
    if (!exists(named))
      return [
        { field: 'bootBinariesDir', message: `${file.name} (named by DHCP) is missing from ${config.bootBinariesDir}; clients of that kind cannot boot` },
      ];
    // Debian's /usr/lib/ipxe/ipxe.efi is a symlink to /boot/ipxe.efi, for one.
    if (exists === existsSync && !isInsideRoot(realpathSync(config.bootBinariesDir), realpathSync(named)))
      return [
        {
          field: 'bootBinariesDir',
          message: `${file.name} (named by DHCP) is a symlink out of ${config.bootBinariesDir}, so TFTP and HTTP refuse it; copy the file into the directory instead`,
        },
      ];
    return [];
  });
}

/** Kernels and initramfs of profiles in use that are neither pinned in the manifest (prefetched) nor in assetsDir. */
export function missingAssets(config: AgentConfig, directory: NodeDirectory, exists: (file: string) => boolean = existsSync): Finding[] {
  const pinned = assetPins(directory, config.images.factoryUrl);
  const inUse = new Set(directory.all().map((node) => node.profile));
  const out: Finding[] = [];
  for (const profile of directory.profiles.values()) {
    if (!inUse.has(profile.name)) continue;
    for (const kind of ['kernel', 'initramfs'] as const) {
      const assetPath = `${profile.schematic}/${profile.talosVersion}/${assetFile(kind, profile)}`;
      if (pinned.has(assetPath) || exists(path.join(config.assetsDir, assetPath))) continue;
      out.push({
        field: `profiles.${profile.name}`,
        message: `${assetPath} is neither pinned in the manifest's images nor in assetsDir ${config.assetsDir}; its nodes cannot install`,
      });
    }
  }
  return out;
}

/** The service must only ever serve the provisioning network; say so when the host disagrees. */
export function interfaceFindings(config: AgentConfig, nics: ReturnType<typeof networkInterfaces> = networkInterfaces()): Finding[] {
  const { address, interface: name } = config.provisioning;
  const holder = Object.entries(nics).find(([, addrs]) => addrs?.some((a) => a.address === address))?.[0];
  if (!holder) return [{ field: 'provisioning.address', message: `${address} is on no interface of this host; DHCP replies cannot be sent until it is` }];
  if (!nics[name])
    return [
      { field: 'provisioning.interface', message: `${name} does not exist on this host (${address} is on ${holder}); the systemd confinement will not match` },
    ];
  if (holder !== name) return [{ field: 'provisioning.interface', message: `${address} is held by ${holder}, not by ${name}` }];
  return [];
}

/** What one DHCP-named NTP or DNS server said to the pre-flight's question. */
export type ServerCheck =
  | { readonly field: string; readonly address: string; readonly service: 'ntp'; readonly outcome: NtpOutcome }
  | { readonly field: string; readonly address: string; readonly service: 'dns'; readonly outcome: DnsOutcome };

/**
 * Asks every server DHCP hands out (dhcp.ntp, option 42; dhcp.dns, option 6) once, all at once:
 * at most 16 questions (the schema's 8 each), each bounded by the probe's timeout.
 */
export function checkDhcpServers(config: AgentConfig, probe: ServerProbe): Promise<ServerCheck[]> {
  return Promise.all([
    ...config.dhcp.ntp.map(async (address, i): Promise<ServerCheck> => ({
      field: `dhcp.ntp[${i}]`,
      address,
      service: 'ntp',
      outcome: await probe.ntp(address),
    })),
    ...config.dhcp.dns.map(async (address, i): Promise<ServerCheck> => ({
      field: `dhcp.dns[${i}]`,
      address,
      service: 'dns',
      outcome: await probe.dns(address),
    })),
  ]);
}

const NTP_FIX =
  'Fix: run an NTP server there (the appliance runs chrony with image/rootfs/etc/chrony/conf.d/maskin-agent.conf), set the field to a server that answers, or remove it';
const DNS_FIX = 'Fix: run a DNS resolver there (unbound, dnsmasq), set the field to one that answers, or remove it';

function noAnswer(outcome: NoAnswer, what: string): string {
  if (outcome.kind === 'silent') return `did not answer ${what} within ${outcome.timeoutMs / 1000} s`;
  if (outcome.kind === 'refused') return `refused ${what}: nothing listens there (ICMP port unreachable)`;
  return `could not be sent ${what} from this host (${outcome.reason})`;
}

/** Talos checks an NTP answer as RFC 5905 §7.3 has it: a server that says it is unsynchronised (LI 3, stratum 0 or 16+) is not used. */
function unsynchronised(outcome: Extract<NtpOutcome, { kind: 'answered' }>): boolean {
  return outcome.leap === LEAP_UNSYNCHRONISED || outcome.stratum === 0 || outcome.stratum >= 16;
}

/**
 * Warnings about servers DHCP hands out that would not serve a booting node. `holdsAddress`
 * tells whether this host holds provisioning.address: check-config may run elsewhere, where a
 * query to the agent's own address goes wherever that host routes it.
 */
export function dhcpServerFindings(config: AgentConfig, checks: readonly ServerCheck[], holdsAddress: boolean): Finding[] {
  const own = (address: string): string => {
    if (address !== config.provisioning.address) return '';
    return holdsAddress
      ? ' (this is the agent host itself, provisioning.address)'
      : " (this is the agent's provisioning.address, which no interface of this host holds: the query went wherever this host routes it; run check-config on the agent host to check the server there)";
  };
  return checks.flatMap((check): Finding[] => {
    const at = `${check.address}${own(check.address)}`;
    if (check.service === 'ntp') {
      const o = check.outcome;
      if (o.kind !== 'answered')
        return [
          {
            field: check.field,
            message: `NTP server ${at} ${noAnswer(o, 'an SNTP request on UDP 123')}; Talos waits for time sync and its nodes do not finish booting. ${NTP_FIX}`,
          },
        ];
      if (unsynchronised(o))
        return [
          {
            field: check.field,
            message: `NTP server ${at} answers but is not synchronised (leap indicator ${o.leap}, stratum ${o.stratum}), so Talos does not take its time. Fix: give it an upstream it reaches, or let it serve its own clock (chrony: local stratum 10, as image/rootfs/etc/chrony/conf.d/maskin-agent.conf does)`,
          },
        ];
      return [];
    }
    const o = check.outcome;
    if (o.kind !== 'answered')
      return [
        {
          field: check.field,
          message: `DNS server ${at} ${noAnswer(o, 'a query on UDP 53')}; nodes cannot resolve names (image registries, discovery). ${DNS_FIX}`,
        },
      ];
    // NXDOMAIN for the root cannot happen on a sane resolver, but it is an answer all the same.
    if (o.rcode === 0 || o.rcode === 3) return [];
    const name = RCODE_NAMES[o.rcode] ?? `rcode ${o.rcode}`;
    const why = o.rcode === 5 ? 'refuses queries from this host' : 'cannot resolve `. NS`';
    return [{ field: check.field, message: `DNS server ${at} answers but ${why} (${name}); nodes may not resolve names there. ${DNS_FIX}` }];
  });
}

/** One line per server that answered well, for check-config's summary. */
export function answeringServers(checks: readonly ServerCheck[]): string[] {
  return checks.flatMap((check): string[] => {
    if (check.service === 'ntp') {
      const o = check.outcome;
      if (o.kind !== 'answered' || unsynchronised(o)) return [];
      return [`${check.field} ${check.address}: NTP answers, stratum ${o.stratum}, offset ${o.offsetSeconds >= 0 ? '+' : ''}${o.offsetSeconds.toFixed(4)} s`];
    }
    const o = check.outcome;
    if (o.kind !== 'answered' || (o.rcode !== 0 && o.rcode !== 3)) return [];
    return [`${check.field} ${check.address}: DNS answers (${RCODE_NAMES[o.rcode]})`];
  });
}

/** Whether an interface of this host holds the agent's provisioning address. */
export function holdsProvisioningAddress(config: AgentConfig, nics: ReturnType<typeof networkInterfaces> = networkInterfaces()): boolean {
  return Object.values(nics).some((addrs) => addrs?.some((a) => a.address === config.provisioning.address));
}
