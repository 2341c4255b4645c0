// Shared helpers for the image cache tests: blobs with their digests, and a store over a temp dir.
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { openContentStore, type ImageStore, type IndexEntry } from '../../agent/images/store.js';
import { openStore, type AgentStore } from '../../agent/store/store.js';

export const silent = pino({ level: 'silent' });

export const digestOf = (bytes: Uint8Array): string => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

export function blob(size: number): { bytes: Buffer; digest: string } {
  const bytes = randomBytes(size);
  return { bytes, digest: digestOf(bytes) };
}

/** The bytes in `chunk`-sized pieces, as an upstream body would arrive. */
export async function* chunks(bytes: Uint8Array, chunk = 64 * 1024): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < bytes.length; i += chunk) yield bytes.subarray(i, i + chunk);
}

export interface StoreBed {
  readonly dataDir: string;
  readonly cacheDir: string;
  db: AgentStore;
  store: ImageStore;
  reopen(opts?: { limitBytes?: number; now?: () => Date }): Promise<ImageStore>;
  close(): Promise<void>;
}

export async function storeBed(opts: { limitBytes?: number; cacheDir?: string; now?: () => Date } = {}): Promise<StoreBed> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'maskin-images-'));
  const cacheDir = opts.cacheDir ?? path.join(dataDir, 'cache');
  const open = async (db: AgentStore, o: { limitBytes?: number; now?: () => Date }): Promise<ImageStore> =>
    openContentStore({
      dir: cacheDir,
      index: db.sublevel<IndexEntry>('images'),
      limitBytes: o.limitBytes ?? 1 << 30,
      log: silent,
      ...(o.now ? { now: o.now } : {}),
    });
  const db = await openStore(dataDir);
  const bed: StoreBed = {
    dataDir,
    cacheDir,
    db,
    store: await open(db, opts),
    async reopen(o = opts) {
      await bed.db.close();
      bed.db = await openStore(dataDir);
      bed.store = await open(bed.db, o);
      return bed.store;
    },
    async close() {
      await bed.db.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
  return bed;
}
