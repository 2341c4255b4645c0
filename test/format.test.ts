// The sources are as prettier (.prettierrc.json) writes them: `npm run format` fixes a failure.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { repoRoot } from './bed/agent.js';

t.test('every TypeScript and JavaScript source is prettier-formatted', async (t) => {
  const bin = path.join(repoRoot, 'node_modules', '.bin', 'prettier');
  // The tracked and new sources by name, not a glob: a glob walks build/ too, where image/build's
  // root (with /proc mounted) may be in the making.
  const files = spawnSync('git', ['ls-files', '--cached', '--others', '--exclude-standard', '*.ts', '*.mjs', '*.js'], { cwd: repoRoot, encoding: 'utf8' })
    .stdout.split('\n')
    .filter((f) => f !== '');
  t.ok(files.length > 100, `${files.length} sources to check`);
  const run = spawnSync(bin, ['--list-different', ...files], { cwd: repoRoot, encoding: 'utf8' });
  t.equal(run.error, undefined, 'prettier ran');
  const unformatted = run.stdout.split('\n').filter((line) => line !== '');
  t.same(unformatted, [], `not formatted (run npm run format): ${unformatted.join(', ')}`);
  t.equal(run.status, 0, `prettier exited 0 ${run.stderr}`);
});
