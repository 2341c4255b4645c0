// Per-source request limits (@fastify/rate-limit) on the routes a guesser floods: the boot-token
// routes (config and installer reports share one budget), the admin API and the manifest push. A
// route joins a group through its config (`config: { limitGroup }`). The limit is checked on
// request, before any token check or body, so a source over it learns nothing more, whatever it
// sends; it gets 429 with Retry-After (RFC 6585 §4) and a body saying the limit. Loopback callers
// are the agent host itself (the CLI) and are never limited.
import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { HttpLimits } from '../config/model.js';
import { isLoopback } from '../net/ipv4.js';
import type { HttpMetrics } from './metrics.js';

export type LimitGroup = 'boot-token' | 'admin' | 'push';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The per-source limit this route counts against; none when absent. */
    limitGroup?: LimitGroup;
  }
}

const GROUPS: Readonly<Record<LimitGroup, { readonly what: string; readonly max: (l: HttpLimits) => number }>> = {
  'boot-token': { what: '/v1/boot/<token>/config and /events', max: (l) => l.bootToken },
  admin: { what: 'the admin API', max: (l) => l.admin },
  push: { what: 'PUT /v1/manifest', max: (l) => l.push },
};

export async function installLimits(app: FastifyInstance, limits: HttpLimits, metrics: HttpMetrics): Promise<void> {
  await app.register(rateLimit, { global: false });
  const check = new Map(
    (Object.keys(GROUPS) as LimitGroup[]).map((group) => [
      group,
      app.createRateLimit({
        max: GROUPS[group].max(limits),
        timeWindow: limits.windowMs,
        keyGenerator: (request: FastifyRequest) => request.ip,
        allowList: (request: FastifyRequest) => isLoopback(request.ip),
      }),
    ]),
  );
  app.addHook('onRequest', async (request, reply) => {
    const group = request.routeOptions.config.limitGroup;
    if (group === undefined) return;
    const verdict = await check.get(group)!(request);
    if (verdict.isAllowed || !verdict.isExceeded) return;
    metrics.rateLimited.inc({ group });
    const fix = `at most ${verdict.max} requests to ${GROUPS[group].what} per ${limits.windowMs / 1000} s from one address; retry in ${verdict.ttlInSeconds} s`;
    return reply.code(429).header('retry-after', String(verdict.ttlInSeconds)).send({ error: 'rate-limited', fix });
  });
}
