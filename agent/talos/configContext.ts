// What one node's machine config takes besides its node and profile (renderMachineConfig's
// MachineConfigContext): where the installer pulls its image from and whether it wipes the
// system disk. Pure.
import { installerPins, pinnedInstallerImage } from '../images/installer.js';
import type { NodeDirectory, NodeSpec, Profile } from '../manifest/model.js';
import { installWipes } from '../nodes/bootPlan.js';
import type { NodeRecord } from '../nodes/model.js';
import type { MachineConfigContext } from './machineConfig.js';

export interface ConfigSite {
  /** The manifest's images and profiles: its pinned installer images. */
  readonly directory: Pick<NodeDirectory, 'images' | 'profiles'>;
  /** This agent's /v2/ registry mirror (its base URL, the registry hosts it mirrors); undefined: it runs none. */
  readonly mirror: { readonly endpoint: string; readonly registries: readonly string[] } | undefined;
  /** The node's record, if it has one: whether it was installed before decides an `on-reprovision` wipe. */
  readonly record: NodeRecord | undefined;
  /** The agent's node log sink (`tcp://…`); undefined: off. */
  readonly logs?: string | undefined;
}

export function machineConfigContext(node: NodeSpec, profile: Profile, site: ConfigSite): MachineConfigContext {
  const { mirror } = site;
  // The installer pulls its image through this agent's /v2/ mirror (offline installs).
  const registryMirror = mirror && mirror.registries.length > 0 ? mirror : undefined;
  // install.image: the profile's own, else the manifest's pinned installer by digest.
  const installerImage = pinnedInstallerImage(installerPins(site.directory), profile.name);
  return {
    ...(registryMirror ? { registryMirror } : {}),
    ...(installerImage !== undefined ? { installerImage } : {}),
    wipe: installWipes(node, profile, site.record),
    ...(site.logs !== undefined ? { logDestination: site.logs } : {}),
  };
}
