// Prefetch: on every manifest change (and every minute, to retry failures), every pinned
// kernel/initramfs not yet cached is downloaded through the single-flight fetcher, two at a time,
// with progress in the log and in status() (for `maskin-agent cache status` and the admin API).
import type { Logger } from 'pino';
import { sleep } from '../runtime/wait.js';
import type { Service } from '../runtime/service.js';
import type { ContentStore, Download } from './model.js';
import type { InstallerPin } from './installer.js';
import type { AssetPin } from './pins.js';

export type AssetState = 'cached' | 'downloading' | 'missing' | 'failed';

export interface AssetStatus {
  readonly assetPath: string;
  readonly profile: string;
  readonly kind: 'kernel' | 'initramfs' | 'installer';
  readonly digest: string;
  readonly state: AssetState;
  readonly received?: number;
  readonly total?: number;
  readonly error?: string;
  /** Set on a failure that retrying will not mend (a digest mismatch, an upstream 4xx): an operator must act. */
  readonly permanent?: true;
}

/** A pinned image's last failure: why, and whether retrying can mend it. */
export interface ImageFailure {
  readonly reason: string;
  readonly permanent: boolean;
}

/**
 * Whether a download failure needs an operator: the upstream served other bytes than the pin
 * names, or refused the request for good (a 4xx other than 408 and 429, which are transient).
 */
export function isPermanentFailure(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  if (code === 'MASKIN_ERR_IMAGE_DIGEST_MISMATCH') return true;
  const status = (err as { status?: unknown }).status;
  return typeof status === 'number' && status >= 400 && status < 500 && status !== 408 && status !== 429;
}

export interface PrefetcherDeps {
  readonly pins: () => ReadonlyMap<string, AssetPin>;
  /** Digests referenced by the current and last-good manifests: never evicted. */
  readonly referenced: () => Iterable<string>;
  readonly store: ContentStore;
  readonly fetch: (digest: string, source: { url: string; size?: number }) => Download;
  readonly log: Logger;
  /** Installer images to pull through the registry mirror, and how (returns every digest stored). */
  readonly installers?: () => readonly InstallerPin[];
  readonly prefetchInstaller?: (pin: InstallerPin) => Promise<string[]>;
  readonly concurrency?: number;
  readonly retryMs?: number;
  readonly progressMs?: number;
}

export interface Prefetcher extends Service {
  /** Starts a round now (a manifest changed). */
  kick(): void;
  status(): AssetStatus[];
  /** The last failure of this digest's download, until one succeeds. */
  failure(digest: string): ImageFailure | undefined;
  /** Per profile: every pinned asset cached. */
  readiness(): Record<string, boolean>;
}

export function createPrefetcher(deps: PrefetcherDeps): Prefetcher {
  const running = new Map<string, Download>();
  /** Installer digest → every blob it consists of, once all are stored. */
  const installerBlobs = new Map<string, string[]>();
  const installersRunning = new Set<string>();
  const failures = new Map<string, ImageFailure>();
  const failed = (base: Omit<AssetStatus, 'state'>, digest: string): AssetStatus => {
    const f = failures.get(digest);
    if (!f) return { ...base, state: 'missing' };
    return { ...base, state: 'failed', error: f.reason, ...(f.permanent ? { permanent: true as const } : {}) };
  };
  let wake: (() => void) | undefined;
  let kicked = false;

  const installerStatus = (): AssetStatus[] =>
    (deps.installers?.() ?? []).map((pin) => {
      const base = { assetPath: `${pin.image.registry}/${pin.image.repository}`, profile: pin.profile, kind: 'installer' as const, digest: pin.digest };
      const blobs = installerBlobs.get(pin.digest);
      if (blobs && blobs.every((d) => deps.store.get(d))) return { ...base, state: 'cached' as const };
      if (installersRunning.has(pin.digest)) return { ...base, state: 'downloading' as const };
      return failed(base, pin.digest);
    });

  const status = (): AssetStatus[] => [...assetStatus(), ...installerStatus()];
  const assetStatus = (): AssetStatus[] =>
    [...deps.pins().values()].map((pin) => {
      const base = { assetPath: pin.assetPath, profile: pin.profile, kind: pin.kind, digest: pin.digest };
      if (deps.store.get(pin.digest)) return { ...base, state: 'cached' as const };
      const download = running.get(pin.digest);
      if (download) {
        const p = download.progress();
        return { ...base, state: 'downloading' as const, received: p.received, ...(p.total !== undefined ? { total: p.total } : {}) };
      }
      return failed(base, pin.digest);
    });

  const pinAll = (): void => deps.store.pin([...deps.referenced(), ...[...installerBlobs.values()].flat()]);

  async function installers(signal: AbortSignal): Promise<void> {
    if (!deps.installers || !deps.prefetchInstaller) return;
    const seen = new Set<string>();
    for (const pin of deps.installers()) {
      if (signal.aborted || seen.has(pin.digest)) continue;
      seen.add(pin.digest);
      const known = installerBlobs.get(pin.digest);
      if (known && known.every((d) => deps.store.get(d))) continue;
      installersRunning.add(pin.digest);
      try {
        installerBlobs.set(pin.digest, await deps.prefetchInstaller(pin));
        failures.delete(pin.digest);
        pinAll();
        deps.log.info({ image: `${pin.image.registry}/${pin.image.repository}`, digest: pin.digest }, 'installer image cached and verified');
      } catch (err) {
        failures.set(pin.digest, { reason: (err as Error).message, permanent: isPermanentFailure(err) });
        deps.log.error(
          { image: `${pin.image.registry}/${pin.image.repository}`, digest: pin.digest, err: (err as Error).message },
          'installer prefetch failed; retrying later',
        );
      } finally {
        installersRunning.delete(pin.digest);
      }
    }
  }

  async function round(signal: AbortSignal): Promise<void> {
    pinAll();
    const todo = [...deps.pins().values()].filter((pin) => !deps.store.get(pin.digest) && !running.has(pin.digest));
    const unique = [...new Map(todo.map((pin) => [pin.digest, pin])).values()];
    if (unique.length > 0) deps.log.info({ images: unique.length }, 'prefetching pinned images');
    const queue = [...unique];
    const worker = async (): Promise<void> => {
      for (let pin = queue.shift(); pin && !signal.aborted; pin = queue.shift()) {
        const download = deps.fetch(pin.digest, { url: pin.url, ...(pin.size !== undefined ? { size: pin.size } : {}) });
        running.set(pin.digest, download);
        const reporter = setInterval(() => {
          const p = download.progress();
          deps.log.info(
            { image: pin.assetPath, received: p.received, total: p.total, percent: p.total ? Math.floor((100 * p.received) / p.total) : undefined },
            'prefetch progress',
          );
        }, deps.progressMs ?? 5000);
        try {
          const blob = await download.done;
          failures.delete(pin.digest);
          deps.log.info({ image: pin.assetPath, digest: pin.digest, bytes: blob.size }, 'image cached and verified');
        } catch (err) {
          failures.set(pin.digest, { reason: (err as Error).message, permanent: isPermanentFailure(err) });
          deps.log.error({ image: pin.assetPath, url: pin.url, err: (err as Error).message }, 'prefetch failed; retrying later');
        } finally {
          clearInterval(reporter);
          running.delete(pin.digest);
        }
      }
    };
    await Promise.all(Array.from({ length: deps.concurrency ?? 2 }, worker));
    await installers(signal);
  }

  return {
    name: 'image-prefetch',
    kick() {
      kicked = true;
      wake?.();
    },
    status,
    failure: (digest) => failures.get(digest),
    readiness() {
      const ready: Record<string, boolean> = {};
      for (const s of status()) ready[s.profile] = (ready[s.profile] ?? true) && s.state === 'cached';
      return ready;
    },
    async run(signal) {
      while (!signal.aborted) {
        kicked = false;
        await round(signal);
        if (!kicked) await sleep(deps.retryMs ?? 60_000, signal, (wakeUp) => (wake = wakeUp));
        wake = undefined;
      }
    },
  };
}
