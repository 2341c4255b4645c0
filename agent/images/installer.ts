// The Talos installer image, pinned by digest in the manifest, pulled through the /v2/ mirror
// ahead of need: its manifest (the platform's manifest when the pin is an index), config and
// layers all land verified in the content store, so an install works with the upstream down.
import { UpstreamError } from '../errors.js';
import type { Arch, NodeDirectory } from '../manifest/model.js';
import type { ImageName, RegistryMirror } from './oci.js';

export interface InstallerPin {
  readonly profile: string;
  readonly image: ImageName;
  /** Manifest or index digest. */
  readonly digest: string;
  readonly arch: Arch;
}

/** `host/repo/path[:tag][@digest]` → registry host and repository. */
export function parseImageReference(ref: string): ImageName | undefined {
  const withoutDigest = ref.split('@')[0] ?? '';
  const slash = withoutDigest.indexOf('/');
  if (slash <= 0) return undefined;
  const registry = withoutDigest.slice(0, slash);
  let repository = withoutDigest.slice(slash + 1);
  const colon = repository.lastIndexOf(':');
  if (colon > repository.lastIndexOf('/')) repository = repository.slice(0, colon);
  return registry.includes('.') || registry.includes(':') ? { registry, repository } : undefined;
}

/** Installer pins with an image reference, per profile they name (or every profile). */
export function installerPins(directory: Pick<NodeDirectory, 'images' | 'profiles'>): InstallerPin[] {
  const out: InstallerPin[] = [];
  for (const pin of directory.images) {
    if (pin.kind !== 'installer' || pin.source === undefined) continue;
    const image = parseImageReference(pin.source);
    if (!image) continue;
    const profiles = pin.profile !== undefined ? [directory.profiles.get(pin.profile)].filter((p) => p !== undefined) : [...directory.profiles.values()];
    for (const profile of profiles) out.push({ profile: profile.name, image, digest: pin.digest, arch: profile.arch });
  }
  return out;
}

/** The `install.image` a profile's machine config names: its pinned installer, by digest. */
export function pinnedInstallerImage(pins: readonly InstallerPin[], profile: string): string | undefined {
  const pin = pins.find((p) => p.profile === profile);
  return pin ? `${pin.image.registry}/${pin.image.repository}@${pin.digest}` : undefined;
}

interface ImageManifest {
  readonly manifests?: readonly { digest: string; platform?: { os?: string; architecture?: string } }[];
  readonly config?: { digest: string };
  readonly layers?: readonly { digest: string }[];
}

/** Pulls the pinned installer through the mirror; returns every digest it stored (for pinning). */
export async function prefetchInstaller(mirror: RegistryMirror, pin: InstallerPin): Promise<string[]> {
  const where = `${pin.image.registry}/${pin.image.repository}@${pin.digest}`;
  const manifestOf = async (digest: string): Promise<ImageManifest> => {
    const hit = await mirror.manifest(pin.image, digest);
    if ('notFound' in hit) throw new UpstreamError(where, `${hit.notFound}: ${hit.message}`, { status: 404 });
    return JSON.parse(Buffer.from(hit.bytes).toString('utf8')) as ImageManifest;
  };
  const digests = [pin.digest];
  let manifest = await manifestOf(pin.digest);
  if (manifest.manifests) {
    const entry = manifest.manifests.find((m) => m.platform?.architecture === pin.arch && (m.platform.os ?? 'linux') === 'linux');
    if (!entry) throw new UpstreamError(where, `the index has no linux/${pin.arch} manifest`);
    digests.push(entry.digest);
    manifest = await manifestOf(entry.digest);
  }
  for (const digest of [manifest.config?.digest, ...(manifest.layers ?? []).map((l) => l.digest)]) {
    if (digest === undefined) continue;
    const blob = await mirror.blob(pin.image, digest);
    if ('notFound' in blob) throw new UpstreamError(where, `blob ${digest}: ${blob.message}`, { status: 404 });
    digests.push(digest);
  }
  return digests;
}
