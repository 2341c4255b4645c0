// The unit must verify cleanly (systemd-analyze verify, no warnings) and keep the hardening the
// rack depends on: a dedicated user, only CAP_NET_BIND_SERVICE and CAP_NET_RAW (radvd), confined
// to the provisioning NIC.
import t from 'tap';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const dir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../systemd');
const unit = path.join(dir, 'maskin-agent.service');

t.test('systemd-analyze verify passes without a warning', async (t) => {
  // It exits 1 for the missing executable alone; the lines below are what counts.
  const { stdout, stderr } = await promisify(execFile)('systemd-analyze', ['verify', '--man=no', unit], { cwd: dir }).catch(
    (err: { stdout?: string; stderr?: string }) => ({ stdout: err.stdout ?? '', stderr: err.stderr ?? '' }),
  );
  const { stdout: version } = await promisify(execFile)('systemctl', ['--version']);
  const major = Number(/^systemd (\d+)/.exec(version)?.[1]);
  const expected = (line: string): boolean =>
    // /usr/bin/maskin-agent comes with the .deb; test/image/appliance.test.ts runs the unit there.
    /Command \/usr\/bin\/maskin-agent is not executable/.test(line) ||
    // ImportCredential= is systemd 254's; older versions ignore it, as the unit's comment says.
    (major < 254 && /Unknown key '?ImportCredential'?/.test(line));
  const left = (stdout + stderr).split('\n').filter((line) => line !== '' && !expected(line));
  t.same(left, [], 'no other output: every directive understood');
});

t.test('the unit keeps its hardening', async (t) => {
  const text = readFileSync(unit, 'utf8');
  const settings = new Map<string, string[]>();
  for (const line of text.split('\n')) {
    const m = /^([A-Za-z]+)=(.*)$/.exec(line);
    if (m) settings.set(m[1]!, [...(settings.get(m[1]!) ?? []), m[2]!]);
  }
  const one = (key: string): string | undefined => settings.get(key)?.at(-1);
  t.equal(one('User'), 'maskin-agent');
  t.equal(one('CapabilityBoundingSet'), 'CAP_NET_BIND_SERVICE CAP_NET_RAW');
  t.equal(one('AmbientCapabilities'), 'CAP_NET_BIND_SERVICE CAP_NET_RAW');
  t.equal(one('ProtectSystem'), 'strict');
  t.equal(one('StateDirectory'), 'maskin-agent');
  t.equal(one('RestrictNetworkInterfaces'), 'lo prov0 oob0 wan0');
  t.equal(one('NoNewPrivileges'), 'yes');
  t.equal(one('Restart'), 'on-failure');
  t.equal(one('LimitNOFILE'), '16384', 'descriptors bounded, soft and hard alike');
  t.equal(one('ExecStart'), '/usr/bin/maskin-agent run --config /etc/maskin-agent/agent.yaml');
  t.equal(
    one('ExecStartPre'),
    '/usr/bin/maskin-agent check-config --no-probe /etc/maskin-agent/agent.yaml',
    'a bad config fails the start with its own message',
  );
  t.equal(one('Type'), 'notify');
  t.equal(one('NotifyAccess'), 'all', 'systemd-notify is a child process');
  t.ok(one('WatchdogSec'), 'a watchdog');
  t.same(settings.get('SystemCallFilter'), ['@system-service @pkey', '~@privileged @resources', 'capset']);
  for (const [file, name] of [
    ['10-maskin-prov0.link', 'prov0'],
    ['11-maskin-oob0.link', 'oob0'],
    ['12-maskin-wan0.link', 'wan0'],
  ] as const) {
    t.match(readFileSync(path.join(dir, file), 'utf8'), new RegExp(`^Name=${name}$`, 'm'), `${file} names a NIC the unit is confined to`);
  }
  t.match(readFileSync(path.join(dir, 'maskin-agent.sysusers.conf'), 'utf8'), /^u maskin-agent /m);
});
