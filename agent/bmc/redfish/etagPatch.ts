// A PATCH guarded by If-Match the way real BMCs need it: send the ETag when the resource has one;
// on 412 (it changed under us, or the BMC rejects this ETag form) re-read and retry; on 428 (the
// BMC demands If-Match) re-read to get one. Bounded; the I/O is injected so the paths are testable.
import { BmcError } from '../../errors.js';
import { resourceEtag } from './policy.js';
import type { Json } from './json.js';

export interface EtagPatchIo {
  patch(path: string, body: Json, ifMatch: string | undefined): Promise<{ status: number; body: Json }>;
  /** A fresh GET of `path`: its ETag header and body. */
  read(path: string): Promise<{ etag: string | undefined; body: Json }>;
  readonly address: string;
  readonly op: string;
  /** The human text of a Redfish error body. */
  detail(body: Json): string;
}

const MAX_ATTEMPTS = 3;

/** Returns how many PATCHes were sent. Throws BmcError naming the last status when it never applied. */
export async function patchWithEtag(io: EtagPatchIo, path: string, body: Json, etag: string | undefined): Promise<number> {
  let ifMatch = etag;
  for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
    const res = await io.patch(path, body, ifMatch);
    if (res.status >= 200 && res.status < 300) return attempt;
    if (res.status === 412 || res.status === 428) {
      const fresh = await io.read(path);
      ifMatch = resourceEtag(fresh.etag, fresh.body);
      if (ifMatch === undefined && res.status === 428) {
        throw new BmcError(
          'protocol',
          io.address,
          io.op,
          `PATCH ${path} answered 428 (If-Match required) but the resource publishes no ETag in its header or @odata.etag`,
        );
      }
      continue;
    }
    const reason = res.status === 400 || res.status === 405 || res.status === 501 ? 'unsupported' : 'protocol';
    throw new BmcError(reason, io.address, io.op, `PATCH ${path} answered HTTP ${res.status}${io.detail(res.body)}`);
  }
  throw new BmcError(
    'protocol',
    io.address,
    io.op,
    `PATCH ${path} still answered 412/428 (ETag mismatch) after ${MAX_ATTEMPTS} attempts with a freshly read ETag`,
  );
}
