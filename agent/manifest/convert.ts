// The local YAML manifest and the protobuf Manifest, one onto the other. Pure apart from reading a
// profile's machineConfigFile. Validation is NOT done here: `rawFromProto` produces the YAML shape
// and `buildManifest` (load.ts) stays the one validation path, so a field that cannot be converted
// is passed through in a form the schema rejects, and the error names the field.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { create } from '@bufbuild/protobuf';
import { stringify } from 'yaml';
import { InvalidFieldError, ManifestError } from '../errors.js';
import type { RawManifest } from './load.js';
import {
  Arch,
  BootLocal,
  DesiredState,
  ManifestSchema,
  type Manifest as PbManifest,
  type Node as PbNode,
  type Profile as PbProfile,
} from '../uplink/gen/maskin/v1/manifest_pb.js';

type RawProfile = RawManifest['profiles'][string];
type RawNode = RawManifest['nodes'][number];
type RawBmc = NonNullable<RawNode['bmc']>;

export interface ToProtoOptions {
  /** Overrides the manifest's own rackId. */
  readonly rackId?: string;
  /** Overrides the manifest's own version. */
  readonly version?: number;
  /** Where machineConfigFile paths are relative to (the manifest's directory). */
  readonly baseDir?: string;
  readonly now?: Date;
}

const ARCH: Readonly<Record<string, Arch>> = { amd64: Arch.AMD64, arm64: Arch.ARM64 };
const DESIRED: Readonly<Record<string, DesiredState>> = { installed: DesiredState.INSTALLED, discovery: DesiredState.DISCOVERY };
const BOOT_LOCAL: Readonly<Record<string, BootLocal>> = { exit: BootLocal.EXIT, sanboot: BootLocal.SANBOOT, 'http-404': BootLocal.HTTP_404 };

function machineConfigYaml(p: RawProfile, baseDir: string): string {
  if (p.machineConfigFile !== undefined) return readFileSync(path.resolve(baseDir, p.machineConfigFile), 'utf8');
  if (p.machineConfig === undefined || p.machineConfig === null) return '';
  if (typeof p.machineConfig === 'string') return p.machineConfig;
  const docs = Array.isArray(p.machineConfig) ? p.machineConfig : [p.machineConfig];
  return docs.map((doc) => stringify(doc)).join('---\n');
}

/** A YAML manifest (as parsed, already validated by the caller) → the protobuf Manifest. */
export function manifestToProto(raw: RawManifest, opts: ToProtoOptions = {}): PbManifest {
  const rackId = opts.rackId ?? raw.rackId;
  if (rackId === undefined || rackId === '') {
    throw new InvalidFieldError('manifest', 'rackId', 'is required in a signed manifest', 'add `rackId: <rack>` to the manifest or pass --rack RACK');
  }
  const baseDir = opts.baseDir ?? process.cwd();
  return create(ManifestSchema, {
    rackId,
    version: BigInt(opts.version ?? raw.version),
    issuedAtUnixMs: BigInt((opts.now ?? new Date()).getTime()),
    profiles: Object.entries(raw.profiles).map(([name, p]) => ({
      name,
      talosVersion: p.talosVersion,
      schematic: p.schematic,
      arch: ARCH[p.arch] ?? Arch.UNSPECIFIED,
      kernelArgs: p.kernelArgs ?? [],
      rescueKernelArgs: p.rescueKernelArgs ?? [],
      install: {
        disk: p.install.disk ?? '',
        diskSelectorJson: p.install.diskSelector !== undefined ? JSON.stringify(p.install.diskSelector) : '',
        image: p.install.image ?? '',
        wipe: p.install.wipe ?? false,
      },
      machineConfigYaml: machineConfigYaml(p, baseDir),
    })),
    nodes: raw.nodes.map((n) => ({
      id: n.id,
      macs: n.macs,
      serial: n.serial ?? '',
      uuid: n.uuid ?? '',
      hostname: n.hostname ?? '',
      profile: n.profile,
      ipv4: n.ipv4 ?? '',
      patchesJson: (n.patches ?? []).map((patch) => JSON.stringify(patch)),
      desired: n.desired !== undefined ? (DESIRED[n.desired] ?? DesiredState.UNSPECIFIED) : DesiredState.UNSPECIFIED,
      // proto3 cannot tell an absent generation from 0, so the YAML default (1) travels explicitly.
      generation: BigInt(n.generation ?? 1),
      bootLocal: n.bootLocal !== undefined ? (BOOT_LOCAL[n.bootLocal] ?? BootLocal.UNSPECIFIED) : BootLocal.UNSPECIFIED,
      uefiBootFile: n.uefiBootFile ?? '',
      ...(n.bmc !== undefined
        ? {
            bmc: {
              driver: n.bmc.driver,
              address: n.bmc.address,
              credentialsRef: n.bmc.credentialsRef ?? '',
              bootMode: n.bmc.bootMode ?? '',
              vendor: n.bmc.vendor ?? '',
            },
          }
        : {}),
      wipe: n.wipe ?? '',
    })),
    images: (raw.images ?? []).map((image) => ({
      kind: image.kind,
      profile: image.profile ?? '',
      source: image.source ?? '',
      digest: image.digest,
      size: BigInt(image.size ?? 0),
    })),
    ...(raw.settings !== undefined
      ? {
          settings: {
            pullIntervalSeconds: raw.settings.pullIntervalSeconds ?? 0,
            bootTokenTtlSeconds: raw.settings.bootTokenTtlSeconds ?? 0,
            outboxMaxEvents: BigInt(raw.settings.outboxMaxEvents ?? 0),
          },
        }
      : {}),
  });
}

/**
 * A uint64 as a JS number; beyond 2^53 it would silently lose precision, so it is passed on as a
 * decimal string, which the schema rejects as "not an integer" naming the field.
 */
function exactNumber(value: bigint): number {
  return (value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value.toString()) as number;
}

/** JSON text → value; text that is not JSON is passed on as is, for the schema to reject. */
function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

const opt = <K extends string, V>(key: K, value: V | undefined, absent: V): { [P in K]?: V } =>
  (value === undefined || value === absent ? {} : { [key]: value }) as { [P in K]?: V };

// Largest time a JS Date holds (ECMA-262 §21.4.1.1); beyond it toISOString throws.
const MAX_DATE_MS = 8_640_000_000_000_000n;

function issuedAt(ms: bigint): { issuedAt?: string } {
  if (ms === 0n) return {};
  if (ms > MAX_DATE_MS || ms < -MAX_DATE_MS) return { issuedAt: ms.toString() }; // not a date-time: the schema names issuedAt
  return { issuedAt: new Date(Number(ms)).toISOString() };
}

function rawProfile(p: PbProfile): RawProfile {
  const install = p.install;
  const arch = p.arch === Arch.AMD64 ? 'amd64' : p.arch === Arch.ARM64 ? 'arm64' : undefined;
  return {
    talosVersion: p.talosVersion,
    schematic: p.schematic,
    // ARCH_UNSPECIFIED (or an unknown value) leaves arch out: the schema says it is required.
    ...(arch !== undefined ? { arch } : {}),
    ...(p.kernelArgs.length > 0 ? { kernelArgs: [...p.kernelArgs] } : {}),
    ...(p.rescueKernelArgs.length > 0 ? { rescueKernelArgs: [...p.rescueKernelArgs] } : {}),
    install: {
      ...opt('disk', install?.disk, ''),
      ...(install !== undefined && install.diskSelectorJson !== '' ? { diskSelector: parseJson(install.diskSelectorJson) as Record<string, unknown> } : {}),
      ...opt('image', install?.image, ''),
      wipe: install?.wipe ?? false,
    },
    machineConfig: p.machineConfigYaml,
  } as RawProfile;
}

function desiredOf(d: DesiredState): NonNullable<RawNode['desired']> {
  if (d === DesiredState.UNSPECIFIED || d === DesiredState.INSTALLED) return 'installed';
  if (d === DesiredState.DISCOVERY) return 'discovery';
  if (d === DesiredState.RESCUE) return 'rescue';
  if (d === DesiredState.DECOMMISSIONED) return 'decommissioned';
  return `unknown enum value ${Number(d)}` as NonNullable<RawNode['desired']>;
}

function rawNode(n: PbNode): RawNode {
  return {
    id: n.id,
    macs: [...n.macs],
    ...opt('serial', n.serial, ''),
    ...opt('uuid', n.uuid, ''),
    ...opt('hostname', n.hostname, ''),
    profile: n.profile,
    ...opt('ipv4', n.ipv4, ''),
    ...(n.patchesJson.length > 0 ? { patches: n.patchesJson.map(parseJson) as Record<string, unknown>[] } : {}),
    // Unspecified means the default the .proto documents; a value this agent does not know passes
    // through as a string the schema rejects, naming the field: never read as "install".
    desired: desiredOf(n.desired),
    generation: exactNumber(n.generation),
    bootLocal: n.bootLocal === BootLocal.SANBOOT ? 'sanboot' : n.bootLocal === BootLocal.HTTP_404 ? 'http-404' : 'exit',
    ...opt('uefiBootFile', n.uefiBootFile, ''),
    ...(n.bmc !== undefined
      ? {
          bmc: {
            driver: n.bmc.driver as 'redfish' | 'ipmi',
            address: n.bmc.address,
            ...opt('credentialsRef', n.bmc.credentialsRef, ''),
            // Unknown strings pass through for the schema to reject, naming the field.
            ...opt('bootMode', n.bmc.bootMode, ''),
            ...opt('vendor', n.bmc.vendor, ''),
          } as RawBmc,
        }
      : {}),
    ...(opt('wipe', n.wipe, '') as Pick<RawNode, 'wipe'>),
  };
}

/**
 * The protobuf Manifest → exactly the YAML shape `buildManifest` validates (machine configs as
 * YAML text). Throws ManifestError only for what that shape cannot express: two profiles with one
 * name (a YAML mapping has unique keys).
 */
export function rawFromProto(pb: PbManifest, file = 'signed manifest'): RawManifest {
  const seen = new Set<string>();
  pb.profiles.forEach((p, i) => {
    if (seen.has(p.name))
      throw new ManifestError(file, [
        new InvalidFieldError('manifest', `profiles.${i}.name`, `duplicate profile name ${p.name}`, 'give every profile a unique name'),
      ]);
    seen.add(p.name);
  });
  const s = pb.settings;
  const settings =
    s === undefined
      ? {}
      : {
          ...opt('pullIntervalSeconds', s.pullIntervalSeconds, 0),
          ...opt('bootTokenTtlSeconds', s.bootTokenTtlSeconds, 0),
          ...(s.outboxMaxEvents !== 0n ? { outboxMaxEvents: exactNumber(s.outboxMaxEvents) } : {}),
        };
  return {
    ...opt('rackId', pb.rackId, ''),
    version: exactNumber(pb.version),
    ...issuedAt(pb.issuedAtUnixMs),
    // fromEntries defines own properties, so a profile named "__proto__" stays a (rejected) name.
    profiles: Object.fromEntries(pb.profiles.map((p) => [p.name, rawProfile(p)])),
    nodes: pb.nodes.map(rawNode),
    ...(pb.images.length > 0
      ? {
          images: pb.images.map((image) => ({
            kind: image.kind as 'kernel' | 'initramfs' | 'installer',
            ...opt('profile', image.profile, ''),
            ...opt('source', image.source, ''),
            digest: image.digest,
            ...(image.size !== 0n ? { size: exactNumber(image.size) } : {}),
          })),
        }
      : {}),
    ...(Object.keys(settings).length > 0 ? { settings } : {}),
  };
}
