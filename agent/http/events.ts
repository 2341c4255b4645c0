// Installer reports: POST /v1/boot/<token>/events with a small JSON object {step, ...}.
import type { FastifyPluginAsync } from 'fastify';
import { BootTokenError } from '../errors.js';
import { planReport } from '../nodes/netboot.js';
import type { HttpDeps } from './deps.js';
import { grantFor } from './configs.js';

const STEP = /^[a-z][a-z0-9-]{0,47}$/;

/** Keeps only short scalar fields: reports are untrusted input and end up in the timeline. */
function cleanDetail(body: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(body).slice(0, 16)) {
    if (!/^[A-Za-z][A-Za-z0-9_-]{0,31}$/.test(key)) continue;
    if (typeof value === 'string') out[key] = value.slice(0, 256);
    else if (typeof value === 'number' || typeof value === 'boolean') out[key] = value;
  }
  return out;
}

/** The report's detail, or undefined unless the body is a JSON object with a valid `step`. */
function reportDetail(body: unknown): Record<string, unknown> | undefined {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return undefined;
  const step = (body as { step?: unknown }).step;
  return typeof step === 'string' && STEP.test(step) ? cleanDetail(body as Record<string, unknown>) : undefined;
}

export const eventRoutes: FastifyPluginAsync<HttpDeps> = async (app, deps) => {
  app.post<{ Params: { token: string }; Body: unknown }>('/v1/boot/:token/events', { config: { limitGroup: 'boot-token' } }, async (request, reply) => {
    let grant;
    try {
      grant = grantFor(deps, request);
    } catch (err) {
      if (!(err instanceof BootTokenError)) throw err;
      deps.nodes.record({ ip: request.ip }, 'config-refused', { reason: err.reason, endpoint: 'events', from: request.ip });
      request.refused('boot-token', { reason: err.reason, from: request.ip }, 'installer report refused');
      reply.code(403);
      return { error: 'forbidden', reason: err.reason };
    }
    const detail = reportDetail(request.body);
    if (!detail) {
      reply.code(400);
      return { error: 'bad-request', fix: 'send a JSON object with a "step" string such as "install-complete"' };
    }
    const record = deps.nodes.recordFor(grant.mac);
    const plan = planReport(detail, record, grant.purpose);
    for (const s of plan.steps) deps.nodes.record({ mac: grant.mac }, s.step, s.detail);
    if (plan.transition) deps.nodes.transition(record, plan.transition.next, plan.transition.why);
    if (plan.wiped) deps.nodes.markWiped(record, 'installer report');
    reply.code(202);
    return { accepted: true };
  });
};
