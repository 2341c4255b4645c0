// Local manifest file: parse YAML, validate against config/manifest.schema.json, check cross
// references, build the frozen model. A bad manifest is rejected whole, with every problem named.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { InvalidFieldError, ManifestError, MaskinError } from '../errors.js';
import { locate, schemaValidator, type FieldLocator } from '../config/schemaErrors.js';
import { parseYamlSource, YamlSyntaxError } from '../config/yamlSource.js';
import { kernelArgProblems } from '../talos/kernelArgs.js';
import type { BmcVendor, DesiredState, ImagePin, Manifest, NodeSpec, Profile, SettingsOverride, WipePolicy } from './model.js';
import { normalizeMac } from './model.js';

/** Checks a profile's base machine config; throws a MaskinError naming the problem. */
export type BaseConfigCheck = (talosVersion: string, docs: readonly Record<string, unknown>[]) => void;

/** Renders and checks the machine config one node would be served; throws a MaskinError naming the node and the problem. */
export type NodeConfigCheck = (node: NodeSpec, profile: Profile) => void;

/**
 * The Talos-side checks a manifest must pass before it is accepted (agent/talos/checks.ts): every
 * profile's base config and every node's rendered config against the Talos schema of its version.
 */
export interface TalosChecks {
  readonly base: BaseConfigCheck;
  readonly node: NodeConfigCheck;
}

const schemaProblems = schemaValidator('manifest.schema.json', ['ipv4', 'date-time'], 'manifest');

export function loadManifestFile(file: string, talos?: TalosChecks): Manifest {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ManifestError(file, [
      new InvalidFieldError('manifest', '', `cannot read file (${(err as Error).message})`, 'set manifestFile in the agent config to an existing YAML file'),
    ]);
  }
  return parseManifest(text, { file, ...(talos ? { talos } : {}) });
}

function parseYamlDocs(text: string): Record<string, unknown>[] {
  const docs = parseAllDocuments(text);
  const out: Record<string, unknown>[] = [];
  for (const doc of docs) {
    if (doc.errors.length > 0) throw new Error(doc.errors[0]!.message.split('\n')[0]);
    const value: unknown = doc.toJS();
    if (value === null || value === undefined) continue;
    if (typeof value !== 'object' || Array.isArray(value)) throw new Error('each document must be a mapping');
    out.push(value as Record<string, unknown>);
  }
  return out;
}

export interface BuildOptions {
  /** Where the manifest came from, for messages (a file path, "pull", "push"). */
  readonly file?: string;
  readonly talos?: TalosChecks;
  /** Lines and node ids for messages (a YAML file has them; a protobuf has neither). */
  readonly locator?: FieldLocator;
}

/** `node rack1-n02` for any path under nodes[i], from the raw manifest. */
function nodeLabel(raw: unknown): (path: readonly (string | number)[]) => string | undefined {
  return (path) => {
    if (path[0] !== 'nodes' || typeof path[1] !== 'number') return undefined;
    const id = (raw as { nodes?: { id?: unknown }[] } | null)?.nodes?.[path[1]]?.id;
    return typeof id === 'string' && id !== '' ? `node ${id}` : undefined;
  };
}

export function parseManifest(text: string, options: BuildOptions = {}): Manifest {
  const file = options.file ?? '(inline)';
  let source;
  try {
    source = parseYamlSource(text);
  } catch (err) {
    if (err instanceof YamlSyntaxError) throw new ManifestError(file, [err.toFieldError('manifest')]);
    throw err;
  }
  if (source.values.length !== 1)
    throw new ManifestError(file, [
      new InvalidFieldError('manifest', '', `not valid YAML (expected one YAML document, found ${source.values.length})`, 'keep one document'),
    ]);
  const raw = source.values[0];
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    throw new ManifestError(file, [new InvalidFieldError('manifest', '', 'not valid YAML (each document must be a mapping)', 'fix the YAML syntax')]);
  return buildManifest(raw, { ...options, locator: { place: (p) => source.place(p), label: nodeLabel(raw) } });
}

/**
 * The one validation path for desired state, whatever carried it (local YAML, signed protobuf):
 * schema, then cross references, then the frozen model. Every problem is collected; any problem
 * rejects the manifest whole.
 */
export function buildManifest(raw: unknown, options: BuildOptions = {}): Manifest {
  const file = options.file ?? '(inline)';
  const problems: InvalidFieldError[] = [];
  const locator = options.locator ?? { label: nodeLabel(raw) };
  const bad = (field: string, problem: string, fix: string): void => {
    problems.push(new InvalidFieldError('manifest', field, problem, fix, locate(field, locator)));
  };
  const schemaErrors = schemaProblems(raw, locator);
  if (schemaErrors.length > 0) throw new ManifestError(file, schemaErrors);
  const m = raw as RawManifest;

  const profiles = new Map<string, Profile>();
  // Profiles whose base config already failed: their nodes' configs would only repeat it.
  const badBase = new Set<string>();
  for (const [name, p] of Object.entries(m.profiles)) {
    const field = `profiles.${name}`;
    let machineConfig: Record<string, unknown>[] = [];
    try {
      if (p.machineConfig !== undefined && p.machineConfigFile !== undefined) {
        bad(field, 'has both machineConfig and machineConfigFile', 'keep only one of them');
      } else if (p.machineConfigFile !== undefined) {
        const base = options.file ? path.dirname(options.file) : process.cwd();
        machineConfig = parseYamlDocs(readFileSync(path.resolve(base, p.machineConfigFile), 'utf8'));
      } else if (typeof p.machineConfig === 'string') {
        machineConfig = parseYamlDocs(p.machineConfig);
      } else if (Array.isArray(p.machineConfig)) {
        machineConfig = p.machineConfig as Record<string, unknown>[];
      } else if (p.machineConfig !== undefined) {
        machineConfig = [p.machineConfig as Record<string, unknown>];
      }
    } catch (err) {
      bad(`${field}.machineConfig`, `cannot be read (${(err as Error).message})`, 'give valid YAML text, a list of documents, or a readable machineConfigFile');
    }
    if (options.talos && machineConfig.length > 0) {
      try {
        options.talos.base(p.talosVersion, machineConfig);
      } catch (err) {
        if (!(err instanceof MaskinError)) throw err;
        badBase.add(name);
        bad(`${field}.machineConfig`, err.message, 'correct the base machine config so it validates against the Talos schema of talosVersion');
      }
    }
    for (const problem of kernelArgProblems(p.kernelArgs ?? []))
      bad(
        `${field}.kernelArgs`,
        problem,
        'drop it: maskin sets the args Talos requires, talos.config and the consoles (an extra console= replaces both defaults)',
      );
    for (const problem of kernelArgProblems(p.rescueKernelArgs ?? []))
      bad(`${field}.rescueKernelArgs`, problem, 'drop it: maskin sets the args Talos requires and the rescue boot names no machine config');
    if (machineConfig.length === 0) {
      badBase.add(name);
      bad(`${field}.machineConfig`, 'is missing or empty', 'give the base Talos machine config (a v1alpha1 document)');
    }
    profiles.set(name, {
      name,
      talosVersion: p.talosVersion,
      schematic: p.schematic,
      arch: p.arch,
      kernelArgs: p.kernelArgs ?? [],
      ...(p.rescueKernelArgs?.length ? { rescueKernelArgs: p.rescueKernelArgs } : {}),
      install: {
        ...(p.install.disk !== undefined ? { disk: p.install.disk } : {}),
        ...(p.install.diskSelector !== undefined ? { diskSelector: p.install.diskSelector } : {}),
        ...(p.install.image !== undefined ? { image: p.install.image } : {}),
        wipe: p.install.wipe ?? false,
      },
      machineConfig,
    });
  }

  const ids = new Set<string>();
  const macOwner = new Map<string, string>();
  const ipOwner = new Map<string, string>();
  const nodes: NodeSpec[] = m.nodes.map((n, i) => {
    const field = `nodes.${i}`;
    if (ids.has(n.id)) bad(`${field}.id`, `duplicate node id ${n.id}`, 'give every node a unique id');
    ids.add(n.id);
    if (!profiles.has(n.profile))
      bad(`${field}.profile`, `unknown profile ${n.profile}`, `use one of: ${[...profiles.keys()].join(', ') || '(define a profile first)'}`);
    const macs = n.macs.map(normalizeMac);
    for (const mac of macs) {
      const owner = macOwner.get(mac);
      if (owner !== undefined && owner !== n.id) bad(`${field}.macs`, `MAC ${mac} is also listed for node ${owner}`, 'a MAC belongs to exactly one node');
      macOwner.set(mac, n.id);
    }
    if (n.ipv4 !== undefined) {
      const owner = ipOwner.get(n.ipv4);
      if (owner !== undefined) bad(`${field}.ipv4`, `${n.ipv4} is also reserved for node ${owner}`, 'reserve each address for one node only');
      ipOwner.set(n.ipv4, n.id);
    }
    return {
      id: n.id,
      macs,
      ...(n.serial !== undefined ? { serial: n.serial } : {}),
      ...(n.uuid !== undefined ? { uuidHint: n.uuid.toLowerCase() } : {}),
      ...(n.hostname !== undefined ? { hostname: n.hostname } : {}),
      profile: n.profile,
      ...(n.ipv4 !== undefined ? { ipv4: n.ipv4 } : {}),
      patches: n.patches ?? [],
      desired: n.desired ?? 'installed',
      generation: n.generation ?? 1,
      bootLocal: n.bootLocal ?? 'exit',
      ...(n.uefiBootFile !== undefined ? { uefiBootFile: n.uefiBootFile } : {}),
      ...(n.bmc !== undefined
        ? {
            bmc: {
              driver: n.bmc.driver,
              address: n.bmc.address,
              ...(n.bmc.credentialsRef !== undefined ? { credentialsRef: n.bmc.credentialsRef } : {}),
              bootMode: n.bmc.bootMode ?? 'uefi',
              vendor: n.bmc.vendor ?? 'auto',
            },
          }
        : {}),
      ...(n.wipe !== undefined ? { wipe: n.wipe } : {}),
    };
  });
  // What each node would be served: base + profile install + its patches + hostname, against the
  // Talos schema. A typo in a patch is caught here, not as an HTTP 500 when the node is installing.
  if (options.talos) {
    const check = options.talos.node;
    nodes.forEach((node, i) => {
      const profile = profiles.get(node.profile);
      if (!profile || badBase.has(profile.name)) return;
      try {
        check(node, profile);
      } catch (err) {
        if (!(err instanceof MaskinError)) throw err;
        bad(`nodes.${i}.patches`, err.message, `correct node ${node.id}'s patches so its config validates against the Talos ${profile.talosVersion} schema`);
      }
    });
  }
  (m.images ?? []).forEach((image, i) => {
    if (image.profile !== undefined && !profiles.has(image.profile))
      bad(`images.${i}.profile`, `unknown profile ${image.profile}`, `use one of: ${[...profiles.keys()].join(', ')}`);
  });
  if (problems.length > 0) throw new ManifestError(file, problems);
  const manifest: Manifest = {
    ...(m.rackId !== undefined ? { rackId: m.rackId } : {}),
    version: m.version,
    ...(m.issuedAt !== undefined ? { issuedAt: new Date(m.issuedAt) } : {}),
    profiles,
    nodes,
    images: m.images ?? [],
    settings: m.settings ?? {},
  };
  return Object.freeze(manifest);
}

/** The manifest as its schema describes it (YAML keys); the protobuf form converts to this. */
export interface RawManifest {
  rackId?: string;
  version: number;
  /** ISO 8601; not in the schema for YAML files, set by the protobuf conversion. */
  issuedAt?: string;
  images?: ImagePin[];
  settings?: SettingsOverride;
  profiles: Record<
    string,
    {
      talosVersion: string;
      schematic: string;
      arch: 'amd64' | 'arm64';
      kernelArgs?: string[];
      rescueKernelArgs?: string[];
      install: { disk?: string; diskSelector?: Record<string, unknown>; image?: string; wipe?: boolean };
      machineConfig?: unknown;
      machineConfigFile?: string;
    }
  >;
  nodes: {
    id: string;
    macs: string[];
    serial?: string;
    uuid?: string;
    hostname?: string;
    profile: string;
    ipv4?: string;
    patches?: Record<string, unknown>[];
    desired?: DesiredState;
    generation?: number;
    bootLocal?: 'exit' | 'sanboot' | 'http-404';
    uefiBootFile?: string;
    bmc?: { driver: 'redfish' | 'ipmi'; address: string; credentialsRef?: string; bootMode?: 'uefi' | 'legacy'; vendor?: BmcVendor };
    wipe?: WipePolicy;
  }[];
}
