// The composed agent as a process in a rack namespace (no VM): a real DHCP client gets its lease
// with the configured options from it; SIGHUP with a broken manifest keeps the last good one in
// force; a fixed good one is picked up; after a restart on the same data dir the client gets the
// same lease back. Rack 198.18.22.0/24.
import t from 'tap';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startAgentInRack } from '../bed/agent.js';
import { createRack } from '../bed/netns.js';
import { manifestFor, standinAssets } from './scenario.js';

t.test('agent process: lease with options, manifest reload, restart keeps leases', async (t) => {
  const rack = await createRack('agentp', 22);
  const assets = await standinAssets();
  const dir = await mkdtemp(path.join(tmpdir(), 'maskin-agentp-'));
  t.teardown(async () => {
    await rack.destroy();
    await assets.remove();
    await rm(dir, { recursive: true, force: true });
  });
  const host = await rack.addHost('c1', { mac: '52:54:00:6d:22:01' });
  const script = path.join(dir, 'udhcpc.sh');
  await writeFile(script, `#!/bin/sh\n[ "$1" = bound ] && env > "${dir}/lease.env"\nexit 0\n`);
  await chmod(script, 0o755);
  const lease = async (): Promise<Record<string, string>> => {
    await rack.exec('udhcpc', ['-i', 'eth0', '-n', '-q', '-f', '-t', '5', '-T', '1', '-O', 'ntpsrv', '-O', 'domain', '-s', script], host);
    const env = Object.fromEntries(
      (await readFile(path.join(dir, 'lease.env'), 'utf8')).split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
    );
    await rm(path.join(dir, 'lease.env'));
    return env;
  };

  const dataDir = path.join(dir, 'data');
  const nodes = [{ id: 'p1', mac: '52:54:00:6d:22:01' }];
  let agent = await startAgentInRack(rack, { manifest: manifestFor(nodes), assetsDir: assets.dir, dataDir });
  const first = await lease();
  t.equal(first.serverid, '198.18.22.1');
  t.equal(first.subnet, '255.255.255.0');
  t.equal(first.router, '198.18.22.1');
  t.equal(first.dns, '198.18.22.1');
  t.equal(first.ntpsrv, '198.18.22.1', 'NTP (42): Talos blocks boot until time syncs');
  t.equal(first.domain, 'rack.test');
  t.match(first.ip, /^198\.18\.22\.1\d\d$/);
  t.equal(
    (await agent.node('p1'))?.timeline.some((s) => s.step === 'dhcp-ack'),
    true,
    'the manifest node saw its ack',
  );

  // A broken manifest is rejected whole; the last good one stays in force.
  const manifestFile = path.join(path.dirname(agent.configFile), 'manifest.yaml');
  await writeFile(manifestFile, 'version: 2\nprofiles: {}\nnodes:\n  - { id: p1, macs: [nonsense], profile: gone }\n');
  agent.process.kill('SIGHUP');
  await waitFor(() => /manifest rejected; the last good one stays in force/.test(agent.output()), 5000);
  t.match(agent.output(), /nodes\.0\.macs\.0/, 'the rejection names the field');
  t.equal((await agent.node('p1'))?.known, true, 'p1 is still a manifest node');
  // A good one is taken.
  await writeFile(manifestFile, manifestFor([...nodes, { id: 'p2', mac: '52:54:00:6d:22:02' }]));
  agent.process.kill('SIGHUP');
  await waitFor(() => /"nodes":2,"msg":"manifest reloaded"/.test(agent.output()), 5000);

  // Restart on the same data dir: the lease is remembered.
  await agent.stop();
  agent = await startAgentInRack(rack, { manifest: manifestFor(nodes), assetsDir: assets.dir, dataDir });
  t.teardown(() => agent.stop());
  const second = await lease();
  t.equal(second.ip, first.ip, 'same address after an agent restart');
  t.equal((await agent.node('p1'))?.timeline.filter((s) => s.step === 'dhcp-ack').length, 2, 'the node record survived the restart too');
});

async function waitFor(predicate: () => boolean, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 100));
  }
}
