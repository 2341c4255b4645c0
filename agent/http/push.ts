// Central pushes a SignedManifest: PUT /v1/manifest with the push bearer token. Same verification
// path as a pull (the applier); unauthenticated requests get 401 and an event upstream.
import type { FastifyPluginAsync } from 'fastify';
import { bearerMatches } from './bearer.js';
import type { HttpDeps } from './deps.js';
import { pushRejectionStatus } from './errorStatus.js';

export const pushRoutes: FastifyPluginAsync<HttpDeps> = async (app, deps) => {
  const { pushToken, maxManifestBytes } = deps.config.uplink;
  app.addContentTypeParser(
    ['application/x-protobuf', 'application/octet-stream'],
    { parseAs: 'buffer', bodyLimit: maxManifestBytes + 1 },
    (_request, body, done) => done(null, body),
  );
  app.put<{ Body: Buffer }>('/v1/manifest', { bodyLimit: maxManifestBytes + 1, config: { limitGroup: 'push' } }, async (request, reply) => {
    if (!deps.manifest || pushToken === undefined) {
      reply.code(404);
      return { error: 'push-disabled', fix: 'set uplink.pushTokenFile (or MASKIN_PUSH_TOKEN) and rackId to accept pushed manifests' };
    }
    if (!bearerMatches(request.headers.authorization, pushToken)) {
      const why = request.headers.authorization ? 'wrong token' : 'no credentials';
      deps.manifest.refusedPush(request.ip, why);
      request.refused('push-auth', { from: request.ip, why }, 'manifest push refused');
      reply.code(401).header('www-authenticate', 'Bearer');
      return { error: 'unauthorized', fix: 'send Authorization: Bearer <push token>' };
    }
    if (!Buffer.isBuffer(request.body) || request.body.length === 0) {
      reply.code(400);
      return { error: 'bad-request', fix: 'PUT the SignedManifest bytes with Content-Type: application/x-protobuf' };
    }
    const result = await deps.manifest.offer(request.body, 'push');
    if (result.outcome === 'rejected') {
      reply.code(pushRejectionStatus(result.code));
      return { outcome: 'rejected', code: result.code, message: result.message };
    }
    return { outcome: result.outcome, version: result.version };
  });
};
