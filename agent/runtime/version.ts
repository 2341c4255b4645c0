// The agent's own version: `version` of the maskin-agent package.json, found from agent/ (ts) and
// dist/agent/ (js) alike. Read once.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

let cached: string | undefined;

export function agentVersion(): string {
  if (cached !== undefined) return cached;
  for (const dir of ['../../', '../../../']) {
    try {
      const pkg = JSON.parse(readFileSync(fileURLToPath(new URL(dir + 'package.json', import.meta.url)), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'maskin-agent' && typeof pkg.version === 'string') return (cached = pkg.version);
    } catch {
      // not at this depth
    }
  }
  return (cached = 'unknown');
}
