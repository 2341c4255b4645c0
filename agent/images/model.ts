// The verified, content-addressed image cache: what its parts promise each other.
// Every byte a node receives from the cache has been verified against its sha256 digest first.
import type { Readable } from 'node:stream';

/** `sha256:<64 lower-case hex>` */
export type Digest = string;

export const DIGEST = /^sha256:[0-9a-f]{64}$/;

export interface BlobInfo {
  readonly digest: Digest;
  readonly size: number;
  /** OCI media type when known (manifests, indexes, layers). */
  readonly mediaType?: string;
  /** Absolute path of the verified file; never a partial file. */
  readonly path: string;
  readonly storedAt: string;
  readonly lastUsedAt: string;
}

export interface PutOptions {
  readonly mediaType?: string;
  readonly expectedSize?: number;
  /**
   * Called after each chunk reaches the temp file (unverified, not yet fsynced): lets the fetcher
   * stream a running download to readers from disk rather than holding it in memory per reader.
   */
  readonly onWrite?: (tempPath: string, written: number) => void;
}

export interface ContentStore {
  /** A verified blob, or undefined. */
  get(digest: Digest): BlobInfo | undefined;
  /**
   * Streams `source` into a temp file, fsyncs, verifies the sha256 equals `digest`, then renames
   * it into place and indexes it. Throws DigestMismatchError (expected vs got), DiskFullError, or
   * the source's error; nothing partial is ever visible.
   */
  put(digest: Digest, source: AsyncIterable<Uint8Array>, opts?: PutOptions): Promise<BlobInfo>;
  /** Records a use, for least-recently-used eviction. */
  touch(digest: Digest): void;
  /** Replaces the pinned set (digests the current or last-good manifest references). */
  pin(digests: Iterable<Digest>): void;
  list(): readonly BlobInfo[];
  totalBytes(): number;
}

export interface DownloadProgress {
  readonly digest: Digest;
  readonly received: number;
  readonly total?: number;
}

/** One upstream download of one digest, shared by everyone who asks while it runs. */
export interface Download {
  readonly digest: Digest;
  progress(): DownloadProgress;
  /**
   * The bytes as they arrive, holding back the final chunk until the digest verifies; a failed
   * verification destroys the stream with the error, so no reader ever gets a complete
   * unverified file.
   */
  stream(): Readable;
  /** Resolves with the stored blob once verified; rejects on mismatch or upstream failure. */
  readonly done: Promise<BlobInfo>;
}
