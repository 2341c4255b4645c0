// fastify app factory: one plugin per concern. Only service.ts calls listen().
import Fastify, { type FastifyInstance } from 'fastify';
import type { HttpDeps } from './deps.js';
import { adminRoutes, healthRoutes } from './admin.js';
import { assetRoutes } from './assets.js';
import { configRoutes } from './configs.js';
import { eventRoutes } from './events.js';
import { frameworkErrorHandler, installGuards } from './guard.js';
import { ipxeRoutes } from './ipxe.js';
import { installLimits } from './limits.js';
import { httpMetrics, installCounting } from './metrics.js';
import { pushRoutes } from './push.js';
import { HttpLogController, httpSerializers, RefusalLog, redactingLogger } from './requestLog.js';
import { registryRoutes } from './registry.js';

/**
 * RFC 3986 query parsing: `+` stays `+`. iPXE's `:uristring` leaves `+` unencoded, so form-style
 * parsing (`+` → space) would record SMBIOS names wrongly ("i440FX + PIIX" as "i440FX   PIIX").
 */
export function parseQuery(query: string): Record<string, string> {
  const out: Record<string, string> = {};
  const decode = (text: string): string => {
    try {
      return decodeURIComponent(text);
    } catch {
      return text;
    }
  };
  for (const pair of query.split('&')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    const key = decode(eq < 0 ? pair : pair.slice(0, eq));
    if (!(key in out)) out[key] = eq < 0 ? '' : decode(pair.slice(eq + 1));
  }
  return out;
}

/** What both listeners share: the request log, per-source limits, URL guards and request counting. */
async function baseApp(deps: HttpDeps, component: 'http' | 'admin'): Promise<FastifyInstance> {
  const metrics = httpMetrics(deps.metrics);
  // Config and event URLs carry boot tokens: they must never reach a log line.
  const log = deps.log.child({ component }, { serializers: httpSerializers });
  const refusals = new RefusalLog(log, deps.config.httpLimits, metrics.logLinesSuppressed);
  const app = Fastify({
    loggerInstance: redactingLogger(log),
    logController: new HttpLogController(refusals),
    // Installer reports and admin actions are small; nothing else accepts a body.
    bodyLimit: 64 * 1024,
    return503OnClosing: true,
    // On stop, every connection closes at once, streaming ones too: boot clients retry, and a
    // download cut short must not hold the agent past systemd's stop timeout.
    forceCloseConnections: true,
    routerOptions: { querystringParser: parseQuery },
    frameworkErrors: frameworkErrorHandler(metrics, refusals),
  });
  // Sources whose window ended with lines held back get their summary line at the next tick, or on close.
  let flusher: NodeJS.Timeout | undefined;
  app.addHook('onReady', async () => {
    flusher = setInterval(() => refusals.flush(), deps.config.httpLimits.windowMs).unref();
  });
  app.addHook('onClose', async () => {
    clearInterval(flusher);
    refusals.flush(true);
  });
  await installLimits(app, deps.config.httpLimits, metrics);
  installGuards(app, metrics, refusals);
  installCounting(app, metrics);
  await app.register(healthRoutes, deps);
  return app;
}

/** The boot server on the provisioning network: scripts, assets, configs, installer events, manifest push, the registry mirror. */
export async function buildApp(deps: HttpDeps): Promise<FastifyInstance> {
  const app = await baseApp(deps, 'http');
  await app.register(ipxeRoutes, deps);
  await app.register(assetRoutes, deps);
  await app.register(configRoutes, deps);
  await app.register(eventRoutes, deps);
  await app.register(pushRoutes, deps);
  if (deps.registry) await app.register(registryRoutes, { mirror: deps.registry });
  return app;
}

/** The admin listener (admin.listen, never the provisioning network): the admin API, /metrics and the status page. */
export async function buildAdminApp(deps: HttpDeps): Promise<FastifyInstance> {
  const app = await baseApp(deps, 'admin');
  await app.register(adminRoutes, deps);
  return app;
}
