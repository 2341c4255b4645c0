// Operator API: node list and detail, operator actions on nodes, health, metrics, and the status
// page (ui.ts). Loopback callers, a bearer token, or a status page session (whose actions carry
// its CSRF token).
import type { DhcpWatchStatus } from '../dhcp/probe.js';
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { CacheStatus } from '../images/status.js';
import type { NodeSummary } from '../nodes/format.js';
import { isLoopback } from '../net/ipv4.js';
import { findNode, withNeverSeen } from '../nodes/lookup.js';
import type { NodeRecord } from '../nodes/model.js';
import { isManualAction } from '../provision/plan.js';
import { agentVersion } from '../runtime/version.js';
import type { UplinkStatus } from '../uplink/status.js';
import { createSessions, sameSecret, type Sessions } from '../ui/sessions.js';
import { bearerMatches } from './bearer.js';
import { uiEvents, uiRoutes } from './ui.js';
import type { HttpDeps } from './deps.js';
import { REFUSAL_STATUS } from './errorStatus.js';

const SAFE_METHODS = new Set(['GET', 'HEAD']);

function authorized(request: FastifyRequest, token: string | undefined, sessions: Sessions): boolean {
  // A browser says so (Sec-Fetch-Site, Fetch Metadata): a page on this host may be any site's, so
  // a browser's request is not trusted for coming from loopback; it needs a session (or the token).
  const browser = request.headers['sec-fetch-site'] !== undefined;
  if (!browser && isLoopback(request.ip)) return true;
  if (token !== undefined && bearerMatches(request.headers.authorization, token)) return true;
  // A session cookie alone never changes anything: a cross-site form could send it (SameSite=Strict aside).
  const session = sessions.fromCookie(request.headers.cookie);
  if (!session) return false;
  const csrf = request.headers['x-maskin-csrf'];
  return SAFE_METHODS.has(request.method) || (typeof csrf === 'string' && sameSecret(csrf, session.csrf));
}

/** GET /v1/nodes's body: every record and every manifest node without one. */
export function nodeList(deps: Pick<HttpDeps, 'nodes' | 'directory'>): { nodes: NodeSummary[] } {
  return { nodes: withNeverSeen(deps.nodes.list().map(summary), deps.directory()) };
}

/** GET /v1/status's body. */
export function agentStatus(deps: HttpDeps): AgentStatus {
  return {
    agentId: deps.config.agentId,
    rackId: deps.config.rackId,
    startedAt: deps.startedAt.toISOString(),
    nodes: deps.nodes.count(),
    ...(deps.uplinkStatus?.() ?? {}),
    ...(deps.cacheStatus ? { cache: deps.cacheStatus() } : {}),
    ...(deps.dhcpStatus ? { dhcp: deps.dhcpStatus() } : {}),
  };
}

/** GET /v1/status: this agent, and the uplink and image cache views when the agent runs them. */
export interface AgentStatus extends Partial<UplinkStatus> {
  readonly agentId: string;
  readonly rackId?: string | undefined;
  readonly startedAt: string;
  readonly nodes: number;
  readonly cache?: CacheStatus;
  /** The DHCP mode in force and the other DHCP servers heard on the segment. */
  readonly dhcp?: DhcpWatchStatus;
}

export function summary(record: NodeRecord): NodeSummary {
  const last = record.timeline.at(-1);
  return {
    id: record.id,
    known: record.known,
    state: record.state,
    generation: record.generation,
    macs: record.macs,
    ...(record.facts.ip !== undefined ? { ip: record.facts.ip } : {}),
    ...(record.facts.firmware !== undefined ? { firmware: record.facts.firmware } : {}),
    ...(last ? { lastStep: { at: last.at, step: last.step } } : {}),
    ...(record.lifecycle
      ? {
          lifecycle: {
            ...(record.lifecycle.step ? { step: record.lifecycle.step } : {}),
            since: record.lifecycle.since,
            attempt: record.lifecycle.attempt,
            ...(record.lifecycle.lastError ? { lastError: record.lifecycle.lastError } : {}),
            ...(record.lifecycle.failure ? { failure: record.lifecycle.failure } : {}),
          },
        }
      : {}),
  };
}

/** GET /healthz, on both listeners: open and cheap (a count, never a walk over every record). */
export const healthRoutes: FastifyPluginAsync<HttpDeps> = async (app, deps) => {
  app.get('/healthz', async () => ({
    status: 'ok',
    agentId: deps.config.agentId,
    version: agentVersion(),
    startedAt: deps.startedAt.toISOString(),
    nodes: deps.nodes.count(),
  }));
};

export const adminRoutes: FastifyPluginAsync<HttpDeps> = async (app, deps) => {
  const sessions = createSessions();
  await app.register(uiRoutes, { ...deps, sessions });

  app.register(async (admin) => {
    // Every admin route counts against one per-source limit (limits.ts), checked before this guard.
    admin.addHook('onRoute', (route) => {
      route.config = { ...route.config, limitGroup: 'admin' };
    });
    admin.addHook('onRequest', async (request, reply) => {
      if (!authorized(request, deps.config.adminToken, sessions)) {
        request.refused('admin-auth', { from: request.ip }, 'admin request refused');
        await reply.code(401).send({ error: 'unauthorized', fix: 'call from the agent host, or send Authorization: Bearer <admin token>' });
      }
    });
    // Records, and the manifest's nodes that have none yet (state never-seen).
    admin.get('/v1/nodes', async () => nodeList(deps));
    // :id is a node id, one of its MACs or its manifest hostname.
    const lookup = (key: string) => findNode(key, deps.nodes, deps.directory());
    const notFound = (key: string) => ({
      error: 'not-found',
      reason: `no node ${key}: not a node id, MAC or manifest hostname this agent knows`,
      fix: 'list nodes with GET /v1/nodes (maskin-agent nodes)',
    });
    admin.get<{ Params: { id: string } }>('/v1/nodes/:id', async (request, reply) => {
      const record = lookup(request.params.id);
      if (!record) {
        reply.code(404);
        return notFound(request.params.id);
      }
      // The node's bound DHCP leases, by MAC (from the lease table, which outlives restarts).
      const leases = record.macs.flatMap((mac) => {
        const ip = deps.leases.ipOf(mac);
        return ip === undefined ? [] : [{ mac, ip }];
      });
      return { ...record, leases };
    });
    admin.get<{ Params: { id: string }; Querystring: { limit?: string } }>('/v1/nodes/:id/console', async (request, reply) => {
      const record = lookup(request.params.id);
      if (!record) {
        reply.code(404);
        return notFound(request.params.id);
      }
      if (!deps.console) {
        reply.code(404);
        return { error: 'not-found', reason: 'the node log sink is off', fix: 'set nodeLogs.enabled: true in the agent config' };
      }
      const limit = Number(request.query.limit ?? 'NaN');
      const { lines, dropped } = deps.console.lines(record.id, Number.isInteger(limit) && limit > 0 ? limit : undefined);
      return { node: record.id, lines, dropped };
    });
    admin.post<{ Params: { id: string }; Body: unknown }>('/v1/nodes/:id/actions', async (request, reply) => {
      const action = (request.body as { action?: unknown } | null)?.action;
      if (!isManualAction(action)) {
        reply.code(400);
        return { error: 'bad-request', fix: 'send {"action": "provision" | "reprovision" | "power-off" | "rescue" | "exit-rescue"}' };
      }
      if (!deps.provisioner) {
        reply.code(404);
        return { error: 'not-found', fix: 'this agent runs no BMC provisioner' };
      }
      const node = lookup(request.params.id)?.id ?? request.params.id;
      const result = deps.provisioner.manual(node, action);
      request.log.info({ node, action, accepted: result.accepted, from: request.ip }, 'operator action');
      if (!result.accepted) {
        const { status, error } = REFUSAL_STATUS[result.refusal];
        reply.code(status);
        return { error, reason: result.reason };
      }
      reply.code(202);
      return { accepted: true, node, action };
    });
    admin.get('/v1/status', async (): Promise<AgentStatus> => agentStatus(deps));
    await admin.register(uiEvents, deps);
    admin.get('/metrics', async (_request, reply) => {
      reply.type(deps.metrics.contentType);
      return deps.metrics.metrics();
    });
  });
};
