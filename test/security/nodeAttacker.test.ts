// An attacker host in its own network namespace against the real agent process: it asks for
// manifest nodes' iPXE scripts (one holding no lease, one that leased its address with a real
// udhcpc and is installing) and tries the installing node's config. It gets neither a token nor a
// config, and the nodes' state and facts stay their own. Rack 198.18.146.0/24.
import t from 'tap';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startAgentInRack, type AgentInRack } from '../bed/agent.js';
import { createRack } from '../bed/netns.js';
import { manifestFor } from '../e2e/scenario.js';

const N1 = '52:54:00:92:00:01'; // leases its address, then boots
const N2 = '52:54:00:92:00:02'; // never leases
const ATTACKER = { mac: '02:00:00:92:00:66', address: '198.18.146.66' };
const BASE = 'http://198.18.146.1';

const tokenOf = (body: string): string | undefined => /\/v1\/boot\/([A-Za-z0-9_-]+)\/config/.exec(body)?.[1];
const scriptUrl = (mac: string, serial: string) => `${BASE}/ipxe?mac=${mac.replace(/:/g, '-')}&serial=${serial}&platform=pcbios`;

t.test('an attacker host gets no token and no config, and changes no node', async (t) => {
  const rack = await createRack('secnode', 146);
  const dir = await mkdtemp(path.join(tmpdir(), 'maskin-secnode-'));
  let agent: AgentInRack | undefined;
  t.teardown(async () => {
    await agent?.stop();
    await rack.destroy();
    await rm(dir, { recursive: true, force: true });
  });
  agent = await startAgentInRack(rack, {
    manifest: manifestFor([
      { id: 'n1', mac: N1 },
      { id: 'n2', mac: N2 },
    ]),
    assetsDir: dir,
  });
  const node = await rack.addHost('n1', { mac: N1 });
  const attacker = await rack.addHost('evil', { mac: ATTACKER.mac, address: `${ATTACKER.address}/24` });
  /** HTTP status and body of a GET from a host; curl's own failures throw. */
  const get = async (ns: string, url: string): Promise<{ status: number; body: string }> => {
    const out = await rack.exec('curl', ['-sS', '--max-time', '5', '-w', '\n%{http_code}', url], ns);
    const cut = out.lastIndexOf('\n');
    return { status: Number(out.slice(cut + 1)), body: out.slice(0, cut) };
  };

  // n2 holds no lease: before, whoever asked first got a token bound to its own address.
  const first = await get(attacker, scriptUrl(N2, 'EVIL'));
  t.equal(first.status, 200);
  t.match(first.body, /maskin: refused: 52:54:00:92:00:02 holds no DHCP lease from this agent/);
  t.equal(tokenOf(first.body), undefined, 'no token for a node without a lease');
  const n2 = await agent.node('n2');
  t.equal(n2?.state ?? 'discovered', 'discovered');
  t.same(n2?.facts ?? {}, {}, 'no facts recorded');

  // n1 leases its address from the agent with a real DHCP client, then asks for its script.
  const script = path.join(dir, 'udhcpc.sh');
  await writeFile(script, `#!/bin/sh\n[ "$1" = bound ] && env > "${dir}/lease.env"\nexit 0\n`);
  await chmod(script, 0o755);
  await rack.exec('udhcpc', ['-i', 'eth0', '-n', '-q', '-f', '-t', '5', '-T', '1', '-s', script], node);
  const lease = Object.fromEntries(
    (await readFile(path.join(dir, 'lease.env'), 'utf8')).split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );
  t.match(lease.ip, /^198\.18\.146\.1\d\d$/);
  await rack.exec('ip', ['addr', 'add', `${lease.ip}/24`, 'dev', 'eth0'], node);
  const own = await get(node, scriptUrl(N1, 'REAL'));
  const token = tokenOf(own.body);
  t.ok(token, 'the node itself gets its install script');
  t.equal((await agent.node('n1'))?.state, 'installing');

  // The attacker asks for n1's script, and tries n1's config with the real token.
  const hijack = await get(attacker, scriptUrl(N1, 'EVIL'));
  t.match(hijack.body, /maskin: refused: this request came from 198\.18\.146\.66/);
  t.equal(tokenOf(hijack.body), undefined, 'no token for the attacker');
  t.equal((await get(attacker, `${BASE}/v1/boot/${token}/config`)).status, 403, "the node's token does not work from elsewhere");
  const config = await get(node, `${BASE}/v1/boot/${token}/config`);
  t.equal(config.status, 200, "the node's token still stands: the attacker's request did not supersede it");
  t.match(config.body, /machine:/);

  // Once the node fetched its config, its own next script request would mark it installed.
  await get(attacker, scriptUrl(N1, 'EVIL'));
  const n1 = await agent.node('n1');
  t.equal(n1?.state, 'installing', 'not moved by the attacker');
  t.equal(n1?.facts.serial, 'REAL', "the node's facts are its own");
  t.equal(n1?.facts.ip, lease.ip);
  t.same(
    n1?.timeline.filter((s) => s.step === 'script-refused').map((s) => [s.detail.reason, s.detail.from, s.detail.count]),
    [['wrong-address', ATTACKER.address, 2]],
    'the attempts are one counted step on its timeline',
  );
  t.match(
    await get(rack.ns, 'http://127.0.0.1:9180/metrics').then((r) => r.body),
    /maskin_node_refusals_total\{step="script-refused",reason="wrong-address"\} 2/,
  );
});
