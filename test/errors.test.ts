// The error catalogue and its documentation agree: README.md's error table has one row per code in
// ERROR_CODES and no other, and every MASKIN_ERR_ string in agent/ is a catalogued code.
import t from 'tap';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { ERROR_CODES } from '../agent/errors.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const known = new Set<string>(ERROR_CODES);

const duplicates = (list: readonly string[]): string[] => list.filter((code, i) => list.indexOf(code) !== i);

/** The first cells of the rows under README.md's "## Error codes" heading, up to the next heading. */
function readmeCodes(): { codes: string[]; incomplete: string[] } {
  const lines = readFileSync(path.join(root, 'README.md'), 'utf8').split('\n');
  const start = lines.indexOf('## Error codes');
  if (start < 0) return { codes: [], incomplete: [] };
  const end = lines.findIndex((line, i) => i > start && line.startsWith('## '));
  const codes: string[] = [];
  const incomplete: string[] = [];
  for (const line of lines.slice(start + 1, end < 0 ? undefined : end)) {
    const m = /^\| `(MASKIN_ERR_[A-Z0-9_]+)` \|(.*)\|\s*$/.exec(line);
    if (!m) continue;
    codes.push(m[1]!);
    // The rest of the row: what happened, and the fix.
    if (m[2]!.split('|').filter((cell) => cell.trim() !== '').length !== 2) incomplete.push(m[1]!);
  }
  return { codes, incomplete };
}

/** Every MASKIN_ERR_ token inside a string or template literal of a .ts file under agent/, with where it is. */
function codeLiterals(): { token: string; at: string }[] {
  const found: { token: string; at: string }[] = [];
  const files = readdirSync(path.join(root, 'agent'), { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts'));
  for (const file of files) {
    const source = ts.createSourceFile(file, readFileSync(path.join(root, 'agent', file), 'utf8'), ts.ScriptTarget.Latest, true);
    const visit = (node: ts.Node): void => {
      if (ts.isStringLiteralLike(node) || ts.isTemplateLiteralToken(node)) {
        for (const m of node.text.matchAll(/MASKIN_ERR_[A-Z0-9_]*/g)) {
          const { line } = source.getLineAndCharacterOfPosition(node.getStart(source));
          found.push({ token: m[0], at: `agent/${file}:${line + 1}` });
        }
      }
      ts.forEachChild(node, visit);
    };
    visit(source);
  }
  return found;
}

t.test('ERROR_CODES lists each code once', async (t) => {
  t.same(duplicates(ERROR_CODES), []);
  t.ok(
    ERROR_CODES.every((code) => /^MASKIN_ERR_[A-Z0-9]+(_[A-Z0-9]+)*$/.test(code)),
    'every code is MASKIN_ERR_ and upper-case words',
  );
});

t.test('README.md documents exactly the codes in ERROR_CODES', async (t) => {
  const { codes, incomplete } = readmeCodes();
  t.ok(codes.length > 0, 'README.md has an "## Error codes" table');
  t.same(
    ERROR_CODES.filter((code) => !codes.includes(code)),
    [],
    'every code has a row in README.md',
  );
  t.same(
    codes.filter((code) => !known.has(code)),
    [],
    'every row names a code in ERROR_CODES',
  );
  t.same(duplicates(codes), [], 'one row per code');
  t.same(incomplete, [], 'every row says what happened and the fix');
});

t.test('every MASKIN_ERR_ string literal in agent/ is a catalogued code', async (t) => {
  const literals = codeLiterals();
  t.ok(literals.length >= ERROR_CODES.length, 'the scan sees the catalogue itself');
  t.same(
    literals.filter((l) => !known.has(l.token)),
    [],
    'no code outside ERROR_CODES, and none built from a template',
  );
});
