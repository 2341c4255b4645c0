// Prometheus counters of the HTTP surface: every request by route and status class, iPXE scripts
// and machine configs served, requests refused (by reason), requests over a per-source rate limit
// (by route group), and refusal log lines held back by the per-source log budget. Labels come from
// the route table and the code, never from a client's URL.
import type { FastifyInstance } from 'fastify';
import type { Counter, Registry } from 'prom-client';
import { counter } from '../runtime/metrics.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Counts what this request was answered with: an iPXE script of that kind, or a machine config. */
    served(what: 'script', kind: string): void;
    served(what: 'config'): void;
  }
}

/** Why a request was refused; the `reason` label of maskin_http_refused_total. */
export type RefusalReason = 'not-found' | 'bad-url' | 'non-canonical' | 'directory' | 'hidden' | 'outside-root' | 'boot-token' | 'admin-auth' | 'push-auth';

export interface HttpMetrics {
  readonly requests: Counter<'route' | 'method' | 'code'>;
  readonly scripts: Counter<'script'>;
  readonly configs: Counter;
  readonly refused: Counter<'reason'>;
  readonly rateLimited: Counter<'group'>;
  readonly logLinesSuppressed: Counter;
}

/** One set per registry: the boot and admin listeners count into the same families. */
const perRegistry = new WeakMap<Registry, HttpMetrics>();

export function httpMetrics(registry?: Registry): HttpMetrics {
  const known = registry && perRegistry.get(registry);
  if (known) return known;
  const made = newHttpMetrics(registry);
  if (registry) perRegistry.set(registry, made);
  return made;
}

function newHttpMetrics(registry?: Registry): HttpMetrics {
  return {
    requests: counter(registry, {
      name: 'maskin_http_requests_total',
      help: 'HTTP requests answered, by route (the route pattern; unmatched for none), method and status class (2xx, 4xx, …)',
      labelNames: ['route', 'method', 'code'],
    }),
    scripts: counter(registry, {
      name: 'maskin_ipxe_scripts_total',
      help: 'iPXE node scripts served by GET /ipxe, by kind: install, rescue, wipe, boot-local, discovery, wait, wait-image, failed-image, refused',
      labelNames: ['script'],
    }),
    configs: counter(registry, { name: 'maskin_configs_served_total', help: 'Machine configs served to nodes with a valid boot token' }),
    refused: counter(registry, {
      name: 'maskin_http_refused_total',
      help: 'HTTP requests refused, by reason: not-found, bad-url, non-canonical, hidden, outside-root, boot-token, admin-auth, push-auth',
      labelNames: ['reason'],
    }),
    rateLimited: counter(registry, {
      name: 'maskin_http_rate_limited_total',
      help: 'HTTP requests answered 429 for being over their per-source limit, by route group: boot-token, admin, push',
      labelNames: ['group'],
    }),
    logLinesSuppressed: counter(registry, {
      name: 'maskin_http_log_lines_suppressed_total',
      help: 'Log lines about refused HTTP requests not written because their source had used its budget for the window',
    }),
  };
}

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS']);

/** request.served(), and the per-request counter, counted when the reply is sent. */
export function installCounting(app: FastifyInstance, metrics: HttpMetrics): void {
  app.decorateRequest('served', function (what: 'script' | 'config', kind?: string): void {
    if (what === 'config') metrics.configs.inc();
    else metrics.scripts.inc({ script: kind ?? 'unknown' });
  });
  app.addHook('onResponse', async (request, reply) => {
    metrics.requests.inc({
      route: request.routeOptions.url ?? 'unmatched',
      method: METHODS.has(request.method) ? request.method : 'other',
      code: `${Math.floor(reply.statusCode / 100)}xx`,
    });
  });
}
