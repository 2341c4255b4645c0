// Read-only pull-through OCI registry mirror (issue 4 §6). Talos' containerd is pointed at us by a
// RegistryMirrorConfig per registry host and asks `/v2/<repo>/manifests/<ref>?ns=<registry host>`;
// clients without `?ns=` (skopeo, curl) name the registry as the first path segment instead.
//
// Every byte served has been verified: blobs and manifests-by-digest against the digest asked for,
// manifests-by-tag against the sha256 of the body (and the upstream's Docker-Content-Digest).
// Tags are resolved upstream whenever it answers; only when it cannot be reached (WAN down) do we
// serve the tag → digest we remembered last time, so a moved tag is followed when online.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Dispatcher } from 'undici';
import { httpGet } from './httpGet.js';
import type { Logger } from 'pino';
import { DigestMismatchError, UpstreamError } from '../errors.js';
import type { Sublevel } from '../store/store.js';
import { DIGEST, type BlobInfo, type ContentStore, type Digest } from './model.js';
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
  blob(image: ImageName, digest: Digest): Promise<BlobInfo | NotFound>;
}

export interface RegistryMirrorOptions {
  readonly store: ContentStore;
  readonly tags: Sublevel<TagRecord>;
  readonly upstreams: (registry: string) => RegistryUpstream | undefined;
  readonly dispatcher?: Dispatcher;
  readonly log: Logger;
  readonly now?: () => Date;
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
  const inflight = new Map<Digest, Promise<BlobInfo>>();

  /** GET <upstream>/v2/<repo>/<path>; follows redirects (blobs live in object storage) and answers one Bearer challenge. */
  async function upstreamGet(image: ImageName, path: string, accept?: string): Promise<Response> {
    const up = upstreams(image.registry);
    if (!up) throw new UpstreamError(image.registry, 'no upstream configured for this registry');
    const url = `${up.url.replace(/\/+$/, '')}/v2/${image.repository}/${path}`;
    const send = async (authorization: string | undefined): Promise<Response> => {
      const headers: Record<string, string> = { ...up.headers };
      if (accept) headers['accept'] = accept;
      if (authorization) headers['authorization'] = authorization;
      try {
        const got = await httpGet(url, { headers, timeoutMs });
        const body = Object.assign(got.body, { cancel: async (): Promise<void> => void got.body.destroy() });
        return {
          status: got.status,
          ok: got.status >= 200 && got.status < 300,
          url: got.url,
          headers: { get: (name: string) => { const v = got.headers[name.toLowerCase()]; return v === undefined ? null : Array.isArray(v) ? v.join(', ') : v; } },
          body,
        };
      } catch (err) {
        throw new UpstreamError(url, `unreachable: ${(err as Error).message}`, { cause: err });
      }
    };
    const explicitAuth = Object.keys(up.headers ?? {}).some((h) => h.toLowerCase() === 'authorization');
    let res = await send(explicitAuth ? undefined : tokens.cached(image));
    if (res.status === 401 && !explicitAuth) {
      const challenge = res.headers.get('www-authenticate');
      await res.body?.cancel();
      const token = challenge ? await tokens.answer(image, challenge) : undefined;
      if (token === undefined) throw new UpstreamError(url, `401 without a Bearer challenge we can answer anonymously (${challenge ?? 'no WWW-Authenticate'})`, { status: 401 });
      res = await send(token);
    }
    return res;
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
    if (expected !== undefined && expected !== digest) throw new DigestMismatchError(expected, digest, `manifest ${image.registry}/${image.repository}:${reference}`);
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
      log.warn({ image: key, digest: remembered.digest, resolvedAt: remembered.resolvedAt, err: err.message }, 'upstream unreachable: serving the tag as last resolved');
      return hit;
    }
  }

  function fetchBlob(image: ImageName, digest: Digest): Promise<BlobInfo> {
    const running = inflight.get(digest);
    if (running) return running;
    const job = (async () => {
      const res = await upstreamGet(image, `blobs/${digest}`);
      if (!res.ok) {
        await res.body?.cancel();
        throw new UpstreamError(res.url, `HTTP ${res.status}`, { status: res.status });
      }
      const length = Number(res.headers.get('content-length') ?? NaN);
      log.info({ image: `${image.registry}/${image.repository}`, digest, bytes: Number.isFinite(length) ? length : undefined }, 'fetching blob from upstream');
      if (!res.body) throw new UpstreamError(res.url, 'empty response', { status: res.status });
      return store.put(digest, res.body, Number.isFinite(length) ? { expectedSize: length } : {});
    })().finally(() => inflight.delete(digest));
    inflight.set(digest, job);
    return job;
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
      const have = store.get(digest);
      if (have) {
        store.touch(digest);
        return have;
      }
      try {
        return await fetchBlob(image, digest);
      } catch (err) {
        if (err instanceof UpstreamError && err.status === 404) return { notFound: 'BLOB_UNKNOWN', message: `upstream ${image.registry} has no blob ${digest} in ${image.repository} (404)` };
        throw err;
      }
    },
  };
}
