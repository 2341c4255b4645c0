// Prefetch against a real store, the real fetcher and a local upstream: pinned images are
// downloaded once, verified, pinned against eviction; a bad upstream is a named, retried failure.
import t from 'tap';
import { createFetcher } from '../../agent/images/fetcher.js';
import { createPrefetcher } from '../../agent/images/prefetch.js';
import type { AssetPin } from '../../agent/images/pins.js';
import { startImageUpstream } from '../fakes/imageUpstream.js';
import { blob, silent, storeBed } from './blobs.js';

t.test('pinned kernel and initramfs are fetched once, verified, and reported ready per profile', async (t) => {
  const bed = await storeBed();
  t.teardown(() => bed.close());
  const kernel = blob(3 << 20);
  const initramfs = blob(1 << 20);
  const upstream = await startImageUpstream(
    new Map([
      ['/k', kernel.bytes],
      ['/i', initramfs.bytes],
    ]),
  );
  t.teardown(() => upstream.close());
  const fetcher = createFetcher({ store: bed.store, log: silent });
  let pins = new Map<string, AssetPin>([
    ['s/v/kernel-amd64', { assetPath: 's/v/kernel-amd64', digest: kernel.digest, url: `${upstream.url}/k`, profile: 'w', kind: 'kernel' }],
    ['s/v/initramfs-amd64.xz', { assetPath: 's/v/initramfs-amd64.xz', digest: initramfs.digest, url: `${upstream.url}/i`, profile: 'w', kind: 'initramfs' }],
  ]);
  const prefetcher = createPrefetcher({
    pins: () => pins,
    referenced: () => [...pins.values()].map((p) => p.digest),
    store: bed.store,
    fetch: fetcher.fetch,
    log: silent,
    retryMs: 200,
    progressMs: 50,
  });
  t.same(prefetcher.readiness(), { w: false });
  const stop = new AbortController();
  const running = prefetcher.run(stop.signal);
  t.teardown(async () => {
    stop.abort();
    await running;
  });
  const until = async (cond: () => boolean, ms = 10_000): Promise<void> => {
    const end = Date.now() + ms;
    while (!cond()) {
      if (Date.now() > end) throw new Error(`timed out; status ${JSON.stringify(prefetcher.status())}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  };
  await until(() => prefetcher.readiness().w === true);
  t.same(
    prefetcher.status().map((s) => s.state),
    ['cached', 'cached'],
  );
  t.equal(upstream.gets('/k'), 1);
  t.equal(upstream.gets('/i'), 1);
  t.equal(bed.store.get(kernel.digest)?.size, kernel.bytes.length);

  // A pin whose upstream serves other bytes: refused, named, retried, never cached.
  const wrong = blob(100_000);
  pins = new Map([
    ...pins,
    ['s/v/kernel-arm64', { assetPath: 's/v/kernel-arm64', digest: wrong.digest, url: `${upstream.url}/k`, profile: 'a', kind: 'kernel' }],
  ]);
  prefetcher.kick();
  await until(() => prefetcher.status().some((s) => s.state === 'failed'));
  const failed = prefetcher.status().find((s) => s.state === 'failed')!;
  t.match(failed.error, /expected sha256:[0-9a-f]{64}.*got sha256:/s, 'the cause: digest mismatch, expected vs got');
  t.equal(bed.store.get(wrong.digest), undefined);
  t.equal(failed.permanent, true, 'a digest mismatch needs an operator');
  t.equal(prefetcher.failure(wrong.digest)?.permanent, true);
  t.equal(prefetcher.failure(kernel.digest), undefined, 'a cached image has no failure');
  t.same(prefetcher.readiness(), { w: true, a: false });
  const before = upstream.gets('/k');
  await until(() => upstream.gets('/k') > before, 3000);
  t.pass('failed prefetches are retried on the next round');
});

t.test('installer images: pulled through the mirror once, pinned with all their blobs, failures named and retried', async (t) => {
  const bed = await storeBed();
  t.teardown(() => bed.close());
  const layer = blob(10_000);
  const { Readable } = await import('node:stream');
  let attempts = 0;
  let pinned: string[] = [];
  const store = { ...bed.store, pin: (d: Iterable<string>) => void (pinned = [...d]) };
  const installer = { profile: 'w', image: { registry: 'factory.test', repository: 'metal-installer/x' }, digest: layer.digest, arch: 'amd64' as const };
  const prefetcher = createPrefetcher({
    pins: () => new Map(),
    referenced: () => [],
    store,
    fetch: () => {
      throw new Error('no assets here');
    },
    installers: () => [installer],
    prefetchInstaller: async () => {
      attempts += 1;
      if (attempts === 1) throw new Error('upstream unreachable');
      await bed.store.put(layer.digest, Readable.from([layer.bytes]));
      return [layer.digest];
    },
    log: silent,
    retryMs: 100,
  });
  const stop = new AbortController();
  const running = prefetcher.run(stop.signal);
  t.teardown(async () => {
    stop.abort();
    await running;
  });
  const end = Date.now() + 5000;
  while (prefetcher.status()[0]?.state !== 'cached') {
    if (Date.now() > end) throw new Error(JSON.stringify(prefetcher.status()));
    await new Promise((r) => setTimeout(r, 20));
  }
  t.equal(attempts, 2, 'a failed pull is retried on the next round');
  t.match(prefetcher.status()[0], { kind: 'installer', assetPath: 'factory.test/metal-installer/x', state: 'cached' });
  t.same(prefetcher.readiness(), { w: true });
  t.ok(pinned.includes(layer.digest), 'its blobs are pinned against eviction');
  await new Promise((r) => setTimeout(r, 250));
  t.equal(attempts, 2, 'not pulled again once cached');
});
