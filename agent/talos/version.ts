// Talos release numbers as profiles spell them (`v1.13.9`, `v1.14.0-beta.1`). Kernel-arg defaults
// and the machine-config schema both depend on major.minor.
import { TalosVersionError } from '../errors.js';

export interface TalosVersion {
  readonly major: number;
  readonly minor: number;
  readonly patch: number;
  /** Release line, e.g. `1.13`: picks the schema. */
  readonly line: string;
}

export const SUPPORTED_LINES = ['1.12', '1.13', '1.14', '1.15'] as const;

export function parseTalosVersion(text: string): TalosVersion {
  const m = /^v?(\d+)\.(\d+)\.(\d+)(?:-[0-9A-Za-z.-]+)?$/.exec(text.trim());
  if (!m) throw new TalosVersionError(text, `v${SUPPORTED_LINES.join('.x, v')}.x (written like v1.13.9)`);
  const major = Number(m[1]);
  const minor = Number(m[2]);
  const line = `${major}.${minor}`;
  if (!(SUPPORTED_LINES as readonly string[]).includes(line)) throw new TalosVersionError(text, `v${SUPPORTED_LINES.join('.x, v')}.x`);
  return { major, minor, patch: Number(m[3]), line };
}

export function isBefore(v: TalosVersion, major: number, minor: number): boolean {
  return v.major < major || (v.major === major && v.minor < minor);
}
