// A ContentStore stand-in over a temp dir: verifies like the real one (DigestMismatchError, nothing
// kept on mismatch) but indexes in memory. `puts` counts completed puts, `failed` refused ones.
import { createHash } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { DigestMismatchError } from '../../agent/errors.js';
import type { BlobInfo, ContentStore, Digest, PutOptions } from '../../agent/images/model.js';

export interface FakeContentStore extends ContentStore {
  readonly puts: Digest[];
  readonly failed: Digest[];
  readonly touched: Digest[];
}

export function fakeContentStore(dir: string): FakeContentStore {
  const blobs = new Map<Digest, BlobInfo>();
  const puts: Digest[] = [];
  const failed: Digest[] = [];
  const touched: Digest[] = [];
  return {
    puts,
    failed,
    touched,
    get: (digest) => blobs.get(digest),
    async put(digest: Digest, source: AsyncIterable<Uint8Array>, opts: PutOptions = {}) {
      const chunks: Buffer[] = [];
      for await (const chunk of source) chunks.push(Buffer.from(chunk));
      const bytes = Buffer.concat(chunks);
      const got = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
      if (got !== digest) {
        failed.push(digest);
        throw new DigestMismatchError(digest, got, `blob ${digest}`);
      }
      const file = path.join(dir, digest.slice('sha256:'.length));
      await writeFile(file, bytes);
      const at = new Date().toISOString();
      const info: BlobInfo = {
        digest,
        size: bytes.byteLength,
        path: file,
        storedAt: at,
        lastUsedAt: at,
        ...(opts.mediaType ? { mediaType: opts.mediaType } : {}),
      };
      blobs.set(digest, info);
      puts.push(digest);
      return info;
    },
    touch: (digest) => void touched.push(digest),
    pin: () => undefined,
    list: () => [...blobs.values()],
    totalBytes: () => [...blobs.values()].reduce((n, b) => n + b.size, 0),
  };
}
