// Other DHCP servers on the segment, against the real agent process and Debian's Kea in
// namespaces: full mode reports one started next to it within a probe interval (address, MAC, log,
// metric, status); auto mode leaves the addresses to it while it answers and takes over when it
// is gone; a PXE client that ignores its proxy offers gets a hint on its timeline. Racks
// 198.18.221.0/24, 198.18.222.0/24 and 198.18.225.0/24.
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import t, { type Test } from 'tap';
import type { AgentStatus } from '../../agent/http/admin.js';
import { startAgentInRack, type AgentInRack } from '../bed/agent.js';
import { startForeignDhcp } from '../bed/foreignDhcp.js';
import { createRack, type Rack } from '../bed/netns.js';
import { manifestFor } from '../e2e/scenario.js';

const PROBE_SECONDS = 10;
const MANIFEST = manifestFor([]);

async function status(rack: Rack): Promise<AgentStatus> {
  return JSON.parse(await rack.exec('curl', ['-sf', '--max-time', '5', 'http://127.0.0.1:9180/v1/status'])) as AgentStatus;
}

/** Polls /v1/status until `ok` holds; throws with the last status and the agent's log. */
async function statusUntil(rack: Rack, agent: AgentInRack, ok: (s: AgentStatus) => boolean, timeoutMs: number): Promise<AgentStatus> {
  const until = Date.now() + timeoutMs;
  let last: AgentStatus | undefined;
  for (;;) {
    last = await status(rack);
    if (ok(last)) return last;
    if (Date.now() > until) throw new Error(`status never matched; last:\n${JSON.stringify(last.dhcp)}\nagent:\n${agent.output().slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** A rack and a scratch folder, both gone at the test's end. */
async function rackAndDir(t: Test, tag: string, octet: number): Promise<{ rack: Rack; dir: string }> {
  const rack = await createRack(tag, octet);
  const dir = await mkdtemp(path.join(tmpdir(), 'maskin-foreign-'));
  t.teardown(async () => {
    await rack.destroy();
    await rm(dir, { recursive: true, force: true });
  });
  return { rack, dir };
}

/** A udhcpc lease on `host`: its server id and address. */
async function lease(rack: Rack, host: string, dir: string): Promise<{ serverid: string; ip: string }> {
  const script = path.join(dir, 'udhcpc.sh');
  const out = path.join(dir, `lease-${host}.env`);
  await writeFile(script, `#!/bin/sh\n[ "$1" = bound ] && env > "$LEASE_OUT"\nexit 0\n`);
  await chmod(script, 0o755);
  await rm(out, { force: true });
  await rack.exec('env', [`LEASE_OUT=${out}`, 'udhcpc', '-i', 'eth0', '-n', '-q', '-f', '-t', '8', '-T', '1', '-s', script], host);
  const env = Object.fromEntries(
    (await readFile(out, 'utf8')).split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)] as const),
  ) as Record<string, string>;
  return { serverid: env.serverid ?? '', ip: env.ip ?? '' };
}

t.test('full mode: a DHCP server started on the segment is reported within one probe interval', async (t) => {
  const { rack, dir } = await rackAndDir(t, 'fdhcp', 221);
  const agent = await startAgentInRack(rack, { manifest: MANIFEST, assetsDir: dir, dhcp: `probeIntervalSeconds: ${PROBE_SECONDS}` });
  t.teardown(() => agent.stop());
  const client = await rack.addHost('c1', { mac: '52:54:00:6d:dd:01' });
  const first = await lease(rack, client, dir);
  t.equal(first.serverid, rack.address, 'alone on the segment, the agent leases the address');
  const alone = await statusUntil(rack, agent, (s) => (s.dhcp?.probes ?? 0) >= 1 && s.dhcp?.lastProbeAt !== undefined, 30_000);
  t.same(alone.dhcp?.foreignServers, [], "its own OFFER and ACK, heard on the client port, are not another server's");
  t.equal(alone.dhcp?.inForce, 'full');

  const kea = await startForeignDhcp(rack, { mac: '02:6b:65:61:00:01' });
  t.teardown(() => kea.stop());
  const keaUp = Date.now();
  const seen = await statusUntil(rack, agent, (s) => (s.dhcp?.foreignServers ?? []).some((f) => f.serverId === kea.address && f.mac !== undefined), 120_000);
  const tookMs = Date.now() - keaUp;
  t.comment(`foreign DHCP server reported ${(tookMs / 1000).toFixed(1)} s after it started (probe interval ${PROBE_SECONDS} s)`);
  // One interval, the probe's 3 s answer window and the MAC lookup (≤ 1 s), plus the poll.
  t.ok(tookMs <= (PROBE_SECONDS + 5) * 1000, 'reported within one probe interval');
  const server = seen.dhcp!.foreignServers.find((f) => f.serverId === kea.address)!;
  t.match(server, { address: kea.address, mac: kea.mac, offersAddresses: true }, 'its address and MAC');
  t.equal(seen.dhcp?.inForce, 'full', 'full mode stays full: the operator decides');
  t.match(agent.output(), /"serverId":"198\.18\.221\.2".*another DHCP server answers on the provisioning network/, 'a warning names it');
  const metrics = await rack.exec('curl', ['-sf', 'http://127.0.0.1:9180/metrics']);
  t.match(metrics, /^maskin_dhcp_foreign_servers 1$/m, 'maskin_dhcp_foreign_servers counts it');
  t.match(metrics, /^maskin_dhcp_foreign_replies_total\{seen_by="probe"\} [1-9]/m, 'it answered the probe');
  const text = await agent.cli(['status']);
  t.match(
    text,
    /dhcp: full, 1 other server\(s\) heard on the segment\n {2}CONFLICT 198\.18\.221\.2 at 198\.18\.221\.2 \(02:6b:65:61:00:01\), hands out addresses/,
    '`status` shows the conflict',
  );
});

t.test('auto mode: proxy while another server leases addresses, full once it is gone', async (t) => {
  const { rack, dir } = await rackAndDir(t, 'fdauto', 222);
  const kea = await startForeignDhcp(rack, { mac: '02:6b:65:61:00:02' });
  let keaRunning = true;
  t.teardown(() => (keaRunning ? kea.stop() : undefined));
  const agent = await startAgentInRack(rack, { manifest: MANIFEST, assetsDir: dir, dhcp: `mode: auto\nprobeIntervalSeconds: 5` });
  t.teardown(() => agent.stop());
  const proxy = await statusUntil(rack, agent, (s) => (s.dhcp?.probes ?? 0) >= 1 && s.dhcp?.lastProbeAt !== undefined, 30_000);
  t.equal(proxy.dhcp?.inForce, 'proxy', 'another server answered the first probe: proxy');
  const client = await rack.addHost('c1', { mac: '52:54:00:6d:de:01' });
  const fromKea = await lease(rack, client, dir);
  t.equal(fromKea.serverid, kea.address, 'an OS client gets its address from the other server');
  const metrics = await rack.exec('curl', ['-sf', 'http://127.0.0.1:9180/metrics']);
  t.match(metrics, /^maskin_dhcp_dropped_total\{reason="proxy-not-pxe"\} [1-9]/m, 'the agent heard it and did not answer');
  t.match(metrics, /^maskin_dhcp_proxy 1$/m);

  await kea.stop();
  keaRunning = false;
  const full = await statusUntil(rack, agent, (s) => s.dhcp?.inForce === 'full', 60_000);
  t.same(full.dhcp?.foreignServers, [], 'not heard for two probe intervals: gone');
  t.match(agent.output(), /dhcp\.mode auto: no other DHCP server answers on the segment; leasing addresses/);
  const fromAgent = await lease(rack, client, dir);
  t.equal(fromAgent.serverid, rack.address, 'the agent leases addresses now');
});

t.test('proxy mode: a PXE client that ignores the proxy offers gets a hint on its timeline', async (t) => {
  const { rack, dir } = await rackAndDir(t, 'fdhint', 225);
  const mac = '52:54:00:6d:e1:01';
  const agent = await startAgentInRack(rack, { manifest: manifestFor([{ id: 'hint-n1', mac }]), assetsDir: dir, dhcp: 'mode: proxy' });
  t.teardown(() => agent.stop());
  // perfdhcp sends from an address of its own, as a relay on the segment would.
  const host = await rack.addHost('c1', { mac, address: '198.18.225.30/24' });
  // perfdhcp as PXE firmware (option 60 PXEClient, option 93 arch 0) that takes only offers with
  // an address: DISCOVER after DISCOVER from the node's MAC, never a REQUEST (-i), as firmware
  // does that ignores proxyDHCP offers.
  const vendorClass = Buffer.from('PXEClient:Arch:00000:UNDI:002001').toString('hex');
  await rack
    .exec(
      'perfdhcp',
      ['-4', '-l', 'eth0', '-i', '-R', '1', '-b', `mac=${mac}`, '-r', '1', '-p', '6', '-o', `60,${vendorClass}`, '-o', '93,0000', rack.address],
      host,
    )
    .catch((err: Error) => t.comment(err.message));
  const node = await agent.waitForNode('hint-n1', (n) => n.timeline.some((s) => s.step === 'boot-hint'), 30_000);
  const hints = node.timeline.filter((s) => s.step === 'boot-hint');
  t.equal(hints.length, 1, 'one hint for the run of offers');
  t.match(hints[0]!.detail, { hint: 'proxy-offer-ignored', offers: 4, fix: /dhcp\.mode: full/ });
  t.ok(
    node.timeline.filter((s) => s.step === 'dhcp-offer').every((s) => s.detail.proxy === true),
    'every offer was a proxy offer',
  );
  t.match(await agent.cli(['nodes', 'hint-n1']), /boot-hint\s+hint=proxy-offer-ignored/, '`nodes ID` shows it');
});
