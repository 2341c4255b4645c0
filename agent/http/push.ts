// Central pushes a SignedManifest: PUT /v1/manifest with the push bearer token. Same verification
// path as a pull (the applier); unauthenticated requests get 401 and an event upstream.
import type { FastifyPluginAsync } from 'fastify';
import { bearerMatches } from './bearer.js';
import type { HttpDeps } from './deps.js';

/** Rejection codes (agent/errors.ts ManifestRejectedError) to HTTP status. */
const STATUS_BY_CODE: Readonly<Record<string, number>> = {
  MASKIN_ERR_MANIFEST_TOO_LARGE: 413,
  MASKIN_ERR_MANIFEST_GARBAGE: 400,
  MASKIN_ERR_MANIFEST_UNKNOWN_KEY: 403,
  MASKIN_ERR_MANIFEST_BAD_SIGNATURE: 403,
  MASKIN_ERR_MANIFEST_WRONG_RACK: 422,
  MASKIN_ERR_MANIFEST_ROLLBACK: 409,
  MASKIN_ERR_MANIFEST_INVALID: 422,
};

export const pushRoutes: FastifyPluginAsync<HttpDeps> = async (app, deps) => {
  const { pushToken, maxManifestBytes } = deps.config.uplink;
  app.addContentTypeParser(['application/x-protobuf', 'application/octet-stream'], { parseAs: 'buffer', bodyLimit: maxManifestBytes + 1 }, (_request, body, done) => done(null, body));
  app.put<{ Body: Buffer }>('/v1/manifest', { bodyLimit: maxManifestBytes + 1 }, async (request, reply) => {
    if (!deps.manifest || pushToken === undefined) {
      reply.code(404);
      return { error: 'push-disabled', fix: 'set uplink.pushTokenFile (or MASKIN_PUSH_TOKEN) and rackId to accept pushed manifests' };
    }
    if (!bearerMatches(request.headers.authorization, pushToken)) {
      const why = request.headers.authorization ? 'wrong token' : 'no credentials';
      deps.manifest.refusedPush(request.ip, why);
      request.log.warn({ from: request.ip, why }, 'manifest push refused');
      reply.code(401).header('www-authenticate', 'Bearer');
      return { error: 'unauthorized', fix: 'send Authorization: Bearer <push token>' };
    }
    if (!Buffer.isBuffer(request.body) || request.body.length === 0) {
      reply.code(400);
      return { error: 'bad-request', fix: 'PUT the SignedManifest bytes with Content-Type: application/x-protobuf' };
    }
    const result = await deps.manifest.offer(request.body, 'push');
    if (result.outcome === 'rejected') {
      reply.code(STATUS_BY_CODE[result.code ?? ''] ?? 422);
      return { outcome: 'rejected', code: result.code, message: result.message };
    }
    return { outcome: result.outcome, version: result.version };
  });
};
