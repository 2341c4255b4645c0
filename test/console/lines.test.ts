// Talos log delivery decoding (agent/console/lines.ts): the bounded line splitter, the json_lines
// parser for service and kernel records, and the milestones.
import t from 'tap';
import { LineSplitter, MAX_MSG_CHARS, milestoneOf, parseLogLine } from '../../agent/console/lines.js';

const at = new Date('2026-12-03T10:00:00.000Z');

t.test('splitter: lines across chunks, CRLF, empty lines skipped', async (t) => {
  const s = new LineSplitter(64);
  t.same(s.push(Buffer.from('one\ntw')), ['one']);
  t.same(s.push(Buffer.from('o\r\n\nthree')), ['two']);
  t.same(s.push(Buffer.from('\n')), ['three']);
  t.equal(s.oversized, 0);
});

t.test('splitter: an endless line holds at most maxLineBytes and is returned once, cut', async (t) => {
  const s = new LineSplitter(8);
  t.same(s.push(Buffer.from('0123456789')), ['01234567']);
  t.same(s.push(Buffer.alloc(100_000, 0x41)), [], 'the rest of that line is skipped');
  t.same(s.push(Buffer.from('AAA\nok\n')), ['ok']);
  t.equal(s.oversized, 1);
  t.same(s.push(Buffer.from('12345678\n')), ['12345678'], 'exactly maxLineBytes is not oversized');
  t.equal(s.oversized, 1);
});

t.test('splitter: a multi-byte character cut at the bound does not throw', async (t) => {
  const s = new LineSplitter(5);
  const lines = s.push(Buffer.from('abcdé\n'));
  t.equal(lines.length, 1);
  t.ok(lines[0]!.startsWith('abcd'));
});

t.test('service record: json_lines fields', async (t) => {
  const line = parseLogLine('{"msg":"task install (1/1): done","talos-level":"info","talos-service":"machined","talos-time":"2026-12-03T09:59:58.5Z"}', at);
  t.same(line, { at: '2026-12-03T09:59:58.500Z', source: 'machined', level: 'info', msg: 'task install (1/1): done' });
});

t.test('kernel record: source kernel, arrival time without talos-time', async (t) => {
  const line = parseLogLine('{"facility":"kern","priority":"info","seq":1,"msg":"Linux version 6.12.0 (gcc)","talos-level":"info"}', at);
  t.same(line, { at: at.toISOString(), source: 'kernel', level: 'info', msg: 'Linux version 6.12.0 (gcc)' });
  t.equal(milestoneOf(line!), 'kernel-started');
});

t.test('not records: refused, never thrown', async (t) => {
  for (const bad of ['', 'not json', '[]', '"msg"', '{"msg":1}', '{"talos-level":"info"}', 'null', '{"msg":"x"'])
    t.equal(parseLogLine(bad, at), undefined, JSON.stringify(bad));
});

t.test('untrusted values: control characters dropped, lengths bounded, a bad time falls back', async (t) => {
  const line = parseLogLine(
    JSON.stringify({ msg: `a\u001b[31mred\u0007${'x'.repeat(5000)}`, 'talos-level': 'e'.repeat(100), 'talos-service': '\u0000svc', 'talos-time': 'yesterday' }),
    at,
  )!;
  t.ok(line.msg.startsWith('a[31mred'), 'ESC and BEL are gone');
  t.equal(line.msg.length, MAX_MSG_CHARS + 1, 'cut, with an ellipsis');
  t.ok(line.level.length <= 17);
  t.equal(line.source, 'svc');
  t.equal(line.at, at.toISOString());
});

t.test('milestones', async (t) => {
  const of = (o: Record<string, unknown>): string | undefined => milestoneOf(parseLogLine(JSON.stringify(o), at)!);
  t.equal(of({ msg: 'entering maintenance service', 'talos-level': 'info', 'talos-service': 'machined' }), 'maintenance-mode');
  t.equal(of({ msg: 'install-failed: config has no v1alpha1 document', 'talos-level': 'error', 'talos-service': 'installer' }), 'installer-error');
  t.equal(of({ facility: 'kern', msg: 'Kernel panic - not syncing: VFS', 'talos-level': 'emerg' }), 'kernel-panic');
  t.equal(of({ facility: 'kern', msg: 'ext4 error', 'talos-level': 'error' }), undefined, 'kernel errors are console lines only');
  t.equal(of({ msg: 'Linux version 6 (from a service)', 'talos-service': 'x' }), undefined, 'the banner counts only from the kernel');
  t.equal(of({ facility: 'kern', msg: '[talos] resetting system disks', 'talos-level': 'info' }), 'wipe-started');
  t.equal(of({ facility: 'kern', msg: '[talos] finished resetting system disks', 'talos-level': 'info' }), 'wipe-complete');
  t.equal(of({ facility: 'kern', msg: '[talos] resetting system disks failed', 'talos-level': 'info' }), undefined);
});
