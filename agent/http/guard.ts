// App-wide refusals of outside input, before and besides the routes. A URL path that is not the
// canonical spelling of one (agent/net/servedPath.ts: RFC 3986 §6.2.2 normal form, no dot or empty
// segments) gets 400 before any route runs, so every resource answers to exactly one URL; a URL no
// route serves gets 404 without echoing it back; a URL the router cannot decode gets 400. Each one,
// and every refusal a route makes through request.refused(), counts in maskin_http_refused_total.
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { parseUrlPath } from '../net/servedPath.js';
import type { HttpMetrics, RefusalReason } from './metrics.js';
import type { RefusalLog } from './requestLog.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Counts this request as refused for `reason`; with a message, also logs that at warn, within the source's log budget. */
    refused(reason: RefusalReason, fields?: Record<string, unknown>, msg?: string): void;
  }
}

/** The raw path of a request target, without its query. */
export function pathOf(url: string): string {
  const q = url.indexOf('?');
  return q < 0 ? url : url.slice(0, q);
}

export function installGuards(app: FastifyInstance, metrics: HttpMetrics, refusals: RefusalLog): void {
  app.decorateRequest('refused', function (this: FastifyRequest, reason: RefusalReason, fields?: Record<string, unknown>, msg?: string): void {
    metrics.refused.inc({ reason });
    if (msg !== undefined && refusals.admit(this.ip)) this.log.warn({ ...fields, refusal: reason }, msg);
  });
  app.addHook('onRequest', async (request, reply) => {
    const check = parseUrlPath(pathOf(request.url));
    if (check.ok) return;
    request.refused('non-canonical');
    return reply.code(400).send({ error: 'bad-request', reason: `not a canonical URL: ${check.reason}`, fix: 'request the URL exactly as the agent gave it' });
  });
  app.setNotFoundHandler(async (request, reply) => {
    request.refused('not-found');
    return reply.code(404).send({ error: 'not-found' });
  });
}

/**
 * Fastify's frameworkErrors: the router could not decode the URL (FST_ERR_BAD_URL) or a path
 * parameter is over its length limit (FST_ERR_MAX_PARAM_LENGTH). The request object fastify builds
 * for these carries no decorators and gets no completion line, so this counts and logs itself.
 */
export function frameworkErrorHandler(metrics: HttpMetrics, refusals: RefusalLog): (error: FastifyError, request: FastifyRequest, reply: FastifyReply) => void {
  return (error, request, reply) => {
    const status = error.statusCode ?? 400;
    metrics.refused.inc({ reason: 'bad-url' });
    if (refusals.admit(request.ip)) request.log.info({ req: request, res: { statusCode: status }, refusal: 'bad-url' }, 'URL refused');
    void reply.code(status).send({ error: 'bad-request', reason: 'the URL cannot be decoded, or a part of it is too long' });
  };
}
