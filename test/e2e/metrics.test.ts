// /metrics of the composed agent in a rack namespace (no VM), after a real DHCP client's lease and
// an iPXE script request: standard names for the process families, the families of
// docs/metrics.md with their types and labels (both ways), values that follow what happened, no
// secret in the text, and docs/grafana-rack.json querying only families that exist. Rack 198.18.36.0/24.
import t from 'tap';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { repoRoot, startAgentInRack } from '../bed/agent.js';
import { createRack } from '../bed/netns.js';
import { manifestFor, standinAssets } from './scenario.js';

interface Family {
  readonly type: string;
  readonly labels: Set<string>;
  readonly samples: { name: string; labels: Record<string, string>; value: number }[];
}

/** Prometheus text exposition (0.0.4): families by name, from # TYPE lines and samples. */
function parseExposition(text: string): Map<string, Family> {
  const families = new Map<string, Family>();
  const familyOf = (sample: string): Family | undefined => families.get(sample) ?? families.get(sample.replace(/_(bucket|sum|count)$/, '')) ?? undefined;
  for (const line of text.split('\n')) {
    const type = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (type) {
      families.set(type[1]!, { type: type[2]!, labels: new Set(), samples: [] });
      continue;
    }
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!sample) continue;
    const family = familyOf(sample[1]!);
    if (!family) continue;
    const labels: Record<string, string> = {};
    for (const m of (sample[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[m[1]!] = m[2]!;
    for (const k of Object.keys(labels)) if (k !== 'le' && k !== 'quantile') family.labels.add(k);
    family.samples.push({ name: sample[1]!, labels, value: Number(sample[3]) });
  }
  return families;
}

/** The table of docs/metrics.md: name → type and labels. */
function documented(markdown: string): Map<string, { type: string; labels: string[] }> {
  const rows = new Map<string, { type: string; labels: string[] }>();
  for (const line of markdown.split('\n')) {
    const m = /^\| `(maskin_[a-z0-9_]+)` \| (\w+) \|([^|]*)\|/.exec(line);
    if (m) rows.set(m[1]!, { type: m[2]!, labels: [...m[3]!.matchAll(/`([a-z_]+)`/g)].map((l) => l[1]!) });
  }
  return rows;
}

t.test('metrics: standard process names, the documented families, values that follow the rack', async (t) => {
  const rack = await createRack('metr', 36);
  const assets = await standinAssets();
  t.teardown(async () => {
    await rack.destroy();
    await assets.remove();
  });
  const mac = '52:54:00:6d:36:01';
  const host = await rack.addHost('c1', { mac });
  const agent = await startAgentInRack(rack, {
    manifest: manifestFor([
      { id: 'm1', mac },
      { id: 'm2', mac: '52:54:00:6d:36:02' },
    ]),
    assetsDir: assets.dir,
    extraConfig: 'nodeLogs: { enabled: true }\n',
    env: { MASKIN_ADMIN_TOKEN: 'metrics-test-admin-secret' },
  });
  t.teardown(() => agent.stop());
  // The leased address goes on the host's interface, so its script request comes from it.
  const dir = await mkdtemp(path.join(tmpdir(), 'maskin-metrics-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const script = path.join(dir, 'udhcpc.sh');
  await writeFile(script, '#!/bin/sh\n[ "$1" = bound ] && ip addr add "$ip/24" dev "$interface"\nexit 0\n');
  await chmod(script, 0o755);
  await rack.exec('udhcpc', ['-i', 'eth0', '-n', '-q', '-f', '-t', '5', '-T', '1', '-s', script], host);
  await agent.waitForNode('m1', (n) => n.timeline.some((s) => s.step === 'dhcp-ack'), 10_000);
  // The chain's second script, as iPXE asks for it (from the node's namespace).
  await rack.exec('curl', ['-sS', '--max-time', '5', `http://${rack.address}/ipxe?mac=${mac}&platform=pcbios&buildarch=i386`], host);

  // From the provisioning network: the boot server has no admin route, and nothing listens on admin.port there.
  const fromNode = (url: string): Promise<string> =>
    rack.exec('sh', ['-c', `curl -s -o /dev/null -w '%{http_code}' --max-time 5 ${url}; echo " exit $?"`], host).then((out) => out.trim());
  for (const p of ['metrics', 'v1/nodes', 'v1/status', 'ui'])
    t.equal(await fromNode(`http://${rack.address}/${p}`), '404 exit 0', `the boot server does not serve /${p}`);
  t.equal(await fromNode(`http://${rack.address}:9180/metrics`), '000 exit 7', 'the admin port is closed on the provisioning address');
  t.match(agent.output(), /admin\.listen oob0: not on this host/, 'the default oob0 is absent here, and said so');

  const text = await rack.exec('curl', ['-sS', '--max-time', '5', '-f', 'http://127.0.0.1:9180/metrics']);
  const families = parseExposition(text);
  const value = (name: string, labels: Record<string, string> = {}): number | undefined =>
    families.get(name)?.samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;

  for (const name of ['process_cpu_seconds_total', 'process_resident_memory_bytes', 'nodejs_heap_size_used_bytes', 'nodejs_eventloop_lag_p99_seconds'])
    t.ok(families.has(name), `${name} under its standard name`);
  t.notOk(
    [...families.keys()].some((n) => n.startsWith('maskin_process_') || n.startsWith('maskin_nodejs_')),
    'no prefixed copy of the default families',
  );

  const docs = documented(await readFile(path.join(repoRoot, 'docs', 'metrics.md'), 'utf8'));
  t.ok(docs.size > 40, `${docs.size} families documented`);
  const scraped = [...families.keys()].filter((n) => n.startsWith('maskin_'));
  t.same(
    scraped.filter((n) => !docs.has(n)),
    [],
    'every maskin_ family is documented',
  );
  t.same(
    [...docs.keys()].filter((n) => !families.has(n)),
    [],
    'every documented family is exposed',
  );
  for (const [name, doc] of docs) {
    const family = families.get(name);
    if (!family) continue;
    t.equal(family.type, doc.type, `${name} is a ${doc.type}`);
    // A family with no sample yet shows no labels; one with samples shows every label it has.
    t.ok(
      [...family.labels].every((l) => doc.labels.includes(l)),
      `${name}: labels ${[...family.labels].join(', ') || 'none'} are documented`,
    );
    if (family.samples.length > 0 && family.type !== 'histogram')
      t.same([...family.labels].sort(), [...doc.labels].sort(), `${name}: exactly the documented labels`);
  }

  const pkg = JSON.parse(await readFile(path.join(repoRoot, 'package.json'), 'utf8')) as { version: string };
  t.equal(value('maskin_build_info', { version: pkg.version }), 1, 'build_info carries the version');
  t.equal(value('maskin_nodes', { state: 'never-seen' }), 1, 'm2 has not booted');
  t.equal(value('maskin_nodes', { state: 'failed' }), 0, 'every state is listed, zeros too');
  t.equal(value('maskin_dhcp_pool_addresses', { pool: rack.subnet }), 100);
  t.equal(value('maskin_dhcp_pool_free_addresses', { pool: rack.subnet }), 99, "m1's lease is taken from the pool");
  t.equal(value('maskin_manifest_source', { source: 'local-file' }), 1);
  t.equal(value('maskin_manifest_nodes'), 2);
  t.ok((value('maskin_manifest_applied_timestamp_seconds') ?? 0) > Date.now() / 1000 - 600, 'the local file was read just now');
  t.ok((value('maskin_http_requests_total', { route: '/healthz', method: 'GET', code: '2xx' }) ?? 0) >= 1, 'requests by route pattern');
  t.ok((value('maskin_ipxe_scripts_total') ?? 0) >= 1, 'the script request counted by kind');
  t.ok(
    families.get('maskin_http_requests_total')!.samples.every((s) => !s.labels['route']!.includes(mac)),
    'routes are patterns, not URLs',
  );
  t.notMatch(text, /metrics-test-admin-secret/, 'no secret in the metrics');

  const dashboard = JSON.parse(await readFile(path.join(repoRoot, 'docs', 'grafana-rack.json'), 'utf8')) as {
    panels: { title: string; targets: { expr: string }[] }[];
  };
  const used = new Set(
    dashboard.panels.flatMap((p) => p.targets.flatMap((q) => [...q.expr.matchAll(/\b((?:maskin|process|nodejs)_[a-z0-9_]+)\{/g)].map((m) => m[1]!))),
  );
  t.ok(used.size > 15, `${used.size} families on the dashboard`);
  for (const name of used) t.ok(families.has(name) || families.has(name.replace(/_(bucket|sum|count)$/, '')), `the dashboard's ${name} exists`);
});
