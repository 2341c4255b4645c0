import t from 'tap';
import { assetPins, factoryUrlFor, pinsFor, referencedDigests } from '../../agent/images/pins.js';
import type { ImagePin } from '../../agent/manifest/model.js';
import { profileFixture, VANILLA_SCHEMATIC } from '../fakes/manifest.js';

const d = (n: string) => `sha256:${n.repeat(64)}`;
const amd = profileFixture({ name: 'amd' });
const arm = profileFixture({ name: 'arm', arch: 'arm64', talosVersion: 'v1.12.11' });
const dir = (images: ImagePin[]) => ({
  images,
  profiles: new Map([
    ['amd', amd],
    ['arm', arm],
  ]),
});

t.test('Image Factory URL scheme', async (t) => {
  t.equal(factoryUrlFor('https://factory.talos.dev/', amd, 'kernel'), `https://factory.talos.dev/image/${VANILLA_SCHEMATIC}/v1.13.9/kernel-amd64`);
  t.equal(factoryUrlFor('http://198.18.0.9:8080', arm, 'initramfs'), `http://198.18.0.9:8080/image/${VANILLA_SCHEMATIC}/v1.12.11/initramfs-arm64.xz`);
});

t.test('pins map asset paths to digests and upstream URLs', async (t) => {
  const pins = assetPins(
    dir([
      { kind: 'kernel', profile: 'amd', digest: d('a'), size: 10 },
      { kind: 'initramfs', profile: 'amd', digest: d('b'), source: 'http://mirror.test/initramfs' },
      { kind: 'kernel', digest: d('c') }, // no profile: every profile (later entries win for amd)
      { kind: 'installer', profile: 'amd', digest: d('e') },
      { kind: 'kernel', profile: 'gone', digest: d('f') },
    ]),
    'https://factory.talos.dev',
  );
  t.same(
    [...pins.keys()].sort(),
    [`${VANILLA_SCHEMATIC}/v1.12.11/kernel-arm64`, `${VANILLA_SCHEMATIC}/v1.13.9/initramfs-amd64.xz`, `${VANILLA_SCHEMATIC}/v1.13.9/kernel-amd64`].sort(),
  );
  t.equal(pins.get(`${VANILLA_SCHEMATIC}/v1.13.9/initramfs-amd64.xz`)?.url, 'http://mirror.test/initramfs', 'an explicit source wins');
  t.equal(pins.get(`${VANILLA_SCHEMATIC}/v1.12.11/kernel-arm64`)?.url, `https://factory.talos.dev/image/${VANILLA_SCHEMATIC}/v1.12.11/kernel-arm64`);
  t.equal(pins.get(`${VANILLA_SCHEMATIC}/v1.13.9/kernel-amd64`)?.digest, d('c'));
});

t.test('every referenced digest is pinned, across current and last-good', async (t) => {
  t.same([...referencedDigests(dir([{ kind: 'kernel', digest: d('a') }]), dir([{ kind: 'installer', digest: d('e') }]))].sort(), [d('a'), d('e')]);
});

t.test('pinsFor computes the pins once per directory', async (t) => {
  let current = dir([{ kind: 'kernel', digest: d('a') }]);
  const pins = pinsFor(() => current, 'https://factory.talos.dev');
  const first = pins();
  t.equal(pins(), first, 'same directory: same map');
  current = dir([{ kind: 'kernel', digest: d('b') }]);
  t.not(pins(), first, 'a new directory: new pins');
  t.equal([...pins().values()][0]?.digest, d('b'));
});
