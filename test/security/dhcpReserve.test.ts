// Junk DHCP clients against the real agent process: perfdhcp in its own namespace brings up many
// made-up MACs until they run into the pool's limit; a real udhcpc for a manifest node's MAC still
// gets an address, from the part of the pool unknown machines cannot take, while one more unknown
// client gets none. The agent's config is the test bed's (pool .100-.199) with the default
// dhcp.unknownPoolPercent. Rack 198.18.147.0/24.
import t from 'tap';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startAgentInRack, type AgentInRack } from '../bed/agent.js';
import { createRack } from '../bed/netns.js';
import { manifestFor } from '../e2e/scenario.js';

const MANIFEST_MAC = '52:54:00:93:00:01';
const JUNK_CLIENTS = 150; // more than the whole pool

t.test('a manifest node still gets an address after junk clients filled their share of the pool', async (t) => {
  const rack = await createRack('secdhcp', 147);
  const dir = await mkdtemp(path.join(tmpdir(), 'maskin-secdhcp-'));
  let agent: AgentInRack | undefined;
  t.teardown(async () => {
    await agent?.stop();
    await rack.destroy();
    await rm(dir, { recursive: true, force: true });
  });
  agent = await startAgentInRack(rack, { manifest: manifestFor([{ id: 'm1', mac: MANIFEST_MAC }]), assetsDir: dir });
  const metrics = (): Promise<string> => rack.exec('curl', ['-sS', '--max-time', '5', 'http://127.0.0.1:9180/metrics']);
  const dropped = async (reason: string): Promise<number> =>
    Number(new RegExp(`maskin_dhcp_dropped_total\\{reason="${reason}"\\} (\\d+)`).exec(await metrics())?.[1] ?? 0);

  // perfdhcp acts as a relay on our segment (giaddr = its address): 4-way exchanges for 150 MACs.
  const junk = await rack.addHost('junk', { address: '198.18.147.3/24' });
  const out = await rack
    .exec('perfdhcp', ['-4', '-l', 'eth0', '-r', '200', '-R', String(JUNK_CLIENTS), '-p', '3', '-t', '1', rack.address], junk)
    .catch((err: { stdout?: string }) => err.stdout ?? String(err));
  t.match(out, /received packets: \d+/, 'perfdhcp ran');
  const limited = (await dropped('unknown-share-exhausted')) + (await dropped('pool-exhausted'));
  t.ok(limited > 0, `the junk clients ran into the limit (${limited} requests not answered)`);

  const script = path.join(dir, 'udhcpc.sh');
  const leaseFile = path.join(dir, 'lease.env');
  await writeFile(script, `#!/bin/sh\n[ "$1" = bound ] && env > "${leaseFile}"\nexit 0\n`);
  await chmod(script, 0o755);
  /** Runs udhcpc in a host (-n: it exits non-zero without a lease) and returns the lease it got. */
  const udhcpc = async (ns: string, tries: number): Promise<Record<string, string>> => {
    await rack.exec('udhcpc', ['-i', 'eth0', '-n', '-q', '-f', '-t', String(tries), '-T', '1', '-s', script], ns);
    const env = await readFile(leaseFile, 'utf8');
    await rm(leaseFile);
    return Object.fromEntries(env.split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
  };

  const manifestNode = await rack.addHost('m1', { mac: MANIFEST_MAC });
  const lease = await udhcpc(manifestNode, 5);
  t.match(lease.ip, /^198\.18\.147\.1[5-9]\d$/, `the manifest node got ${lease.ip}, from the part unknown machines cannot hold`);
  t.equal(lease.serverid, rack.address);
  t.equal((await agent.node('m1'))?.facts.ip, lease.ip, 'and its record says so');

  const another = await rack.addHost('u1', { mac: '02:00:00:93:00:99' });
  const refusedBefore = await dropped('unknown-share-exhausted');
  await t.rejects(udhcpc(another, 2), 'one more unknown client gets no address');
  t.ok((await dropped('unknown-share-exhausted')) > refusedBefore, 'and is counted');
});
