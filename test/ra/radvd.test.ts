// The generated radvd.conf, run by Debian's radvd on a rack bridge: a real client (rdisc6, from
// ndisc6) soliciting on the segment gets an RA that carries nothing (router lifetime 0, M=O=0, no
// prefix), the kind that ends iPXE's IPv6 wait. Then a foreign router advertising a prefix and a
// lifetime: the kernel of a host on the segment learns routes from it, and foreignRouters() reads
// them. Rack 198.18.211.0/24 (tag radvd).
import t from 'tap';
import { writeFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createRack } from '../bed/netns.js';
import { radvdConf } from '../../agent/ra/radvdConf.js';
import { foreignRouters } from '../../agent/ra/foreignRouters.js';

t.test('our RA carries nothing; a foreign RA is recognised from kernel routes', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'maskin-radvd-'));
  const rack = await createRack('radvd', 211);
  t.teardown(async () => {
    await rack.destroy();
    await rm(dir, { recursive: true, force: true });
  });
  const host = await rack.addHost('h1', { address: '198.18.211.50' });
  // ICMPv6 needs a link-local source that finished duplicate address detection (RFC 4862 §5.4).
  const linkLocal = async (ns: string | undefined, dev: string): Promise<void> => {
    for (let i = 0; i < 100; i++) {
      if ((await rack.exec('ip', ['-6', '-o', 'addr', 'show', 'dev', dev, 'scope', 'link', '-tentative'], ns)).includes('fe80')) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`${dev}: no usable link-local address after 10 s`);
  };
  await linkLocal(host, 'eth0');
  await linkLocal(undefined, rack.bridge);
  const ours = path.join(dir, 'ours.conf');
  await writeFile(ours, radvdConf({ interface: rack.bridge, maxIntervalSeconds: 1800 }));
  // -n: foreground; logs to stderr. Started by PID in the rack namespace, killed by destroy().
  const radvd = rack.spawn('radvd', ['-n', '-m', 'stderr', '-C', ours, '-p', path.join(dir, 'ours.pid')]);
  let log = '';
  radvd.stderr?.on('data', (c: Buffer) => (log += c.toString()));
  // rdisc6 solicits (RFC 4861 §6.3.7) and prints the first answer; retries cover DAD on a fresh link.
  const answer = await rack.exec('rdisc6', ['-1', '-r', '20', '-w', '1000', 'eth0'], host);
  t.match(answer, /Router lifetime\s*:\s*0 \(0x00000000\) seconds/, 'router lifetime 0: not a default router');
  t.match(answer, /Stateful address conf\.\s*:\s*No/, 'M=0');
  t.match(answer, /Stateful other conf\.\s*:\s*No/, 'O=0');
  t.notMatch(answer, /Prefix\s*:/, 'no prefix to autoconfigure');
  t.same(foreignRouters(await rack.exec('ip', ['-6', '-j', 'route', 'show', 'dev', 'eth0'], host)), [], 'our RA leaves no routes on a host');
  radvd.kill('SIGTERM');
  await new Promise((r) => radvd.once('exit', r));
  t.notMatch(log, /error|cannot|failed/i, `radvd ran cleanly:\n${log}`);

  // A foreign router on the segment: a prefix and a default-router lifetime.
  const foreign = path.join(dir, 'foreign.conf');
  await writeFile(
    foreign,
    `interface ${rack.bridge} {\n  AdvSendAdvert on;\n  MaxRtrAdvInterval 10;\n  AdvDefaultLifetime 1800;\n  prefix 2001:db8:211::/64 { AdvOnLink on; AdvAutonomous on; };\n};\n`,
  );
  rack.spawn('radvd', ['-n', '-m', 'stderr', '-C', foreign, '-p', path.join(dir, 'foreign.pid')]);
  await rack.exec('rdisc6', ['-1', '-r', '20', '-w', '1000', 'eth0'], host);
  // The kernel processes the same RA rdisc6 printed; its routes may land a moment later.
  let learnt = foreignRouters('[]');
  for (let i = 0; i < 100 && learnt.length < 2; i++) {
    learnt = foreignRouters(await rack.exec('ip', ['-6', '-j', 'route', 'show', 'dev', 'eth0'], host));
    if (learnt.length < 2) await new Promise((r) => setTimeout(r, 100));
  }
  t.ok(
    learnt.some((r) => r.route === 'default' && r.router?.startsWith('fe80:')),
    `the host learnt a default router from the foreign RA: ${JSON.stringify(learnt)}`,
  );
  t.ok(
    learnt.some((r) => r.route === '2001:db8:211::/64'),
    'and its prefix',
  );
});
