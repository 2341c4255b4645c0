// /v2/: the read-only OCI distribution API over the registry mirror (agent/images/oci.ts).
// Only the pull side of the spec (opencontainers/distribution-spec spec.md "Pull"): the API check,
// manifests and blobs, GET and HEAD. Anything that would write answers 405 UNSUPPORTED.
// Names may hold slashes, so one wildcard route parses `<name>/(manifests|blobs)/<reference>`.
import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { MaskinError } from '../errors.js';
import { DIGEST } from '../images/model.js';
import { isNotFound, isValidReference, type RegistryMirror } from '../images/oci.js';

export interface RegistryRouteDeps {
  readonly mirror: RegistryMirror;
}

type OciErrorCode = 'MANIFEST_UNKNOWN' | 'BLOB_UNKNOWN' | 'NAME_UNKNOWN' | 'UNSUPPORTED' | 'DIGEST_INVALID' | 'UNAVAILABLE' | 'UNKNOWN';

const API_VERSION = { 'docker-distribution-api-version': 'registry/2.0' };

/**
 * HEAD runs the GET handler; fastify then sets Content-Length from a buffer body (or 0 for none) but
 * keeps ours for a stream, so HEAD answers with an empty stream rather than opening the file.
 */
const noBody = (): Readable => Readable.from([]);

function ociError(reply: FastifyReply, status: number, code: OciErrorCode, message: string): FastifyReply {
  return reply.code(status).headers(API_VERSION).type('application/json').send({ errors: [{ code, message }] });
}

/** Upstream and store failures: the status says whose fault, the message names the cause. */
function failure(reply: FastifyReply, err: unknown): FastifyReply {
  const code = err instanceof MaskinError ? err.code : '';
  const message = err instanceof Error ? err.message : String(err);
  if (code === 'MASKIN_ERR_IMAGE_DIGEST_MISMATCH') return ociError(reply, 502, 'DIGEST_INVALID', message);
  if (code === 'MASKIN_ERR_IMAGE_UPSTREAM' || code === 'MASKIN_ERR_IMAGE_UPSTREAM_NOT_FOUND') return ociError(reply, 503, 'UNAVAILABLE', message);
  if (code === 'MASKIN_ERR_IMAGE_DISK_FULL') return ociError(reply, 507, 'UNKNOWN', message);
  reply.log.error({ err }, 'registry mirror failed');
  return ociError(reply, 500, 'UNKNOWN', message);
}

/** `bytes=a-b`, `bytes=a-`, `bytes=-n` against `size`; undefined for no/multi/unsatisfiable ranges. */
export function parseRange(header: string | undefined, size: number): { start: number; end: number } | 'unsatisfiable' | undefined {
  const m = header ? /^bytes=(\d*)-(\d*)$/.exec(header.trim()) : null;
  if (!m || (m[1] === '' && m[2] === '')) return undefined;
  let start: number;
  let end: number;
  if (m[1] === '') {
    start = Math.max(0, size - Number(m[2]));
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  }
  return start > end || start >= size ? 'unsatisfiable' : { start, end };
}

export const registryRoutes: FastifyPluginAsync<RegistryRouteDeps> = async (app, { mirror }) => {
  const apiCheck = async (_req: FastifyRequest, reply: FastifyReply) => reply.headers(API_VERSION).type('application/json').send({});
  app.get('/v2', apiCheck);
  app.get('/v2/', apiCheck);

  app.route({
    method: ['PUT', 'POST', 'PATCH', 'DELETE'],
    url: '/v2/*',
    // onRequest: refuse before fastify reads or content-type-checks an upload body.
    onRequest: async (request, reply) => ociError(reply, 405, 'UNSUPPORTED', `read-only mirror: ${request.method} is not supported`),
    handler: async () => undefined,
  });

  app.get('/v2/*', async (request, reply) => {
    const rest = (request.params as { '*': string })['*'];
    const ns = (request.query as Record<string, string | undefined>)['ns'];
    const m = /^(.+)\/(manifests|blobs)\/([^/]+)$/.exec(rest);
    if (!m) return ociError(reply, 404, 'UNSUPPORTED', `read-only mirror: only /v2/<name>/manifests/<reference> and /v2/<name>/blobs/<digest> are served`);
    const [, name = '', kind, reference = ''] = m;
    const image = mirror.locate(name, ns);
    if (!image) return ociError(reply, 404, 'NAME_UNKNOWN', `no mirrored registry serves ${ns ? `${ns}/` : ''}${name}`);

    try {
      if (kind === 'manifests') {
        if (!isValidReference(reference)) return ociError(reply, 404, 'MANIFEST_UNKNOWN', `invalid tag or digest ${JSON.stringify(reference)}`);
        const hit = await mirror.manifest(image, reference);
        if (isNotFound(hit)) return ociError(reply, 404, hit.notFound, hit.message);
        reply.headers({ ...API_VERSION, 'docker-content-digest': hit.digest, etag: `"${hit.digest}"`, 'content-type': hit.mediaType, 'content-length': hit.bytes.byteLength });
        if (request.headers['if-none-match'] === `"${hit.digest}"`) return reply.code(304).send();
        return reply.send(hit.bytes);
      }

      if (!DIGEST.test(reference)) return ociError(reply, 400, 'DIGEST_INVALID', `invalid digest ${JSON.stringify(reference)}; only sha256 is served`);
      const blob = await mirror.blob(image, reference);
      if (isNotFound(blob)) return ociError(reply, 404, blob.notFound, blob.message);
      reply.headers({ ...API_VERSION, 'docker-content-digest': blob.digest, etag: `"${blob.digest}"`, 'accept-ranges': 'bytes', 'content-type': 'application/octet-stream' });
      if (request.headers['if-none-match'] === `"${blob.digest}"`) return reply.code(304).send();
      const range = parseRange(request.headers.range, blob.size);
      if (range === 'unsatisfiable') return reply.code(416).header('content-range', `bytes */${blob.size}`).send();
      if (range) {
        reply.code(206).headers({ 'content-range': `bytes ${range.start}-${range.end}/${blob.size}`, 'content-length': range.end - range.start + 1 });
        return reply.send(request.method === 'HEAD' ? noBody() : createReadStream(blob.path, range));
      }
      reply.header('content-length', blob.size);
      return reply.send(request.method === 'HEAD' ? noBody() : createReadStream(blob.path));
    } catch (err) {
      return failure(reply, err);
    }
  });
};
