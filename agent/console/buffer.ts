// Per-node console buffers: the last lines each node sent, bounded per node (lines and bytes),
// in the number of nodes (least recently written goes first) and in rate (a token bucket per
// node; lines past it are dropped and counted). In memory only: a restart starts them empty.
import type { ConsoleLine } from './lines.js';

export interface ConsoleLimits {
  readonly linesPerNode: number;
  readonly bytesPerNode: number;
  readonly nodes: number;
  /** Lines per second a node may add, sustained; `burstLines` at once. */
  readonly linesPerSecond: number;
  readonly burstLines: number;
}

export const DEFAULT_CONSOLE_LIMITS: ConsoleLimits = { linesPerNode: 1000, bytesPerNode: 256 * 1024, nodes: 512, linesPerSecond: 200, burstLines: 2000 };

export interface ConsoleCounts {
  readonly kept: number;
  /** Lines over a node's rate. */
  readonly rateDropped: number;
  /** Lines pushed out of a full buffer by newer ones. */
  readonly evicted: number;
}

interface Entry {
  readonly lines: ConsoleLine[];
  bytes: number;
  tokens: number;
  refilledAt: number;
  /** Lines ever dropped for this node (rate) or pushed out (size). */
  dropped: number;
}

const sizeOf = (l: ConsoleLine): number => l.msg.length + l.source.length + l.level.length + l.at.length;

export class ConsoleBuffers {
  // Map order is insertion order: re-inserting on every write keeps the least recently written first.
  private readonly entries = new Map<string, Entry>();
  private counts = { kept: 0, rateDropped: 0, evicted: 0 };

  constructor(
    private readonly limits: ConsoleLimits,
    private readonly now: () => number,
  ) {}

  /** Adds a line to the node's buffer; false when the node's rate dropped it. */
  append(nodeId: string, line: ConsoleLine): boolean {
    const entry = this.entryOf(nodeId);
    const t = this.now();
    entry.tokens = Math.min(this.limits.burstLines, entry.tokens + ((t - entry.refilledAt) / 1000) * this.limits.linesPerSecond);
    entry.refilledAt = t;
    if (entry.tokens < 1) {
      entry.dropped += 1;
      this.counts.rateDropped += 1;
      return false;
    }
    entry.tokens -= 1;
    entry.lines.push(line);
    entry.bytes += sizeOf(line);
    while (entry.lines.length > this.limits.linesPerNode || entry.bytes > this.limits.bytesPerNode) {
      entry.bytes -= sizeOf(entry.lines.shift()!);
      entry.dropped += 1;
      this.counts.evicted += 1;
    }
    this.counts.kept += 1;
    return true;
  }

  /** The node's lines, oldest first, at most `limit` of the newest. */
  lines(nodeId: string, limit = Infinity): { lines: readonly ConsoleLine[]; dropped: number } {
    const entry = this.entries.get(nodeId);
    if (!entry) return { lines: [], dropped: 0 };
    return { lines: entry.lines.slice(Math.max(0, entry.lines.length - limit)), dropped: entry.dropped };
  }

  forget(nodeId: string): void {
    this.entries.delete(nodeId);
  }

  nodeCount(): number {
    return this.entries.size;
  }

  totals(): ConsoleCounts {
    return { ...this.counts };
  }

  private entryOf(nodeId: string): Entry {
    let entry = this.entries.get(nodeId);
    if (entry) {
      this.entries.delete(nodeId);
    } else {
      entry = { lines: [], bytes: 0, tokens: this.limits.burstLines, refilledAt: this.now(), dropped: 0 };
      if (this.entries.size >= this.limits.nodes) this.entries.delete(this.entries.keys().next().value!);
    }
    this.entries.set(nodeId, entry);
    return entry;
  }
}
