// What a machine asking for its iPXE script gets, and how that moves its state. Pure.
import { wipePolicyOf, type DesiredState, type NodeSpec, type Profile } from '../manifest/model.js';
import type { NodeRecord, NodeState } from './model.js';

export type BootDecision =
  | { readonly kind: 'install'; readonly next: NodeState; readonly why: string }
  | { readonly kind: 'rescue'; readonly next: NodeState; readonly why: string }
  | { readonly kind: 'wipe'; readonly next: NodeState; readonly why: string }
  | { readonly kind: 'boot-local'; readonly next: NodeState; readonly why: string }
  | { readonly kind: 'discovery'; readonly next: NodeState; readonly why: string };

/** States a node keeps when its desired state becomes discovery: what is on its disk, or why it is held. */
const KEPT_IN_DISCOVERY: ReadonlySet<NodeState> = new Set(['installed', 'handed-over', 'held']);

/** What the node is to be: an operator's rescue request wins over the manifest's installed or discovery. */
export function effectiveDesired(spec: Pick<NodeSpec, 'desired'>, record: Pick<NodeRecord, 'rescueRequestedAt'> | undefined): DesiredState {
  return record?.rescueRequestedAt !== undefined && spec.desired !== 'decommissioned' ? 'rescue' : spec.desired;
}

/** States a node leaves by being what its disk holds again. */
const DISKLESS: ReadonlySet<NodeState> = new Set(['rescue', 'decommissioning', 'decommissioned']);

/** A node out of rescue or decommission is what its disk holds: this generation's install, or nothing (a wipe clears installedGeneration). */
function afterDiskless(record: NodeRecord | undefined): NodeState {
  return record !== undefined && record.installedGeneration === record.generation ? 'installed' : 'discovered';
}

/**
 * - Unknown machine: discovery script, never an install.
 * - Held (its BMC inventory does not match the manifest, or an operator held it): never an
 *   install and no rescue, whatever the generation; the wait script keeps it off the disk.
 * - Desired `decommissioned`: the wipe script until the node reported its disk wiped, then the
 *   wait script (decommissioned): never an install, a config or a boot-local answer.
 * - Rescue (desired `rescue`, or an operator's rescue request): the rescue script, whatever the
 *   state (failed too: it writes nothing), never an install or a boot-local answer.
 * - Desired `discovery`: discovery script, never an install.
 * - A generation newer than the record's: reprovision (install again).
 * - Installed or handed over, or failed after installing this generation: boot local. Talos kexecs after install and later boots follow firmware order,
 *   so a node that PXE-boots again must be sent to its disk, not into the installer again.
 * - Installing and its config was already fetched this generation: it netbooted again after
 *   installing, so it is installed (the installer's own report may have been lost).
 * - Otherwise: install.
 */
export function decideBoot(spec: NodeSpec | undefined, record: NodeRecord | undefined): BootDecision {
  if (!spec) return { kind: 'discovery', next: 'discovered', why: 'not in the manifest' };
  if (record?.state === 'held') return { kind: 'discovery', next: 'held', why: `held: ${record.lifecycle?.failure?.reason ?? 'identity not confirmed'}` };
  if (spec.desired === 'decommissioned') {
    if (record?.wipedAt !== undefined)
      return { kind: 'discovery', next: record.state === 'decommissioned' ? 'decommissioned' : 'decommissioning', why: 'decommissioned: its disk was wiped' };
    return { kind: 'wipe', next: 'decommissioning', why: 'decommissioning: wipe its system disk' };
  }
  if (effectiveDesired(spec, record) === 'rescue')
    return { kind: 'rescue', next: 'rescue', why: record?.rescueRequestedAt !== undefined ? 'an operator asked for rescue' : 'desired state is rescue' };
  // Out of rescue or decommission, a node is again what its disk holds.
  const leaving = record !== undefined && DISKLESS.has(record.state);
  const state = leaving ? afterDiskless(record) : (record?.state ?? 'discovered');
  if (spec.desired === 'discovery') return { kind: 'discovery', next: KEPT_IN_DISCOVERY.has(state) ? state : 'discovered', why: 'desired state is discovery' };
  const recordGeneration = record?.generation ?? 0;
  if (spec.generation > recordGeneration)
    return { kind: 'install', next: 'installing', why: `generation ${spec.generation} is newer than ${recordGeneration}` };
  if (leaving && state === 'installed') return { kind: 'boot-local', next: 'installed', why: `out of ${record.state}: installed at this generation` };
  if (state === 'installed' || state === 'handed-over') return { kind: 'boot-local', next: state, why: state };
  // Failed after the install finished (hand-over never answered, or powered off by an operator):
  // what is on the disk is this generation's install, so the disk it is.
  if (state === 'failed' && record?.installedGeneration === recordGeneration)
    return { kind: 'boot-local', next: 'failed', why: 'installed at this generation (failed later, at hand-over)' };
  if (state === 'installing' && record?.configFetchedAt !== undefined)
    return { kind: 'boot-local', next: 'installed', why: 'netbooted again after fetching its config' };
  return { kind: 'install', next: 'installing', why: 'not installed yet' };
}

/**
 * Whether this install wipes the system disk, from the node's wipe policy: `on-reprovision` wipes
 * only a node that was installed before (at an earlier generation, or reinstalled on request), so
 * a first install never destroys what an operator may have left on the disk.
 */
export function installWipes(spec: NodeSpec, profile: Profile, record: NodeRecord | undefined): boolean {
  const policy = wipePolicyOf(spec, profile);
  return policy === 'always' || (policy === 'on-reprovision' && record?.installedGeneration !== undefined);
}
