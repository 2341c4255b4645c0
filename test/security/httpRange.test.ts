// Range (RFC 9110 §14.1.2, §14.2): digits only, one range. A header that is not valid
// ranges-specifier syntax is ignored (200, the whole file); a valid one no byte satisfies gets 416
// with `Content-Range: bytes */<size>`. The same rules for cached blobs (blobResponse.parseRange)
// and for files served from a directory (/boot/, unpinned /assets/).
import t from 'tap';
import { parseRange } from '../../agent/http/blobResponse.js';
import { ATTACKER, httpBed, SCHEMATIC, VERSION } from './httpBed.js';

const SIZE = 4096;
const table: [string | undefined, ReturnType<typeof parseRange>][] = [
  [undefined, { kind: 'full' }],
  ['bytes=0-9', { kind: 'partial', start: 0, end: 9 }],
  ['bytes=4000-', { kind: 'partial', start: 4000, end: 4095 }],
  ['bytes=-96', { kind: 'partial', start: 4000, end: 4095 }],
  ['bytes=-99999', { kind: 'partial', start: 0, end: 4095 }],
  ['bytes=10-99999999999999999999', { kind: 'partial', start: 10, end: 4095 }],
  ['BYTES=0-9', { kind: 'partial', start: 0, end: 9 }],
  ['Bytes=0-9', { kind: 'partial', start: 0, end: 9 }],
  ['bytes=0-9, ', { kind: 'partial', start: 0, end: 9 }],
  ['bytes=,0-9', { kind: 'partial', start: 0, end: 9 }],
  ['bytes=0-9 ,', { kind: 'partial', start: 0, end: 9 }],
  ['bytes=4096-', { kind: 'unsatisfiable' }],
  ['bytes=99999999999999999999-', { kind: 'unsatisfiable' }],
  ['bytes=-0', { kind: 'unsatisfiable' }],
  // Not valid syntax: ignored.
  ['bytes=1e20-', { kind: 'full' }],
  ['bytes=1e3-2e3', { kind: 'full' }],
  ['bytes=0x10-', { kind: 'full' }],
  ['bytes=+5-', { kind: 'full' }],
  ['bytes=-5-', { kind: 'full' }],
  ['bytes=5-3', { kind: 'full' }],
  ['bytes=abc-def', { kind: 'full' }],
  ['bytes=1.5-2', { kind: 'full' }],
  ['bytes=１-２', { kind: 'full' }],
  ['bytes=-', { kind: 'full' }],
  ['bytes=', { kind: 'full' }],
  ['bytes', { kind: 'full' }],
  ['bytes =0-9', { kind: 'full' }],
  ['bytes= 0-9', { kind: 'full' }],
  ['bytes=0 - 9', { kind: 'full' }],
  ['bytes=0-9,x', { kind: 'full' }],
  ['items=0-9', { kind: 'full' }],
  ['0-9', { kind: 'full' }],
  // Several ranges are valid, and served whole (a server may ignore Range, RFC 9110 §14.2).
  ['bytes=0-1,5-6', { kind: 'full' }],
  ['bytes=5000-6000,7000-8000', { kind: 'full' }],
];
for (const [header, expected] of table) {
  t.test(`parseRange(${JSON.stringify(header)})`, async (t) => {
    t.same(parseRange(header, SIZE), expected);
  });
}

t.test('an empty file satisfies no range', async (t) => {
  t.same(parseRange('bytes=0-', 0), { kind: 'unsatisfiable' });
  t.same(parseRange('bytes=-1', 0), { kind: 'unsatisfiable' });
  t.same(parseRange('bytes=x', 0), { kind: 'full' });
});

t.test('files from a directory answer Range by the same rules', async (t) => {
  const bed = await httpBed(t);
  const kernel = `/assets/${SCHEMATIC}/${VERSION}/kernel-amd64`;
  const get = (url: string, range: string) => bed.app.inject({ url, headers: { range }, remoteAddress: ATTACKER });
  for (const range of ['bytes=1e20-', 'bytes=abc-def', 'bytes=5-3', 'bytes=0x10-', 'bytes=-5-', 'bytes=0-1,5-6']) {
    const res = await get(kernel, range);
    t.equal(res.statusCode, 200, range);
    t.equal(res.rawPayload.length, SIZE, `${range}: the whole file`);
    t.equal(res.headers['content-range'], undefined, range);
  }
  for (const range of ['bytes=4096-', 'bytes=-0', 'bytes=99999999999999999999-']) {
    const res = await get(kernel, range);
    t.equal(res.statusCode, 416, range);
    t.equal(res.headers['content-range'], `bytes */${SIZE}`, range);
  }
  for (const [range, start, end] of [
    ['bytes=0-9', 0, 9],
    ['BYTES=100-199', 100, 199],
    ['bytes=-96', 4000, 4095],
    ['bytes=4000-', 4000, 4095],
  ] as const) {
    const res = await get(kernel, range);
    t.equal(res.statusCode, 206, range);
    t.equal(res.headers['content-range'], `bytes ${start}-${end}/${SIZE}`, range);
    t.equal(res.rawPayload.length, end - start + 1, range);
  }
  const boot = await get('/boot/undionly.kpxe', 'bytes=1e20-');
  t.equal(boot.statusCode, 200);
  t.equal(boot.body, 'bios binary');
  const part = await get('/boot/undionly.kpxe', 'bytes=0-3');
  t.equal(part.statusCode, 206);
  t.equal(part.body, 'bios');
  // If-Range still decides first (RFC 9110 §13.1.5): a stale validator gets the whole file.
  const stale = await bed.app.inject({ url: kernel, headers: { range: 'bytes=0-9', 'if-range': '"stale"' }, remoteAddress: ATTACKER });
  t.equal(stale.statusCode, 200);
  t.equal(stale.rawPayload.length, SIZE);
});
