// HTTP statuses for the agent's error codes (agent/errors.ts), for refused operator actions and for
// refused file paths: the one place that maps them. A code no route lists here gets that route's own default.
import type { ErrorCode } from '../errors.js';
import type { PathRefusal } from '../net/servedPath.js';
import type { ManualRefusal } from '../provision/executor.js';

/** PUT /v1/manifest: a refused signed manifest (ManifestRejectedError codes); anything else is 422. */
const PUSH_REJECTION_STATUS: Readonly<Partial<Record<ErrorCode, number>>> = {
  MASKIN_ERR_MANIFEST_TOO_LARGE: 413,
  MASKIN_ERR_MANIFEST_GARBAGE: 400,
  MASKIN_ERR_MANIFEST_UNKNOWN_KEY: 403,
  MASKIN_ERR_MANIFEST_BAD_SIGNATURE: 403,
  MASKIN_ERR_MANIFEST_WRONG_RACK: 422,
  MASKIN_ERR_MANIFEST_ROLLBACK: 409,
  MASKIN_ERR_MANIFEST_INVALID: 422,
};

export function pushRejectionStatus(code: ErrorCode | undefined): number {
  return (code === undefined ? undefined : PUSH_REJECTION_STATUS[code]) ?? 422;
}

/** Error codes of the OCI distribution spec that the /v2/ mirror answers with. */
export type OciErrorCode = 'MANIFEST_UNKNOWN' | 'BLOB_UNKNOWN' | 'NAME_UNKNOWN' | 'UNSUPPORTED' | 'DIGEST_INVALID' | 'UNAVAILABLE' | 'UNKNOWN';

/**
 * /v2/: an upstream or store failure; the status says whose fault. Anything else is the mirror's
 * own failure (500 UNKNOWN).
 */
const REGISTRY_FAILURE: Readonly<Partial<Record<ErrorCode, { readonly status: number; readonly oci: OciErrorCode }>>> = {
  MASKIN_ERR_IMAGE_DIGEST_MISMATCH: { status: 502, oci: 'DIGEST_INVALID' },
  MASKIN_ERR_IMAGE_UPSTREAM: { status: 503, oci: 'UNAVAILABLE' },
  MASKIN_ERR_IMAGE_UPSTREAM_NOT_FOUND: { status: 503, oci: 'UNAVAILABLE' },
  MASKIN_ERR_IMAGE_DISK_FULL: { status: 507, oci: 'UNKNOWN' },
};

export function registryFailureStatus(code: ErrorCode | undefined): { readonly status: number; readonly oci: OciErrorCode } | undefined {
  return code === undefined ? undefined : REGISTRY_FAILURE[code];
}

/** POST /v1/nodes/:id/actions: a refused operator action, as status and the body's `error`. */
export const REFUSAL_STATUS: Readonly<Record<ManualRefusal, { readonly status: 404 | 409; readonly error: 'not-found' | 'conflict' }>> = {
  'unknown-node': { status: 404, error: 'not-found' },
  'no-bmc': { status: 409, error: 'conflict' },
  'wrong-state': { status: 409, error: 'conflict' },
};

/**
 * /boot/ and /assets/: a path the path policy (agent/net/servedPath.ts) refuses. Another spelling
 * of a URL is the client's error (400); a hidden name or a symlink out of the root is not served
 * (403); a directory is no file (404).
 */
export const PATH_REFUSAL_STATUS: Readonly<Record<PathRefusal, 400 | 403 | 404>> = {
  'non-canonical': 400,
  hidden: 403,
  'outside-root': 403,
  directory: 404,
};
