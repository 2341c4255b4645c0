import t from 'tap';
// The one path policy of TFTP and HTTP's /boot/ and /assets/: TFTP names, canonical URL paths,
// files below an HTTP tree, and the real-path containment check.
import { checkRequestedName, checkServedPath, isInsideRoot, matchEntry, parseUrlPath } from '../../agent/net/servedPath.js';

const accepted: [string, string[]][] = [
  ['undionly.kpxe', ['undionly.kpxe']],
  // Leading slashes are stripped: names are relative to the served root, as with tftpd-hpa -s.
  ['/undionly.kpxe', ['undionly.kpxe']],
  ['//efi/snponly.efi', ['efi', 'snponly.efi']],
  ['/etc/passwd', ['etc', 'passwd']],
  ['./a//b/./c', ['a', 'b', 'c']],
  ['..hidden', ['..hidden']],
  ['100%.bin', ['100%.bin']],
];
for (const [name, segments] of accepted) {
  t.test(`TFTP accepted: ${JSON.stringify(name)}`, async (t) => {
    t.same(checkRequestedName(name), { ok: true, segments });
  });
}

const refused = [
  '',
  '/',
  '.',
  '..',
  '../etc/passwd',
  'efi/../../etc/passwd',
  'a/..',
  '%2e%2e/etc/passwd',
  '%2E%2E%2Fetc%2Fpasswd',
  'efi%2f..%2fx',
  'undionly.kpxe%00.txt',
  '..\\etc\\passwd',
  'efi\\snponly.efi',
  'undionly.kpxe\0../etc/passwd',
  'line\nbreak',
];
for (const name of refused) {
  t.test(`TFTP refused: ${JSON.stringify(name)}`, async (t) => {
    t.equal(checkRequestedName(name).ok, false);
  });
}

t.test('isInsideRoot', async (t) => {
  t.equal(isInsideRoot('/srv/tftp', '/srv/tftp/a'), true);
  t.equal(isInsideRoot('/srv/tftp', '/srv/tftp/..hidden'), true);
  t.equal(isInsideRoot('/srv/tftp', '/srv/tftp'), true);
  t.equal(isInsideRoot('/srv/tftp', '/srv/tftpx/a'), false);
  t.equal(isInsideRoot('/srv/tftp', '/etc/passwd'), false);
  t.equal(isInsideRoot('/srv/tftp', '/srv'), false);
});

t.test('matchEntry: exact first, then case-insensitive, deterministic', async (t) => {
  t.equal(matchEntry(['UNDIONLY.KPXE', 'undionly.kpxe'], 'undionly.kpxe'), 'undionly.kpxe');
  t.equal(matchEntry(['SNPONLY.EFI'], 'snponly.efi'), 'SNPONLY.EFI');
  t.equal(matchEntry(['b.EFI', 'B.efi'], 'b.efi'), 'B.efi');
  t.equal(matchEntry(['a'], 'b'), undefined);
});

// Raw request paths (as they arrive, still percent-encoded) and their decoded segments.
const canonical: [string, string[]][] = [
  ['/', ['']],
  ['/boot.ipxe', ['boot.ipxe']],
  ['/v1/boot/AbC_-123456789012345/config', ['v1', 'boot', 'AbC_-123456789012345', 'config']],
  ['/v2/', ['v2', '']],
  ['/v2/factory.talos.dev/installer/manifests/sha256:ab', ['v2', 'factory.talos.dev', 'installer', 'manifests', 'sha256:ab']],
  ["/a/!$&'()*+,;=:@~", ['a', "!$&'()*+,;=:@~"]],
  ['/assets/with%20space', ['assets', 'with space']],
  ['/assets/%C3%A9t%C3%A9', ['assets', 'été']],
  ['/assets/a%23b%3Fc', ['assets', 'a#b?c']],
  ['/..hidden', ['..hidden']],
];
for (const [raw, segments] of canonical) {
  t.test(`URL canonical: ${raw}`, async (t) => {
    t.same(parseUrlPath(raw), { ok: true, segments });
  });
}

const nonCanonical: [string, RegExp][] = [
  ['', /absolute/],
  ['v1/boot', /absolute/],
  ['http://agent/boot.ipxe', /absolute/],
  ['//v1/boot/x/config', /empty path segment/],
  ['/boot//undionly.kpxe', /empty path segment/],
  ['/v1/%62oot/x/config', /needs no escape/],
  ['/boot/%75ndionly.kpxe', /needs no escape/],
  ['/boot/undionly%2Ekpxe', /needs no escape/],
  ['/assets/%2E%2E/etc/passwd', /needs no escape/],
  ['/assets/%2e%2e/etc/passwd', /lower-case/],
  ['/assets/a%3ab', /lower-case/],
  ['/assets/%3A', /needs no escape/],
  ['/assets/..%2F..%2Fetc%2Fpasswd', /slash/],
  ['/assets/..%2f..%2fetc%2fpasswd', /lower-case/],
  ['/assets/%252E%252E/etc/passwd', /double encoding/],
  ['/assets/%25', /double encoding/],
  ['/boot/undionly.kpxe%00', /control/],
  ['/boot/a%0Ab', /control/],
  ['/boot/%5C..%5Cetc', /backslash/],
  ['/boot/..\\etc\\passwd', /must be percent-encoded/],
  ['/boot/a b', /must be percent-encoded/],
  ['/boot/\u00e9', /must be percent-encoded/],
  ['/boot/a\0b', /must be percent-encoded/],
  ['/boot/%zz', /malformed/],
  ['/boot/%4', /malformed/],
  ['/boot/%FF', /UTF-8/],
  ['/boot/%C3', /UTF-8/],
  ['/boot/./undionly.kpxe', /dot segment/],
  ['/boot/../etc/passwd', /dot segment/],
  ['/boot/..', /dot segment/],
  ['/assets/a/./b', /dot segment/],
];
for (const [raw, reason] of nonCanonical) {
  t.test(`URL refused: ${JSON.stringify(raw)}`, async (t) => {
    const check = parseUrlPath(raw);
    t.equal(check.ok, false);
    if (check.ok) return;
    t.equal(check.refusal, 'non-canonical');
    t.match(check.reason, reason);
  });
}

t.test('files below an HTTP tree: no directory, no hidden name, canonical spelling', async (t) => {
  t.same(checkServedPath('undionly.kpxe'), { ok: true, segments: ['undionly.kpxe'] });
  t.same(checkServedPath('s/v1.13.9/kernel-amd64'), { ok: true, segments: ['s', 'v1.13.9', 'kernel-amd64'] });
  const refusal = (raw: string) => {
    const check = checkServedPath(raw);
    return check.ok ? 'served' : check.refusal;
  };
  t.equal(refusal(''), 'directory');
  t.equal(refusal('efi/'), 'directory');
  t.equal(refusal('.hidden'), 'hidden');
  t.equal(refusal('a/..hidden'), 'hidden');
  t.equal(refusal('/etc/passwd'), 'non-canonical', 'an absolute path below the prefix is an empty segment');
  t.equal(refusal('%2Fetc%2Fpasswd'), 'non-canonical');
  t.equal(refusal('../x'), 'non-canonical');
  t.equal(refusal('%2E%2E/x'), 'non-canonical');
});
