// What a machine asking for its iPXE script gets, and how that moves its state. Pure.
import type { NodeSpec } from '../manifest/model.js';
import type { NodeRecord, NodeState } from './model.js';

export type BootDecision =
  | { readonly kind: 'install'; readonly next: NodeState; readonly why: string }
  | { readonly kind: 'boot-local'; readonly next: NodeState; readonly why: string }
  | { readonly kind: 'discovery'; readonly next: NodeState; readonly why: string };

/**
 * - Unknown machine, or desired `discovery`: discovery script, never an install.
 * - A generation newer than the record's: reprovision (install again).
 * - Installed: boot local. Talos kexecs after install and later boots follow firmware order,
 *   so a node that PXE-boots again must be sent to its disk, not into the installer again.
 * - Installing and its config was already fetched this generation: it netbooted again after
 *   installing, so it is installed (the installer's own report may have been lost).
 * - Otherwise: install.
 */
export function decideBoot(spec: NodeSpec | undefined, record: NodeRecord | undefined): BootDecision {
  const state = record?.state ?? 'discovered';
  if (!spec) return { kind: 'discovery', next: 'discovered', why: 'not in the manifest' };
  if (spec.desired === 'discovery') return { kind: 'discovery', next: state === 'installed' ? 'installed' : 'discovered', why: 'desired state is discovery' };
  const recordGeneration = record?.generation ?? 0;
  if (spec.generation > recordGeneration) return { kind: 'install', next: 'installing', why: `generation ${spec.generation} is newer than ${recordGeneration}` };
  if (state === 'installed') return { kind: 'boot-local', next: 'installed', why: 'installed' };
  if (state === 'installing' && record?.configFetchedAt !== undefined)
    return { kind: 'boot-local', next: 'installed', why: 'netbooted again after fetching its config' };
  return { kind: 'install', next: 'installing', why: 'not installed yet' };
}
