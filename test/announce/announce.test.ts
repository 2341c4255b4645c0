// The announcer in the real agent (the compiled CLI) inside a rack namespace, with a real peer on
// each side: `dig` on the uplink (wan0) finds the agent's PTR, SRV, TXT and A records; `dig` on the
// provisioning bridge gets nothing; a burst of malformed datagrams and a query flood leave the
// agent up and answering; SIGTERM sends the goodbye (TTL 0) and the agent exits within 5 s.
// Needs `npm run build` (dist/) and dig (bind9-dnsutils). Addresses: 198.18.233.0/24 (provisioning),
// 198.19.233.0/24 (uplink); namespaces maskin-<tag>, maskin-<tag>-p and maskin-<tag>-w only.
import t from 'tap';
import { execFile, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { repoRoot, startAgentInRack } from '../bed/agent.js';
import { createRack, sh } from '../bed/netns.js';
import { manifestFor } from '../e2e/scenario.js';

const run = promisify(execFile);
const tag = `an${process.pid % 1_000_000}`;
const WAN_AGENT = '198.19.233.1';
const WAN_PEER = '198.19.233.2';
const PROV_PEER = '198.18.233.50';
const listenJs = path.join(repoRoot, 'dist', 'test', 'announce', 'bed', 'listen.js');
const burstJs = path.join(repoRoot, 'dist', 'test', 'announce', 'bed', 'burst.js');

/** Resolves once `test` holds for the text `child` has printed so far; rejects after `timeoutMs` with it. */
function printed(child: ChildProcess, text: () => string, test: (out: string) => boolean, what: string, timeoutMs = 30_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const check = (): void => {
      if (!test(text())) return;
      cleanup();
      resolve();
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`${what}: not seen within ${timeoutMs} ms:\n${text().slice(-4000)}`));
    }, timeoutMs);
    const cleanup = (): void => {
      clearTimeout(timer);
      child.stdout?.off('data', check);
      child.stderr?.off('data', check);
    };
    child.stdout?.on('data', check);
    child.stderr?.on('data', check);
    check();
  });
}

/** One sample of a Prometheus text exposition, 0 when absent. */
function sample(metrics: string, name: string, labels: string): number {
  const line = metrics.split('\n').find((l) => l.startsWith(`${name}{${labels}}`));
  return line ? Number(line.split(' ').pop()) : 0;
}

t.test('announced on wan0 only, survives garbage, says goodbye', async (t) => {
  const { version } = JSON.parse(await readFile(path.join(repoRoot, 'package.json'), 'utf8')) as { version: string };
  const rack = await createRack(tag, 233);
  const wanNs = `${rack.ns}-w`;
  const dir = await mkdtemp(path.join(tmpdir(), 'maskin-announce-'));
  let agent: Awaited<ReturnType<typeof startAgentInRack>> | undefined;
  t.teardown(async () => {
    await agent?.stop();
    await rack.destroy();
    await run('ip', ['netns', 'del', wanNs]).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  });
  const provNs = await rack.addHost('p', { address: `${PROV_PEER}/24` });
  // The uplink: wan0 in the rack namespace, its peer in a namespace of its own.
  await run('ip', ['netns', 'del', wanNs]).catch(() => undefined);
  await sh('ip', ['netns', 'add', wanNs]);
  await sh('ip', ['-n', rack.ns, 'link', 'add', 'wan0', 'type', 'veth', 'peer', 'name', 'eth0']);
  await sh('ip', ['-n', rack.ns, 'link', 'set', 'eth0', 'netns', wanNs]);
  await sh('ip', ['-n', rack.ns, 'addr', 'add', `${WAN_AGENT}/24`, 'dev', 'wan0']);
  await sh('ip', ['-n', rack.ns, 'link', 'set', 'wan0', 'up']);
  await sh('ip', ['-n', wanNs, 'link', 'set', 'lo', 'up']);
  await sh('ip', ['-n', wanNs, 'addr', 'add', `${WAN_PEER}/24`, 'dev', 'eth0']);
  await sh('ip', ['-n', wanNs, 'link', 'set', 'eth0', 'up']);

  let heard = '';
  const listener = rack.spawn(process.execPath, [listenJs, WAN_PEER], { ns: wanNs });
  listener.stdout?.on('data', (chunk: Buffer) => (heard += chunk.toString()));
  await printed(
    listener,
    () => heard,
    (out) => out.includes('"listening"'),
    'the listener',
  );

  // Default announce settings: wan0 and oob0, of which this host has only wan0.
  agent = await startAgentInRack(rack, { manifest: manifestFor([{ id: 'an-n1', mac: '52:54:00:e9:00:01' }]), assetsDir: dir, extraConfig: 'rackId: rack1\n' });
  const a = agent;
  await printed(a.process, a.output, (out) => /"interface":"wan0".*announcing over mDNS/.test(out), 'announcing on wan0');
  const agentId = `test-${rack.ns}`;
  const announcements = (): number =>
    heard.split('\n').filter((l) => l.includes(`"from":"${WAN_AGENT}"`) && l.includes('"type":"response"') && !l.includes('"ttl":0')).length;

  await t.test('the uplink peer hears the announcements (RFC 6762 §8.3)', async (t) => {
    await printed(
      listener,
      () => heard,
      () => announcements() >= 2,
      'two announcements',
    );
    const first = JSON.parse(heard.split('\n').find((l) => l.includes(`"from":"${WAN_AGENT}"`))!) as { records: { name: string; type: string }[] };
    t.same(first.records.map((r) => r.type).sort(), ['A', 'PTR', 'PTR', 'SRV', 'TXT']);
  });

  await t.test('oob0 is missing: a warning and a metric, and the agent runs on', async (t) => {
    t.match(a.output(), /"code":"MASKIN_ERR_ANNOUNCE".*"interface":"oob0".*"reason":"no-interface".*not announcing on oob0/);
    const metrics = await rack.exec('curl', ['-sS', 'http://127.0.0.1:9180/metrics']);
    t.equal(sample(metrics, 'maskin_announce_failures_total', 'interface="oob0",reason="no-interface"'), 1);
    t.equal(sample(metrics, 'maskin_announce_up', 'interface="wan0"'), 1);
    t.equal(sample(metrics, 'maskin_announce_up', 'interface="oob0"'), 0);
  });

  const dig = (ns: string, server: string, name: string, type: string, tries = 3): Promise<string> =>
    rack.exec('dig', [`@${server}`, '-p', '5353', '+time=2', `+tries=${tries}`, '+norecurse', name, type], ns);

  await t.test('dig on the uplink: PTR, SRV, TXT and A with agent id, rack id and version', async (t) => {
    const out = await dig(wanNs, WAN_AGENT, '_maskin-agent._tcp.local', 'PTR');
    t.match(out, /status: NOERROR/);
    t.match(
      out,
      /;; ANSWER SECTION:\n_maskin-agent\._tcp\.local\.\s+10\s+IN\s+PTR\s+maskin-agent\\032test-maskin-an\d+\\032\\\(rack1\\\)\._maskin-agent\._tcp\.local\./,
    );
    t.match(out, new RegExp(`IN\\s+SRV\\s+0 0 9180 maskin-test-maskin-an\\d+-rack1\\.local\\.`));
    t.match(out, new RegExp(`IN\\s+TXT\\s+"txtvers=1" "id=${agentId}" "rack=rack1" "version=${version.replace(/\./g, '\\.')}"`));
    t.match(out, new RegExp(`maskin-test-maskin-an\\d+-rack1\\.local\\.\\s+10\\s+IN\\s+A\\s+${WAN_AGENT.replace(/\./g, '\\.')}`), 'the wan0 address, no other');
    t.notMatch(out, /198\.18\./, 'no provisioning address in any answer');
  });

  await t.test('dig on the provisioning network gets no answer; the agent saw and refused it', async (t) => {
    const before = sample(await rack.exec('curl', ['-sS', 'http://127.0.0.1:9180/metrics']), 'maskin_announce_dropped_total', 'reason="foreign-source"');
    const asked = await dig(provNs, rack.address, '_maskin-agent._tcp.local', 'PTR', 1).then(
      (out) => ({ answered: true, out }),
      (err: { stdout?: string }) => ({ answered: false, out: err.stdout ?? '' }),
    );
    t.notOk(asked.answered, 'no reply');
    t.match(asked.out, /timed out|no servers could be reached/);
    const after = sample(await rack.exec('curl', ['-sS', 'http://127.0.0.1:9180/metrics']), 'maskin_announce_dropped_total', 'reason="foreign-source"');
    t.ok(after > before, `counted as foreign-source (${before} → ${after})`);
  });

  await t.test('a burst of malformed datagrams and a query flood: alive, bounded, still answering', async (t) => {
    const started = Date.now();
    const burst = rack.spawn(process.execPath, [burstJs, WAN_AGENT, WAN_PEER, '3000'], { ns: wanNs });
    let said = '';
    burst.stdout?.on('data', (c: Buffer) => (said += c.toString()));
    const [code] = (await once(burst, 'exit')) as [number | null];
    t.equal(code, 0, `burst sent: ${said.trim()}`);
    t.equal(a.process.exitCode, null, 'the agent is still running');
    const out = await dig(wanNs, WAN_AGENT, '_maskin-agent._tcp.local', 'PTR');
    t.match(out, new RegExp(`"id=${agentId}" "rack=rack1"`), 'and still answers');
    const seconds = (Date.now() - started) / 1000;
    const metrics = await rack.exec('curl', ['-sS', 'http://127.0.0.1:9180/metrics']);
    // What the kernel delivered depends on the machine's load (the rest overflowed the socket
    // buffer, as under a real flood); what the agent answered is bounded whatever arrived.
    const malformed = sample(metrics, 'maskin_announce_dropped_total', 'reason="malformed"');
    const limited = sample(metrics, 'maskin_announce_dropped_total', 'reason="rate-limited"');
    const legacy = sample(metrics, 'maskin_announce_answers_total', 'kind="legacy-unicast"');
    t.ok(malformed >= 1, `${malformed} malformed datagrams dropped and counted`);
    t.ok(
      legacy <= 40 + 20 * seconds + 8,
      `${legacy} legacy answers in ${seconds.toFixed(1)} s: within the unicast budget (40 + 20/s), ${limited} over it dropped`,
    );
    t.equal(sample(metrics, 'maskin_announce_failures_total', 'interface="wan0",reason="socket"'), 0, 'garbage is not a socket failure');
    t.notMatch(a.output(), /uncaught|unhandled/i);
  });

  await t.test('SIGTERM: goodbye with TTL 0, exit within 5 s', async (t) => {
    const started = Date.now();
    a.process.kill('SIGTERM');
    const [code] = (await once(a.process, 'exit')) as [number | null];
    t.ok(Date.now() - started < 5000, `exited ${Date.now() - started} ms after SIGTERM`);
    t.equal(code, 0);
    await printed(
      listener,
      () => heard,
      (out) => out.split('\n').some((l) => l.includes(`"from":"${WAN_AGENT}"`) && /"ttl":0.*"ttl":0.*"ttl":0.*"ttl":0.*"ttl":0/.test(l)),
      'the goodbye',
      5000,
    );
    t.notMatch(a.output(), /services still stopping/);
  });
});
