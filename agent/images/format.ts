// `maskin-agent cache status` as text (pure), from the cache view of GET /v1/status.
import { bar, bytes, NO_PAINT, table, type Paint } from '../cli/term.js';
import type { AssetStatus } from './prefetch.js';
import type { CacheStatus } from './status.js';

const short = (digest: string): string => `${digest.slice(0, 19)}…`;

function stateCell(a: AssetStatus, opts: { bars: boolean; paint: Paint }): string {
  const p = opts.paint;
  switch (a.state) {
    case 'cached':
      return p.green('cached');
    case 'missing':
      return p.yellow('missing');
    case 'failed':
      // The row shows the pinned digest already; the error names it again in full.
      return p.red(`failed: ${(a.error ?? 'unknown error').replaceAll(a.digest, short(a.digest))}`);
    case 'downloading': {
      if (!a.total) return p.yellow(`downloading ${bytes(a.received ?? 0)}`);
      const share = Math.min(1, (a.received ?? 0) / a.total);
      return p.yellow(`downloading ${opts.bars ? `${bar(share)} ` : ''}${Math.floor(share * 100)}% of ${bytes(a.total)}`);
    }
  }
}

/** Per pinned image its state, with a progress bar on a terminal. */
export function formatCache(c: CacheStatus, opts: { bars: boolean; paint?: Paint }): string {
  const paint = opts.paint ?? NO_PAINT;
  const head = [`cache: ${c.blobs} blob(s), ${bytes(c.totalBytes)} of ${bytes(c.limitBytes)}`];
  for (const [profile, ready] of Object.entries(c.readiness)) head.push(`profile ${profile}: ${ready ? paint.green('ready') : paint.yellow('not ready')}`);
  if (c.assets.length === 0) return [...head, 'no images pinned by the manifest'].join('\n') + '\n';
  const rows = [
    ['PROFILE', 'KIND', 'FILE', 'DIGEST', 'STATE'],
    ...c.assets.map((a) => [a.profile, a.kind, a.assetPath.split('/').pop() ?? a.assetPath, short(a.digest), stateCell(a, { bars: opts.bars, paint })]),
  ];
  return head.join('\n') + '\n' + table(rows);
}

/** Whether a watch has anything left to wait for: an image downloading or not yet started. */
export function cacheSettled(c: CacheStatus): boolean {
  return c.assets.every((a) => a.state === 'cached' || a.state === 'failed');
}
