// Whether a profile's pinned boot images are cached and verified yet; if not, what an operator at
// the console is told while the node waits. Pure: reads the pins, the store's index and the
// running downloads' progress, changes nothing.
import type { Profile } from '../manifest/model.js';
import type { ContentStore, DownloadProgress } from './model.js';
import type { AssetPin } from './pins.js';
import type { ImageFailure } from './prefetch.js';

/** What readiness reads of the verified image cache. */
export interface ImageCacheView {
  /** Pinned kernel/initramfs by asset path (`<schematic>/<version>/<file>`). */
  pins(): ReadonlyMap<string, AssetPin>;
  readonly store: Pick<ContentStore, 'get'>;
  /** Progress of a running download of this digest, if one runs. */
  progress(digest: string): DownloadProgress | undefined;
  /** The last failure of this digest's download (agent/images/prefetch.ts); absent: failures are not known. */
  failure?(digest: string): ImageFailure | undefined;
}

/**
 * "kernel-amd64, 63% of 14 MB" for the first pinned asset of this profile not cached yet, else
 * undefined. Without a cache (`images` undefined) nothing is pinned, so nothing is waited for.
 */
export function imagesNotReady(images: ImageCacheView | undefined, profile: Pick<Profile, 'schematic' | 'talosVersion'>): string | undefined {
  if (!images) return undefined;
  const prefix = `${profile.schematic}/${profile.talosVersion}/`;
  for (const [assetPath, pin] of images.pins()) {
    if (!assetPath.startsWith(prefix) || images.store.get(pin.digest)) continue;
    const file = assetPath.slice(prefix.length);
    const p = images.progress(pin.digest);
    const total = p?.total ?? pin.size;
    if (!p) return `${file}, not downloaded yet`;
    if (!total) return `${file}, ${Math.floor(p.received / 1e6)} MB so far`;
    return `${file}, ${Math.floor((100 * p.received) / total)}% of ${Math.ceil(total / 1e6)} MB`;
  }
  return undefined;
}

/**
 * "kernel-amd64: digest mismatch for …" for the first pinned asset of this profile whose download
 * failed for good (a digest mismatch, an upstream 4xx) and is not running again, else undefined:
 * the node's console then says it needs an operator instead of waiting without end.
 */
export function imagesFailed(images: ImageCacheView | undefined, profile: Pick<Profile, 'schematic' | 'talosVersion'>): string | undefined {
  if (!images?.failure) return undefined;
  const prefix = `${profile.schematic}/${profile.talosVersion}/`;
  for (const [assetPath, pin] of images.pins()) {
    if (!assetPath.startsWith(prefix) || images.store.get(pin.digest) || images.progress(pin.digest)) continue;
    const failure = images.failure(pin.digest);
    if (failure?.permanent) return `image ${assetPath.slice(prefix.length)}: ${failure.reason}`;
  }
  return undefined;
}
