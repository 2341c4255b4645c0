// The stand-in's parser of toybox sntp's output (sntpOffset.awk, run by busybox awk as in the
// initramfs): the offset becomes a JSON number for the time-sync event, anything else nothing.
import t from 'tap';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { repoRoot } from '../bed/agent.js';

const AWK = path.join(repoRoot, 'test/standin/sntpOffset.awk');

async function parse(output: string): Promise<string> {
  const { stdout } = await promisify(execFile)('busybox', ['sh', '-c', 'printf "%s" "$1" | busybox awk -f "$2"', 'sh', output, AWK]);
  return stdout;
}

t.test('the offset line becomes a JSON number of seconds', async (t) => {
  const cases: [string, number][] = [
    ['2026-12-02 12:40:34.072077117 +0000 offset -0.001438119 secs\n', -0.001438119],
    ['2026-12-02 12:40:34.072077117 +0000 offset 3.500000000 secs\n', 3.5],
    ['2026-12-02 12:40:34.072077117 +0000 offset +12 secs', 12],
  ];
  for (const [line, seconds] of cases) t.equal(JSON.parse(await parse(line)), seconds, line.trim());
});

t.test('no offset line, no number: the stand-in then tries the next server or reports no-answer', async (t) => {
  for (const output of ['', 'sntp: sendto: Network is unreachable\n', 'Terminated\n', 'offset abc secs\n'])
    t.equal(await parse(output), '', JSON.stringify(output));
});
