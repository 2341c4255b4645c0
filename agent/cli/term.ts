// Terminal text for the CLI (pure): colour only where the reader is a terminal, tables aligned by
// what the eye sees, sizes in binary units.

/** SGR colours the CLI uses; each wraps its text, or returns it unchanged when colour is off. */
export interface Paint {
  readonly enabled: boolean;
  red(text: string): string;
  green(text: string): string;
  yellow(text: string): string;
  dim(text: string): string;
  bold(text: string): string;
}

/**
 * Colour on a terminal only, and never when NO_COLOR is set to anything non-empty
 * (https://no-color.org) or TERM is `dumb`.
 */
export function colourWanted(stream: { readonly isTTY?: boolean }, env: NodeJS.ProcessEnv): boolean {
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  if (env.TERM === 'dumb') return false;
  return stream.isTTY === true;
}

const sgr =
  (enabled: boolean, on: number, off: number) =>
  (text: string): string =>
    enabled && text !== '' ? `\u001b[${on}m${text}\u001b[${off}m` : text;

export function paint(enabled: boolean): Paint {
  return {
    enabled,
    red: sgr(enabled, 31, 39),
    green: sgr(enabled, 32, 39),
    yellow: sgr(enabled, 33, 39),
    dim: sgr(enabled, 2, 22),
    bold: sgr(enabled, 1, 22),
  };
}

export const NO_PAINT: Paint = paint(false);

const ANSI = /\u001b\[[0-9;]*m/g;

/** Columns the text takes on a terminal: without SGR sequences, one per code point. */
export function visibleLength(text: string): number {
  return [...text.replace(ANSI, '')].length;
}

/** Rows as columns separated by two spaces, padded by visible width; the last column is not padded. */
export function table(rows: readonly (readonly string[])[]): string {
  if (rows.length === 0) return '';
  const columns = Math.max(...rows.map((r) => r.length));
  const widths = Array.from({ length: columns }, (_, i) => Math.max(...rows.map((r) => visibleLength(r[i] ?? ''))));
  return (
    rows
      .map((r) =>
        r
          .map((cell, i) => (i === r.length - 1 ? cell : cell + ' '.repeat(widths[i]! - visibleLength(cell))))
          .join('  ')
          .trimEnd(),
      )
      .join('\n') + '\n'
  );
}

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'] as const;

/** 21474836480 → "20.0 GiB", 1536 → "1.5 KiB", 900 → "900 B": IEC units, one decimal below 100. */
export function bytes(n: number): string {
  if (!Number.isFinite(n) || n < 0) return '-';
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  if (unit === 0) return `${n} B`;
  return `${value < 100 ? value.toFixed(1) : Math.round(value)} ${UNITS[unit]}`;
}

/** A progress bar of `width` cells for a share in [0, 1]. */
export function bar(share: number, width = 30): string {
  const filled = Math.round(Math.min(1, Math.max(0, share)) * width);
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`;
}
