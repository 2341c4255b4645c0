// Pre-flight that really checks: an operator's typo in a node's config patch is caught by
// `check-config` and `manifest sign` (not as an HTTP 500 when the node installs), and bad input
// to the bin gets a field-named refusal and a usage exit code, never a stack trace.
import t from 'tap';
import { execFile } from 'node:child_process';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { cliPath, repoRoot } from '../bed/agent.js';

interface Run {
  readonly code: number;
  readonly out: string;
  readonly err: string;
}

const run = async (args: string[], env: Record<string, string> = {}): Promise<Run> => {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [cliPath, ...args], { env: { ...process.env, MASKIN_DATA_DIR: '', ...env } });
    return { code: 0, out: stdout, err: stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, out: err.stdout, err: err.stderr };
  }
};

/** A stack frame line as Node prints them. */
const STACK = /^\s+at .+[(:]\d+/m;

async function examples(t: { teardown(fn: () => unknown): void }): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'maskin-preflight-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await cp(path.join(repoRoot, 'config/examples'), dir, { recursive: true });
  return dir;
}

async function edit(file: string, from: string, to: string): Promise<void> {
  const text = await readFile(file, 'utf8');
  if (!text.includes(from)) throw new Error(`${file} has no ${from}`);
  await writeFile(file, text.replace(from, to));
}

t.test('a typo in a node patch fails check-config and manifest sign, naming the node and the field', async (t) => {
  const dir = await examples(t);
  await edit(path.join(dir, 'manifest.yaml'), 'nodeLabels:', 'nodeLabelz:');
  const checked = await run(['check-config', path.join(dir, 'agent.yaml')]);
  t.equal(checked.code, 1, 'check-config exits 1');
  t.match(checked.err, /nodes\.0\.patches: machine config for node rack1-n01 is invalid: .*unknown field "nodeLabelz"\. Fix: correct node rack1-n01's patches/);
  t.notMatch(checked.err, STACK, 'no stack trace');

  const keys = path.join(dir, 'keys');
  t.equal((await run(['manifest', 'keygen', '--key-id', 'k1', '--out', keys])).code, 0);
  const out = path.join(dir, 'rack1.pb');
  const signed = await run(['manifest', 'sign', '--key', path.join(keys, 'k1.key'), '--key-id', 'k1', '--rack', 'rack1', path.join(dir, 'manifest.yaml'), out]);
  t.equal(signed.code, 1, 'sign exits 1');
  t.match(signed.err, /nodes\.0\.patches: machine config for node rack1-n01 is invalid: .*nodeLabelz/);
  t.notMatch(signed.err, STACK, 'no stack trace');
});

t.test('bad input gets a field-named refusal, never a stack trace', async (t) => {
  const dir = await examples(t);
  const agent = path.join(dir, 'agent.yaml');
  const good = await readFile(agent, 'utf8');
  const cases: { what: string; setup?: () => Promise<void>; args: string[]; env?: Record<string, string>; code: number; says: RegExp }[] = [
    {
      what: 'an out-of-range subnet octet',
      setup: () => edit(agent, 'subnet: 198.18.0.0/24', 'subnet: 999.18.0.0/24'),
      args: ['check-config', agent],
      code: 1,
      says: /provisioning\.subnet: .*Fix: expected CIDR, e\.g\. 198\.18\.0\.0\/24/,
    },
    {
      what: 'an unknown flag',
      args: ['check-config', agent, '--bogus'],
      code: 2,
      says: /^maskin-agent: unknown option '--bogus'\n\(maskin-agent --help lists the commands/,
    },
    {
      what: 'a bad MASKIN_LOG_LEVEL (check-config)',
      args: ['check-config', agent],
      env: { MASKIN_LOG_LEVEL: 'loud' },
      code: 1,
      says: /environment: MASKIN_LOG_LEVEL: is "loud"\. Fix: use one of: fatal, error, warn, info, debug, trace/,
    },
    { what: 'a bad MASKIN_LOG_LEVEL (run)', args: ['run', '--config', agent], env: { MASKIN_LOG_LEVEL: 'loud' }, code: 1, says: /MASKIN_LOG_LEVEL: is "loud"/ },
    { what: 'an unknown command', args: ['frobnicate'], code: 2, says: /^maskin-agent: unknown command 'frobnicate'\n/ },
  ];
  for (const c of cases) {
    await writeFile(agent, good);
    await c.setup?.();
    const r = await run(c.args, c.env);
    t.equal(r.code, c.code, `${c.what}: exit ${c.code}`);
    t.match(r.err, c.says, `${c.what}: names the field and the fix`);
    t.notMatch(r.err + r.out, STACK, `${c.what}: no stack trace`);
  }
});

t.test('check-config reports boot files and Talos assets the host does not have', async (t) => {
  const dir = await examples(t);
  const agent = path.join(dir, 'agent.yaml');
  await edit(agent, 'bootBinariesDir: /usr/lib/ipxe', `bootBinariesDir: ${path.join(dir, 'no-binaries')}`);
  await edit(agent, 'assetsDir: ../../build/demo/assets', `assetsDir: ${path.join(dir, 'no-assets')}`);
  // --no-probe: the example's NTP and DNS server would be asked through this host's default route.
  const r = await run(['check-config', agent, '--no-probe']);
  t.equal(r.code, 0, 'warnings, not a refusal: the files may arrive before the first boot');
  t.match(r.out, /warning: bootBinariesDir: undionly\.kpxe \(named by DHCP\) is missing from .*no-binaries; clients of that kind cannot boot/);
  t.match(r.out, /warning: profiles\.worker-amd64: .*\/v1\.13\.9\/kernel-amd64 is neither pinned in the manifest's images nor in assetsDir/);
  t.match(r.out, /warning: profiles\.worker-amd64: .*\/v1\.13\.9\/initramfs-amd64\.xz is neither pinned/);
});
