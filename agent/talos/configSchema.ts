// Validation of Talos machine-config documents against the vendored Talos JSON Schemas
// (agent/talos/schemas, see SOURCES.txt). Each YAML document is validated on its own against the
// $defs entry for its kind, rather than against the top-level oneOf: that compiles only what a
// config uses and gives errors about the right document kind instead of one per oneOf branch.
//
// Schemas are read and compiled lazily, once per release line, and cached: the manifest loader's
// check of each profile's base config pays for it at load time, so rendering at request time
// never touches the disk. Error messages carry JSON paths, never values (configs hold secrets).
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Ajv2020 } from 'ajv/dist/2020.js';
import type { ValidateFunction, ErrorObject } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { TalosSchemaError } from '../errors.js';
import { withAcceptedUndocumented } from './schemaOverlay.js';
import { parseTalosVersion } from './version.js';

// ajv-formats is CommonJS; under NodeNext its default export arrives as the module object.
const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ?? addFormatsModule) as (ajv: Ajv2020) => Ajv2020;

const FILES = { '1.12': 'config.schema.v1.12.11.json', '1.13': 'config.schema.v1.13.9.json', main: 'config.schema.main-ad88231.json' } as const;
type SchemaKey = keyof typeof FILES;
/** Release line → schema, and the older schemas whose documented fields it still accepts (newest first). */
const LINES: Readonly<Record<string, { key: SchemaKey; older: readonly SchemaKey[] }>> = {
  '1.12': { key: '1.12', older: [] },
  '1.13': { key: '1.13', older: ['1.12'] },
  '1.14': { key: 'main', older: ['1.13', '1.12'] },
  '1.15': { key: 'main', older: ['1.13', '1.12'] },
};

/** The schemas sit next to this file in the source tree; tsc does not copy them into dist/. */
function schemaDir(): string {
  const candidates = [new URL('./schemas/', import.meta.url), new URL('../../../agent/talos/schemas/', import.meta.url)];
  for (const url of candidates) {
    const dir = fileURLToPath(url);
    if (existsSync(dir + FILES['1.13'])) return dir;
  }
  throw new Error(`Talos schemas not found (looked in ${candidates.map((u) => fileURLToPath(u)).join(', ')})`);
}

const raw = new Map<SchemaKey, Record<string, unknown>>();
function rawSchema(key: SchemaKey): Record<string, unknown> {
  let s = raw.get(key);
  if (!s) {
    s = JSON.parse(readFileSync(schemaDir() + FILES[key], 'utf8')) as Record<string, unknown>;
    raw.set(key, s);
  }
  return s;
}

interface CompiledLine {
  readonly ajv: Ajv2020;
  readonly id: string;
  /** `kind` → $defs name, from the top-level oneOf. */
  readonly kinds: ReadonlyMap<string, string>;
  readonly validators: Map<string, ValidateFunction>;
}

const compiled = new Map<SchemaKey, CompiledLine>();

function lineFor(version: string): CompiledLine {
  const { line } = parseTalosVersion(version);
  const spec = LINES[line];
  if (!spec) throw new Error(`no schema mapping for Talos ${line}`);
  // Keyed by schema, not release line: 1.14 and 1.15 share one compiled schema.
  const cached = compiled.get(spec.key);
  if (cached) return cached;
  const schema = withAcceptedUndocumented(rawSchema(spec.key), spec.older.map(rawSchema));
  const ajv = new Ajv2020({ allErrors: true, strict: true, strictTypes: false, strictRequired: false });
  // Talos's schema generator adds these editor annotations; they carry no validation.
  ajv.addVocabulary(['markdownDescription', 'x-intellij-html-description']);
  addFormats(ajv);
  ajv.addSchema(schema);
  const defs = schema['$defs'] as Record<string, { properties?: Record<string, { enum?: unknown[] }> }>;
  const kinds = new Map<string, string>();
  for (const ref of schema['oneOf'] as { $ref: string }[]) {
    const name = ref.$ref.slice('#/$defs/'.length);
    for (const kind of defs[name]?.properties?.['kind']?.enum ?? []) kinds.set(String(kind), name);
  }
  const entry: CompiledLine = { ajv, id: String(schema['$id']), kinds, validators: new Map() };
  compiled.set(spec.key, entry);
  return entry;
}

function validatorFor(line: CompiledLine, defName: string): ValidateFunction {
  let v = line.validators.get(defName);
  if (!v) {
    v = line.ajv.getSchema(`${line.id}#/$defs/${defName}`);
    if (!v) throw new Error(`schema ${line.id} has no $defs/${defName}`);
    line.validators.set(defName, v);
  }
  return v;
}

/** What a document claims to be: `v1alpha1` for the main document, else its `kind`. */
export function documentKind(doc: unknown): string | undefined {
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) return undefined;
  const d = doc as Record<string, unknown>;
  if (typeof d['kind'] === 'string') return d['kind'];
  if (d['version'] === 'v1alpha1') return 'v1alpha1';
  return undefined;
}

function describe(e: ErrorObject): string {
  const path = e.instancePath === '' ? '/' : e.instancePath;
  if (e.keyword === 'additionalProperties') return `${path}: unknown field ${JSON.stringify((e.params as { additionalProperty: string }).additionalProperty)}`;
  return `${path}: ${e.message ?? e.keyword}`;
}

const MAX_PER_DOC = 5;

/**
 * Problems with each document, as `document N (Kind): /json/path: message` strings; empty when
 * all validate. Throws TalosVersionError for a version we carry no schema for.
 */
export function machineConfigProblems(version: string, docs: readonly unknown[]): string[] {
  const line = lineFor(version);
  const problems: string[] = [];
  // Without exactly one v1alpha1 document Talos boots into maintenance mode and waits.
  const mains = docs.filter((d) => documentKind(d) === 'v1alpha1').length;
  if (mains !== 1) problems.push(`expected exactly one v1alpha1 document (version: v1alpha1), found ${mains}`);
  docs.forEach((doc, i) => {
    const kind = documentKind(doc);
    const label = `document ${i + 1} (${kind ?? 'unknown kind'})`;
    if (kind === undefined) {
      problems.push(`${label}: neither a v1alpha1 document (version: v1alpha1) nor a document with a kind`);
      return;
    }
    const defName = kind === 'v1alpha1' ? 'v1alpha1.Config' : line.kinds.get(kind);
    if (!defName) {
      problems.push(`${label}: Talos ${parseTalosVersion(version).line} has no document kind ${JSON.stringify(kind)}`);
      return;
    }
    const validate = validatorFor(line, defName);
    if (validate(doc)) return;
    const errors = validate.errors ?? [];
    for (const e of errors.slice(0, MAX_PER_DOC)) problems.push(`${label}: ${describe(e)}`);
    if (errors.length > MAX_PER_DOC) problems.push(`${label}: ... and ${errors.length - MAX_PER_DOC} more`);
  });
  return problems;
}

/** For the manifest loader: throws TalosSchemaError naming the first problems, else returns. */
export function validateMachineConfigDocs(version: string, docs: readonly unknown[]): void {
  const problems = machineConfigProblems(version, docs);
  if (problems.length > 0) throw new TalosSchemaError(version, problems);
}
