// The one path policy of every file server: TFTP's served directory and HTTP's /boot/ and /assets/
// trees. Which requested names and URL paths may be served, as segments below the served root, and
// whether a resolved real path stays inside that root. Pure: the file system lookups (realpath,
// TFTP's case-insensitive match) happen in the servers, which refuse a real path outside the real
// root, so a symlink cannot lead out of it.
import path from 'node:path';

export type NameCheck = { readonly ok: true; readonly segments: readonly string[] } | { readonly ok: false; readonly reason: string };

/** Why an HTTP path is refused; agent/http/errorStatus.ts maps each to a status. */
export type PathRefusal = 'non-canonical' | 'directory' | 'hidden' | 'outside-root';

export type UrlPathCheck =
  { readonly ok: true; readonly segments: readonly string[] } | { readonly ok: false; readonly refusal: PathRefusal; readonly reason: string };

// eslint-disable-next-line no-control-regex
const CONTROL = /[\x00-\x1f\x7f]/;

/** The rules every decoded segment obeys, whichever protocol named it. */
function segmentProblem(segment: string): string | undefined {
  if (CONTROL.test(segment)) return 'control character in name';
  if (segment.includes('\\')) return 'backslash in name';
  if (segment === '..') return 'parent directory segment';
  return undefined;
}

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
  if (CONTROL.test(name)) return { ok: false, reason: 'control character in name' };
  if (name.includes('\\')) return { ok: false, reason: 'backslash in name' };
  if (/%[0-9a-f]{2}/i.test(name)) return { ok: false, reason: 'percent-encoded name' };
  const segments = name
    .replace(/^\/+/, '')
    .split('/')
    .filter((segment) => segment !== '' && segment !== '.');
  const problem = segments.map(segmentProblem).find((p) => p !== undefined);
  if (problem !== undefined) return { ok: false, reason: problem };
  if (segments.length === 0) return { ok: false, reason: 'names a directory' };
  return { ok: true, segments };
}

// RFC 3986 §3.3: pchar = unreserved / pct-encoded / sub-delims / ":" / "@".
const PCHAR = /^[A-Za-z0-9\-._~!$&'()*+,;=:@]$/;
const PLAIN_PATH = /^[A-Za-z0-9\-._~!$&'()*+,;=:@/]*$/;
const utf8 = new TextDecoder('utf-8', { fatal: true });

type Decoded = { readonly ok: true; readonly text: string } | { readonly ok: false; readonly reason: string };

/**
 * One raw path segment, decoded, if it is spelled canonically (RFC 3986 §6.2.2): a percent-escape
 * is upper-case hex (§6.2.2.1) of a byte that cannot appear unencoded (§6.2.2.2 for unreserved
 * characters; the other pchars name the same file either way), never of `/`, `\`, `%` (double
 * encoding) or a control byte, and the bytes are UTF-8.
 */
function decodeSegment(raw: string): Decoded {
  if (!raw.includes('%')) {
    for (const c of raw) if (!PCHAR.test(c)) return { ok: false, reason: `${JSON.stringify(c)} must be percent-encoded in a path (RFC 3986 §3.3)` };
    return { ok: true, text: raw };
  }
  const bytes: number[] = [];
  for (let i = 0; i < raw.length; i += 1) {
    const c = raw[i]!;
    if (c !== '%') {
      if (!PCHAR.test(c)) return { ok: false, reason: `${JSON.stringify(c)} must be percent-encoded in a path (RFC 3986 §3.3)` };
      bytes.push(c.charCodeAt(0));
      continue;
    }
    const hex = raw.slice(i + 1, i + 3);
    if (!/^[0-9A-Fa-f]{2}$/.test(hex)) return { ok: false, reason: 'malformed percent-escape' };
    if (hex !== hex.toUpperCase()) return { ok: false, reason: 'lower-case percent-escape (RFC 3986 §6.2.2.1)' };
    const byte = parseInt(hex, 16);
    const char = String.fromCharCode(byte);
    if (byte === 0x2f) return { ok: false, reason: 'percent-encoded slash' };
    if (byte === 0x5c) return { ok: false, reason: 'percent-encoded backslash' };
    if (byte === 0x25) return { ok: false, reason: 'percent-encoded percent sign (double encoding)' };
    if (byte < 0x20 || byte === 0x7f) return { ok: false, reason: 'percent-encoded control character' };
    if (byte < 0x80 && PCHAR.test(char)) return { ok: false, reason: `percent-encoded ${JSON.stringify(char)}, which needs no escape (RFC 3986 §6.2.2.2)` };
    bytes.push(byte);
    i += 2;
  }
  try {
    return { ok: true, text: utf8.decode(Uint8Array.from(bytes)) };
  } catch {
    return { ok: false, reason: 'percent-escapes that are not UTF-8' };
  }
}

/**
 * The decoded segments of a raw (still percent-encoded) URL path, if it is the canonical spelling
 * of that path; otherwise a refusal. Canonical: it starts with `/`, has no empty segment except a
 * trailing one (`/v2/`), no dot segments (RFC 3986 §5.2.4 would remove them), and every segment
 * is spelled as decodeSegment requires. Every resource then has one URL: `/v1/%62oot/…`,
 * `/boot//x`, `/assets/a/../b` are refused instead of being served under a second name.
 */
export function parseUrlPath(raw: string): UrlPathCheck {
  if (!raw.startsWith('/')) return { ok: false, refusal: 'non-canonical', reason: 'not an absolute path' };
  const rawSegments = raw.slice(1).split('/');
  if (PLAIN_PATH.test(raw)) {
    const i = rawSegments.findIndex((s, at) => (s === '' && at < rawSegments.length - 1) || s === '.' || s === '..');
    if (i < 0) return { ok: true, segments: rawSegments };
  }
  const segments: string[] = [];
  for (const [at, rawSegment] of rawSegments.entries()) {
    if (rawSegment === '') {
      if (at < rawSegments.length - 1) return { ok: false, refusal: 'non-canonical', reason: 'empty path segment' };
      segments.push('');
      continue;
    }
    const decoded = decodeSegment(rawSegment);
    if (!decoded.ok) return { ok: false, refusal: 'non-canonical', reason: decoded.reason };
    if (decoded.text === '.' || decoded.text === '..') return { ok: false, refusal: 'non-canonical', reason: 'dot segment (RFC 3986 §5.2.4)' };
    const problem = segmentProblem(decoded.text);
    if (problem !== undefined) return { ok: false, refusal: 'non-canonical', reason: problem };
    segments.push(decoded.text);
  }
  return { ok: true, segments };
}

/**
 * The segments of a file below an HTTP tree's prefix (`rawBelow` is the raw path after `/boot/`
 * or `/assets/`), or a refusal: anything parseUrlPath refuses, a directory (nothing, or a trailing
 * slash), or a hidden name (a segment starting with `.`).
 */
export function checkServedPath(rawBelow: string): UrlPathCheck {
  const parsed = parseUrlPath(`/${rawBelow}`);
  if (!parsed.ok) return parsed;
  if (parsed.segments.at(-1) === '') return { ok: false, refusal: 'directory', reason: 'names a directory' };
  if (parsed.segments.some((segment) => segment.startsWith('.'))) return { ok: false, refusal: 'hidden', reason: 'hidden file or directory' };
  return parsed;
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
