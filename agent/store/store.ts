// LevelDB (classic-level) with one sublevel per concern. JSON values; writes that must survive a
// crash use { sync: true } at the call site. get() returns undefined when a key is absent.
import { ClassicLevel } from 'classic-level';
import type { AbstractSublevel } from 'abstract-level';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';

export type SublevelName = 'leases' | 'nodes' | 'tokens' | 'meta' | 'manifest' | 'outbox' | 'images' | 'oci-tags';
export type Sublevel<V> = AbstractSublevel<ClassicLevel<string, unknown>, string | Buffer | Uint8Array, string, V>;

export interface AgentStore {
  sublevel<V>(name: SublevelName): Sublevel<V>;
  close(): Promise<void>;
}

export async function openStore(dataDir: string): Promise<AgentStore> {
  const location = path.join(dataDir, 'store');
  await mkdir(location, { recursive: true });
  const db = new ClassicLevel<string, unknown>(location, { valueEncoding: 'json' });
  await db.open();
  return {
    sublevel: <V>(name: SublevelName) => db.sublevel<string, V>(name, { valueEncoding: 'json' }),
    close: () => db.close(),
  };
}
