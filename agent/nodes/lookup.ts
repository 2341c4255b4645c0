// Which node an operator means (pure): the admin API and the CLI take a node id, one of its MACs or
// its manifest hostname, and list the manifest's nodes that have never booted beside the records.
import { normalizeMac, type NodeDirectory, type NodeSpec } from '../manifest/model.js';
import type { NodeSummary } from './format.js';
import type { NodeRecord } from './model.js';

/** The state shown for a manifest node with no record: it has not sent a DHCP packet since the agent started keeping them. */
export const NEVER_SEEN = 'never-seen';

/** A manifest node with no record, in the shape of a record (no facts, an empty timeline). */
export type NeverSeenRecord = Omit<NodeRecord, 'state'> & { readonly state: typeof NEVER_SEEN };

export interface RecordSource {
  get(id: string): NodeRecord | undefined;
  /** The record a MAC belongs to, if it has one. */
  find(mac: string): NodeRecord | undefined;
}

const MAC = /^[0-9a-f]{2}([:-])[0-9a-f]{2}(\1[0-9a-f]{2}){4}$/i;

export function neverSeen(spec: NodeSpec): NeverSeenRecord {
  return { id: spec.id, known: true, macs: [...spec.macs], state: NEVER_SEEN, generation: spec.generation, facts: {}, timeline: [] };
}

export function neverSeenSummary(spec: NodeSpec): NodeSummary {
  return { id: spec.id, known: true, state: NEVER_SEEN, generation: spec.generation, macs: [...spec.macs] };
}

/**
 * The node `key` names: a record or manifest node id first, then a MAC (colons or dashes, any
 * case), then a manifest hostname. A manifest node without a record comes back as never-seen.
 */
export function findNode(key: string, records: RecordSource, directory: NodeDirectory): NodeRecord | NeverSeenRecord | undefined {
  const byId = records.get(key) ?? directory.byId(key);
  if (byId) return 'timeline' in byId ? byId : (records.get(byId.id) ?? neverSeen(byId));
  if (MAC.test(key)) {
    const mac = normalizeMac(key);
    const record = records.find(mac);
    if (record) return record;
    const spec = directory.byMac(mac);
    return spec ? neverSeen(spec) : undefined;
  }
  const host = key.toLowerCase();
  const spec = directory.all().find((n) => n.hostname?.toLowerCase() === host);
  return spec ? (records.get(spec.id) ?? neverSeen(spec)) : undefined;
}

/** Every record, then every manifest node without one, sorted by id. */
export function withNeverSeen(summaries: readonly NodeSummary[], directory: NodeDirectory): NodeSummary[] {
  const seen = new Set(summaries.map((s) => s.id));
  return [
    ...summaries,
    ...directory
      .all()
      .filter((n) => !seen.has(n.id))
      .map(neverSeenSummary),
  ].sort((a, b) => a.id.localeCompare(b.id));
}
