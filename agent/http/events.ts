// Installer reports: POST /v1/boot/<token>/events with a small JSON object {step, ...}.
import type { FastifyPluginAsync } from 'fastify';
import { BootTokenError } from '../errors.js';
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

export const eventRoutes: FastifyPluginAsync<HttpDeps> = async (app, deps) => {
  app.post<{ Params: { token: string }; Body: unknown }>('/v1/boot/:token/events', async (request, reply) => {
    let grant;
    try {
      grant = grantFor(deps, request);
    } catch (err) {
      if (!(err instanceof BootTokenError)) throw err;
      deps.nodes.record({ ip: request.ip }, 'config-refused', { reason: err.reason, endpoint: 'events', from: request.ip });
      reply.code(403);
      return { error: 'forbidden', reason: err.reason };
    }
    const body = request.body;
    if (typeof body !== 'object' || body === null || Array.isArray(body) || typeof (body as { step?: unknown }).step !== 'string' || !STEP.test((body as { step: string }).step)) {
      reply.code(400);
      return { error: 'bad-request', fix: 'send a JSON object with a "step" string such as "install-complete"' };
    }
    const detail = cleanDetail(body as Record<string, unknown>);
    const step = detail.step as string;
    const record = deps.nodes.recordFor(grant.mac);
    deps.nodes.record({ mac: grant.mac }, 'installer-event', detail);
    if (step === 'install-complete') {
      deps.nodes.record({ mac: grant.mac }, 'install-reported', detail);
      deps.nodes.transition(record, 'installed', 'installer reported success');
    } else if (step === 'install-failed') {
      deps.nodes.record({ mac: grant.mac }, 'install-failed', detail);
    }
    reply.code(202);
    return { accepted: true };
  });
};
