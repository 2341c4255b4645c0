// The sources are as prettier (.prettierrc.json) writes them: `npm run format` fixes a failure.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { repoRoot } from './bed/agent.js';

t.test('every TypeScript and JavaScript source is prettier-formatted', async (t) => {
  const bin = path.join(repoRoot, 'node_modules', '.bin', 'prettier');
  const run = spawnSync(bin, ['--list-different', '**/*.{ts,mjs,js}'], { cwd: repoRoot, encoding: 'utf8' });
  t.equal(run.error, undefined, 'prettier ran');
  const unformatted = run.stdout.split('\n').filter((line) => line !== '');
  t.same(unformatted, [], `not formatted (run npm run format): ${unformatted.join(', ')}`);
  t.equal(run.status, 0, `prettier exited 0 ${run.stderr}`);
});
