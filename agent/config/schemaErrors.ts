// The agent's own JSON Schemas (config/*.schema.json): compiled once, and every ajv error turned
// into an InvalidFieldError that names the field and the fix, and where it is in the file when the
// caller knows (a line, a node's id).
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import AjvModule, { type ErrorObject, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { InvalidFieldError, type FieldSource } from '../errors.js';
import type { YamlPlace } from './yamlSource.js';

/** Where a field is, for messages: its line and the scalar as written in the YAML text, and a label such as `node rack1-n02`. */
export interface FieldLocator {
  place?(path: readonly (string | number)[]): YamlPlace | undefined;
  label?(path: readonly (string | number)[]): string | undefined;
}

const Ajv = AjvModule.default;
const addFormats = addFormatsModule.default;

/**
 * A lazily compiled validator for `config/<file>` at the repo top, found from agent/ (ts) and
 * dist/agent/ (js) alike; returns every problem, or none.
 */
export function schemaValidator(
  file: string,
  formats: readonly ('ipv4' | 'date-time')[],
  source: FieldSource,
): (raw: unknown, locator?: FieldLocator) => InvalidFieldError[] {
  let validate: ValidateFunction | undefined;
  return (raw, locator) => {
    if (!validate) {
      const schema = ['../../config/', '../../../config/']
        .map((dir) => {
          try {
            return JSON.parse(readFileSync(fileURLToPath(new URL(dir + file, import.meta.url)), 'utf8')) as object;
          } catch {
            return undefined;
          }
        })
        .find(Boolean);
      if (!schema) throw new Error(`config/${file} not found next to the agent`);
      const ajv = new Ajv({ allErrors: true, strict: false, verbose: true });
      addFormats(ajv, [...formats]);
      validate = ajv.compile(schema);
    }
    return validate(raw) ? [] : toFieldErrors(source, validate.errors ?? [], locator);
  };
}

/** The JSON pointer of the value the error is about, as path segments (array indexes as numbers). */
function segmentsOf(err: ErrorObject): (string | number)[] {
  const segments: (string | number)[] = err.instancePath
    .split('/')
    .slice(1)
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((s) => (/^\d+$/.test(s) ? Number(s) : s));
  if (err.keyword === 'additionalProperties') segments.push((err.params as { additionalProperty: string }).additionalProperty);
  return segments;
}

function fieldOf(err: ErrorObject): string {
  const base = err.instancePath.replace(/^\//, '').split('/').filter(Boolean).join('.');
  if (err.keyword === 'required') return [base, (err.params as { missingProperty: string }).missingProperty].filter(Boolean).join('.');
  if (err.keyword === 'additionalProperties') return [base, (err.params as { additionalProperty: string }).additionalProperty].filter(Boolean).join('.');
  return base;
}

/** Optimal string alignment distance: insertions, deletions, substitutions and adjacent swaps cost 1. */
function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++)
    for (let j = 1; j <= b.length; j++) {
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i]![j] = Math.min(d[i]![j]!, d[i - 2]![j - 2]! + 1);
    }
  return d[a.length]![b.length]!;
}

/**
 * The known field a misspelt one most likely meant, or none: one edit for names up to 4 letters,
 * two up to 8, three beyond, so `dataDri` finds `dataDir` but `end` is never taken for `dns`.
 */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  const allowed = word.length <= 4 ? 1 : word.length <= 8 ? 2 : 3;
  let best: string | undefined;
  let bestDistance = allowed + 1;
  for (const candidate of candidates) {
    const dist = editDistance(word.toLowerCase(), candidate.toLowerCase());
    if (dist < bestDistance) {
      best = candidate;
      bestDistance = dist;
    }
  }
  return best;
}

const article = (noun: string): string => (/^[aeiou]/i.test(noun) ? `an ${noun}` : `a ${noun}`);

function fixFor(err: ErrorObject, place: YamlPlace | undefined): string {
  const schema = err.parentSchema as { description?: string; properties?: Record<string, unknown> } | undefined;
  const p = err.params as Record<string, unknown>;
  switch (err.keyword) {
    case 'required':
      return `add the field \`${String(p.missingProperty)}\``;
    case 'additionalProperties': {
      const known = Object.keys(schema?.properties ?? {});
      const guess = closest(String(p.additionalProperty), known);
      return guess ? `remove it or rename it to \`${guess}\`` : `remove it (known fields: ${known.join(', ')})`;
    }
    case 'format':
      return p.format === 'ipv4' ? 'use a dotted IPv4 address such as 198.18.0.1' : `use a valid ${String(p.format)}`;
    case 'type': {
      const wanted = String(p.type);
      // YAML reads an unquoted 1.10 as the number 1.1: a version must be quoted.
      if (wanted === 'string' && (typeof err.data === 'number' || typeof err.data === 'boolean')) {
        const written = place?.written ?? String(err.data);
        return `quote it, as in "${written}" (unquoted, YAML reads ${written} as the ${typeof err.data} ${String(err.data)})`;
      }
      return `use ${article(wanted)}`;
    }
    case 'enum':
      return `use one of: ${(p.allowedValues as unknown[]).join(', ')}`;
    case 'const':
      return `use ${JSON.stringify(p.allowedValue)}`;
    case 'minimum':
    case 'maximum':
    case 'exclusiveMinimum':
    case 'exclusiveMaximum':
      return `use a value ${err.message ?? ''}`;
    case 'pattern':
      return schema?.description ? `expected ${schema.description}` : `match ${String(p.pattern)}`;
    case 'minItems':
    case 'maxItems':
    case 'minLength':
    case 'maxLength':
      return `it ${err.message ?? 'has the wrong size'}`;
    case 'oneOf':
      return 'set exactly one of the alternatives';
    default:
      return err.message ?? 'see the schema';
  }
}

/** `node rack1-n02, line 14`: the caller's label for the path and its line, whichever are known. */
function whereOf(segments: readonly (string | number)[], locator: FieldLocator | undefined): { at: string | undefined; place: YamlPlace | undefined } {
  if (!locator) return { at: undefined, place: undefined };
  // The deepest part of the path the text has: a missing field's parent, a wrong key's line.
  let place: YamlPlace | undefined;
  // The document itself (a missing top-level field) is no place worth naming.
  for (let n = segments.length; n >= 1 && !place; n--) place = locator.place?.(segments.slice(0, n));
  const parts = [place ? `line ${place.line}` : undefined, locator.label?.(segments)].filter((x): x is string => x !== undefined);
  return { at: parts.length ? parts.join(', ') : undefined, place: place && locator.place?.(segments) ? place : undefined };
}

/** `node rack1-n02, line 14` for a dotted field path (`nodes.1.profile`), or undefined when nothing is known. */
export function locate(field: string, locator: FieldLocator | undefined): string | undefined {
  return whereOf(
    field
      .split('.')
      .filter(Boolean)
      .map((s) => (/^\d+$/.test(s) ? Number(s) : s)),
    locator,
  ).at;
}

export function toFieldErrors(source: FieldSource, errors: readonly ErrorObject[], locator?: FieldLocator): InvalidFieldError[] {
  // oneOf/if parents repeat their children; keep the specific ones first, one per field+keyword.
  const seen = new Set<string>();
  const out: InvalidFieldError[] = [];
  for (const err of errors) {
    const field = fieldOf(err);
    const key = `${field}|${err.keyword}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const problem = err.keyword === 'additionalProperties' ? 'unknown field' : err.keyword === 'required' ? 'is required' : (err.message ?? 'invalid');
    const { at, place } = whereOf(segmentsOf(err), locator);
    const enumProblem = err.keyword === 'enum' && err.data !== undefined ? `is ${JSON.stringify(err.data)}, not one of the allowed values` : undefined;
    out.push(new InvalidFieldError(source, field, enumProblem ?? problem, fixFor(err, place), at));
  }
  return out;
}
