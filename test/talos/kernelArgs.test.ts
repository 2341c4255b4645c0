import t from 'tap';
import { profileFixture } from '../fakes/manifest.js';
import { KernelArgError, TalosVersionError } from '../../agent/errors.js';

const REFUSED = { code: 'MASKIN_ERR_KERNEL_ARG_REFUSED', constructor: KernelArgError };
const UNSUPPORTED = { code: 'MASKIN_ERR_TALOS_VERSION_UNSUPPORTED', constructor: TalosVersionError };
import type { Profile } from '../../agent/manifest/model.js';
import { kernelArgProblems, talosKernelArgs } from '../../agent/talos/kernelArgs.js';

const profile = (over: Partial<Profile>): Profile => profileFixture(over);
const urls = { config: 'http://198.18.0.1:8080/v1/boot/AAAAAAAAAAAAAAAAAAAAAAAA/config' };
const cfg = `talos.config=${urls.config}`;
const REQ = ['talos.platform=metal', 'slab_nomerge', 'pti=on'];

const table: { name: string; p: Partial<Profile>; events?: string; want: string[] }[] = [
  {
    name: '1.12 amd64',
    p: { talosVersion: 'v1.12.11' },
    want: [...REQ, 'consoleblank=0', 'printk.devkmsg=on', 'init_on_alloc=1', 'console=tty0', 'console=ttyS0', cfg],
  },
  { name: '1.13 amd64', p: {}, want: [...REQ, 'consoleblank=0', 'printk.devkmsg=on', 'init_on_alloc=1', 'console=tty0', 'console=ttyS0', cfg] },
  { name: '1.13 arm64', p: { arch: 'arm64' }, want: [...REQ, 'consoleblank=0', 'printk.devkmsg=on', 'init_on_alloc=1', 'console=ttyAMA0', cfg] },
  {
    name: '1.14 amd64: no init_on_alloc',
    p: { talosVersion: 'v1.14.0' },
    want: [...REQ, 'consoleblank=0', 'printk.devkmsg=on', 'console=tty0', 'console=ttyS0', cfg],
  },
  {
    name: '1.14 pre-release counts as 1.14',
    p: { talosVersion: 'v1.14.0-beta.1', arch: 'arm64' },
    want: [...REQ, 'consoleblank=0', 'printk.devkmsg=on', 'console=ttyAMA0', cfg],
  },
  {
    name: 'events URL follows the config URL',
    p: {},
    events: 'http://198.18.0.1:8080/v1/boot/AAAAAAAAAAAAAAAAAAAAAAAA/events',
    want: [
      ...REQ,
      'consoleblank=0',
      'printk.devkmsg=on',
      'init_on_alloc=1',
      'console=tty0',
      'console=ttyS0',
      cfg,
      'maskin.events=http://198.18.0.1:8080/v1/boot/AAAAAAAAAAAAAAAAAAAAAAAA/events',
    ],
  },
  {
    name: 'extras are appended',
    p: { kernelArgs: ['net.ifnames=0', 'talos.dashboard.disabled=1'] },
    want: [
      ...REQ,
      'consoleblank=0',
      'printk.devkmsg=on',
      'init_on_alloc=1',
      'console=tty0',
      'console=ttyS0',
      cfg,
      'net.ifnames=0',
      'talos.dashboard.disabled=1',
    ],
  },
  {
    name: 'console= extra replaces both default consoles',
    p: { kernelArgs: ['console=ttyS1,115200n8'] },
    want: [...REQ, 'consoleblank=0', 'printk.devkmsg=on', 'init_on_alloc=1', cfg, 'console=ttyS1,115200n8'],
  },
  {
    name: 'two console extras are both kept, in order',
    p: { kernelArgs: ['console=tty0', 'console=ttyS1,115200'] },
    want: [...REQ, 'consoleblank=0', 'printk.devkmsg=on', 'init_on_alloc=1', cfg, 'console=tty0', 'console=ttyS1,115200'],
  },
  {
    name: 'an extra replaces a default value',
    p: { kernelArgs: ['consoleblank=600'] },
    want: [...REQ, 'printk.devkmsg=on', 'init_on_alloc=1', 'console=tty0', 'console=ttyS0', cfg, 'consoleblank=600'],
  },
  {
    name: '-key removes a default',
    p: { kernelArgs: ['-init_on_alloc', '-printk.devkmsg'] },
    want: [...REQ, 'consoleblank=0', 'console=tty0', 'console=ttyS0', cfg],
  },
  {
    name: '-key of an absent default is a no-op',
    p: { talosVersion: 'v1.14.1', kernelArgs: ['-init_on_alloc'] },
    want: [...REQ, 'consoleblank=0', 'printk.devkmsg=on', 'console=tty0', 'console=ttyS0', cfg],
  },
  {
    name: 'a required arg repeated verbatim is not duplicated',
    p: { kernelArgs: ['pti=on', 'quiet', 'quiet'] },
    want: [...REQ, 'consoleblank=0', 'printk.devkmsg=on', 'init_on_alloc=1', 'console=tty0', 'console=ttyS0', cfg, 'quiet'],
  },
];

t.test('kernel args table', async (t) => {
  for (const row of table) {
    const got = talosKernelArgs(profile(row.p), row.events ? { ...urls, events: row.events } : urls);
    t.same(got, row.want, row.name);
  }
});

t.test('args iPXE would rewrite or that break Talos are refused', async (t) => {
  const refused: [string, RegExp][] = [
    ['talos.config=http://x/${uuid}', /iPXE would expand/],
    ['foo=${net0/mac}', /iPXE would expand/],
    ['a b', /whitespace/],
    ['', /empty/],
    ['pti=off', /Talos requires pti=on/],
    ['-slab_nomerge', /Talos requires slab_nomerge/],
    ['talos.platform=container', /Talos requires talos.platform=metal/],
    ['talos.config=http://elsewhere/config', /set by maskin/],
    ['maskin.events=http://elsewhere/', /set by maskin/],
    ['talos.logging.kernel=tcp://elsewhere:514', /set by maskin/],
    ['talos.experimental.wipe=system', /set by maskin/],
    ['-console=tty0', /removal is written -key/],
    ['ünïcode=1', /non-ASCII/],
  ];
  for (const [arg, why] of refused) {
    t.throws(() => talosKernelArgs(profile({ kernelArgs: [arg] }), urls), REFUSED, arg);
    t.match(kernelArgProblems([arg]).join(), why, arg);
  }
  t.same(kernelArgProblems(['console=ttyS1', '-consoleblank', 'pti=on']), []);
});

t.test('the node log sink goes after the config and events URLs, before the extras', async (t) => {
  const got = talosKernelArgs(profile({ kernelArgs: ['net.ifnames=0'] }), { ...urls, events: 'http://198.18.0.1/ev', logs: 'tcp://198.18.0.1:5170' });
  t.same(got.slice(-4), [cfg, 'maskin.events=http://198.18.0.1/ev', 'talos.logging.kernel=tcp://198.18.0.1:5170', 'net.ifnames=0']);
  t.throws(() => talosKernelArgs(profile({}), { ...urls, logs: 'tcp://x:1 y' }), REFUSED, 'checked like our other URLs');
});

t.test('our own URLs are checked too', async (t) => {
  t.throws(() => talosKernelArgs(profile({}), { config: 'http://x/${uuid}/config' }), REFUSED);
  t.throws(() => talosKernelArgs(profile({}), { config: 'http://x/config', events: 'http://x/ev ents' }), REFUSED);
});

t.test('unsupported or malformed Talos versions are refused by name', async (t) => {
  for (const v of ['v1.11.5', 'v2.0.0', '1.13', 'latest']) {
    t.throws(() => talosKernelArgs(profile({ talosVersion: v }), urls), UNSUPPORTED, v);
  }
  t.throws(() => talosKernelArgs(profile({ talosVersion: 'v1.11.5' }), urls), /supported: v1\.12\.x, v1\.13\.x, v1\.14\.x, v1\.15\.x/);
  t.same(talosKernelArgs(profile({ talosVersion: '1.13.9' }), urls).includes('init_on_alloc=1'), true, 'leading v is optional');
});
