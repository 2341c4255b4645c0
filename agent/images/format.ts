// `maskin-agent cache status` as text (pure), from the cache view of GET /v1/status.
import type { CacheStatus } from './status.js';

const mb = (bytes: number): string => `${(bytes / 1e6).toFixed(bytes < 1e7 ? 1 : 0)} MB`;

/** Per pinned image its state, with a progress bar on a terminal. */
export function formatCache(c: CacheStatus, opts: { bars: boolean }): string {
  const lines = [`cache: ${c.blobs} blob(s), ${mb(c.totalBytes)} of ${mb(c.limitBytes)}`];
  for (const [profile, ready] of Object.entries(c.readiness)) lines.push(`profile ${profile}: ${ready ? 'ready' : 'not ready'}`);
  if (c.assets.length === 0) lines.push('no images pinned by the manifest');
  for (const a of c.assets) {
    let state: string = a.state;
    if (a.state === 'downloading' && a.total) {
      const share = Math.min(1, (a.received ?? 0) / a.total);
      const bar = opts.bars ? ` [${'#'.repeat(Math.round(share * 30)).padEnd(30, '.')}]` : '';
      state = `downloading${bar} ${Math.floor(share * 100)}% of ${mb(a.total)}`;
    } else if (a.state === 'downloading') {
      state = `downloading ${mb(a.received ?? 0)}`;
    } else if (a.state === 'failed') {
      state = `failed: ${a.error ?? ''}`;
    }
    lines.push(`  ${a.profile}  ${a.assetPath.split('/').pop()}  ${a.digest.slice(0, 19)}…  ${state}`);
  }
  return lines.join('\n') + '\n';
}
