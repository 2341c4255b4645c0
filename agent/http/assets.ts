// Talos kernels/initramfs under /assets/ (Image Factory layout: <schematic>/<version>/kernel-<arch>)
// and the iPXE binaries under /boot/ for UEFI HTTP Boot. A pinned asset comes only from the
// verified cache (ETag = digest); one not cached yet is downloaded once and streamed to everyone
// asking meanwhile, its final bytes held back until the digest verifies. Unpinned assets come from
// assetsDir through @fastify/static (Range, HEAD, ETag, If-None-Match).
import fastifyStatic from '@fastify/static';
import type { FastifyPluginAsync } from 'fastify';
import { etagOf, sendBlob } from './blobResponse.js';
import type { HttpDeps } from './deps.js';

export const assetRoutes: FastifyPluginAsync<HttpDeps> = async (app, deps) => {
  // Before the static plugins register, so their routes inherit it.
  app.addHook('onResponse', async (request, reply) => {
    const url = request.url.split('?')[0] ?? '';
    if (!url.startsWith('/assets/') && !url.startsWith('/boot/')) return;
    if (request.method !== 'GET') return;
    deps.nodes.record({ ip: request.ip }, 'asset-download', {
      path: url,
      status: reply.statusCode,
      bytes: Number(reply.getHeader('content-length') ?? 0),
      range: request.headers.range,
    });
  });
  await app.register(fastifyStatic, {
    root: deps.config.assetsDir,
    serve: false,
    index: false,
    list: false,
    dotfiles: 'deny',
    etag: true,
    lastModified: true,
    cacheControl: false,
  });
  app.route<{ Params: { '*': string } }>({
    method: ['GET', 'HEAD'],
    url: '/assets/*',
    handler: async (request, reply) => {
      const rel = request.params['*'];
      const pin = deps.images?.pins().get(rel);
      if (!pin || !deps.images) return reply.sendFile(rel);
      const blob = deps.images.store.get(pin.digest);
      if (blob) {
        deps.images.store.touch(pin.digest);
        return sendBlob(request, reply, blob);
      }
      const download = deps.images.fetch(pin.digest, { url: pin.url, ...(pin.size !== undefined ? { size: pin.size } : {}) });
      reply.type('application/octet-stream').header('etag', etagOf(pin.digest));
      if (pin.size !== undefined) reply.header('content-length', String(pin.size));
      if (request.method === 'HEAD') return reply.send();
      // Range is ignored while downloading: the whole verified file, or a cut connection.
      return reply.send(download.stream());
    },
  });
  await app.register(fastifyStatic, {
    root: deps.config.bootBinariesDir,
    prefix: '/boot/',
    decorateReply: false,
    index: false,
    list: false,
    dotfiles: 'deny',
    cacheControl: false,
  });
};
