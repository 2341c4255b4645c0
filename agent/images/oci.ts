// Read-only pull-through OCI registry mirror (OCI distribution spec, pull side only). Talos' containerd is pointed at us by a
// RegistryMirrorConfig per registry host and asks `/v2/<repo>/manifests/<ref>?ns=<registry host>`;
// clients without `?ns=` (skopeo, curl) name the registry as the first path segment instead.
//
// Nothing is served whole unless verified: blobs and manifests-by-digest against the digest asked
// for, manifests-by-tag against the sha256 of the body (and the upstream's Docker-Content-Digest).
// A blob not cached yet streams from the fetcher's one download of it, its final chunk held back
// until the digest verifies: a mismatch cuts every client short.
// Tags are resolved upstream whenever it answers; only when it cannot be reached (WAN down) do we
// serve the tag → digest we remembered last time, so a moved tag is followed when online.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Dispatcher } from 'undici';
import type { Readable } from 'node:stream';
import { createFetcher, type Fetcher } from './fetcher.js';
import { httpGet, type GetResponse } from './httpGet.js';
import type { Logger } from 'pino';
import { DigestMismatchError, UpstreamError } from '../errors.js';
import type { Sublevel } from '../store/store.js';
import { DIGEST, type BlobInfo, type ContentStore, type Digest, type Download } from './model.js';
import { createTokenCache } from './registryAuth.js';

/** What we ask upstream for, most preferred first: indexes before single-platform manifests. */
export const MANIFEST_MEDIA_TYPES = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
] as const;

/** distribution's own limit on manifest size; a bigger body is not a manifest we can trust to buffer. */
const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

// distribution/reference grammar: path components of lower-case alphanumerics and separators.
const COMPONENT = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;
const REGISTRY_HOST = /^[A-Za-z0-9.-]+(?::[0-9]+)?$/;

export interface TagRecord {
  readonly digest: Digest;
  readonly mediaType: string;
  readonly resolvedAt: string;
}

export interface RegistryUpstream {
  /** Base URL without /v2/, e.g. https://ghcr.io or http://127.0.0.1:5000 */
  readonly url: string;
  /** Extra headers (a static Authorization for a private central mirror, say). */
  readonly headers?: Readonly<Record<string, string>>;
}

export interface ImageName {
  /** Registry host the image belongs to, e.g. factory.talos.dev */
  readonly registry: string;
  /** Repository within it, e.g. metal-installer/<schematic> */
  readonly repository: string;
}

export interface ManifestHit {
  readonly bytes: Buffer;
  readonly mediaType: string;
  readonly digest: Digest;
}

export interface NotFound {
  readonly notFound: 'MANIFEST_UNKNOWN' | 'BLOB_UNKNOWN';
  readonly message: string;
}

export const isNotFound = (v: object): v is NotFound => 'notFound' in v;

export interface RegistryMirror {
  /** The registry and repository a request names, or undefined when we mirror no such registry. */
  locate(name: string, ns: string | undefined): ImageName | undefined;
  manifest(image: ImageName, reference: string): Promise<ManifestHit | NotFound>;
  /** The blob once stored and verified (prefetch). */
  blob(image: ImageName, digest: Digest): Promise<BlobInfo | NotFound>;
  /** The blob for a client: stored, or streaming from its one upstream download. */
  pull(image: ImageName, digest: Digest): Promise<BlobInfo | NotFound | LiveBlob>;
}

/** A blob still downloading, first bytes ready. */
export interface LiveBlob {
  readonly digest: Digest;
  /** Upstream's Content-Length, when it sent one. */
  readonly size: number | undefined;
  /** Every byte as it arrives but the last chunk, held back until the digest verifies; a mismatch destroys it. */
  readonly stream: Readable;
  readonly done: Promise<BlobInfo>;
}

export const isLive = (v: object): v is LiveBlob => 'stream' in v;

/** How a download's upstream requests are going. */
interface Attempts {
  /** The latest attempt's failure while the fetcher waits to retry; cleared by a 2xx. */
  error: Error | undefined;
  /** Requests waiting for first bytes, told at once when an attempt fails. */
  readonly failed: Set<(err: Error) => void>;
}

/** One blob download as the mirror sees it: the fetcher's, and its attempts. */
interface Pull {
  readonly download: Download;
  readonly attempts: Attempts;
}

/** Resolves once `stream` has bytes to read or has ended; rejects with its error. */
function readable(stream: Readable): Promise<void> {
  return new Promise((resolve, reject) => {
    const settle = (err?: Error): void => {
      stream.off('readable', ready);
      stream.off('error', settle);
      // Until the route pipes it: an error now must not be an unhandled 'error' event.
      stream.on('error', () => undefined);
      if (err) reject(err);
      else resolve();
    };
    const ready = (): void => settle();
    stream.on('readable', ready);
    stream.on('error', settle);
  });
}

export interface RegistryMirrorOptions {
  readonly store: ContentStore;
  readonly tags: Sublevel<TagRecord>;
  readonly upstreams: (registry: string) => RegistryUpstream | undefined;
  readonly dispatcher?: Dispatcher;
  readonly log: Logger;
  readonly now?: () => Date;
  /** Downloads blobs: pass the agent's one fetcher so a digest is never fetched twice at once. */
  readonly fetcher?: Fetcher;
  /** Until upstream response headers arrive; past it the upstream counts as unreachable. */
  readonly timeoutMs?: number;
}

/** No answer, or one that says "not now": the cases where a remembered tag may stand in. */
const isOutage = (err: UpstreamError): boolean => err.status === undefined || err.status >= 500 || err.status === 429;

async function* once(bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  yield bytes;
}

export const sha256 = (bytes: Uint8Array): Digest => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

export const isValidRepository = (repo: string): boolean => repo.split('/').every((c) => COMPONENT.test(c));
export const isValidReference = (ref: string): boolean => TAG.test(ref) || DIGEST.test(ref);

/** Media type of a manifest body: the Content-Type upstream gave, else the body's own mediaType. */
function manifestMediaType(bytes: Buffer, contentType: string | undefined): string {
  const fromHeader = contentType?.split(';')[0]?.trim();
  if (fromHeader && fromHeader !== 'application/json' && fromHeader !== 'application/octet-stream') return fromHeader;
  try {
    const mt = (JSON.parse(bytes.toString('utf8')) as { mediaType?: unknown }).mediaType;
    if (typeof mt === 'string') return mt;
  } catch {
    // Not JSON: fall through to the OCI default; clients will reject it themselves.
  }
  return 'application/vnd.oci.image.manifest.v1+json';
}

/** The part of an upstream answer the mirror uses (node:http underneath: see httpGet.ts). */
interface Response {
  readonly status: number;
  readonly ok: boolean;
  readonly url: string;
  readonly headers: { get(name: string): string | null };
  readonly body: (AsyncIterable<Uint8Array> & { cancel(): Promise<void> }) | null;
}

async function readCapped(res: Response, cap: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res.body ?? []) {
    size += chunk.byteLength;
    if (size > cap) throw new UpstreamError(res.url, `manifest larger than ${cap} bytes`, { status: res.status });
    chunks.push(Buffer.from(chunk));
  }
  return Buffer.concat(chunks);
}

export function createRegistryMirror(opts: RegistryMirrorOptions): RegistryMirror {
  const { store, tags, upstreams, log } = opts;
  const now = opts.now ?? (() => new Date());
  const timeoutMs = opts.timeoutMs ?? 15_000;
  const tokens = createTokenCache({ dispatcher: opts.dispatcher, now, timeoutMs });
  const fetcher = opts.fetcher ?? createFetcher({ store, log });
  const pulls = new Map<Digest, Pull>();

  /** GET `url` of `image`'s upstream; follows redirects (blobs live in object storage) and answers one Bearer challenge. */
  async function authorizedGet(
    image: ImageName,
    url: string,
    headers: Readonly<Record<string, string>>,
    maxRedirects?: number,
    signal?: AbortSignal,
  ): Promise<GetResponse> {
    const up = upstreams(image.registry);
    if (!up) throw new UpstreamError(image.registry, 'no upstream configured for this registry');
    const send = async (authorization: string | undefined): Promise<GetResponse> => {
      try {
        return await httpGet(url, {
          headers: { ...up.headers, ...headers, ...(authorization ? { authorization } : {}) },
          timeoutMs,
          ...(maxRedirects !== undefined ? { maxRedirects } : {}),
          ...(signal ? { signal } : {}),
        });
      } catch (err) {
        throw new UpstreamError(url, `unreachable: ${(err as Error).message}`, { cause: err });
      }
    };
    const explicitAuth = Object.keys(up.headers ?? {}).some((h) => h.toLowerCase() === 'authorization');
    let res = await send(explicitAuth ? undefined : tokens.cached(image));
    if (res.status === 401 && !explicitAuth) {
      const challenge = res.headers['www-authenticate'];
      res.body.destroy();
      const token = challenge ? await tokens.answer(image, challenge) : undefined;
      if (token === undefined)
        throw new UpstreamError(url, `401 without a Bearer challenge we can answer anonymously (${challenge ?? 'no WWW-Authenticate'})`, { status: 401 });
      res = await send(token);
    }
    return res;
  }

  const urlOf = (image: ImageName, path: string): string => {
    const up = upstreams(image.registry);
    if (!up) throw new UpstreamError(image.registry, 'no upstream configured for this registry');
    return `${up.url.replace(/\/+$/, '')}/v2/${image.repository}/${path}`;
  };

  async function upstreamGet(image: ImageName, path: string, accept?: string): Promise<Response> {
    const got = await authorizedGet(image, urlOf(image, path), accept ? { accept } : {});
    const body = Object.assign(got.body, { cancel: async (): Promise<void> => void got.body.destroy() });
    return {
      status: got.status,
      ok: got.status >= 200 && got.status < 300,
      url: got.url,
      headers: {
        get: (name: string) => {
          const v = got.headers[name.toLowerCase()];
          return v === undefined ? null : Array.isArray(v) ? v.join(', ') : v;
        },
      },
      body,
    };
  }

  async function storeManifest(bytes: Buffer, digest: Digest, mediaType: string): Promise<void> {
    if (!store.get(digest)) await store.put(digest, once(bytes), { mediaType, expectedSize: bytes.byteLength });
  }

  async function fromStore(digest: Digest): Promise<ManifestHit | undefined> {
    const info = store.get(digest);
    if (!info) return undefined;
    store.touch(digest);
    const bytes = await readFile(info.path);
    return { bytes, digest, mediaType: info.mediaType ?? manifestMediaType(bytes, undefined) };
  }

  async function fetchManifest(image: ImageName, reference: string): Promise<ManifestHit | NotFound> {
    const res = await upstreamGet(image, `manifests/${reference}`, MANIFEST_MEDIA_TYPES.join(', '));
    if (res.status === 404) {
      await res.body?.cancel();
      return { notFound: 'MANIFEST_UNKNOWN', message: `upstream ${image.registry} has no manifest ${image.repository}:${reference} (404)` };
    }
    if (!res.ok) {
      await res.body?.cancel();
      throw new UpstreamError(res.url, `HTTP ${res.status}`, { status: res.status });
    }
    const bytes = await readCapped(res, MAX_MANIFEST_BYTES);
    const digest = sha256(bytes);
    const claimed = res.headers.get('docker-content-digest') ?? undefined;
    const expected = DIGEST.test(reference) ? reference : claimed;
    if (expected !== undefined && expected !== digest)
      throw new DigestMismatchError(expected, digest, `manifest ${image.registry}/${image.repository}:${reference}`);
    const mediaType = manifestMediaType(bytes, res.headers.get('content-type') ?? undefined);
    await storeManifest(bytes, digest, mediaType);
    return { bytes, digest, mediaType };
  }

  async function manifestByTag(image: ImageName, tag: string): Promise<ManifestHit | NotFound> {
    const key = `${image.registry}/${image.repository}:${tag}`;
    try {
      const hit = await fetchManifest(image, tag);
      if (!isNotFound(hit)) await tags.put(key, { digest: hit.digest, mediaType: hit.mediaType, resolvedAt: now().toISOString() });
      return hit;
    } catch (err) {
      if (!(err instanceof UpstreamError) || !isOutage(err)) throw err;
      const remembered = await tags.get(key);
      const hit = remembered && (await fromStore(remembered.digest));
      if (!hit) throw err;
      log.warn(
        { image: key, digest: remembered.digest, resolvedAt: remembered.resolvedAt, err: err.message },
        'upstream unreachable: serving the tag as last resolved',
      );
      return hit;
    }
  }

  /** The blob's one download (the fetcher's, shared with every other asker of the digest). */
  function pullOf(image: ImageName, digest: Digest): Pull {
    const running = pulls.get(digest);
    if (running) return running;
    const url = urlOf(image, `blobs/${digest}`);
    const attempts: Attempts = { error: undefined, failed: new Set() };
    const fail = (err: Error): void => {
      attempts.error = err;
      for (const f of [...attempts.failed]) f(err);
    };
    log.info({ image: `${image.registry}/${image.repository}`, digest }, 'fetching blob from upstream');
    const download = fetcher.fetch(digest, {
      url,
      get: async (target, o) => {
        try {
          const res = await authorizedGet(image, target, o.headers ?? {}, o.maxRedirects, o.signal);
          if (res.status === 200 || res.status === 206) attempts.error = undefined;
          else fail(new UpstreamError(res.url, `HTTP ${res.status}`, { status: res.status }));
          return res;
        } catch (err) {
          fail(err as Error);
          throw err;
        }
      },
    });
    const pull: Pull = { download, attempts };
    pulls.set(digest, pull);
    pull.download.done.then(
      () => pulls.delete(digest),
      () => pulls.delete(digest),
    );
    return pull;
  }

  /**
   * A reader of the blob's download once its first verified-so-far bytes (or its end) are there, so
   * an upstream 404, outage or small tampered blob is still an error status, not a 200 cut short.
   * The latest attempt failing answers at once, rather than after the fetcher's retries.
   */
  async function live(image: ImageName, digest: Digest): Promise<LiveBlob> {
    const pull = pullOf(image, digest);
    if (pull.attempts.error) throw pull.attempts.error;
    const stream = pull.download.stream();
    let attemptFailed: ((err: Error) => void) | undefined;
    try {
      await new Promise<void>((resolve, reject) => {
        attemptFailed = reject;
        pull.attempts.failed.add(reject);
        readable(stream).then(resolve, reject);
      });
    } catch (err) {
      stream.destroy();
      throw err;
    } finally {
      if (attemptFailed) pull.attempts.failed.delete(attemptFailed);
    }
    return { digest, size: pull.download.progress().total, stream, done: pull.download.done };
  }

  const blobNotFound = (image: ImageName, digest: Digest, err: unknown): NotFound | undefined =>
    err instanceof UpstreamError && err.status === 404
      ? { notFound: 'BLOB_UNKNOWN', message: `upstream ${image.registry} has no blob ${digest} in ${image.repository} (404)` }
      : undefined;

  function stored(digest: Digest): BlobInfo | undefined {
    const have = store.get(digest);
    if (have) store.touch(digest);
    return have;
  }

  return {
    locate(name, ns) {
      if (ns !== undefined) return REGISTRY_HOST.test(ns) && upstreams(ns) && isValidRepository(name) ? { registry: ns, repository: name } : undefined;
      const slash = name.indexOf('/');
      if (slash < 0) return undefined;
      const registry = name.slice(0, slash);
      const repository = name.slice(slash + 1);
      return upstreams(registry) && isValidRepository(repository) ? { registry, repository } : undefined;
    },

    async manifest(image, reference) {
      if (!DIGEST.test(reference)) return manifestByTag(image, reference);
      return (await fromStore(reference)) ?? fetchManifest(image, reference);
    },

    async blob(image, digest) {
      const have = stored(digest);
      if (have) return have;
      try {
        return await pullOf(image, digest).download.done;
      } catch (err) {
        const missing = blobNotFound(image, digest, err);
        if (missing) return missing;
        throw err;
      }
    },

    async pull(image, digest) {
      const have = stored(digest);
      if (have) return have;
      try {
        return await live(image, digest);
      } catch (err) {
        const missing = blobNotFound(image, digest, err);
        if (missing) return missing;
        throw err;
      }
    },
  };
}
