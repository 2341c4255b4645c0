import { mkdir, mkdtemp, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { buildPacketImage, createServedFiles, toNetascii } from '../../agent/tftp/files.js';

async function servedDir(t: { teardown(fn: () => unknown): void }): Promise<{ root: string; outside: string }> {
  const base = await mkdtemp(path.join(os.tmpdir(), 'maskin-tftp-files-'));
  t.teardown(() => rm(base, { recursive: true, force: true }));
  const root = path.join(base, 'root');
  const outside = path.join(base, 'outside');
  await mkdir(path.join(root, 'EFI'), { recursive: true });
  await mkdir(outside);
  await writeFile(path.join(root, 'undionly.kpxe'), 'bios binary');
  await writeFile(path.join(root, 'EFI', 'SnpOnly.efi'), 'uefi binary');
  await writeFile(path.join(outside, 'secret'), 'secret');
  await symlink(path.join(outside, 'secret'), path.join(root, 'escape'));
  await symlink('/etc/passwd', path.join(root, 'passwd'));
  await symlink(outside, path.join(root, 'outdir'));
  await symlink('undionly.kpxe', path.join(root, 'alias.kpxe'));
  return { root, outside };
}

t.test('finds files exactly and case-insensitively, per segment', async (t) => {
  const { root } = await servedDir(t);
  const files = createServedFiles(root);
  for (const name of ['undionly.kpxe', '/undionly.kpxe', 'UNDIONLY.KPXE', 'efi/snponly.efi', '/EFI/SNPONLY.EFI', 'alias.kpxe']) {
    const found = await files.lookup(name, 'octet');
    t.equal(found.kind, 'found', name);
  }
  const efi = await files.lookup('efi/snponly.efi', 'octet');
  if (efi.kind !== 'found') return t.fail('not found');
  t.equal(efi.file.path, path.join(root, 'EFI', 'SnpOnly.efi'));
  t.equal(efi.file.size, 11);
});

t.test('missing files and directories are missing', async (t) => {
  const { root } = await servedDir(t);
  const files = createServedFiles(root);
  for (const name of ['nope.efi', 'EFI', 'efi/nope', 'etc/passwd', '/etc/passwd']) {
    t.equal((await files.lookup(name, 'octet')).kind, 'missing', name);
  }
});

t.test('symlinks leading out of the root and traversal are refused', async (t) => {
  const { root } = await servedDir(t);
  const files = createServedFiles(root);
  for (const name of ['escape', 'passwd', 'outdir/secret', '../outside/secret', '%2e%2e/outside/secret', 'efi\\snponly.efi']) {
    t.equal((await files.lookup(name, 'octet')).kind, 'refused', name);
  }
});

t.test('contents are cached until the file changes', async (t) => {
  const { root } = await servedDir(t);
  const files = createServedFiles(root);
  const file = path.join(root, 'undionly.kpxe');
  const first = await files.lookup('undionly.kpxe', 'octet');
  const again = await files.lookup('undionly.kpxe', 'octet');
  if (first.kind !== 'found' || again.kind !== 'found') return t.fail('not found');
  t.equal(again.file, first.file, 'same cached view');
  t.same(again.file.image(512).packet(1), first.file.image(512).packet(1), 'same packets');
  await writeFile(file, 'a new bios binary');
  await utimes(file, new Date(), new Date(Date.now() + 5000));
  const changed = await files.lookup('undionly.kpxe', 'octet');
  if (changed.kind !== 'found') return t.fail('not found');
  t.equal(changed.file.size, 17);
  t.same(changed.file.image(512).packet(1).subarray(4), Buffer.from('a new bios binary'));
});

t.test('netascii: LF becomes CR LF, CR becomes CR NUL (RFC 764)', async (t) => {
  t.same(toNetascii(Buffer.from('a\nb\rc')), Buffer.from('a\r\nb\r\0c', 'latin1'));
  const { root } = await servedDir(t);
  await writeFile(path.join(root, 'text.cfg'), 'x\n');
  const found = await createServedFiles(root).lookup('text.cfg', 'netascii');
  if (found.kind !== 'found') return t.fail('not found');
  t.equal(found.file.size, 3);
});

t.test('packet image: blocks, short last block, empty final block, rollover', async (t) => {
  const exact = buildPacketImage(Buffer.alloc(1024, 1), 512);
  t.equal(exact.blocks, 3, 'a multiple of blksize ends with an empty block');
  t.equal(exact.packet(3).length, 4);
  t.same(exact.packet(2).subarray(0, 4), Buffer.from([0, 3, 0, 2]));
  const short = buildPacketImage(Buffer.from('hello world'), 8);
  t.equal(short.blocks, 2);
  t.same(short.packet(2), Buffer.from('\x00\x03\x00\x02rld', 'latin1'));
  const empty = buildPacketImage(Buffer.alloc(0), 512);
  t.equal(empty.blocks, 1);
  t.same(empty.packet(1), Buffer.from([0, 3, 0, 1]));
  const big = buildPacketImage(Buffer.alloc(8 * 70000, 7), 8);
  t.equal(big.blocks, 70001);
  t.same(big.packet(65535).subarray(0, 4), Buffer.from([0, 3, 0xff, 0xff]));
  t.same(big.packet(65536).subarray(0, 4), Buffer.from([0, 3, 0, 0]), 'block numbers roll over to 0');
  t.same(big.packet(65537).subarray(0, 4), Buffer.from([0, 3, 0, 1]));
});

t.test('the cache holds each file once per mode, counts every byte and evicts the least recently used', async (t) => {
  const { root } = await servedDir(t);
  await writeFile(path.join(root, 'a.bin'), Buffer.alloc(1000, 0x0a));
  await writeFile(path.join(root, 'b.bin'), Buffer.alloc(1000, 0x41));
  const files = createServedFiles(root, { maxCachedBytes: 3500 });
  const a = await files.lookup('a.bin', 'octet');
  if (a.kind !== 'found') return t.fail('not found');
  for (let blksize = 8; blksize <= 1468; blksize += 1) a.file.image(blksize).packet(1);
  t.same(files.stats(), { entries: 1, bytes: 1000, limitBytes: 3500 }, 'no bytes per blksize');
  await files.lookup('a.bin', 'netascii');
  t.equal(files.stats().bytes, 3000, 'netascii doubles every LF: a second copy of 2000 bytes');
  await files.lookup('b.bin', 'octet');
  t.same(files.stats(), { entries: 1, bytes: 1000, limitBytes: 3500 }, 'a.bin, least recently used, made room for b.bin');
  await files.lookup('b.bin', 'netascii');
  t.equal(files.stats().bytes, 1000, 'b.bin has no line ends: its netascii form is its contents, not a copy');
  const tiny = createServedFiles(root, { maxCachedBytes: 10 });
  const big = await tiny.lookup('a.bin', 'octet');
  t.equal(big.kind, 'found', 'a file over the whole bound is still served');
  t.same(tiny.stats(), { entries: 0, bytes: 0, limitBytes: 10 }, 'but not kept');
});
