// The vendored Talos schemas describe only documented fields. Talos still accepts fields its Go
// types mark `docgen:nodoc` or Deprecated (machine.install.extraKernelArgs, machine.registries,
// machine.network.hostname, ...), and the v1.14 schema drops most of machine.* and cluster.* which
// 1.14 still decodes. Every v1alpha1 object in the schema has additionalProperties: false, so the
// raw schema rejects real configs Talos boots fine.
//
// We keep additionalProperties: false (Talos itself rejects unknown keys, so typos must fail
// here, not on the node) and add back what Talos accepts:
//   1. typed, from the older vendored schemas: a v1alpha1 property an older release documented
//      and a newer one dropped keeps the older release's schema (1.14 ← 1.13 ← 1.12);
//   2. untyped (`{}`), the fields that no vendored schema documents, listed below from the Go
//      types (pkg/machinery/config/types/v1alpha1/v1alpha1_types.go). Talos type-checks them;
//   3. corrected, the defs the schema generator describes wrongly (MISDESCRIBED below).
// Pure: returns a new schema object.

type Schema = Record<string, unknown>;
type Defs = Record<string, Schema>;

/** def name → properties Talos decodes but no vendored schema documents. */
const UNDOCUMENTED: Readonly<Record<string, readonly string[]>> = {
  'v1alpha1.Config': ['persist'],
  'v1alpha1.MachineConfig': ['disks', 'time', 'registries', 'systemDiskEncryption'],
  'v1alpha1.NetworkConfig': ['hostname', 'interfaces', 'nameservers', 'searchDomains', 'extraHostEntries', 'disableSearchDomain'],
  'v1alpha1.InstallConfig': ['extraKernelArgs', 'extensions', 'bootloader'],
  'v1alpha1.ClusterConfig': ['allowSchedulingOnMasters'],
  'v1alpha1.APIServerConfig': ['disablePodSecurityPolicy'],
  'v1alpha1.EtcdConfig': ['subnet'],
  'v1alpha1.FeaturesConfig': ['rbac', 'stableHostname', 'apidCheckExtKeyUsage'],
};

/**
 * Defs the schema generator got wrong: v1alpha1.Endpoint is a Go struct wrapping *url.URL that
 * Talos reads from (and writes as) a YAML string such as `tcp://198.18.0.1:5170`
 * (machine.logging.destinations[].endpoint), while the schemas describe it as an empty object.
 */
const MISDESCRIBED: Readonly<Record<string, Schema>> = {
  'v1alpha1.Endpoint': { type: 'string', pattern: '^[a-z][a-z0-9+.-]*://', description: 'A URL, e.g. tcp://198.18.0.1:5170' },
};

function defsOf(schema: Schema): Defs {
  return (schema['$defs'] ?? {}) as Defs;
}

function refsIn(node: unknown, out: Set<string>): Set<string> {
  if (Array.isArray(node)) for (const n of node) refsIn(n, out);
  else if (typeof node === 'object' && node !== null) {
    for (const [k, v] of Object.entries(node)) {
      if (k === '$ref' && typeof v === 'string' && v.startsWith('#/$defs/')) out.add(v.slice('#/$defs/'.length));
      else refsIn(v, out);
    }
  }
  return out;
}

/**
 * `target` plus what Talos accepts beyond it. `older` are the schemas of earlier releases,
 * newest first.
 */
export function withAcceptedUndocumented(target: Schema, older: readonly Schema[]): Schema {
  const schema = structuredClone(target);
  const defs = defsOf(schema);
  const pending: string[] = [];

  for (const old of older) {
    const oldDefs = defsOf(old);
    for (const [name, oldDef] of Object.entries(oldDefs)) {
      if (!name.startsWith('v1alpha1.')) continue;
      const def = defs[name];
      if (!def) {
        defs[name] = structuredClone(oldDef);
        pending.push(...refsIn(oldDef, new Set()));
        continue;
      }
      const props = (def['properties'] ??= {}) as Record<string, unknown>;
      for (const [prop, propSchema] of Object.entries((oldDef['properties'] ?? {}) as Record<string, unknown>)) {
        if (prop in props) continue;
        props[prop] = structuredClone(propSchema);
        pending.push(...refsIn(propSchema, new Set()));
      }
    }
    // Bring along whatever the grafted parts refer to, transitively, from the same release.
    while (pending.length > 0) {
      const name = pending.pop() as string;
      if (defs[name]) continue;
      const oldDef = oldDefs[name];
      if (!oldDef) continue;
      defs[name] = structuredClone(oldDef);
      pending.push(...refsIn(oldDef, new Set()));
    }
  }

  for (const [name, extra] of Object.entries(UNDOCUMENTED)) {
    const def = defs[name];
    if (!def) continue;
    const props = (def['properties'] ??= {}) as Record<string, unknown>;
    for (const prop of extra) props[prop] ??= {};
  }
  for (const [name, def] of Object.entries(MISDESCRIBED)) if (defs[name]) defs[name] = structuredClone(def);
  schema['$defs'] = defs;
  return schema;
}
