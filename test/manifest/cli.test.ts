import t from 'tap';
import { mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { manifestCommand } from '../../agent/manifest/cli.js';
import { parseManifest } from '../../agent/manifest/load.js';
import { talosChecks } from '../../agent/talos/checks.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const EXAMPLE = path.join(root, 'config/examples/manifest.yaml');

async function run(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await manifestCommand(args, { stdout: { write: (s: string) => (out += s) }, stderr: { write: (s: string) => (err += s) } });
  return { code, out, err };
}

t.test('keygen → sign → verify → show', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'maskin-manifest-cli-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const keys = path.join(dir, 'keys');

  const gen = await run('keygen', '--key-id', 'central-2025', '--out', keys);
  t.equal(gen.code, 0, gen.err);
  t.match(gen.out, /trustedKeys:\n\s+- \{ id: central-2025, publicKeyFile: .*central-2025\.pub \}/);
  t.equal((await stat(path.join(keys, 'central-2025.key'))).mode & 0o777, 0o600, 'private key is 0600');
  const again = await run('keygen', '--key-id', 'central-2025', '--out', keys);
  t.equal(again.code, 1);
  t.match(again.err, /exists; refusing to overwrite a key\. Fix: choose another --key-id/);
  t.equal((await run('keygen', '--key-id', 'other', '--out', keys)).code, 0);

  const out = path.join(dir, 'rack1.pb');
  const signed = await run('sign', '--key', path.join(keys, 'central-2025.key'), '--key-id', 'central-2025', '--rack', 'rack1', '--version', '7', EXAMPLE, out);
  t.equal(signed.code, 0, signed.err);
  t.match(signed.out, new RegExp(`signed ${out}: rack rack1 version 7 key central-2025, 2 nodes, \\d+ bytes`));
  t.same((await readdir(dir)).sort(), ['keys', 'rack1.pb'], 'no temporary file left behind');

  const ok = await run('verify', '--pub', path.join(keys, 'central-2025.pub'), '--rack', 'rack1', out);
  t.equal(ok.code, 0, ok.err);
  t.equal(ok.out, 'ok: rack rack1 version 7 key central-2025, 2 nodes\n');
  const rotation = await run(
    'verify',
    '--pub',
    path.join(keys, 'other.pub'),
    '--pub',
    `central-2025=${path.join(keys, 'central-2025.pub')}`,
    '--rack',
    'rack1',
    '--current-version',
    '6',
    out,
  );
  t.equal(rotation.code, 0, rotation.err);

  const wrongKey = await run('verify', '--pub', path.join(keys, 'other.pub'), '--rack', 'rack1', out);
  t.equal(wrongKey.code, 1);
  t.match(wrongKey.err, /rejected \(unknown-key\): key id "central-2025" is not trusted; trusted: other/);
  const impostor = await run('verify', '--pub', `central-2025=${path.join(keys, 'other.pub')}`, '--rack', 'rack1', out);
  t.match(impostor.err, /rejected \(bad-signature\)/);
  t.match((await run('verify', '--pub', path.join(keys, 'central-2025.pub'), '--rack', 'rack2', out)).err, /rejected \(wrong-rack\)/);
  t.match((await run('verify', '--pub', path.join(keys, 'central-2025.pub'), '--rack', 'rack1', '--current-version', '7', out)).err, /rejected \(rollback\)/);
  t.match((await run('verify', '--pub', path.join(keys, 'central-2025.pub'), '--rack', 'rack1', '--max-bytes', '100', out)).err, /rejected \(too-large\)/);

  const shown = await run('show', out);
  t.equal(shown.code, 0, shown.err);
  t.match(shown.out, /^# rack: rack1\n# version: 7\n# key: central-2025\n# issued at: \d{4}-\d\d-\d\dT.*Z\n# signature: NOT checked/);
  const m = parseManifest(shown.out, { talos: talosChecks });
  t.equal(m.rackId, 'rack1');
  t.equal(m.version, 7);
  t.same(
    m.nodes.map((n) => n.id),
    ['rack1-n01', 'rack1-n02'],
  );
  t.same(m.nodes[0]!.patches, [{ machine: { nodeLabels: { 'maskin.dev/rack': 'rack1' } } }]);
  t.equal(m.profiles.get('worker-amd64')!.machineConfig[0]!['version'], 'v1alpha1', 'machine config from the separate file travelled');

  const checked = await run('show', '--pub', path.join(keys, 'central-2025.pub'), '--rack', 'rack1', out);
  t.match(checked.out, /# signature: checked: ok/);
  t.equal((await run('show', '--pub', path.join(keys, 'other.pub'), '--rack', 'rack1', out)).code, 1, 'show with the wrong key refuses');
});

t.test('sign refuses what an agent would refuse, naming the fix', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'maskin-manifest-cli-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  t.equal((await run('keygen', '--key-id', 'k', '--out', dir)).code, 0);
  const key = ['--key', path.join(dir, 'k.key'), '--key-id', 'k'];
  const out = path.join(dir, 'out.pb');

  const noRack = await run('sign', ...key, EXAMPLE, out);
  t.equal(noRack.code, 1);
  t.match(noRack.err, /rackId: is required in a signed manifest\. Fix: .*--rack RACK/);

  const badRack = await run('sign', ...key, '--rack', 'Rack One', EXAMPLE, out);
  t.equal(badRack.code, 1);
  t.match(badRack.err, /rackId: .*Fix: expected a lower-case rack id/);

  const bad = path.join(dir, 'bad.yaml');
  await writeFile(
    bad,
    (await readFile(EXAMPLE, 'utf8'))
      .replace('machineConfigFile: worker.machineconfig.yaml', `machineConfigFile: ${path.join(root, 'config/examples/worker.machineconfig.yaml')}`)
      .replace('profile: worker-amd64\n    ipv4', 'profile: nope\n    ipv4'),
  );
  const invalid = await run('sign', ...key, '--rack', 'rack1', bad, out);
  t.equal(invalid.code, 1);
  t.match(invalid.err, /nodes\.0\.profile: unknown profile nope/);

  const pubAsKey = await run('sign', '--key', path.join(dir, 'k.pub'), '--key-id', 'k', '--rack', 'rack1', EXAMPLE, out);
  t.equal(pubAsKey.code, 1);
  t.match(pubAsKey.err, /private key .* not a PEM key|not Ed25519/);
  t.same((await readdir(dir)).sort(), ['bad.yaml', 'k.key', 'k.pub'], 'nothing written for a refused manifest');

  const garbage = path.join(dir, 'garbage.pb');
  await writeFile(garbage, 'not a protobuf at all, just text');
  t.match((await run('verify', '--pub', path.join(dir, 'k.pub'), '--rack', 'rack1', garbage)).err, /rejected \((garbage|unknown-key)\)/);
  t.match((await run('show', garbage)).err, /rejected \((garbage)\)|manifest show:/);
});

t.test('usage errors exit 2 with the usage text', async (t) => {
  const cases: [string[], RegExp][] = [
    [[], /missing subcommand/],
    [['frobnicate'], /unknown subcommand "frobnicate"/],
    [['keygen', '--out', '/tmp/x'], /--key-id is required/],
    [['keygen', '--key-id', 'a/b', '--out', '/tmp/x'], /--key-id "a\/b": use 1-64 letters/],
    [['sign', '--key', 'k', '--key-id', 'k', 'only-one.yaml'], /give the input YAML manifest and the output file/],
    [['sign', '--key', 'k', '--key-id', 'k', '--version', '0', 'a', 'b'], /--version 0: give a whole number/],
    [['verify', '--pub', 'k.pub', 'in.pb'], /--rack RACK is required/],
    [['verify', '--rack', 'r', 'in.pb'], /give at least one --pub FILE/],
    [['verify', '--rack', 'r', '--bogus', 'in.pb'], /bogus/],
    [['show', '--rack', 'r', 'in.pb'], /give both --pub FILE and --rack RACK/],
  ];
  for (const [args, re] of cases) {
    const r = await run(...args);
    t.equal(r.code, 2, args.join(' '));
    t.match(r.err, re, args.join(' '));
    t.match(r.err, /usage:\n {2}maskin-agent manifest keygen/, `${args.join(' ')}: usage`);
  }
  const help = await run('--help');
  t.equal(help.code, 0);
  t.match(help.out, /maskin-agent manifest sign/);
  const missing = await run('verify', '--pub', '/nonexistent/k.pub', '--rack', 'r', 'in.pb');
  t.equal(missing.code, 1);
  t.match(missing.err, /cannot read public key \/nonexistent\/k\.pub .*Fix: give an existing, readable file/);
});
