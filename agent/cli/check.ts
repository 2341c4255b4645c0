// `maskin-agent check-config`: the agent config and the manifest it names, loaded as `run` would,
// then what this host and the network must provide (warnings: files may arrive and servers start
// before the first boot).
import { loadManifest } from '../main.js';
import { MaskinError } from '../errors.js';
import { udpServerProbe } from '../net/serverProbe.js';
import { answeringServers, checkDhcpServers, dhcpServerFindings, holdsProvisioningAddress, missingAssets, missingBootFiles } from '../preflight.js';
import { CliError, loadConfigOrFail } from './client.js';
import { NO_PAINT, type Paint } from './term.js';

export interface CheckResult {
  readonly config: string;
  readonly provisioning: { readonly interface: string; readonly address: string; readonly subnet: string };
  readonly dhcpPool: { readonly start: string; readonly end: string };
  readonly httpBaseUrl: string;
  readonly tftpPort: number;
  /** Absent: no manifestFile; the agent waits for a signed manifest. */
  readonly manifest?: { readonly file: string; readonly nodes: number; readonly profilesInUse: number };
  /** Servers that answered the probe, one line each. */
  readonly answering: readonly string[];
  readonly warnings: readonly { readonly field: string; readonly message: string }[];
}

export async function checkConfig(file: string, opts: { probe: boolean }): Promise<CheckResult> {
  const config = loadConfigOrFail(file);
  let directory;
  try {
    directory = loadManifest(config);
  } catch (err) {
    if (err instanceof MaskinError) throw new CliError(err.message);
    throw err;
  }
  const nodes = directory.all();
  const warnings = [...missingBootFiles(config, directory), ...missingAssets(config, directory)];
  let answering: string[] = [];
  if (opts.probe) {
    const checks = await checkDhcpServers(config, udpServerProbe());
    answering = answeringServers(checks);
    warnings.push(...dhcpServerFindings(config, checks, holdsProvisioningAddress(config)));
  }
  return {
    config: file,
    provisioning: { interface: config.provisioning.interface, address: config.provisioning.address, subnet: config.provisioning.subnet },
    dhcpPool: { start: config.dhcp.poolStart, end: config.dhcp.poolEnd },
    httpBaseUrl: config.httpBaseUrl,
    tftpPort: config.ports.tftp,
    ...(config.manifestFile !== undefined
      ? { manifest: { file: config.manifestFile, nodes: nodes.length, profilesInUse: new Set(nodes.map((n) => n.profile)).size } }
      : {}),
    answering,
    warnings: warnings.map((w) => ({ field: w.field, message: w.message })),
  };
}

export function formatCheck(r: CheckResult, p: Paint = NO_PAINT): string {
  const lines = [
    `${p.green('config ok')}: ${r.config}`,
    `  provisioning ${r.provisioning.address} (${r.provisioning.subnet}) on ${r.provisioning.interface}`,
    `  dhcp pool ${r.dhcpPool.start}-${r.dhcpPool.end}, http ${r.httpBaseUrl}, tftp port ${r.tftpPort}`,
    r.manifest
      ? `${p.green('manifest ok')}: ${r.manifest.file}: ${r.manifest.nodes} node(s), ${r.manifest.profilesInUse} profile(s) in use, every node's machine config validated`
      : 'manifest: none configured (manifestFile); the agent serves DHCP and discovery until a signed manifest arrives',
    ...r.answering.map((l) => `  ${l}`),
    ...r.warnings.map((w) => `${p.yellow('warning')}: ${w.field}: ${w.message}`),
  ];
  return lines.join('\n') + '\n';
}
