// HTTP /boot/ and /assets/ follow the path policy TFTP follows (agent/net/servedPath.ts): a
// symlink whose target is outside the served root is refused, not followed; every file has one
// URL, and another spelling of it (encoded, dot segments, doubled slashes) is refused, not served.
import t from 'tap';
import { createServedFiles } from '../../agent/tftp/files.js';
import { ATTACKER, httpBed, rawGet, SCHEMATIC, SECRET, VERSION } from './httpBed.js';

const kernel = `/assets/${SCHEMATIC}/${VERSION}/kernel-amd64`;

t.test('files inside the roots are served, symlinks within them too', async (t) => {
  const bed = await httpBed(t);
  for (const [url, body] of [
    ['/boot/undionly.kpxe', 'bios binary'],
    ['/boot/alias.kpxe', 'bios binary'],
    ['/boot/efi/snponly.efi', 'uefi binary'],
  ] as const) {
    const res = await bed.app.inject({ url, remoteAddress: ATTACKER });
    t.equal(res.statusCode, 200, url);
    t.equal(res.body, body, url);
  }
  const k = await bed.app.inject({ url: kernel, remoteAddress: ATTACKER });
  t.equal(k.statusCode, 200);
  t.equal(k.rawPayload.length, 4096);
  const head = await bed.app.inject({ method: 'HEAD', url: '/boot/undionly.kpxe', remoteAddress: ATTACKER });
  t.equal(head.statusCode, 200);
  t.equal(head.headers['content-length'], '11');
});

t.test('a symlink leading out of the root is refused over HTTP, as over TFTP', async (t) => {
  const bed = await httpBed(t);
  const tftp = createServedFiles(bed.bootDir);
  for (const name of ['escape.efi', 'relative-escape.efi', 'outdir/secret.bin']) {
    t.equal((await tftp.lookup(name, 'octet')).kind, 'refused', `TFTP refuses ${name}`);
    for (const method of ['GET', 'HEAD'] as const) {
      const res = await bed.app.inject({ method, url: `/boot/${name}`, remoteAddress: ATTACKER });
      t.equal(res.statusCode, 403, `${method} /boot/${name}`);
      t.notMatch(res.body, SECRET);
    }
  }
  for (const url of [`/assets/${SCHEMATIC}/${VERSION}/initramfs-amd64.xz`, '/assets/outdir/secret.bin']) {
    const res = await bed.app.inject({ url, remoteAddress: ATTACKER });
    t.equal(res.statusCode, 403, url);
    t.notMatch(res.body, SECRET);
  }
  t.ok((await bed.metric('maskin_http_refused_total', { reason: 'outside-root' })) >= 5, 'refusals are counted');
});

t.test('one URL per file: other spellings are refused, not served', async (t) => {
  const bed = await httpBed(t);
  // Byte for byte on the wire: these would be normalised by inject's URL parsing.
  const raw: [string, number][] = [
    ['/boot/%75ndionly.kpxe', 400],
    ['/boot/undionly%2Ekpxe', 400],
    ['/boot//undionly.kpxe', 400],
    ['/boot/./undionly.kpxe', 400],
    ['/boot/efi/../undionly.kpxe', 400],
    ['/boot/efi%2Fsnponly.efi', 400],
    ['/boot/efi%2fsnponly.efi', 400],
    ['/boot/..%2Foutside%2Fsecret.bin', 400],
    ['/boot/%2e%2e/outside/secret.bin', 400],
    ['/boot/%2E%2E/outside/secret.bin', 400],
    ['/boot/%252E%252E/outside/secret.bin', 400],
    ['/boot/../outside/secret.bin', 400],
    ['/boot/..\\outside\\secret.bin', 400],
    ['/boot/%5C..%5Coutside%5Csecret.bin', 400],
    ['/boot/undionly.kpxe%00', 400],
    ['/boot/undionly.kpxe%00.txt', 400],
    [`/assets/${SCHEMATIC}/${VERSION}/../${VERSION}/kernel-amd64`, 400],
    [`/assets/${SCHEMATIC}/${VERSION}//kernel-amd64`, 400],
    [`/assets//${SCHEMATIC}/${VERSION}/kernel-amd64`, 400],
    [`/assets/${SCHEMATIC}/${VERSION}/kernel%2Damd64`, 400],
    ['/assets/..%2F..%2F..%2Fetc%2Fpasswd', 400],
    ['/boot/.hidden', 403],
    ['/boot/', 404],
    ['/boot/efi/', 404],
    ['/boot/nope.efi', 404],
  ];
  for (const [path, status] of raw) {
    for (const method of ['GET', 'HEAD']) {
      const res = await rawGet(bed.app, path, method);
      t.equal(res.status, status, `${method} ${path}`);
      t.notMatch(res.body, SECRET, path);
      t.notMatch(res.body, 'bios binary', path);
    }
  }
  t.ok((await bed.metric('maskin_http_refused_total', { reason: 'non-canonical' })) >= 21, 'refusals are counted');
  // The canonical spellings still work on the same wire.
  t.equal((await rawGet(bed.app, '/boot/undionly.kpxe')).status, 200);
  t.equal((await rawGet(bed.app, kernel)).status, 200);
});
