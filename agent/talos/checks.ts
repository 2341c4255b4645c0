// The Talos checks a manifest passes before it is accepted, whatever carried it (local file,
// signed pull or push, `manifest sign`, `check-config`): each profile's base documents, and each
// node's config exactly as it would be rendered (base, install, patches, hostname).
import { MachineConfigError } from '../errors.js';
import type { TalosChecks } from '../manifest/load.js';
import type { NodeSpec, Profile } from '../manifest/model.js';
import { validateMachineConfigDocs } from './configSchema.js';
import { machineConfigDocs } from './machineConfig.js';

/**
 * A node's config depends on its profile, its patches and whether it has a hostname; the hostname's
 * text is checked by the manifest schema, and the Talos schema types it as a plain string. So nodes
 * alike in those share one render per manifest (a 10,000-node rack has far fewer distinct ones).
 */
const outcomes = new WeakMap<Profile, Map<string, string | undefined>>();

function checkNode(node: NodeSpec, profile: Profile): void {
  let byShape = outcomes.get(profile);
  if (!byShape) outcomes.set(profile, (byShape = new Map()));
  const shape = `${node.hostname !== undefined}\n${JSON.stringify(node.patches)}`;
  if (byShape.has(shape)) {
    const detail = byShape.get(shape);
    if (detail !== undefined) throw new MachineConfigError(node.id, detail);
    return;
  }
  try {
    machineConfigDocs(node, profile);
    byShape.set(shape, undefined);
  } catch (err) {
    if (err instanceof MachineConfigError) byShape.set(shape, err.detail);
    throw err;
  }
}

export const talosChecks: TalosChecks = { base: validateMachineConfigDocs, node: checkNode };
