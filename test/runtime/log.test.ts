// The agent's log lines (agent/runtime/log.ts): ISO times and level names, journald priorities, the
// human format, and `maskin-agent run` choosing between them.
import t from 'tap';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { paint } from '../../agent/cli/term.js';
import { createLogger, JOURNAL_PRIORITY, logFormat, prettyLine, withPriority } from '../../agent/runtime/log.js';
import { cliPath } from '../bed/agent.js';

function capture(env: NodeJS.ProcessEnv, opts: { tty?: boolean; journal?: boolean } = {}) {
  const lines: string[] = [];
  const log = createLogger({
    level: 'debug',
    base: { agent: 'edge-01' },
    env,
    stream: { write: (s: string) => lines.push(s), isTTY: opts.tty === true },
    ...(opts.journal !== undefined ? { journal: opts.journal } : {}),
  });
  return { log, lines };
}

t.test('JSON lines: ISO time and the level by name, level first', async (t) => {
  const { log, lines } = capture({});
  log.child({ component: 'dhcp' }).warn({ mac: '52:54:00:00:00:01' }, 'address pool exhausted');
  t.equal(lines.length, 1);
  t.match(lines[0], /^\{"level":"warn","time":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"/);
  const record = JSON.parse(lines[0]!) as Record<string, unknown>;
  t.match(record, { level: 'warn', agent: 'edge-01', component: 'dhcp', mac: '52:54:00:00:00:01', msg: 'address pool exhausted' });
  t.equal(JSON.stringify(record).match(/"component"/g)?.length, 1, 'one component key');
});

t.test('journald: each line starts with the syslog priority of its level', async (t) => {
  const { log, lines } = capture({}, { journal: true });
  log.error('boom');
  log.info('fine');
  log.debug('detail');
  t.same(
    lines.map((l) => l.slice(0, 3)),
    ['<3>', '<6>', '<7>'],
  );
  t.match(lines[0], /^<3>\{"level":"error"/);
  t.equal(withPriority('{"level":"fatal","msg":"x"}\n'), '<2>{"level":"fatal","msg":"x"}\n');
  t.equal(withPriority('not json\n'), '<6>not json\n', 'anything else at info');
  t.same(JOURNAL_PRIORITY, { fatal: 2, error: 3, warn: 4, info: 6, debug: 7, trace: 7 });
});

t.test('pretty: on a terminal or when asked, one human line per record', async (t) => {
  t.equal(logFormat({}, { isTTY: true }), 'pretty');
  t.equal(logFormat({}, { isTTY: false }), 'json');
  t.equal(logFormat({ MASKIN_LOG_FORMAT: 'pretty' }, { isTTY: false }), 'pretty');
  t.equal(logFormat({ MASKIN_LOG_FORMAT: 'json' }, { isTTY: true }), 'json');
  const { log, lines } = capture({ MASKIN_LOG_FORMAT: 'pretty' });
  log.child({ component: 'tftp' }).info({ file: 'undionly.kpxe', client: '198.18.0.50', blksize: 1468, note: 'two words' }, 'transfer done');
  t.match(
    lines[0],
    /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z INFO  tftp: transfer done file=undionly\.kpxe client=198\.18\.0\.50 blksize=1468 note="two words"\n$/,
  );
  t.notMatch(lines[0], /\u001b\[/, 'no colour off a terminal');
  const err = new Error('disk full');
  log.error({ err }, 'could not persist lease');
  t.match(lines[1], /ERROR could not persist lease err="disk full"\n {4}Error: disk full\n {4,}at /, 'the stack indented below');
  t.equal(prettyLine('plain text\n'), 'plain text\n', 'a line that is not JSON is left alone');
  t.match(prettyLine('{"level":"error","time":"2026-12-04T00:00:00.000Z","msg":"x"}', paint(true)), /\u001b\[31mERROR\u001b\[39m/);
});

t.test('maskin-agent run: JSON on a pipe, pretty with MASKIN_LOG_FORMAT=pretty (a config error is logged fatal)', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'maskin-log-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  // A config that loads, with no NTP or DNS server to ask, whose dataDir is a file: the agent
  // fails opening its store, before it binds any port, and logs why.
  const file = path.join(dir, 'agent.yaml');
  await writeFile(path.join(dir, 'not-a-dir'), '');
  await writeFile(
    file,
    'provisioning: { interface: lo, address: 198.18.85.1, subnet: 198.18.85.0/24 }\n' +
      `dhcp: { pool: { start: 198.18.85.100, end: 198.18.85.150 }, ntp: [], dns: [] }\ndataDir: ${dir}/not-a-dir\n`,
  );
  const run = (env: Record<string, string>) =>
    new Promise<{ code: number | null; out: string }>((resolve) => {
      const child = spawn(process.execPath, [cliPath, 'run', '--config', file], { env: { ...process.env, ...env, JOURNAL_STREAM: '' } });
      let out = '';
      child.stdout.on('data', (b: Buffer) => (out += b.toString()));
      child.stderr.resume();
      child.on('close', (code) => resolve({ code, out }));
    });
  const json = await run({ MASKIN_LOG_FORMAT: '' });
  t.equal(json.code, 1);
  const records = json.out
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { level: string; time: string });
  t.ok(records.length > 0, 'it logged');
  t.ok(
    records.every((r) => typeof r.level === 'string' && /^\d{4}-\d\d-\d\dT/.test(r.time)),
    'every line has a level name and an ISO time',
  );
  t.ok(
    records.some((r) => r.level === 'fatal'),
    'the failure at fatal',
  );
  const pretty = await run({ MASKIN_LOG_FORMAT: 'pretty' });
  t.equal(pretty.code, 1);
  t.match(pretty.out, /^\d{4}-\d\d-\d\dT\S+ (INFO |WARN |ERROR|FATAL) /m);
  t.match(pretty.out, /FATAL /);
  t.notMatch(pretty.out, /^\{/m, 'no JSON line');
});
