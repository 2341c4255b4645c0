// The README's Layout section matches the tree: every folder under agent/ has a row, and each row
// names every file and subfolder of its folder, so a new file cannot land undocumented.
import t from 'tap';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { repoRoot } from './bed/agent.js';

const readme = readFileSync(path.join(repoRoot, 'README.md'), 'utf8');
const layout = readme.slice(readme.indexOf('## Layout'), readme.indexOf('\n## ', readme.indexOf('## Layout') + 1));
const rows = new Map<string, string>();
for (const line of layout.split('\n')) {
  const m = /^\| `([a-z]+)\/` \| (.*) \|$/.exec(line);
  if (m) rows.set(m[1]!, m[2]!);
}
const agentDir = path.join(repoRoot, 'agent');
const folders = readdirSync(agentDir).filter((name) => statSync(path.join(agentDir, name)).isDirectory());

t.test('every folder under agent/ has a Layout row, and every row a folder', async (t) => {
  t.same([...rows.keys()].sort(), [...folders].sort());
});

t.test('each row names every file and subfolder of its folder', async (t) => {
  for (const folder of folders) {
    const row = rows.get(folder) ?? '';
    for (const entry of readdirSync(path.join(agentDir, folder))) {
      const isDir = statSync(path.join(agentDir, folder, entry)).isDirectory();
      if (!isDir && !entry.endsWith('.ts')) continue;
      const name = isDir ? `${entry}/` : entry.replace(/\.ts$/, '');
      t.ok(row.includes(`\`${name}\``), `agent/${folder}/${entry} is named in the ${folder}/ row`);
    }
  }
});
