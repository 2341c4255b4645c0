// A FIFO of (seq, time) pairs in ascending seq order: the outbox's in-memory index of one
// eviction class. Drops from the front in O(1) amortised (a head index, compacted now and then).
export interface IndexEntry {
  readonly seq: bigint;
  readonly at: number;
}

export class SeqQueue {
  private items: IndexEntry[] = [];
  private head = 0;

  get length(): number {
    return this.items.length - this.head;
  }

  first(): IndexEntry | undefined {
    return this.items[this.head];
  }

  at(i: number): IndexEntry | undefined {
    return i < 0 ? undefined : this.items[this.head + i];
  }

  /** Callers push in ascending seq order (the outbox assigns seqs in order). */
  push(entry: IndexEntry): void {
    this.items.push(entry);
  }

  /** How many entries from the front have seq ≤ through. */
  countThrough(through: bigint): number {
    // Binary search: the queue is sorted by seq.
    let lo = this.head;
    let hi = this.items.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.items[mid]!.seq <= through) lo = mid + 1;
      else hi = mid;
    }
    return lo - this.head;
  }

  dropFront(n: number): void {
    this.head += Math.min(n, this.length);
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
  }
}
