// A real LevelDB agent store in a temp dir, closed and removed when the test ends.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { openStore, type AgentStore } from '../../agent/store/store.js';

export async function tempAgentStore(t: { teardown(fn: () => unknown): void }, tag: string): Promise<{ dir: string; store: AgentStore }> {
  const dir = await mkdtemp(path.join(tmpdir(), `maskin-${tag}-`));
  const store = await openStore(dir);
  t.teardown(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });
  return { dir, store };
}
