// Desired state, as loaded from the local YAML manifest (and later the signed protobuf contract,
// which carries the same model). Everything here is plain, frozen data.

export type Arch = 'amd64' | 'arm64';
/**
 * `installed`: install Talos, then boot the disk. `discovery`: never install. `rescue`: boot Talos
 * from the network without a machine config, so it waits in maintenance mode and never touches
 * the disks; back to `installed` boots the disk again (or installs a node never installed).
 * `decommissioned`: boot Talos from the network once more to wipe the system disk
 * (`talos.experimental.wipe=system`), then power off and stay retired.
 */
export type DesiredState = 'installed' | 'discovery' | 'rescue' | 'decommissioned';
/**
 * How an installed node that PXE-boots again is sent to its disk: `exit 1`, BIOS `sanboot`, or an
 * HTTP 404 (some UEFI firmware stops at its boot menu on a plain `exit`).
 */
export type BootLocalMethod = 'exit' | 'sanboot' | 'http-404';

export interface InstallSpec {
  /** e.g. /dev/sda; exactly one of disk / diskSelector. */
  readonly disk?: string;
  readonly diskSelector?: Readonly<Record<string, unknown>>;
  /** Installer image; default factory.talos.dev/metal-installer/<schematic>:<version>. */
  readonly image?: string;
  readonly wipe: boolean;
}

export interface Profile {
  readonly name: string;
  /** e.g. v1.13.9 */
  readonly talosVersion: string;
  /** Image Factory schematic id (64 hex). */
  readonly schematic: string;
  readonly arch: Arch;
  /** Extra kernel args appended after the ones Talos requires. */
  readonly kernelArgs: readonly string[];
  /** Extra kernel args of the rescue boot only, after kernelArgs. */
  readonly rescueKernelArgs?: readonly string[];
  readonly install: InstallSpec;
  /** Base Talos machine config: one or more YAML documents, as parsed objects. */
  readonly machineConfig: readonly Readonly<Record<string, unknown>>[];
}

export interface NodeSpec {
  readonly id: string;
  /** Lower-case, colon separated. */
  readonly macs: readonly string[];
  readonly serial?: string;
  /** SMBIOS UUID, a hint only: may be zeros, ff or duplicated. */
  readonly uuidHint?: string;
  readonly hostname?: string;
  readonly profile: string;
  /** Fixed address reservation; without it the node gets a sticky pool address. */
  readonly ipv4?: string;
  /** RFC 7386 merge patches applied in order to the profile's v1alpha1 document. */
  readonly patches: readonly Readonly<Record<string, unknown>>[];
  readonly desired: DesiredState;
  readonly generation: number;
  readonly bootLocal: BootLocalMethod;
  /** Per-node UEFI iPXE binary override (e.g. ipxe.efi when snponly.efi does not fit the NIC). */
  readonly uefiBootFile?: string;
  readonly bmc?: BmcRef;
  /** Absent: the profile's install.wipe decides ('always' when true, 'never' when false). */
  readonly wipe?: WipePolicy;
}

/** Whether the installer wipes the system disk: never, only when reinstalling a node that was installed, or on every install. */
export type WipePolicy = 'never' | 'on-reprovision' | 'always';

/** Vendor quirk profiles of the Redfish driver; `auto` picks one from the service root. */
export type BmcVendor = 'auto' | 'dell' | 'hpe' | 'supermicro' | 'lenovo' | 'ami' | 'openbmc' | 'generic';

/** Where a node's BMC is; credentials are a name resolved locally, never carried in a manifest. */
export interface BmcRef {
  readonly driver: 'redfish' | 'ipmi';
  readonly address: string;
  readonly credentialsRef?: string;
  /** Firmware mode of the one-shot network boot. */
  readonly bootMode: 'uefi' | 'legacy';
  readonly vendor: BmcVendor;
}

/** An image to pre-cache, pinned by digest. */
export interface ImagePin {
  readonly kind: 'kernel' | 'initramfs' | 'installer';
  readonly profile?: string;
  readonly source?: string;
  /** sha256:<hex> */
  readonly digest: string;
  readonly size?: number;
}

/** Agent settings central may override; absent = keep the agent's own. */
export interface SettingsOverride {
  readonly pullIntervalSeconds?: number;
  readonly bootTokenTtlSeconds?: number;
  readonly outboxMaxEvents?: number;
}

export interface Manifest {
  /** Absent only in a local file that does not name its rack. */
  readonly rackId?: string;
  readonly version: number;
  readonly issuedAt?: Date;
  readonly profiles: ReadonlyMap<string, Profile>;
  readonly nodes: readonly NodeSpec[];
  readonly images: readonly ImagePin[];
  readonly settings: SettingsOverride;
}

/** Lookup of desired state by hardware identity. */
export interface NodeDirectory {
  byMac(mac: string): NodeSpec | undefined;
  byId(id: string): NodeSpec | undefined;
  profileOf(node: NodeSpec): Profile;
  all(): readonly NodeSpec[];
  /** Agent settings the manifest overrides (central's say over pull interval, token TTL, outbox bound). */
  readonly settings: SettingsOverride;
  /** Images pinned by digest, to pre-cache and serve verified. */
  readonly images: readonly ImagePin[];
  readonly profiles: ReadonlyMap<string, Profile>;
}

/** The node's wipe policy, falling back to its profile's install.wipe. */
export function wipePolicyOf(node: NodeSpec, profile: Profile): WipePolicy {
  return node.wipe ?? (profile.install.wipe ? 'always' : 'never');
}

export function normalizeMac(mac: string): string {
  return mac.trim().toLowerCase().replace(/-/g, ':');
}

export function directoryOf(manifest: Manifest): NodeDirectory {
  const byMac = new Map<string, NodeSpec>();
  const byId = new Map<string, NodeSpec>();
  for (const node of manifest.nodes) {
    byId.set(node.id, node);
    for (const mac of node.macs) byMac.set(normalizeMac(mac), node);
  }
  return {
    byMac: (mac) => byMac.get(normalizeMac(mac)),
    byId: (id) => byId.get(id),
    profileOf: (node) => {
      const profile = manifest.profiles.get(node.profile);
      // The loader checks every node's profile exists, so this is a programming error.
      if (!profile) throw new Error(`node ${node.id} names unknown profile ${node.profile}`);
      return profile;
    },
    all: () => manifest.nodes,
    settings: manifest.settings,
    images: manifest.images,
    profiles: manifest.profiles,
  };
}

/** No desired state at all: every machine is unknown, so DHCP and discovery only. */
export const EMPTY_MANIFEST: Manifest = Object.freeze({ version: 0, profiles: new Map(), nodes: [], images: [], settings: {} });
