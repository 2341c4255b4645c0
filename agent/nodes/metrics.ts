// Nodes by state, read on scrape: every record's state, and the manifest's nodes without a record
// as never-seen. The label set is the closed set of states.
import type { Registry } from 'prom-client';
import type { NodeDirectory } from '../manifest/model.js';
import { observedGauge } from '../runtime/metrics.js';
import { NEVER_SEEN } from './lookup.js';
import type { NodeRecord, NodeState } from './model.js';

const STATES: readonly (NodeState | typeof NEVER_SEEN)[] = [
  NEVER_SEEN,
  'discovered',
  'verified',
  'provisioning',
  'installing',
  'installed',
  'handed-over',
  'failed',
  'held',
  'reprovisioning',
  'rescue',
  'decommissioning',
  'decommissioned',
];

/** Per state, how many nodes are in it (every state listed, zeros too, so a dashboard's series never vanish). Pure. */
export function countByState(records: readonly Pick<NodeRecord, 'id' | 'state'>[], directory: Pick<NodeDirectory, 'all'>): Map<string, number> {
  const counts = new Map<string, number>(STATES.map((s) => [s, 0]));
  const seen = new Set<string>();
  for (const r of records) {
    seen.add(r.id);
    counts.set(r.state, (counts.get(r.state) ?? 0) + 1);
  }
  for (const n of directory.all()) if (!seen.has(n.id)) counts.set(NEVER_SEEN, counts.get(NEVER_SEEN)! + 1);
  return counts;
}

export function nodeMetrics(registry: Registry, records: () => readonly NodeRecord[], directory: () => NodeDirectory): void {
  observedGauge(registry, { name: 'maskin_nodes', help: 'Nodes by state (manifest nodes without a record: never-seen)', labelNames: ['state'] }, () =>
    [...countByState(records(), directory())].map(([state, n]) => [{ state }, n]),
  );
}
