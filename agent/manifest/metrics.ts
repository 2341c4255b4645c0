// The manifest in force and what became of each offer, for /metrics.
import type { Registry } from 'prom-client';
import { counter, observedGauge } from '../runtime/metrics.js';
import type { ManifestEvent, ManifestStatus } from './applier.js';

const SOURCES = ['none', 'local-file', 'store', 'pull', 'push'] as const;

export function manifestMetrics(registry: Registry, applier: { status(): ManifestStatus; onEvent(listener: (e: ManifestEvent) => void): void }): void {
  observedGauge(registry, { name: 'maskin_manifest_version', help: 'Version of the manifest in force (0: none)' }, () => [[{}, applier.status().version ?? 0]]);
  observedGauge(registry, { name: 'maskin_manifest_applied_timestamp_seconds', help: 'When the manifest in force was applied or read, Unix time' }, () => {
    const at = applier.status().appliedAt;
    return at === undefined ? [] : [[{}, Date.parse(at) / 1000]];
  });
  observedGauge(registry, { name: 'maskin_manifest_nodes', help: 'Nodes in the manifest in force' }, () => [[{}, applier.status().nodes]]);
  observedGauge(registry, { name: 'maskin_manifest_source', help: 'Where the manifest in force came from: 1 for that source', labelNames: ['source'] }, () =>
    SOURCES.map((source) => [{ source }, applier.status().source === source ? 1 : 0]),
  );
  const offers = counter(registry, {
    name: 'maskin_manifest_offers_total',
    help: 'Signed manifests offered by pull or push, by outcome',
    labelNames: ['outcome', 'source'],
  });
  applier.onEvent((e) => offers.inc({ outcome: e.outcome, source: e.source === 'push' ? 'push' : 'pull' }));
}
