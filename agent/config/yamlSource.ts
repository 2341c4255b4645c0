// YAML text with its positions kept (pure): so a syntax error quotes the line it is on, and a
// schema problem found in the parsed value can say on which line of the file its field is.
import { isScalar, LineCounter, parseAllDocuments, type Document } from 'yaml';
import { InvalidFieldError, type FieldSource } from '../errors.js';

/** Where a field is in the YAML text: its line, and the scalar as written (e.g. `1.10`, which YAML reads as 1.1). */
export interface YamlPlace {
  readonly line: number;
  readonly written?: string;
}

export interface YamlSource {
  /** The documents as JavaScript values, empty ones left out. */
  readonly values: readonly unknown[];
  /** The place of the field at `path` in the first non-empty document, if the text has it. */
  place(path: readonly (string | number)[]): YamlPlace | undefined;
}

/** A YAML syntax error: where, what, and the source line with a caret under the spot. */
export class YamlSyntaxError extends Error {
  constructor(
    readonly line: number | undefined,
    readonly column: number | undefined,
    readonly what: string,
    readonly excerpt: string,
  ) {
    super(what);
  }

  /** As a field problem of `source`, the excerpt quoted under the fix. */
  toFieldError(source: FieldSource): InvalidFieldError {
    const quoted = this.excerpt ? `:\n${this.excerpt.replace(/\n+$/, '').replace(/^/gm, '        ')}` : '';
    const at = this.line !== undefined ? `line ${this.line}${this.column !== undefined ? `, column ${this.column}` : ''}` : undefined;
    return new InvalidFieldError(source, '', `not valid YAML (${this.what})`, `fix the YAML syntax${quoted}`, at);
  }
}

/** Parses every document of `text`; throws YamlSyntaxError for the first error. */
export function parseYamlSource(text: string): YamlSource {
  const lines = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter: lines });
  const list: Document[] = Array.isArray(docs) ? docs : [docs as unknown as Document];
  for (const doc of list) {
    const err = doc.errors[0];
    if (!err) continue;
    // yaml's message: "<what> at line L, column C:\n\n<the line>\n<caret>\n".
    const [head = err.message, ...rest] = err.message.split('\n\n');
    const what = head.replace(/ at line \d+, column \d+:?$/, '');
    const pos = err.linePos?.[0];
    throw new YamlSyntaxError(pos?.line, pos?.col, what, rest.join('\n\n'));
  }
  const kept = list.map((doc) => ({ doc, value: doc.toJS() as unknown })).filter(({ value }) => value !== null && value !== undefined);
  const first = kept[0]?.doc;
  return {
    values: kept.map(({ value }) => value),
    place(path) {
      if (!first) return undefined;
      const node = first.getIn(path, true) as { range?: [number, number, number] } | undefined;
      const range = node?.range;
      if (!range) return undefined;
      const line = lines.linePos(range[0]).line;
      return isScalar(node) && typeof node.source === 'string' ? { line, written: node.source } : { line };
    },
  };
}
