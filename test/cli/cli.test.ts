// The maskin-agent bin as an operator runs it (compiled, from dist/).
import t from 'tap';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { cliPath, repoRoot } from '../bed/agent.js';

const run = async (args: string[]): Promise<{ code: number; out: string; err: string }> => {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [cliPath, ...args], { env: { ...process.env, MASKIN_DATA_DIR: '' } });
    return { code: 0, out: stdout, err: stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, out: err.stdout, err: err.stderr };
  }
};

t.test('check-config accepts the shipped example and summarises it', async (t) => {
  // --no-probe: the example's NTP and DNS server is a test bed address, which from this host
  // would go out through its default route (test/timesvc/chrony.test.ts probes in namespaces).
  const r = await run(['check-config', path.join(repoRoot, 'config/examples/agent.yaml'), '--no-probe']);
  t.equal(r.code, 0, r.err);
  t.match(r.out, /config ok: .*agent\.yaml/);
  t.match(r.out, /provisioning 198\.18\.0\.1 \(198\.18\.0\.0\/24\) on prov0/);
  t.match(r.out, /manifest ok: .*manifest\.yaml: 2 node\(s\), 1 profile\(s\) in use/);
});

t.test('check-config names the field and the fix, exit 1', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'maskin-cli-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'agent.yaml');
  await writeFile(
    file,
    'provisioning: { interface: prov0, address: 198.18.0.1, subnet: 198.18.0.0/24 }\ndhcp: { pool: { start: 198.18.0.100, end: 198.18.0.50 } }\nmanifestFile: nowhere.yaml\n',
  );
  const r = await run(['check-config', file]);
  t.equal(r.code, 1);
  t.match(r.err, /dhcp\.pool: start 198\.18\.0\.100 is after end 198\.18\.0\.50\. Fix: swap start and end/);
  await writeFile(
    file,
    'provisioning: { interface: prov0, address: 198.18.0.1, subnet: 198.18.0.0/24 }\ndhcp: { pool: { start: 198.18.0.100, end: 198.18.0.150 } }\nmanifestFile: nowhere.yaml\n',
  );
  const m = await run(['check-config', file]);
  t.equal(m.code, 1);
  t.match(m.err, /manifest .*nowhere\.yaml.*cannot read file.*Fix: set manifestFile/s);
});

t.test('usage errors exit 2; nodes without an agent says how to reach one', async (t) => {
  const u = await run(['frobnicate']);
  t.equal(u.code, 2);
  t.match(u.err, /unknown command 'frobnicate'/);
  const n = await run(['nodes', '--url', 'http://127.0.0.1:9']);
  t.equal(n.code, 1);
  t.match(n.err, /cannot reach the agent at http:\/\/127\.0\.0\.1:9 .*pass --config or --url/);
  t.match((await run(['--help'])).out, /\n  run \[options\] +run the agent/);
});
