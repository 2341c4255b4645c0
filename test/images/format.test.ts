import t from 'tap';
import { paint } from '../../agent/cli/term.js';
import { cacheSettled, formatCache } from '../../agent/images/format.js';
import type { CacheStatus } from '../../agent/images/status.js';

const view: CacheStatus = {
  totalBytes: 14_000_000,
  limitBytes: 20_000_000_000,
  blobs: 1,
  readiness: { workers: false },
  assets: [
    { assetPath: 's/v1.13.9/kernel-amd64', profile: 'workers', kind: 'kernel', digest: `sha256:${'a'.repeat(64)}`, state: 'cached' },
    {
      assetPath: 's/v1.13.9/initramfs-amd64.xz',
      profile: 'workers',
      kind: 'initramfs',
      digest: `sha256:${'b'.repeat(64)}`,
      state: 'downloading',
      received: 63_000_000,
      total: 100_000_000,
    },
  ],
};

t.test('cache status: binary units, aligned columns, bars on a terminal, plain percentages otherwise', async (t) => {
  t.equal(
    formatCache(view, { bars: true }),
    'cache: 1 blob(s), 13.4 MiB of 18.6 GiB\nprofile workers: not ready\n' +
      'PROFILE  KIND       FILE                DIGEST                STATE\n' +
      'workers  kernel     kernel-amd64        sha256:aaaaaaaaaaaa…  cached\n' +
      'workers  initramfs  initramfs-amd64.xz  sha256:bbbbbbbbbbbb…  downloading [###################...........] 63% of 95.4 MiB\n',
  );
  t.match(formatCache(view, { bars: false }), /downloading 63% of 95\.4 MiB\n$/);
  t.match(formatCache({ ...view, assets: [], readiness: {} }, { bars: false }), /no images pinned by the manifest/);
  t.match(formatCache({ ...view, limitBytes: 20 * 1024 ** 3 }, { bars: false }), /of 20\.0 GiB\n/, 'a 20 GiB limit reads as such');
});

t.test('cache status: a failure names the pinned digest once, in short; colour only when painted', async (t) => {
  const digest = `sha256:${'c'.repeat(64)}`;
  const failed: CacheStatus = {
    ...view,
    assets: [
      {
        assetPath: 's/v1/kernel-amd64',
        profile: 'w',
        kind: 'kernel',
        digest,
        state: 'failed',
        error: `digest mismatch for https://x/kernel-amd64: expected ${digest}, got sha256:${'d'.repeat(64)}`,
      },
    ],
  };
  const text = formatCache(failed, { bars: false });
  t.equal(text.split(digest).length, 1, 'the full pinned digest is not printed');
  t.equal(text.split('sha256:cccccccccccc…').length, 3, 'its short form is: in the digest column and in the error');
  t.notMatch(text, /\u001b\[/, 'no colour by default');
  t.match(formatCache(failed, { bars: false, paint: paint(true) }), /\u001b\[31mfailed: digest mismatch/);
});

t.test('cacheSettled: done when every pinned image is cached or failed', async (t) => {
  t.equal(cacheSettled(view), false);
  t.equal(cacheSettled({ ...view, assets: view.assets.map((a) => ({ ...a, state: 'cached' as const })) }), true);
});
