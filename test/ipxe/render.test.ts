import t from 'tap';
import { nodeFixture, profileFixture, VANILLA_SCHEMATIC } from '../fakes/manifest.js';
import type { NodeSpec, Profile } from '../../agent/manifest/model.js';
import {
  bootConfigUrl,
  renderBootLocalScript,
  renderChainScript,
  renderDiscoveryScript,
  renderInstallScript,
  renderNoMacScript,
  renderRefusedScript,
  renderRescueScript,
  renderWipeScript,
  renderScript,
  renderWaitScript,
} from '../../agent/ipxe/render.js';

const BASE = 'http://198.18.0.1:8080';
const TOKEN = 'q1w2e3r4t5y6u7i8o9p0AsDfGhJk';

const profile = (over: Partial<Profile> = {}): Profile => profileFixture(over);
const node = (over: Partial<NodeSpec> = {}): NodeSpec => nodeFixture({ generation: 4, ...over });

t.test('chain script: fetch retried, then every other interface tried, then executed; failure hands back to the firmware', async (t) => {
  const url = (nic: string): string =>
    `http://198.18.0.1:8080/ipxe?mac=\${${nic}/mac:hexhyp}&uuid=\${uuid}&serial=\${serial:uristring}` +
    '&manufacturer=${manufacturer:uristring}&product=${product:uristring}&buildarch=${buildarch}&platform=${platform}';
  const nic = (i: number, next: string): string => `:nic${i}
isset \${net${i}/mac} || goto failed
iseq \${net${i}/mac} \${maskin-mac} && goto ${next} ||
ifconf --configurator dhcp net${i} || goto ${next}
imgfetch --name maskin ${url(`net${i}`)} && goto run ||
ifclose net${i} ||
`;
  const want = `#!ipxe
imgfetch --name maskin ${url('netX')} && goto run ||
echo maskin: boot server did not answer, retry 1 of 2 in 3 s
sleep 3
imgfetch --name maskin ${url('netX')} && goto run ||
echo maskin: boot server did not answer, retry 2 of 2 in 3 s
sleep 3
imgfetch --name maskin ${url('netX')} && goto run ||
echo maskin: no answer through \${netX/mac}, trying the other interfaces
set maskin-mac \${netX/mac}
ifclose netX ||
${nic(0, 'nic1')}${nic(1, 'nic2')}${nic(2, 'nic3')}${nic(3, 'nic4')}${nic(4, 'nic5')}${nic(5, 'nic6')}${nic(6, 'nic7')}${nic(7, 'failed')}:failed
echo maskin: boot server unreachable, returning to firmware
exit 1
:run
imgexec maskin
exit 1
`;
  t.equal(renderChainScript(BASE), want);
  t.equal(renderChainScript(BASE + '/'), want, 'trailing slash of the base URL dropped');
  t.throws(() => renderChainScript('http://x/${evil}'), RangeError);
  t.throws(() => renderChainScript('http://x/\nshell'), RangeError);
});

const kernelArgs13 = (efi: boolean, console: string): string =>
  [
    ...(efi ? ['initrd=initramfs-ARCH.xz'] : []),
    'talos.platform=metal slab_nomerge pti=on consoleblank=0 printk.devkmsg=on init_on_alloc=1',
    console,
    `talos.config=${BASE}/v1/boot/${TOKEN}/config maskin.events=${BASE}/v1/boot/${TOKEN}/events`,
  ].join(' ');

t.test('install script, every platform × arch, as whole texts', async (t) => {
  const cases = [
    { platform: 'pcbios', arch: 'amd64', console: 'console=tty0 console=ttyS0' },
    { platform: 'efi', arch: 'amd64', console: 'console=tty0 console=ttyS0' },
    { platform: 'pcbios', arch: 'arm64', console: 'console=ttyAMA0' },
    { platform: 'efi', arch: 'arm64', console: 'console=ttyAMA0' },
  ] as const;
  for (const c of cases) {
    const assets = `${BASE}/assets/${VANILLA_SCHEMATIC}/v1.13.9`;
    const want = `#!ipxe
# maskin: install node r1-n07, profile workers, generation 4
echo maskin: installing Talos v1.13.9 on node r1-n07
kernel ${assets}/kernel-${c.arch} ${kernelArgs13(c.platform === 'efi', c.console).replace('ARCH', c.arch)} || goto failed
initrd ${assets}/initramfs-${c.arch}.xz || goto failed
boot || goto failed
:failed
echo maskin: could not load the installer, returning to firmware
sleep 10
exit 1
`;
    const got = renderInstallScript({ node: node(), profile: profile({ arch: c.arch }), baseUrl: BASE, token: TOKEN, platform: c.platform });
    t.equal(got, want, `${c.platform} ${c.arch}`);
  }
});

t.test('rescue script: the same kernel and initramfs, no machine config and no token, the console to the sink', async (t) => {
  const assets = `${BASE}/assets/${VANILLA_SCHEMATIC}/v1.13.9`;
  const args = 'talos.platform=metal slab_nomerge pti=on consoleblank=0 printk.devkmsg=on init_on_alloc=1 console=tty0 console=ttyS0';
  for (const platform of ['pcbios', 'efi'] as const) {
    const got = renderRescueScript({ node: node(), profile: profile(), baseUrl: BASE, platform, logsUrl: 'tcp://198.18.0.1:5170' });
    t.equal(
      got,
      `#!ipxe
# maskin: rescue node r1-n07, profile workers: Talos maintenance mode, no machine config
echo maskin: rescue: booting Talos v1.13.9 without touching the disks of node r1-n07
kernel ${assets}/kernel-amd64 ${platform === 'efi' ? 'initrd=initramfs-amd64.xz ' : ''}${args} talos.logging.kernel=tcp://198.18.0.1:5170 || goto failed
initrd ${assets}/initramfs-amd64.xz || goto failed
boot || goto failed
:failed
echo maskin: could not load the rescue kernel, returning to firmware
sleep 10
exit 1
`,
      platform,
    );
  }
  const plain = renderScript({ kind: 'rescue', node: node(), profile: profile({ kernelArgs: ['net.ifnames=0'] }), platform: 'pcbios' }, BASE, undefined);
  t.ok(
    plain.kind === 'script' && !plain.text.includes('talos.config') && !plain.text.includes('talos.logging') && plain.text.includes('net.ifnames=0'),
    'sink off: no log argument; extras kept',
  );
  const diag = renderRescueScript({
    node: node(),
    profile: profile({ kernelArgs: ['net.ifnames=0'], rescueKernelArgs: ['console=ttyS1,115200', 'mlx5_core.debug=1'] }),
    baseUrl: BASE,
    platform: 'pcbios',
  });
  t.match(diag, / net\.ifnames=0 console=ttyS1,115200 mlx5_core\.debug=1 \|\| goto failed/, "the profile's rescue args after its extras");
  t.notMatch(diag, /console=ttyS0/, 'a rescue console= replaces the default consoles, as in kernelArgs');
  const install = renderInstallScript({
    node: node(),
    profile: profile({ rescueKernelArgs: ['mlx5_core.debug=1'] }),
    baseUrl: BASE,
    token: TOKEN,
    platform: 'pcbios',
  });
  t.notMatch(install, /mlx5_core/, 'rescue args stay off the install line');
});

t.test('wipe script: Talos wipes its system disk; the token only carries the report; no machine config', async (t) => {
  const got = renderWipeScript({ node: node(), profile: profile(), baseUrl: BASE, token: TOKEN, platform: 'pcbios', logsUrl: 'tcp://198.18.0.1:5170' });
  t.match(got, /^# maskin: decommission node r1-n07/m);
  t.ok(
    got.includes(`maskin.events=${BASE}/v1/boot/${TOKEN}/events talos.logging.kernel=tcp://198.18.0.1:5170 talos.experimental.wipe=system `),
    'events, console, wipe',
  );
  t.notMatch(got, /talos\.config/);
  t.throws(() => renderScript({ kind: 'wipe', node: node(), profile: profile(), platform: 'efi' }, BASE, undefined), /without a boot token/);
});

t.test('install script for 1.14 drops init_on_alloc and keeps extras last', async (t) => {
  const got = renderInstallScript({
    node: node(),
    profile: profile({ talosVersion: 'v1.14.2', kernelArgs: ['console=ttyS1,115200'] }),
    baseUrl: BASE,
    token: TOKEN,
    platform: 'efi',
  });
  const kernel = got.split('\n').find((l) => l.startsWith('kernel ')) ?? '';
  t.equal(
    kernel,
    `kernel ${BASE}/assets/${VANILLA_SCHEMATIC}/v1.14.2/kernel-amd64 initrd=initramfs-amd64.xz talos.platform=metal slab_nomerge pti=on consoleblank=0 printk.devkmsg=on ` +
      `talos.config=${BASE}/v1/boot/${TOKEN}/config maskin.events=${BASE}/v1/boot/${TOKEN}/events console=ttyS1,115200 || goto failed`,
  );
});

t.test('install script: names from the manifest cannot inject commands; tokens are checked', async (t) => {
  const got = renderInstallScript({
    node: node({ id: 'n1\nshell ${x} || reboot' }),
    profile: profile({ name: 'p;#x' }),
    baseUrl: BASE,
    token: TOKEN,
    platform: 'pcbios',
  });
  t.equal(got.split('\n')[1], '# maskin: install node n1_shell __x_ __ reboot, profile p__x, generation 4');
  t.equal(got.split('\n').filter((l) => l === 'shell' || l.startsWith('shell ')).length, 0);
  t.throws(() => renderInstallScript({ node: node(), profile: profile(), baseUrl: BASE, token: 'short', platform: 'efi' }), RangeError);
  t.throws(() => renderInstallScript({ node: node(), profile: profile(), baseUrl: BASE, token: TOKEN + '/../x', platform: 'efi' }), RangeError);
  t.throws(() => renderInstallScript({ node: node(), profile: profile({ kernelArgs: ['x=${uuid}'] }), baseUrl: BASE, token: TOKEN, platform: 'efi' }), {
    code: 'MASKIN_ERR_KERNEL_ARG_REFUSED',
  });
  t.equal(bootConfigUrl(BASE + '/', TOKEN), `${BASE}/v1/boot/${TOKEN}/config`);
});

t.test('boot local: every method × platform', async (t) => {
  const exitText = '#!ipxe\necho maskin: installed, returning to firmware to boot from disk\nexit 1\n';
  t.same(renderBootLocalScript('exit', 'pcbios'), { kind: 'script', text: exitText });
  t.same(renderBootLocalScript('exit', 'efi'), { kind: 'script', text: exitText });
  t.same(renderBootLocalScript('sanboot', 'pcbios'), {
    kind: 'script',
    text: '#!ipxe\necho maskin: installed, booting the first local disk\nsanboot --no-describe --drive 0x80 || exit 1\n',
  });
  t.same(renderBootLocalScript('sanboot', 'efi'), {
    kind: 'script',
    text: '#!ipxe\necho maskin: installed, returning to firmware to boot from disk (sanboot cannot boot a local disk under EFI, exiting instead)\nexit 1\n',
  });
  t.same(renderBootLocalScript('http-404', 'pcbios'), { kind: 'http-404' });
  t.same(renderBootLocalScript('http-404', 'efi'), { kind: 'http-404' });
});

t.test('discovery: a message, a pause, back to the firmware; never a kernel', async (t) => {
  const want = '#!ipxe\necho maskin: unknown machine 52:54:00:ab:cd:ef discovered, not installing\nsleep 10\nexit 1\n';
  t.equal(renderDiscoveryScript({ baseUrl: BASE, mac: '52-54-00-AB-CD-EF' }), want, 'iPXE hexhyp form normalised');
  t.equal(renderDiscoveryScript({ baseUrl: BASE, mac: '52:54:00:ab:cd:ef' }), want);
  const hostile = renderDiscoveryScript({ baseUrl: BASE, mac: '${net0/ip}\nkernel http://evil/k' });
  t.equal(hostile, '#!ipxe\necho maskin: unknown machine with an unreadable MAC discovered, not installing\nsleep 10\nexit 1\n');
});

t.test('wait script for a known node kept in discovery', async (t) => {
  t.equal(
    renderWaitScript('node r1-n07 desired state is discovery'),
    '#!ipxe\necho maskin: not installing: node r1-n07 desired state is discovery\nsleep 10\nexit 1\n',
  );
  t.equal(renderWaitScript('a ${b} && c'), '#!ipxe\necho maskin: not installing: a __b_ __ c\nsleep 10\nexit 1\n');
});

t.test('renderScript renders each planned script as its own renderer does; an install needs its token', async (t) => {
  const text = (body: string) => ({ kind: 'script', text: body });
  const mac = '52:54:00:ab:cd:ef';
  t.same(renderScript({ kind: 'discovery', mac }, BASE, undefined), text(renderDiscoveryScript({ baseUrl: BASE, mac })));
  t.same(renderScript({ kind: 'wait', reason: 'desired state is discovery' }, BASE, undefined), text(renderWaitScript('desired state is discovery')));
  t.same(
    renderScript({ kind: 'wait-image', waiting: 'kernel-amd64, 63% of 14 MB' }, BASE, undefined),
    text('#!ipxe\necho maskin: waiting for image kernel-amd64, 63% of 14 MB\nsleep 10\nchain --replace --autofree ${cwuri} || exit 1\n'),
  );
  t.same(renderScript({ kind: 'boot-local', method: 'sanboot', platform: 'pcbios' }, BASE, undefined), renderBootLocalScript('sanboot', 'pcbios'));
  t.same(renderScript({ kind: 'boot-local', method: 'http-404', platform: 'efi' }, BASE, undefined), { kind: 'http-404' });
  const install = { kind: 'install', node: node(), profile: profile(), platform: 'efi' } as const;
  const installText = renderInstallScript({ node: node(), profile: profile(), baseUrl: BASE, token: TOKEN, platform: 'efi' });
  t.same(renderScript(install, BASE, TOKEN), text(installText));
  t.throws(() => renderScript(install, BASE, undefined), /without a boot token/);
});

t.test('refused script request: why and what to check, never a kernel or the address that would count', async (t) => {
  const check =
    'echo maskin: check that this machine took its address from this agent (DHCP on the provisioning network or its relay), or set its ipv4 in the manifest';
  t.equal(
    renderRefusedScript({ mac: '52-54-00-AB-CD-EF', reason: 'no-lease', from: '198.18.9.66' }),
    '#!ipxe\necho maskin: refused: 52:54:00:ab:cd:ef holds no DHCP lease from this agent and has no fixed ipv4 in the manifest\n' +
      `${check}\nsleep 10\nexit 1\n`,
  );
  t.equal(
    renderRefusedScript({ mac: '52:54:00:ab:cd:ef', reason: 'wrong-address', from: '198.18.9.66' }),
    '#!ipxe\necho maskin: refused: this request came from 198.18.9.66, ' +
      'which is neither the address this agent leased to 52:54:00:ab:cd:ef nor its fixed ipv4\n' +
      `${check}\nsleep 10\nexit 1\n`,
  );
  const hostile = renderRefusedScript({ mac: '${x}', reason: 'wrong-address', from: '1.2.3.4\nkernel http://evil/k ${y}' });
  t.notMatch(hostile, /\nkernel|\$\{/, 'nothing interpolated can run');
  t.same(renderScript({ kind: 'refused', mac: '52:54:00:ab:cd:ef', reason: 'no-lease', from: 'x' }, BASE, undefined), {
    kind: 'script',
    text: renderRefusedScript({ mac: '52:54:00:ab:cd:ef', reason: 'no-lease', from: 'x' }),
  });
});

t.test('no valid mac in the script request: say so and hand back to the firmware', async (t) => {
  t.equal(renderNoMacScript(), '#!ipxe\necho maskin: the script request carries no valid mac; check the chain URL\nexit 1\n');
});

t.test('failed-image: says failed, the cause and that an operator must act; asks again slowly', async (t) => {
  const out = renderScript({ kind: 'failed-image', cause: 'image kernel-amd64: digest mismatch; expected sha256:aa' }, BASE, undefined);
  t.equal(out.kind, 'script');
  const body = out.kind === 'script' ? out.text : '';
  t.match(body, /^#!ipxe\necho maskin: failed: image kernel-amd64: digest mismatch. expected sha256:aa, operator action needed\n/);
  t.match(body, /\nsleep 60\nchain --replace --autofree \$\{cwuri\} \|\| exit 1\n$/);
  t.notMatch(body, /waiting/);
});
