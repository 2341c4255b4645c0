// The agent's own JSON Schemas (config/*.schema.json): compiled once, and every ajv error turned
// into an InvalidFieldError that names the field and the fix.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import AjvModule, { type ErrorObject, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { InvalidFieldError, type FieldSource } from '../errors.js';

const Ajv = AjvModule.default;
const addFormats = addFormatsModule.default;

/**
 * A lazily compiled validator for `config/<file>` at the repo top, found from agent/ (ts) and
 * dist/agent/ (js) alike; returns every problem, or none.
 */
export function schemaValidator(file: string, formats: readonly ('ipv4' | 'date-time')[], source: FieldSource): (raw: unknown) => InvalidFieldError[] {
  let validate: ValidateFunction | undefined;
  return (raw) => {
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
    return validate(raw) ? [] : toFieldErrors(source, validate.errors ?? []);
  };
}

function fieldOf(err: ErrorObject): string {
  const base = err.instancePath.replace(/^\//, '').split('/').filter(Boolean).join('.');
  if (err.keyword === 'required') return [base, (err.params as { missingProperty: string }).missingProperty].filter(Boolean).join('.');
  if (err.keyword === 'additionalProperties') return [base, (err.params as { additionalProperty: string }).additionalProperty].filter(Boolean).join('.');
  return base;
}

function closest(word: string, candidates: string[]): string | undefined {
  const distance = (a: string, b: string): number => {
    const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
    for (let j = 1; j <= b.length; j++) d[0]![j] = j;
    for (let i = 1; i <= a.length; i++)
      for (let j = 1; j <= b.length; j++) d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    return d[a.length]![b.length]!;
  };
  let best: string | undefined;
  let bestDistance = 3;
  for (const candidate of candidates) {
    const dist = distance(word.toLowerCase(), candidate.toLowerCase());
    if (dist < bestDistance) {
      best = candidate;
      bestDistance = dist;
    }
  }
  return best;
}

function fixFor(err: ErrorObject): string {
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
    case 'type':
      return `use a ${String(p.type)}`;
    case 'enum':
      return `use one of: ${(p.allowedValues as unknown[]).join(', ')}`;
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

export function toFieldErrors(source: FieldSource, errors: readonly ErrorObject[]): InvalidFieldError[] {
  // oneOf/if parents repeat their children; keep the specific ones first, one per field+keyword.
  const seen = new Set<string>();
  const out: InvalidFieldError[] = [];
  for (const err of errors) {
    const field = fieldOf(err);
    const key = `${field}|${err.keyword}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const problem = err.keyword === 'additionalProperties' ? 'unknown field' : err.keyword === 'required' ? 'is required' : (err.message ?? 'invalid');
    out.push(new InvalidFieldError(source, field, problem, fixFor(err)));
  }
  return out;
}
