// The machine config one node receives: the profile's base documents, the profile's install
// settings, the node's RFC 7386 patches, its hostname; validated against the Talos schema of the
// profile's version before it is ever served. Pure: no I/O beyond the cached schema compile.
//
// Precedence, lowest first: base config < profile.install < node.patches < node.hostname.
// - profile.install is the profile's default for machine.install; a node patch may override any
//   of it (one odd disk in a rack). Whichever of disk / diskSelector the profile gives replaces
//   the other in the base, so a base `disk` cannot silently lose to the profile's selector.
// - machine.install is written even for Talos 1.14, which documents an UnattendedInstall
//   document instead but still decodes machine.install. A base carrying an UnattendedInstall
//   document is refused: two install sources would be ambiguous.
// - node.hostname goes into a HostnameConfig document (present in 1.12–1.14; Talos marks
//   machine.network.hostname deprecated in its favour, and the two must not both be set). Only
//   when the v1alpha1 document already sets machine.network.hostname is that field set instead.
import { stringify } from 'yaml';
import { MachineConfigError } from '../errors.js';
import type { NodeSpec, Profile } from '../manifest/model.js';
import { documentKind, machineConfigProblems } from './configSchema.js';
import { mergePatch } from './mergePatch.js';

export interface MachineConfigContext {
  /** Installer image to use when the profile names none, e.g. the agent's local OCI mirror. */
  readonly installerImage?: string;
  /**
   * The agent's read-only OCI mirror (/v2/): one RegistryMirrorConfig per registry host.
   * `endpoint` is the mirror's base URL without /v2/ (containerd appends /v2/ and names the
   * registry in `?ns=`). A registry the base config already mirrors is left to the base.
   */
  readonly registryMirror?: { readonly endpoint: string; readonly registries: readonly string[] };
  /** The node's wipe policy resolved for this install (installWipes); default the profile's install.wipe. */
  readonly wipe?: boolean;
  /** The agent's node log sink (`tcp://host:port`): added to machine.logging.destinations as json_lines. */
  readonly logDestination?: string;
}

type Doc = Record<string, unknown>;

const isObject = (v: unknown): v is Doc => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Image Factory installer for the profile's schematic (`factory.talos.dev/metal-installer/<schematic>:<version>`). */
export function factoryInstallerImage(profile: Profile): string {
  return `factory.talos.dev/metal-installer/${profile.schematic}:${profile.talosVersion}`;
}

function withInstall(main: Doc, profile: Profile, ctx: MachineConfigContext): Doc {
  const machine = isObject(main['machine']) ? main['machine'] : {};
  const install: Doc = { ...(isObject(machine['install']) ? machine['install'] : {}) };
  if (profile.install.disk !== undefined) {
    delete install['diskSelector'];
    install['disk'] = profile.install.disk;
  }
  if (profile.install.diskSelector !== undefined) {
    delete install['disk'];
    install['diskSelector'] = structuredClone(profile.install.diskSelector);
  }
  install['image'] = profile.install.image ?? ctx.installerImage ?? factoryInstallerImage(profile);
  install['wipe'] = ctx.wipe ?? profile.install.wipe;
  return { ...main, machine: { ...machine, install } };
}

function withHostname(docs: Doc[], mainIndex: number, hostname: string): Doc[] {
  const main = docs[mainIndex] as Doc;
  const machine = isObject(main['machine']) ? main['machine'] : undefined;
  const network = machine && isObject(machine['network']) ? machine['network'] : undefined;
  if (network && typeof network['hostname'] === 'string') {
    const patched = mergePatch(main, { machine: { network: { hostname } } }) as Doc;
    return docs.map((d, i) => (i === mainIndex ? patched : d));
  }
  const existing = docs.findIndex((d) => documentKind(d) === 'HostnameConfig');
  if (existing >= 0) {
    // `auto` conflicts with a static `hostname` in HostnameConfig.
    const { auto: _auto, ...rest } = docs[existing] as Doc;
    return docs.map((d, i) => (i === existing ? { ...rest, hostname } : d));
  }
  return [...docs, { apiVersion: 'v1alpha1', kind: 'HostnameConfig', hostname }];
}

// Talos ≥1.12 (our minimum) takes RegistryMirrorConfig documents; machine.registries.mirrors is
// the older form, still honoured, so a registry named there counts as already mirrored too.
function withRegistryMirrors(docs: Doc[], main: Doc, mirror: NonNullable<MachineConfigContext['registryMirror']>): Doc[] {
  const machine = isObject(main['machine']) ? main['machine'] : {};
  const registries = isObject(machine['registries']) ? machine['registries'] : {};
  const legacy = isObject(registries['mirrors']) ? Object.keys(registries['mirrors']) : [];
  const mirrored = new Set([
    ...legacy,
    ...docs.flatMap((d) => (documentKind(d) === 'RegistryMirrorConfig' && typeof d['name'] === 'string' ? [d['name']] : [])),
  ]);
  const added = [...new Set(mirror.registries)].filter((r) => !mirrored.has(r));
  return [...docs, ...added.map((name) => ({ apiVersion: 'v1alpha1', kind: 'RegistryMirrorConfig', name, endpoints: [{ url: mirror.endpoint }] }))];
}

// machine.logging.destinations (v1alpha1.LoggingConfig): `json_lines` is the only format Talos
// supports; the base's own destinations stay, ours is appended unless it is already there.
function withLogDestination(main: Doc, endpoint: string): Doc {
  const machine = isObject(main['machine']) ? main['machine'] : {};
  const logging = isObject(machine['logging']) ? machine['logging'] : {};
  const destinations = Array.isArray(logging['destinations']) ? logging['destinations'] : [];
  if (destinations.some((d) => isObject(d) && d['endpoint'] === endpoint)) return main;
  return { ...main, machine: { ...machine, logging: { ...logging, destinations: [...destinations, { endpoint, format: 'json_lines' }] } } };
}

/** The documents a node gets, validated. Throws MachineConfigError naming the node and the problems. */
export function machineConfigDocs(node: NodeSpec, profile: Profile, ctx: MachineConfigContext = {}): Doc[] {
  const fail = (detail: string): never => {
    throw new MachineConfigError(node.id, `profile ${profile.name} (Talos ${profile.talosVersion}): ${detail}`);
  };
  let docs = profile.machineConfig.map((d) => structuredClone(d) as Doc);
  const mains = docs.flatMap((d, i) => (documentKind(d) === 'v1alpha1' ? [i] : []));
  const mainIndex = mains[0];
  if (mains.length !== 1 || mainIndex === undefined)
    return fail(`expected exactly one v1alpha1 document (version: v1alpha1), found ${mains.length}; without it Talos waits in maintenance mode`);
  if (docs.some((d) => documentKind(d) === 'UnattendedInstall'))
    return fail('the base config has an UnattendedInstall document; maskin writes machine.install from the profile, so remove that document');

  let main = withInstall(docs[mainIndex] as Doc, profile, ctx);
  node.patches.forEach((patch, i) => {
    const patched = mergePatch(main, patch);
    if (!isObject(patched) || patched['version'] !== 'v1alpha1') fail(`patch ${i + 1} removes or replaces the v1alpha1 document itself`);
    main = patched as Doc;
  });
  if (ctx.logDestination !== undefined) main = withLogDestination(main, ctx.logDestination);
  docs = docs.map((d, i) => (i === mainIndex ? main : d));
  if (node.hostname !== undefined) docs = withHostname(docs, mainIndex, node.hostname);
  if (ctx.registryMirror) docs = withRegistryMirrors(docs, main, ctx.registryMirror);

  const problems = machineConfigProblems(profile.talosVersion, docs);
  if (problems.length > 0) fail(problems.slice(0, 5).join('; ') + (problems.length > 5 ? `; ... ${problems.length - 5} more` : ''));
  return docs;
}

/** Multi-document YAML text for `talos.config`. */
export function renderMachineConfig(node: NodeSpec, profile: Profile, ctx: MachineConfigContext = {}): string {
  // lineWidth 0: never fold long scalars (base64 certificates) across lines.
  return machineConfigDocs(node, profile, ctx)
    .map((d) => stringify(d, { lineWidth: 0 }))
    .join('---\n');
}
