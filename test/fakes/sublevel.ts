// An in-memory stand-in for a store sublevel: the iterator(), batch() and put() the lease pool and
// the node registry use. put() stores a copy, as the real store serialises.
// `failing` makes every batch reject, for the "store broken" path.
import type { Sublevel } from '../../agent/store/store.js';

export interface MemorySublevel<V> {
  readonly sublevel: Sublevel<V>;
  readonly data: Map<string, V>;
  /** Number of batch() calls, and how many asked for sync. */
  readonly stats: { batches: number; synced: number };
}

export function memorySublevel<V>(opts: { failing?: boolean; initial?: Iterable<[string, V]> } = {}): MemorySublevel<V> {
  const data = new Map<string, V>(opts.initial ?? []);
  const stats = { batches: 0, synced: 0 };
  const fake = {
    async *iterator(): AsyncGenerator<[string, V]> {
      for (const entry of [...data.entries()]) yield entry;
    },
    async batch(ops: Array<{ type: 'put'; key: string; value: V } | { type: 'del'; key: string }>, options?: { sync?: boolean }) {
      stats.batches++;
      if (options?.sync) stats.synced++;
      if (opts.failing) throw new Error('disk on fire');
      for (const op of ops) {
        if (op.type === 'put') data.set(op.key, op.value);
        else data.delete(op.key);
      }
    },
    async put(key: string, value: V) {
      data.set(key, structuredClone(value));
    },
  };
  return { sublevel: fake as unknown as Sublevel<V>, data, stats };
}
