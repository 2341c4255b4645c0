// What the host and the files on it must provide for the config and manifest to work, checked
// before serving (logged by `run`, printed by `check-config`): a missing boot file or Talos asset
// strands every machine that needs it in PXE, so the operator hears of it before a node does.
import { existsSync, realpathSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import path from 'node:path';
import type { AgentConfig } from './config/model.js';
import { bootFilesNamed } from './dhcp/classify.js';
import { assetFile, assetPins } from './images/pins.js';
import type { NodeDirectory } from './manifest/model.js';
import { isInsideRoot } from './net/servedPath.js';

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
