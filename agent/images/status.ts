// The image cache as GET /v1/status shows it (and `maskin-agent cache status` prints it): its size
// and bound, and per pinned image its state.
import type { ContentStore } from './model.js';
import type { AssetStatus, Prefetcher } from './prefetch.js';

export interface CacheStatus {
  readonly totalBytes: number;
  readonly limitBytes: number;
  readonly blobs: number;
  readonly assets: readonly AssetStatus[];
  /** Per profile: every pinned image cached. */
  readonly readiness: Readonly<Record<string, boolean>>;
}

export function cacheStatus(
  store: Pick<ContentStore, 'totalBytes' | 'list'>,
  prefetcher: Pick<Prefetcher, 'status' | 'readiness'>,
  limitBytes: number,
): CacheStatus {
  return { totalBytes: store.totalBytes(), limitBytes, blobs: store.list().length, assets: prefetcher.status(), readiness: prefetcher.readiness() };
}
