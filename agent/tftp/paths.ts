// Which requested names may be served, and where they live under the root. Pure: the file system
// lookups (case-insensitive match, realpath) happen in files.ts using these checks.
import path from 'node:path';

export type NameCheck = { readonly ok: true; readonly segments: readonly string[] } | { readonly ok: false; readonly reason: string };

/**
 * Splits a requested TFTP filename into path segments below the served root, or refuses it.
 *
 * Leading slashes are stripped: PXE configs commonly say `/undionly.kpxe`, and tftpd-hpa (`-s`)
 * treats such names as relative to its root too. So `/etc/passwd` means `<root>/etc/passwd`,
 * which does not exist, never the host's file.
 *
 * Refused outright: `..` segments, backslashes (Windows-style separators would be a second way to
 * spell a path), NUL and other control bytes, and any percent-escape: TFTP names are never
 * URL-encoded, so `%2e%2e`, `%2f` or `%00` can only be an attempt to smuggle one of the above
 * past a decoder somewhere downstream.
 */
export function checkRequestedName(name: string): NameCheck {
  if (name.length === 0) return { ok: false, reason: 'empty name' };
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f\x7f]/.test(name)) return { ok: false, reason: 'control character in name' };
  if (name.includes('\\')) return { ok: false, reason: 'backslash in name' };
  if (/%[0-9a-f]{2}/i.test(name)) return { ok: false, reason: 'percent-encoded name' };
  const segments = name
    .replace(/^\/+/, '')
    .split('/')
    .filter((segment) => segment !== '' && segment !== '.');
  if (segments.some((segment) => segment === '..')) return { ok: false, reason: 'parent directory segment' };
  if (segments.length === 0) return { ok: false, reason: 'names a directory' };
  return { ok: true, segments };
}

/** True when `candidate` (a real, absolute path) is `root` or lies below it. */
export function isInsideRoot(root: string, candidate: string): boolean {
  const relative = path.relative(root, candidate);
  if (relative === '') return true;
  return relative !== '..' && !relative.startsWith(`..${path.sep}`) && !path.isAbsolute(relative);
}

/**
 * The directory entry matching `wanted`: exact first, else case-insensitive (firmware and DHCP
 * configs disagree about `undionly.KPXE` vs `undionly.kpxe`). Several case-insensitive matches
 * resolve to the first in code-point order so the choice does not depend on readdir order.
 */
export function matchEntry(entries: readonly string[], wanted: string): string | undefined {
  if (entries.includes(wanted)) return wanted;
  const lower = wanted.toLowerCase();
  return entries.filter((entry) => entry.toLowerCase() === lower).sort()[0];
}
