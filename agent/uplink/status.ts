// The uplink as GET /v1/status shows it (and `maskin-agent status` prints it): the manifest in
// force, the last pull, the outbox, report delivery.
import type { ManifestStatus } from '../manifest/applier.js';
import type { Outbox } from './outbox.js';
import type { PullStatus } from './puller.js';
import type { ReporterStatus } from './reporter.js';

export interface OutboxStatus {
  readonly depth: number;
  readonly evicted: number;
  /** The oldest queued report's seq (decimal: JSON has no uint64) and time (ms since the epoch). */
  readonly oldestSeq?: string;
  readonly oldestAt?: number;
}

export interface UplinkStatus {
  readonly manifest: ManifestStatus;
  /** Absent without uplink.manifestUrl. */
  readonly pull?: PullStatus;
  readonly outbox: OutboxStatus;
  /** Absent without uplink.reportUrl and rackId. */
  readonly reporter?: ReporterStatus;
}

export interface UplinkParts {
  readonly manifest: { status(): ManifestStatus };
  readonly outbox: Pick<Outbox, 'depth' | 'evicted' | 'oldest'>;
  readonly puller?: { status(): PullStatus } | undefined;
  readonly reporter?: { status(): ReporterStatus } | undefined;
}

export function uplinkStatus(parts: UplinkParts): UplinkStatus {
  const { manifest, outbox, puller, reporter } = parts;
  const oldest = outbox.oldest();
  return {
    manifest: manifest.status(),
    ...(puller ? { pull: puller.status() } : {}),
    outbox: { depth: outbox.depth(), evicted: outbox.evicted(), ...(oldest ? { oldestSeq: String(oldest.seq), oldestAt: oldest.atUnixMs } : {}) },
    ...(reporter ? { reporter: reporter.status() } : {}),
  };
}
