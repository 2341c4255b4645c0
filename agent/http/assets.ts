// Talos kernels/initramfs under /assets/ (Image Factory layout: <schematic>/<version>/kernel-<arch>)
// and the iPXE binaries under /boot/ for UEFI HTTP Boot. Both trees follow the path policy TFTP
// follows (agent/net/servedPath.ts): one canonical URL per file, and the file's real path must lie
// inside the real root, so a symlink out of it is refused, not followed. A pinned asset comes only
// from the verified cache (ETag = digest); one not cached yet is downloaded once and streamed to
// everyone asking meanwhile, its final bytes held back until the digest verifies. Unpinned assets
// and boot binaries come from their directory through @fastify/static (Range, HEAD, ETag,
// If-None-Match), with the Range header parsed by parseRange first.
import { realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import fastifyStatic from '@fastify/static';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { checkServedPath, isInsideRoot, type PathRefusal, type UrlPathCheck } from '../net/servedPath.js';
import { etagOf, parseRange, sendBlob } from './blobResponse.js';
import type { HttpDeps } from './deps.js';
import { PATH_REFUSAL_STATUS } from './errorStatus.js';
import { pathOf } from './guard.js';
import { redactUrl } from './redact.js';

type Resolved =
  | { readonly kind: 'file'; readonly root: string; readonly relative: string; readonly size: number }
  | { readonly kind: 'missing' }
  | { readonly kind: 'outside-root' };

/** Where `segments` lead below `root` once every symlink is resolved, if that is a file inside it. */
async function resolveInside(root: string, segments: readonly string[]): Promise<Resolved> {
  const realRoot = await realpath(root).catch(() => undefined);
  if (realRoot === undefined) return { kind: 'missing' };
  const real = await realpath(path.join(realRoot, ...segments)).catch(() => undefined);
  if (real === undefined) return { kind: 'missing' };
  if (!isInsideRoot(realRoot, real)) return { kind: 'outside-root' };
  const info = await stat(real).catch(() => undefined);
  if (info === undefined || !info.isFile()) return { kind: 'missing' };
  return { kind: 'file', root: realRoot, relative: path.relative(realRoot, real), size: info.size };
}

function refusePath(request: FastifyRequest, reply: FastifyReply, refusal: Exclude<PathRefusal, 'directory'>, reason: string) {
  request.refused(refusal);
  return reply.code(PATH_REFUSAL_STATUS[refusal]).send({ error: 'refused', reason });
}

function notFound(reply: FastifyReply): FastifyReply {
  reply.callNotFound();
  return reply;
}

/** The file `check` names below `root`, through @fastify/static, or the refusal. */
async function sendFromDir(request: FastifyRequest, reply: FastifyReply, root: string, check: UrlPathCheck): Promise<FastifyReply> {
  if (!check.ok) return check.refusal === 'directory' ? notFound(reply) : refusePath(request, reply, check.refusal, check.reason);
  const found = await resolveInside(root, check.segments);
  if (found.kind === 'missing') return notFound(reply);
  if (found.kind === 'outside-root') return refusePath(request, reply, 'outside-root', 'resolves outside the served directory');
  // @fastify/send parses Range on its own, leniently (`bytes=1e20-` as `bytes=1-`). It is handed
  // the range parseRange found, in a spelling both parse alike, or none: an invalid Range is
  // ignored (RFC 9110 §14.2), and `bytes=<size>-` is unsatisfiable to both (416). send still
  // applies If-Range (RFC 9110 §13.1.5) first.
  const range = parseRange(request.headers.range, found.size);
  if (range.kind === 'full') delete request.raw.headers.range;
  else request.raw.headers.range = range.kind === 'partial' ? `bytes=${range.start}-${range.end}` : `bytes=${found.size}-`;
  return reply.sendFile(found.relative, found.root);
}

/** The raw path below `prefix`, still percent-encoded: the policy decides on the bytes sent. */
const below = (request: FastifyRequest, prefix: string): string => pathOf(request.url).slice(prefix.length);

export const assetRoutes: FastifyPluginAsync<HttpDeps> = async (app, deps) => {
  // Before the static plugin registers, so its routes inherit it.
  app.addHook('onResponse', async (request, reply) => {
    const url = pathOf(request.url);
    if (!url.startsWith('/assets/') && !url.startsWith('/boot/')) return;
    if (request.method !== 'GET') return;
    // The path goes on the timeline and upstream: redacted like a log line.
    deps.nodes.record({ ip: request.ip }, 'asset-download', {
      path: redactUrl(url),
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
  app.route({
    method: ['GET', 'HEAD'],
    url: '/assets/*',
    handler: async (request, reply) => {
      const check = checkServedPath(below(request, '/assets/'));
      const pin = check.ok ? deps.images?.pins().get(check.segments.join('/')) : undefined;
      if (!pin || !deps.images) return sendFromDir(request, reply, deps.config.assetsDir, check);
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
  app.route({
    method: ['GET', 'HEAD'],
    url: '/boot/*',
    handler: async (request, reply) => sendFromDir(request, reply, deps.config.bootBinariesDir, checkServedPath(below(request, '/boot/'))),
  });
};
