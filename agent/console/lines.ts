// Talos log delivery, decoded: the `json_lines` format of machine.logging.destinations (one JSON
// object per line over TCP; `msg`, `talos-level`, `talos-service` and `talos-time` always present)
// and the kernel log sent to `talos.logging.kernel=tcp://…` (the same framing; kernel records
// carry `facility`, `priority`, `seq`, `clock` besides `msg`, `talos-level` and `talos-time`).
// Pure: a byte splitter with a line bound, a line parser, and the milestones a console line marks.

/** One console line as the agent keeps it. */
export interface ConsoleLine {
  /** ISO 8601: the node's `talos-time` when it parsed as a time, else when the agent received it. */
  readonly at: string;
  /** `kernel` for kernel records, else the `talos-service` (e.g. machined), else `unknown`. */
  readonly source: string;
  /** `talos-level` (e.g. info, warning, error), else `info`. */
  readonly level: string;
  readonly msg: string;
}

/** Longest field value kept, in characters; the rest is cut and marked with an ellipsis. */
export const MAX_MSG_CHARS = 1024;
const MAX_SOURCE_CHARS = 64;
const MAX_LEVEL_CHARS = 16;

const cut = (s: string, max: number): string => (s.length > max ? `${s.slice(0, max)}…` : s);

/** Drops control characters other than tab, so a console line can be printed to a terminal as is. */
const printable = (s: string): string => s.replace(/[\u0000-\u0008\u000a-\u001f\u007f-\u009f]/g, '');

/**
 * Splits a byte stream into lines at LF. A line longer than `maxLineBytes` is cut there: its first
 * `maxLineBytes` bytes are returned once (counted in `oversized`) and the rest, up to the next LF,
 * is skipped, so one endless line holds at most `maxLineBytes` in memory.
 */
export class LineSplitter {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private skipping = false;
  oversized = 0;

  constructor(private readonly maxLineBytes: number) {}

  push(chunk: Buffer): string[] {
    const lines: string[] = [];
    let start = 0;
    while (start < chunk.length) {
      const lf = chunk.indexOf(0x0a, start);
      const end = lf < 0 ? chunk.length : lf;
      if (!this.skipping) {
        const room = this.maxLineBytes - this.pendingBytes;
        const take = Math.min(room, end - start);
        if (take > 0) {
          this.pending.push(chunk.subarray(start, start + take));
          this.pendingBytes += take;
        }
        if (end - start > take) {
          lines.push(this.flush());
          this.oversized += 1;
          this.skipping = true;
        }
      }
      if (lf < 0) break;
      if (this.skipping) this.skipping = false;
      else lines.push(this.flush());
      start = lf + 1;
    }
    return lines.filter((l) => l.length > 0);
  }

  private flush(): string {
    const line = Buffer.concat(this.pending, this.pendingBytes).toString('utf8').replace(/\r$/, '');
    this.pending = [];
    this.pendingBytes = 0;
    return line;
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A `json_lines` record, or undefined for anything that is not an object with a string `msg`. */
export function parseLogLine(line: string, receivedAt: Date): ConsoleLine | undefined {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (!isObject(value) || typeof value['msg'] !== 'string') return undefined;
  const time = typeof value['talos-time'] === 'string' ? Date.parse(value['talos-time']) : Number.NaN;
  const service = value['talos-service'];
  const kernel = typeof service !== 'string' && ('facility' in value || 'priority' in value);
  const level = value['talos-level'];
  return {
    at: new Date(Number.isFinite(time) ? time : receivedAt.getTime()).toISOString(),
    source: kernel ? 'kernel' : typeof service === 'string' && service !== '' ? cut(printable(service), MAX_SOURCE_CHARS) : 'unknown',
    level: typeof level === 'string' && level !== '' ? cut(printable(level), MAX_LEVEL_CHARS) : 'info',
    msg: cut(printable(value['msg']), MAX_MSG_CHARS),
  };
}

/** Console lines that mark a step of a node's boot, for its timeline. */
export type Milestone = 'kernel-started' | 'maintenance-mode' | 'installer-error' | 'kernel-panic' | 'wipe-started' | 'wipe-complete';

const MILESTONES: readonly { readonly milestone: Milestone; readonly test: (l: ConsoleLine) => boolean }[] = [
  // The kernel's first record (init/main.c prints the banner before anything else).
  { milestone: 'kernel-started', test: (l) => l.source === 'kernel' && l.msg.startsWith('Linux version ') },
  { milestone: 'kernel-panic', test: (l) => l.source === 'kernel' && l.msg.startsWith('Kernel panic - not syncing') },
  // Talos's config.AcquireController logs this when it has no machine config and waits for one.
  { milestone: 'maintenance-mode', test: (l) => l.msg.startsWith('entering maintenance service') },
  // Talos's ResetSystemDiskPartitions task (talos.experimental.wipe=system) logs these around the wipe.
  { milestone: 'wipe-complete', test: (l) => /\bfinished resetting system disks\b/.test(l.msg) },
  { milestone: 'wipe-started', test: (l) => /\bresetting system disks\b/.test(l.msg) && !/\b(finished|failed)\b/.test(l.msg) },
  { milestone: 'installer-error', test: (l) => l.source !== 'kernel' && (l.level === 'error' || l.level === 'fatal') },
];

export function milestoneOf(line: ConsoleLine): Milestone | undefined {
  return MILESTONES.find((m) => m.test(line))?.milestone;
}
