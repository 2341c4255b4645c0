// /v2/: the read-only OCI distribution API over the registry mirror (agent/images/oci.ts).
// Only the pull side of the spec (opencontainers/distribution-spec spec.md "Pull"): the API check,
// manifests and blobs, GET and HEAD. Anything that would write answers 405 UNSUPPORTED.
// Names may hold slashes, so one wildcard route parses `<name>/(manifests|blobs)/<reference>`.
import { Readable } from 'node:stream';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { MaskinError } from '../errors.js';
import { DIGEST } from '../images/model.js';
import { isLive, isNotFound, isValidReference, type LiveBlob, type RegistryMirror } from '../images/oci.js';
import { etagOf, sendBlob } from './blobResponse.js';
import { registryFailureStatus, type OciErrorCode } from './errorStatus.js';

export interface RegistryRouteDeps {
  readonly mirror: RegistryMirror;
}

const API_VERSION = { 'docker-distribution-api-version': 'registry/2.0' };

/**
 * HEAD runs the GET handler; fastify then sets Content-Length from a buffer body (or 0 for none) but
 * keeps ours for a stream, so HEAD answers with an empty stream rather than opening the file.
 */

function ociError(reply: FastifyReply, status: number, code: OciErrorCode, message: string): FastifyReply {
  return reply
    .code(status)
    .headers(API_VERSION)
    .type('application/json')
    .send({ errors: [{ code, message }] });
}

/** Upstream and store failures: the status says whose fault, the message names the cause. */
function failure(reply: FastifyReply, err: unknown): FastifyReply {
  const mapped = registryFailureStatus(err instanceof MaskinError ? err.code : undefined);
  const message = err instanceof Error ? err.message : String(err);
  if (mapped) return ociError(reply, mapped.status, mapped.oci, message);
  reply.log.error({ err }, 'registry mirror failed');
  return ociError(reply, 500, 'UNKNOWN', message);
}

/**
 * A blob still downloading: the whole of it (Range is ignored meanwhile), or a cut connection if
 * its digest fails; HEAD answers with upstream's length without sending a byte.
 */
async function sendLive(request: FastifyRequest, reply: FastifyReply, blob: LiveBlob): Promise<FastifyReply> {
  reply.header('etag', etagOf(blob.digest)).type('application/octet-stream');
  if (request.method === 'HEAD') {
    blob.stream.destroy();
    // No Content-Length from upstream: the verified size, once there is one.
    const size = blob.size ?? (await blob.done).size;
    return reply.header('content-length', String(size)).send(Readable.from([]));
  }
  if (blob.size !== undefined) reply.header('content-length', String(blob.size));
  return reply.send(blob.stream);
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
        reply.headers({
          ...API_VERSION,
          'docker-content-digest': hit.digest,
          etag: etagOf(hit.digest),
          'content-type': hit.mediaType,
          'content-length': hit.bytes.byteLength,
        });
        if (request.headers['if-none-match'] === etagOf(hit.digest)) return reply.code(304).send();
        return reply.send(hit.bytes);
      }

      if (!DIGEST.test(reference)) return ociError(reply, 400, 'DIGEST_INVALID', `invalid digest ${JSON.stringify(reference)}; only sha256 is served`);
      const blob = await mirror.pull(image, reference);
      if (isNotFound(blob)) return ociError(reply, 404, blob.notFound, blob.message);
      reply.headers({ ...API_VERSION, 'docker-content-digest': blob.digest });
      // Stored blobs are served like every cached asset: ETag = digest, If-None-Match, Range, HEAD.
      if (!isLive(blob)) return sendBlob(request, reply, blob);
      return await sendLive(request, reply, blob);
    } catch (err) {
      return failure(reply, err);
    }
  });
};
