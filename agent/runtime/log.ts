// The agent's log: pino with ISO times and level names. JSON lines for machines, with the syslog
// priority prefix journald reads (sd-daemon(3): "<N>" at the start of a line) when stdout is the
// journal, or one human line per record on a terminal or with MASKIN_LOG_FORMAT=pretty.
import { fstatSync } from 'node:fs';
import pino, { type DestinationStream, type Logger } from 'pino';
import { colourWanted, NO_PAINT, paint, type Paint } from '../cli/term.js';

export type LogFormat = 'json' | 'pretty';

/** syslog priorities (RFC 5424 §6.2.1) for pino's levels: fatal crit, error err, warn warning, info info, debug and trace debug. */
export const JOURNAL_PRIORITY: Readonly<Record<string, number>> = { fatal: 2, error: 3, warn: 4, info: 6, debug: 7, trace: 7 };

/** MASKIN_LOG_FORMAT (json | pretty) when set, else pretty on a terminal and JSON otherwise. */
export function logFormat(env: NodeJS.ProcessEnv, stream: { readonly isTTY?: boolean }): LogFormat {
  if (env.MASKIN_LOG_FORMAT === 'pretty' || env.MASKIN_LOG_FORMAT === 'json') return env.MASKIN_LOG_FORMAT;
  return stream.isTTY === true ? 'pretty' : 'json';
}

/** Whether fd is the stream systemd connected to the journal: JOURNAL_STREAM is its "device:inode" (systemd.exec(5)). */
export function isJournal(env: NodeJS.ProcessEnv, fd: number): boolean {
  const expected = env.JOURNAL_STREAM;
  if (!expected) return false;
  try {
    const st = fstatSync(fd);
    return expected === `${st.dev}:${st.ino}`;
  } catch {
    return false;
  }
}

const LEVEL_AT_START = /^\{"level":"([a-z]+)"/;

/** A JSON line with journald's priority prefix, read from the level pino writes first. Pure. */
export function withPriority(line: string): string {
  const level = LEVEL_AT_START.exec(line)?.[1];
  return `<${JOURNAL_PRIORITY[level ?? ''] ?? 6}>${line}`;
}

const OMITTED = new Set(['level', 'time', 'msg', 'pid', 'hostname', 'component', 'agent', 'err']);
const LABEL: Readonly<Record<string, (p: Paint) => string>> = {
  fatal: (p) => p.red('FATAL'),
  error: (p) => p.red('ERROR'),
  warn: (p) => p.yellow('WARN '),
  info: (p) => p.green('INFO '),
  debug: (p) => p.dim('DEBUG'),
  trace: (p) => p.dim('TRACE'),
};

function value(v: unknown): string {
  if (typeof v === 'string') return /^[^\s"=]+$/.test(v) ? v : JSON.stringify(v);
  return JSON.stringify(v) ?? String(v);
}

/**
 * One JSON log line as a human reads it: `time LEVEL component: message key=value …`, an error's
 * stack indented below. A line that is not a JSON object comes back as it was. Pure.
 */
export function prettyLine(line: string, p: Paint = NO_PAINT): string {
  let record: Record<string, unknown>;
  try {
    record = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line;
  }
  if (record === null || typeof record !== 'object') return line;
  const level = typeof record.level === 'string' ? record.level : 'info';
  const head = [
    typeof record.time === 'string' ? p.dim(record.time) : '',
    (LABEL[level] ?? ((q: Paint) => q.bold(level.toUpperCase())))(p),
    typeof record.component === 'string' ? `${p.bold(record.component)}:` : '',
    typeof record.msg === 'string' ? record.msg : '',
  ].filter((s) => s !== '');
  const fields = Object.entries(record)
    .filter(([k]) => !OMITTED.has(k))
    .map(([k, v]) => `${p.dim(`${k}=`)}${value(v)}`);
  const err = record.err as { message?: unknown; stack?: unknown } | undefined;
  let tail = '';
  if (err && typeof err === 'object') {
    fields.push(`${p.dim('err=')}${value(typeof err.message === 'string' ? err.message : err)}`);
    if (typeof err.stack === 'string')
      tail =
        '\n' +
        err.stack
          .split('\n')
          .map((l) => `    ${l}`)
          .join('\n');
  }
  return [...head, ...fields].join(' ') + tail + '\n';
}

export interface LoggerOptions {
  readonly level: string;
  readonly base?: Record<string, unknown>;
  readonly env: NodeJS.ProcessEnv;
  /** Where lines go; default stdout (fd 1). */
  readonly stream?: { write(text: string): unknown; readonly isTTY?: boolean };
  /** Whether `stream` is the journal; default: fd 1 against JOURNAL_STREAM. */
  readonly journal?: boolean;
}

/** The agent's logger (see the header); nothing here can throw into a log call. */
export function createLogger(opts: LoggerOptions): Logger {
  const stream = opts.stream ?? process.stdout;
  const format = logFormat(opts.env, stream);
  const journal = opts.journal ?? (opts.stream === undefined && isJournal(opts.env, 1));
  const colours = paint(format === 'pretty' && colourWanted(stream, opts.env));
  const destination: DestinationStream = {
    write(line: string) {
      if (format === 'pretty') stream.write(prettyLine(line, colours));
      else stream.write(journal ? withPriority(line) : line);
    },
  };
  return pino(
    {
      level: opts.level,
      ...(opts.base ? { base: opts.base } : {}),
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
}
