// The appliance's time service, for real: Debian's chronyd runs the shipped
// image/rootfs/etc/chrony/conf.d/maskin-agent.conf in an "appliance" namespace whose provisioning
// NIC is prov0 and whose wan0 leads nowhere upstream (a WAN outage), and real clients get time
// from it: chronyd -Q, and toybox sntp as the stand-in installer runs it (its offset parsed by the
// stand-in's own awk). check-config's probe says the server answers, from a node's namespace and
// from the appliance itself; from the WAN side it gets nothing (binddevice); with chronyd stopped,
// and with the `local` line taken out (no upstream: unsynchronised), check-config warns.
// Subnets of this file: 198.19.123.0/24 (prov0), 198.19.124.0/24 (wan0). Namespaces carry the PID.
import t from 'tap';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { cliPath, repoRoot } from '../bed/agent.js';
import { stopChild } from '../bed/netns.js';

const run = promisify(execFile);
const CONF = path.join(repoRoot, 'image/rootfs/etc/chrony/conf.d/maskin-agent.conf');
const AWK = path.join(repoRoot, 'test/standin/sntpOffset.awk');
const APPLIANCE = '198.19.123.1';

interface Bed {
  readonly appliance: string;
  readonly node: string;
  readonly wan: string;
  readonly dir: string;
  /** Runs a command in a namespace; resolves with its exit code and output, never rejects. */
  exec(ns: string, cmd: string, args: string[], timeoutMs?: number): Promise<{ code: number; out: string }>;
  /** chronyd -d -x in the appliance namespace with `conf` (test paths first, then the file under test). */
  startChronyd(conf: string): Promise<ChildProcess>;
}

type Test = { teardown(fn: () => unknown): void; comment(message: string): void };

async function bed(t: Test): Promise<Bed> {
  const pid = process.pid;
  const appliance = `maskin-tsa${pid}`;
  const node = `maskin-tsn${pid}`;
  const wan = `maskin-tsw${pid}`;
  const dir = await mkdtemp(path.join(tmpdir(), 'maskin-timesvc-'));
  const children: ChildProcess[] = [];
  t.teardown(async () => {
    await Promise.all(children.map((c) => stopChild(c)));
    for (const ns of [appliance, node, wan]) await run('ip', ['netns', 'del', ns]).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  });
  const ip = (...args: string[]) => run('ip', args);
  for (const ns of [appliance, node, wan]) {
    await ip('netns', 'add', ns);
    await ip('-n', ns, 'link', 'set', 'lo', 'up');
  }
  // The appliance's NICs are named as systemd/*.link names them; binddevice in the config says prov0.
  for (const [nic, peer, octet] of [
    ['prov0', node, 123],
    ['wan0', wan, 124],
  ] as const) {
    await ip('-n', appliance, 'link', 'add', nic, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', peer);
    await ip('-n', appliance, 'addr', 'add', `198.19.${octet}.1/24`, 'dev', nic);
    await ip('-n', peer, 'addr', 'add', `198.19.${octet}.2/24`, 'dev', 'eth0');
    await ip('-n', appliance, 'link', 'set', nic, 'up');
    await ip('-n', peer, 'link', 'set', 'eth0', 'up');
  }
  return {
    appliance,
    node,
    wan,
    dir,
    async exec(ns, cmd, args, timeoutMs = 20_000) {
      try {
        const { stdout, stderr } = await run('ip', ['netns', 'exec', ns, cmd, ...args], { timeout: timeoutMs });
        return { code: 0, out: stdout + stderr };
      } catch (e) {
        const err = e as { code?: number; stdout?: string; stderr?: string };
        return { code: typeof err.code === 'number' ? err.code : -1, out: (err.stdout ?? '') + (err.stderr ?? '') };
      }
    },
    async startChronyd(conf) {
      const file = path.join(dir, `chronyd-${children.length}.conf`);
      // The host's /run/chrony is not ours: pidfile and drift file in the test's dir, no command socket.
      const paths = `pidfile ${dir}/chronyd-${children.length}.pid\ndriftfile ${dir}/chrony.drift\nbindcmdaddress /\ncmdport 0\n`;
      await writeFile(file, paths + conf);
      // -x: never touch the host's clock; -u root: the test's dir is root's.
      const child = spawn('ip', ['netns', 'exec', appliance, 'setpriv', '--pdeathsig', 'KILL', '--', 'chronyd', '-f', file, '-d', '-x', '-u', 'root'], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let log = '';
      child.stdout?.on('data', (d) => (log += d));
      child.stderr?.on('data', (d) => (log += d));
      child.on('exit', (code) => t.comment(`chronyd exited ${code}:\n${log}`));
      children.push(child);
      return child;
    },
  };
}

/** An agent config whose DHCP names `ntp` and `dns` servers, checked with check-config inside `ns`. */
async function checkConfig(b: Bed, ns: string, servers: { ntp: string[]; dns?: string[] }): Promise<{ code: number; out: string }> {
  const file = path.join(b.dir, `agent-${ns}.yaml`);
  await writeFile(
    file,
    `provisioning: { interface: prov0, address: ${APPLIANCE}, subnet: 198.19.123.0/24 }
dataDir: ${b.dir}/data
dhcp:
  pool: { start: 198.19.123.100, end: 198.19.123.199 }
  ntp: [${servers.ntp.join(', ')}]
  dns: [${(servers.dns ?? []).join(', ')}]
`,
  );
  return b.exec(ns, process.execPath, [cliPath, 'check-config', file]);
}

/** Polls `probe` until it returns a value, at most `ms`. */
async function until<T>(what: string, ms: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
  }
}

/** chronyd as a one-shot client that never sets the clock (-Q), against the appliance; its measured offset. */
async function chronyClient(b: Bed, ns: string, server: string): Promise<number | undefined> {
  const conf = path.join(b.dir, 'client.conf');
  await writeFile(conf, `pidfile ${b.dir}/client.pid\nbindcmdaddress /\ncmdport 0\n`);
  const r = await b.exec(ns, 'chronyd', ['-Q', '-f', conf, '-u', 'root', '-t', '3', `server ${server} iburst maxsamples 1`]);
  const m = /System clock wrong by (-?[0-9.]+) seconds/.exec(r.out);
  return m ? Number(m[1]) : undefined;
}

t.test('chronyd with the appliance config serves prov0 through a WAN outage; check-config agrees, and warns once it stops', async (t) => {
  const b = await bed(t);
  const chronyd = await b.startChronyd(await readFile(CONF, 'utf8'));

  const offset = await until('a chronyd client on the provisioning network gets time', 20_000, () => chronyClient(b, b.node, APPLIANCE));
  t.ok(Math.abs(offset) < 1, `chronyd -Q from the node: offset ${offset} s (one host clock)`);

  // The stand-in installer's client and parser: toybox sntp (no -s here: this is the host's clock).
  const sntp = await b.exec(b.node, 'toybox', ['sntp', APPLIANCE], 5000);
  t.equal(sntp.code, 0, sntp.out);
  const parsed = await run('busybox', ['sh', '-c', `printf '%s' "$1" | busybox awk -f "$2"`, 'sh', sntp.out, AWK]);
  const seconds = JSON.parse(parsed.stdout) as unknown;
  t.ok(typeof seconds === 'number' && Math.abs(seconds) < 1, `toybox sntp offset parsed by sntpOffset.awk: ${parsed.stdout.trim()}`);

  const fromNode = await checkConfig(b, b.node, { ntp: [APPLIANCE], dns: [APPLIANCE] });
  t.equal(fromNode.code, 0, 'warnings never fail check-config');
  t.match(fromNode.out, /dhcp\.ntp\[0\] 198\.19\.123\.1: NTP answers, stratum 10, offset [-+]0\.\d{4} s/);
  t.notMatch(fromNode.out, /warning: dhcp\.ntp/);
  // Nothing serves DNS here: the example config's other half of the problem.
  t.match(
    fromNode.out,
    /warning: dhcp\.dns\[0\]: DNS server 198\.19\.123\.1 \(this is the agent's provisioning\.address, which no interface of this host holds.*\) refused a query on UDP 53.*Fix: run a DNS resolver there/,
  );

  const fromAppliance = await checkConfig(b, b.appliance, { ntp: [APPLIANCE] });
  t.match(
    fromAppliance.out,
    /dhcp\.ntp\[0\] 198\.19\.123\.1: NTP answers, stratum 10/,
    'the appliance reaches its own prov0 address (check-config on the agent host)',
  );

  const fromWan = await checkConfig(b, b.wan, { ntp: ['198.19.124.1'] });
  t.match(
    fromWan.out,
    /warning: dhcp\.ntp\[0\]: NTP server 198\.19\.124\.1 refused an SNTP request on UDP 123: nothing listens there/,
    'nothing is served on wan0 (binddevice prov0)',
  );

  await stopChild(chronyd);
  const stopped = await checkConfig(b, b.node, { ntp: [APPLIANCE] });
  t.equal(stopped.code, 0);
  t.match(
    stopped.out,
    /warning: dhcp\.ntp\[0\]: NTP server 198\.19\.123\.1 \(this is the agent's provisioning\.address, .*\) refused an SNTP request on UDP 123: nothing listens there.*Talos waits for time sync.*Fix: run an NTP server there \(the appliance runs chrony with image\/rootfs\/etc\/chrony\/conf\.d\/maskin-agent\.conf\), set the field to a server that answers, or remove it/,
  );
});

t.test('without `local stratum 10`, chronyd with no upstream answers unsynchronised and check-config says so', async (t) => {
  const b = await bed(t);
  const conf = await readFile(CONF, 'utf8');
  t.match(conf, /^local stratum 10$/m);
  await b.startChronyd(conf.replace(/^local stratum 10$/m, ''));
  const out = await until('chronyd answers', 20_000, async () => {
    const r = await checkConfig(b, b.node, { ntp: [APPLIANCE] });
    return /refused|did not answer/.test(r.out) ? undefined : r.out;
  });
  t.match(
    out,
    /warning: dhcp\.ntp\[0\]: NTP server 198\.19\.123\.1 .*answers but is not synchronised \(leap indicator 3, stratum \d+\), so Talos does not take its time\. Fix: .*local stratum 10/,
  );
});
