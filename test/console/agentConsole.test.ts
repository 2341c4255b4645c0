// The node log sink in the running agent (no VM): a host that leased its address from the agent
// streams Talos-format log lines with busybox nc; they show in the node's console (admin API and
// `maskin-agent nodes ID --console`) and its milestone in the timeline. A host on an address the
// agent never leased is refused and counted; a flood keeps the console at its bound. Rack 198.18.95.0/24.
import t from 'tap';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { ConsoleLine } from '../../agent/console/lines.js';
import { startAgentInRack } from '../bed/agent.js';
import { createRack } from '../bed/netns.js';
import { manifestFor, standinAssets } from '../e2e/scenario.js';

const MAC = '52:54:00:6d:95:01';

t.test('agent: node consoles by leased address, refusals counted, bounded under a flood', async (t) => {
  const rack = await createRack('consol', 95);
  const assets = await standinAssets();
  const dir = await mkdtemp(path.join(tmpdir(), 'maskin-consol-'));
  t.teardown(async () => {
    await rack.destroy();
    await assets.remove();
    await rm(dir, { recursive: true, force: true });
  });
  const agent = await startAgentInRack(rack, {
    manifest: manifestFor([{ id: 'c1', mac: MAC }]),
    assetsDir: assets.dir,
    extraConfig: 'nodeLogs: { linesPerNode: 50 }\n',
    logLevel: 'info',
  });
  t.teardown(() => agent.stop());
  const curl = (url: string): Promise<string> => rack.exec('curl', ['-sS', '--max-time', '5', '-f', url]);
  const consoleOf = async (id: string): Promise<{ lines: ConsoleLine[]; dropped: number }> =>
    JSON.parse(await curl(`http://127.0.0.1:9180/v1/nodes/${id}/console`)) as { lines: ConsoleLine[]; dropped: number };
  const waitFor = async (what: string, test: () => Promise<boolean>): Promise<void> => {
    const until = Date.now() + 30_000;
    while (!(await test())) {
      if (Date.now() > until) throw new Error(`timed out waiting for ${what}\n${agent.output().slice(-3000)}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  };

  // The node takes its lease from the agent and configures it, as Talos's DHCP client does.
  const node = await rack.addHost('c1', { mac: MAC });
  const script = path.join(dir, 'udhcpc.sh');
  await writeFile(script, '#!/bin/sh\n[ "$1" = bound ] && ip addr add "$ip/24" dev "$interface"\nexit 0\n');
  await chmod(script, 0o755);
  await rack.exec('udhcpc', ['-i', 'eth0', '-n', '-q', '-f', '-t', '5', '-T', '1', '-s', script], node);

  const records = [
    { facility: 'kern', priority: 'info', seq: 1, msg: 'Linux version 6.12.0-standin', 'talos-level': 'info' },
    { msg: 'entering maintenance service', 'talos-level': 'info', 'talos-service': 'machined', 'talos-time': '2026-12-03T10:00:01Z' },
    { msg: 'install-failed: config has no v1alpha1 document', 'talos-level': 'error', 'talos-service': 'installer' },
  ];
  const nc = (ns: string, lines: string): Promise<string> =>
    rack.exec('sh', ['-c', `printf '%s\\n' "$0" | busybox nc -w 2 ${rack.address} 5170 || true`, lines.replace(/\n$/, '')], ns);
  await nc(node, records.map((r) => JSON.stringify(r)).join('\n'));
  await waitFor('three console lines', async () => (await consoleOf('c1')).lines.length === 3);
  const { lines } = await consoleOf('c1');
  t.same(
    lines.map((l) => `${l.source} ${l.level} ${l.msg}`),
    [
      'kernel info Linux version 6.12.0-standin',
      'machined info entering maintenance service',
      'installer error install-failed: config has no v1alpha1 document',
    ],
  );
  t.equal(lines[1]!.at, '2026-12-03T10:00:01.000Z', "the node's own time where it sent one");
  const record = await agent.node('c1');
  t.same(
    record?.timeline.filter((s) => s.step === 'console-milestone').map((s) => s.detail['milestone']),
    ['kernel-started', 'maintenance-mode', 'installer-error'],
    'milestones on the timeline',
  );
  const cli = await agent.cli(['nodes', 'c1', '--console']);
  t.match(cli, /node c1: 3 console line\(s\)/);
  t.match(cli, /installer error: install-failed: config has no v1alpha1 document/);

  // A host on an address the agent never leased: closed, counted, nothing kept anywhere.
  const stranger = await rack.addHost('c2', { address: '198.18.95.50/24', mac: '52:54:00:6d:95:02' });
  await nc(stranger, JSON.stringify({ msg: 'spoofed', 'talos-service': 'x' }));
  await waitFor('the refusal counted', async () =>
    /maskin_console_connections_refused_total\{reason="not-leased"\} 1\b/.test(await curl('http://127.0.0.1:9180/metrics')),
  );
  t.equal((await consoleOf('c1')).lines.length, 3, "the stranger's line went nowhere");

  // A flood from the node: the console keeps its newest 50 lines, the agent keeps serving.
  await rack.exec(
    process.execPath,
    [
      '-e',
      `const s = require('node:net').connect(5170, '${rack.address}', () => {
         const lines = Array.from({ length: 20000 }, (_, i) => JSON.stringify({ msg: 'flood ' + i, 'talos-service': 'x' })).join('\\n') + '\\n';
         s.end(lines);
       }); s.on('error', () => {}); s.on('close', () => process.exit(0));`,
    ],
    node,
  );
  await waitFor('the flood counted', async () => {
    const m = await curl('http://127.0.0.1:9180/metrics');
    const n = (outcome: string): number => Number(new RegExp(`maskin_console_lines_total\\{outcome="${outcome}"\\} (\\d+)`).exec(m)?.[1] ?? 0);
    return n('kept') + n('rate-dropped') >= 20_003;
  });
  const after = await consoleOf('c1');
  t.equal(after.lines.length, 50, 'nodeLogs.linesPerNode');
  t.ok(after.dropped >= 20_003 - 50, `older and over-rate lines counted as dropped (${after.dropped})`);
  t.match(await curl('http://127.0.0.1/healthz'), /ok|status/, 'still healthy');
});
