// Static files: Talos kernels/initramfs under /assets/ (Image Factory layout:
// <schematic>/<version>/kernel-<arch>), and the iPXE binaries under /boot/ for UEFI HTTP Boot.
// @fastify/static gives Range, HEAD, ETag and If-None-Match.
import fastifyStatic from '@fastify/static';
import type { FastifyPluginAsync } from 'fastify';
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
    prefix: '/assets/',
    decorateReply: false,
    index: false,
    list: false,
    dotfiles: 'deny',
    etag: true,
    lastModified: true,
    cacheControl: false,
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
