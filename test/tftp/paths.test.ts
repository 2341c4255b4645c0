import t from 'tap';
import { checkRequestedName, isInsideRoot, matchEntry } from '../../agent/tftp/paths.js';

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
  t.test(`accepted: ${JSON.stringify(name)}`, async (t) => {
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
  t.test(`refused: ${JSON.stringify(name)}`, async (t) => {
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
