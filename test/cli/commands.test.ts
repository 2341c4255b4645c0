// The read and action commands against a real admin API (agent/http on a loopback port): the bin
// for exit codes and what an operator sees, cliMain in-process where a terminal is needed.
import t from 'tap';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { cliMain } from '../../agent/cli/program.js';
import { parseConfig } from '../../agent/config/load.js';
import type { CacheStatus } from '../../agent/images/status.js';
import type { NodeSummary } from '../../agent/nodes/format.js';
import { cliPath, repoRoot } from '../bed/agent.js';
import { bmcNode, harness, harnessApp, withoutBmc } from '../provision/harness.js';

const config = parseConfig(
  'provisioning: { interface: prov0, address: 198.18.83.1, subnet: 198.18.83.0/24 }\ndhcp: { pool: { start: 198.18.83.100, end: 198.18.83.199 } }\n',
  { env: {} },
);

const IMAGE = `sha256:${'e'.repeat(64)}`;
function cacheView(state: 'downloading' | 'cached' | 'failed', received = 0): CacheStatus {
  return {
    totalBytes: 1024 ** 2,
    limitBytes: 20 * 1024 ** 3,
    blobs: 1,
    readiness: { workers: state === 'cached' },
    assets: [
      {
        assetPath: 's/v1.13.9/kernel-amd64',
        profile: 'workers',
        kind: 'kernel',
        digest: IMAGE,
        state,
        ...(state === 'downloading' ? { received, total: 4 * 1024 ** 2 } : {}),
        ...(state === 'failed' ? { error: `digest mismatch for https://factory/kernel-amd64: expected ${IMAGE}, got sha256:${'f'.repeat(64)}` } : {}),
      },
    ],
  };
}

async function setup(t: { teardown(fn: () => unknown): void }, cache: () => CacheStatus = () => cacheView('cached')) {
  // n1 and n2 have BMCs and get records; n3 (no BMC, never booted) is only in the manifest.
  const h = await harness([bmcNode(1, { hostname: 'rack1-n01' }), bmcNode(2), withoutBmc(bmcNode(3, { hostname: 'rack1-n03' }))]);
  h.behaviour.set('n2', { handsOver: false });
  const app = await harnessApp(h, config, { cacheStatus: cache });
  t.teardown(async () => {
    await app.close();
    await h.executor.close();
  });
  h.executor.reconcileAll();
  await h.clock.advance(90_000);
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  return { h, app, url, port: Number(new URL(url).port) };
}

async function bin(args: string[], env: Record<string, string> = {}): Promise<{ code: number; out: string; err: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [cliPath, ...args], {
      env: { ...process.env, MASKIN_ADMIN_TOKEN: '', MASKIN_CONFIG: '', NO_COLOR: '', ...env },
    });
    return { code: 0, out: stdout, err: stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, out: err.stdout, err: err.stderr };
  }
}

/** cliMain in-process, with a stdout that says whether it is a terminal. */
async function inProcess(args: string[], opts: { tty?: boolean; env?: NodeJS.ProcessEnv } = {}) {
  let out = '';
  let err = '';
  let polls = 0;
  const code = await cliMain(args, {
    stdout: { write: (s: string) => (out += s), isTTY: opts.tty === true },
    stderr: { write: (s: string) => (err += s) },
    env: { TERM: 'xterm', ...opts.env },
    sleep: async () => {
      polls++;
    },
  });
  return { code, out, err, polls };
}

t.test('version, help, usage mistakes and exit codes', async (t) => {
  const pkg = JSON.parse(await readFile(path.join(repoRoot, 'package.json'), 'utf8')) as { version: string };
  const v = await bin(['--version']);
  t.equal(v.code, 0);
  t.equal(v.out, `${pkg.version}\n`);
  const help = await bin(['run', '--help']);
  t.equal(help.code, 0);
  t.match(help.out, /^Usage: maskin-agent run \[options\]\n/, 'run --help is the help of run, not the global one');
  t.match(help.out, /-c, --config <file> +agent config \(default: MASKIN_CONFIG, else\s+\/etc\/maskin-agent\/agent\.yaml\)/);
  const none = await bin([]);
  t.equal(none.code, 2, 'no command is a usage mistake');
  t.match(none.err, /^Usage: maskin-agent \[options\] \[command\]/);
  t.equal(none.out, '');
  const unknown = await bin(['frobnicate']);
  t.equal(unknown.code, 2);
  t.match(unknown.err, /^maskin-agent: unknown command 'frobnicate'\n/);
  t.equal((await bin(['nodes', '--frob'])).code, 2, 'unknown flag');
  t.equal((await bin(['nodes', '--console'])).code, 2, '--console needs a node');
  t.equal((await bin(['cache', 'status', '--watch', '--json'])).code, 2, '--watch and --json conflict');
  const badUrl = await bin(['nodes', '--url', 'not a url']);
  t.equal(badUrl.code, 2);
  t.match(badUrl.err, /--url not a url: not a URL/);
});

t.test('run and check-config read MASKIN_CONFIG, else /etc/maskin-agent/agent.yaml', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'maskin-cli-cfg-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const missing = path.join(dir, 'absent.yaml');
  const run = await bin(['run'], { MASKIN_CONFIG: missing });
  t.equal(run.code, 1);
  t.match(run.err, new RegExp(`${missing.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}.*cannot read`, 's'), 'the file it tried is named');
  const check = await bin(['check-config', '--no-probe'], { MASKIN_CONFIG: path.join(repoRoot, 'config/examples/agent.yaml') });
  t.equal(check.code, 0, check.err);
  t.match(check.out, /^config ok: .*config\/examples\/agent\.yaml\n/);
  const asJson = await bin(['check-config', path.join(repoRoot, 'config/examples/agent.yaml'), '--no-probe', '--json']);
  t.equal(asJson.code, 0, asJson.err);
  const parsed = JSON.parse(asJson.out) as { manifest: { nodes: number }; provisioning: { address: string }; warnings: unknown[] };
  t.equal(parsed.provisioning.address, '198.18.0.1');
  t.equal(parsed.manifest.nodes, 2);
  t.ok(Array.isArray(parsed.warnings));
  // A config without a manifest says so instead of `manifest ok: undefined`.
  const bare = path.join(dir, 'bare.yaml');
  await writeFile(
    bare,
    'provisioning: { interface: prov0, address: 198.18.84.1, subnet: 198.18.84.0/24 }\ndhcp: { pool: { start: 198.18.84.100, end: 198.18.84.150 } }\n',
  );
  const noManifest = await bin(['check-config', bare, '--no-probe']);
  t.equal(noManifest.code, 0, noManifest.err);
  t.match(noManifest.out, /manifest: none configured \(manifestFile\)/);
  t.notMatch(noManifest.out, /undefined/);
});

t.test('nodes: the table with never-seen manifest nodes, --json, lookup by id, MAC and hostname', async (t) => {
  const { url, port } = await setup(t);
  const table = await bin(['nodes', '--url', url]);
  t.equal(table.code, 0, table.err);
  t.match(table.out, /^NODE +STATE +GEN +IP +MAC +STEP/);
  t.match(table.out, /\nn3 +never-seen +1 +- +52:54:00:00:00:03 /, 'the manifest node with no record is listed');
  t.notMatch(table.out, /\u001b\[/, 'no colour when stdout is not a terminal');
  const rows = table.out.trimEnd().split('\n');
  const stateAt = rows[0]!.indexOf('STATE');
  t.ok(
    rows.every((r) => r.length <= stateAt || r[stateAt - 1] === ' '),
    'columns line up',
  );

  const listed = await bin(['nodes', '--json', '--url', `${url}/`]);
  t.equal(listed.code, 0, listed.err);
  const { nodes } = JSON.parse(listed.out) as { nodes: NodeSummary[] };
  t.same(
    nodes.map((n) => [n.id, n.state]),
    [
      ['n1', 'handed-over'],
      ['n2', 'provisioning'],
      ['n3', 'never-seen'],
    ],
    'a trailing slash on --url joins the same way',
  );

  const byMac = await bin(['nodes', '52-54-00-00-00-01', '--json', '--url', url]);
  t.equal(byMac.code, 0, byMac.err);
  t.equal((JSON.parse(byMac.out) as { id: string }).id, 'n1', 'a MAC with dashes finds its node');
  const byHost = await bin(['nodes', 'RACK1-N01', '--url', url]);
  t.equal(byHost.code, 0, byHost.err);
  t.match(byHost.out, /^node n1: handed-over, generation 1/);
  const unseen = await bin(['nodes', 'rack1-n03', '--url', url]);
  t.equal(unseen.code, 0, unseen.err);
  t.equal(unseen.out, 'node n3: never-seen, generation 1, MACs 52:54:00:00:00:03\nin the manifest; no DHCP request from any of its MACs yet\n');
  const nope = await bin(['nodes', 'rack9-n99', '--url', url]);
  t.equal(nope.code, 1);
  t.equal(
    nope.err,
    'maskin-agent: no node rack9-n99: not a node id, MAC or manifest hostname this agent knows; list nodes with GET /v1/nodes (maskin-agent nodes)\n',
  );
  t.notMatch(nope.err, /\{"error"/, 'no raw JSON');

  // The admin port from the config MASKIN_CONFIG names.
  const dir = await mkdtemp(path.join(tmpdir(), 'maskin-cli-port-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'agent.yaml');
  await writeFile(
    file,
    `provisioning: { interface: prov0, address: 198.18.83.1, subnet: 198.18.83.0/24 }\ndhcp: { pool: { start: 198.18.83.100, end: 198.18.83.199 } }\nadmin: { port: ${port} }\n`,
  );
  const viaEnv = await bin(['nodes', '--json'], { MASKIN_CONFIG: file });
  t.equal(viaEnv.code, 0, viaEnv.err);
  t.equal((JSON.parse(viaEnv.out) as { nodes: unknown[] }).nodes.length, 3);

  const action = await bin(['node', 'rack1-n01', 'reprovision', '--url', url]);
  t.equal(action.code, 0, action.err);
  t.equal(action.out, 'reprovision of node n1 accepted; follow it with: maskin-agent nodes n1\n', 'the action names the node the hostname resolved to');
});

t.test('colour on a terminal only, and never with NO_COLOR', async (t) => {
  const { url } = await setup(t);
  const tty = await inProcess(['nodes', '--url', url], { tty: true });
  t.equal(tty.code, 0, tty.err);
  t.match(tty.out, /\u001b\[32mhanded-over\u001b\[39m/, 'a done node in green');
  t.match(tty.out, /\u001b\[2mnever-seen\u001b\[22m/, 'a never-seen node dim');
  const plainRows = (await inProcess(['nodes', '--url', url], { tty: true, env: { NO_COLOR: '1' } })).out;
  t.notMatch(plainRows, /\u001b\[/, 'NO_COLOR wins over a terminal');
  t.equal(tty.out.replace(/\u001b\[[0-9;]*m/g, ''), plainRows, 'colour changes no column');
});

t.test('cache status: binary units, --json, and --watch redrawing until the images settle', async (t) => {
  let calls = 0;
  const { url } = await setup(t, () => {
    calls++;
    return calls === 1 ? cacheView('downloading', 1024 ** 2) : calls === 2 ? cacheView('downloading', 3 * 1024 ** 2) : cacheView('cached');
  });
  const watch = await inProcess(['cache', 'status', '--watch', '--url', url], { tty: true, env: { NO_COLOR: '1' } });
  t.equal(watch.code, 0, watch.err);
  t.equal(watch.polls, 2, 'polled until cached');
  t.match(watch.out, /downloading \[#{8}\.{22}\] 25% of 4\.0 MiB/);
  t.match(watch.out, /downloading \[#{23}\.{7}\] 75% of 4\.0 MiB/);
  t.match(watch.out, /\u001b\[\d+A\u001b\[J/, 'each frame overwrites the last');
  t.match(watch.out, /cached\n$/);
  t.match(watch.out, /1\.0 MiB of 20\.0 GiB/);
  const asJson = await bin(['cache', 'status', '--json', '--url', url]);
  t.equal(asJson.code, 0, asJson.err);
  t.equal((JSON.parse(asJson.out) as CacheStatus).limitBytes, 20 * 1024 ** 3);
});

t.test('cache status --watch ends with exit 1 when an image failed', async (t) => {
  const { url } = await setup(t, () => cacheView('failed'));
  const watch = await inProcess(['cache', 'status', '--watch', '--url', url]);
  t.equal(watch.code, 1);
  t.match(watch.out, /failed: digest mismatch for https:\/\/factory\/kernel-amd64: expected sha256:eeeeeeeeeeee…, got sha256:f{64}/);
  t.match(watch.err, /a pinned image failed to download/);
});
