import t from 'tap';
import { formatCache } from '../../agent/images/format.js';
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

t.test('cache status: bars on a terminal, plain percentages otherwise', async (t) => {
  t.equal(
    formatCache(view, { bars: true }),
    'cache: 1 blob(s), 14 MB of 20000 MB\nprofile workers: not ready\n' +
      `  workers  kernel-amd64  sha256:aaaaaaaaaaaa…  cached\n` +
      `  workers  initramfs-amd64.xz  sha256:bbbbbbbbbbbb…  downloading [###################...........] 63% of 100 MB\n`,
  );
  t.match(formatCache(view, { bars: false }), /downloading 63% of 100 MB\n$/);
  t.match(formatCache({ ...view, assets: [], readiness: {} }, { bars: false }), /no images pinned by the manifest/);
});
