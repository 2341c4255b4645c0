// The unit must verify cleanly (systemd-analyze verify, no warnings) and keep the hardening the
// rack depends on: a dedicated user, only CAP_NET_BIND_SERVICE, confined to the provisioning NIC.
import t from 'tap';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const dir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../systemd');
const unit = path.join(dir, 'maskin-agent.service');

t.test('systemd-analyze verify passes without a warning', async (t) => {
  const { stdout, stderr } = await promisify(execFile)('systemd-analyze', ['verify', '--man=no', unit], { cwd: dir });
  t.equal(stdout + stderr, '', 'no output: every directive understood');
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
  t.equal(one('CapabilityBoundingSet'), 'CAP_NET_BIND_SERVICE');
  t.equal(one('AmbientCapabilities'), 'CAP_NET_BIND_SERVICE');
  t.equal(one('ProtectSystem'), 'strict');
  t.equal(one('StateDirectory'), 'maskin-agent');
  t.equal(one('RestrictNetworkInterfaces'), 'lo prov0 oob0 wan0');
  t.equal(one('NoNewPrivileges'), 'yes');
  t.equal(one('Restart'), 'on-failure');
  t.equal(one('LimitNOFILE'), '16384', 'descriptors bounded, soft and hard alike');
  t.match(one('ExecStart') ?? '', /cli\.js run --config \/etc\/maskin-agent\/agent\.yaml$/);
  for (const [file, name] of [
    ['10-maskin-prov0.link', 'prov0'],
    ['11-maskin-oob0.link', 'oob0'],
    ['12-maskin-wan0.link', 'wan0'],
  ] as const) {
    t.match(readFileSync(path.join(dir, file), 'utf8'), new RegExp(`^Name=${name}$`, 'm'), `${file} names a NIC the unit is confined to`);
  }
  t.match(readFileSync(path.join(dir, 'maskin-agent.sysusers.conf'), 'utf8'), /^u maskin-agent /m);
});
