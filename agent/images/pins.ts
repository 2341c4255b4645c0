// Which verified blob serves which asset path, and where it comes from upstream. No I/O.
// Asset paths keep the Image Factory layout (<schematic>/<version>/kernel-<arch>), so the iPXE
// scripts do not change whether a file comes from the cache or from assetsDir.
import type { ImagePin, NodeDirectory, Profile } from '../manifest/model.js';

export interface AssetPin {
  /** `<schematic>/<version>/<file>` under /assets/ */
  readonly assetPath: string;
  readonly digest: string;
  readonly size?: number;
  /** Upstream URL: the pin's source, else the Image Factory URL scheme under `factoryUrl`. */
  readonly url: string;
  readonly profile: string;
  readonly kind: 'kernel' | 'initramfs';
}

export function assetFile(kind: 'kernel' | 'initramfs', profile: Profile): string {
  return kind === 'kernel' ? `kernel-${profile.arch}` : `initramfs-${profile.arch}.xz`;
}

/** Image Factory: /image/<schematic>/<version>/kernel-<arch> and initramfs-<arch>.xz. */
export function factoryUrlFor(factoryUrl: string, profile: Profile, kind: 'kernel' | 'initramfs'): string {
  return `${factoryUrl.replace(/\/+$/, '')}/image/${profile.schematic}/${profile.talosVersion}/${assetFile(kind, profile)}`;
}

/** Kernel/initramfs pins by asset path. A pin without a profile applies to every profile. */
export function assetPins(directory: Pick<NodeDirectory, 'images' | 'profiles'>, factoryUrl: string): Map<string, AssetPin> {
  const out = new Map<string, AssetPin>();
  const forProfile = (pin: ImagePin, profile: Profile, kind: 'kernel' | 'initramfs'): void => {
    const assetPath = `${profile.schematic}/${profile.talosVersion}/${assetFile(kind, profile)}`;
    out.set(assetPath, {
      assetPath,
      digest: pin.digest,
      ...(pin.size !== undefined ? { size: pin.size } : {}),
      url: pin.source ?? factoryUrlFor(factoryUrl, profile, kind),
      profile: profile.name,
      kind,
    });
  };
  for (const pin of directory.images) {
    if (pin.kind !== 'kernel' && pin.kind !== 'initramfs') continue;
    const kind = pin.kind;
    if (pin.profile !== undefined) {
      const profile = directory.profiles.get(pin.profile);
      if (profile) forProfile(pin, profile, kind);
    } else {
      for (const profile of directory.profiles.values()) forProfile(pin, profile, kind);
    }
  }
  return out;
}

/** The pins of the directory `current` returns, recomputed only when it returns another (a new manifest), not per request. */
export function pinsFor(current: () => Pick<NodeDirectory, 'images' | 'profiles'>, factoryUrl: string): () => ReadonlyMap<string, AssetPin> {
  let last: { directory: object; pins: ReadonlyMap<string, AssetPin> } | undefined;
  return () => {
    const directory = current();
    if (last?.directory !== directory) last = { directory, pins: assetPins(directory, factoryUrl) };
    return last.pins;
  };
}

/** Every digest the directories reference: pinned against eviction. */
export function referencedDigests(...directories: Pick<NodeDirectory, 'images'>[]): Set<string> {
  return new Set(directories.flatMap((d) => d.images.map((pin) => pin.digest)));
}
