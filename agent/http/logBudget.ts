// How many log lines about refused requests each source may cause: the first `linesPerWindow` of a
// window are written, the rest only counted, and each window that held lines back ends in one
// summary. A flood from one address then costs a few lines a minute, while every other source keeps
// its own budget. Pure: the caller passes the time and writes the lines.

export interface LogBudgetOptions {
  readonly linesPerWindow: number;
  readonly windowMs: number;
  /** Sources tracked at once; past it, new sources share one budget under OTHER_SOURCES. */
  readonly maxSources?: number;
}

/** A window of one source that held lines back: what its summary line says. */
export interface Suppressed {
  readonly source: string;
  readonly suppressed: number;
}

export interface Take {
  /** Whether this line may be written. */
  readonly write: boolean;
  /** The source's previous window ended with lines held back: summarise it before this line. */
  readonly ended?: Suppressed;
}

export const OTHER_SOURCES = 'other sources';

interface Window {
  readonly start: number;
  written: number;
  suppressed: number;
}

export class LogBudget {
  private readonly windows = new Map<string, Window>();
  private readonly maxSources: number;

  constructor(private readonly options: LogBudgetOptions) {
    this.maxSources = options.maxSources ?? 4096;
  }

  take(source: string, now: number): Take {
    const key = this.windows.has(source) || this.windows.size < this.maxSources ? source : OTHER_SOURCES;
    let window = this.windows.get(key);
    let ended: Suppressed | undefined;
    if (window !== undefined && now - window.start >= this.options.windowMs) {
      if (window.suppressed > 0) ended = { source: key, suppressed: window.suppressed };
      window = undefined;
    }
    if (window === undefined) {
      window = { start: now, written: 0, suppressed: 0 };
      this.windows.set(key, window);
    }
    const write = window.written < this.options.linesPerWindow;
    if (write) window.written += 1;
    else window.suppressed += 1;
    return ended ? { write, ended } : { write };
  }

  /** Forgets every window ended by `now` (all of them for Infinity), returning those that held lines back. */
  drain(now: number): Suppressed[] {
    const out: Suppressed[] = [];
    for (const [source, window] of this.windows) {
      if (now - window.start < this.options.windowMs) continue;
      this.windows.delete(source);
      if (window.suppressed > 0) out.push({ source, suppressed: window.suppressed });
    }
    return out;
  }
}
