// Talos machine configs: served only to the boot they were rendered for (its token, from the IP
// leased to its MAC or to another of the node's MACs). Anything else gets 403 and a timeline
// event. The config body never reaches a log or an event.
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import { nodeLogsUrl } from '../config/model.js';
import { BootTokenError, MaskinError } from '../errors.js';
import type { BootGrant } from '../nodes/tokens.js';
import { machineConfigContext } from '../talos/configContext.js';
import { renderMachineConfig } from '../talos/machineConfig.js';
import { normalizeMac } from '../manifest/model.js';
import { grantStanding } from '../nodes/netboot.js';
import type { HttpDeps } from './deps.js';

/** Checks the path token against the caller's address and the node's current desired state. */
export function grantFor(deps: HttpDeps, request: FastifyRequest<{ Params: { token: string } }>): BootGrant {
  const leasedIpOf = (mac: string): string | undefined => deps.leases.ipOf(mac);
  const siblingIps = (g: BootGrant): string[] =>
    (deps.directory().byId(g.nodeId)?.macs ?? [])
      .map(normalizeMac)
      .filter((mac) => mac !== g.mac)
      .flatMap((mac) => leasedIpOf(mac) ?? []);
  const grant = deps.tokens.check(request.params.token, request.ip, leasedIpOf, siblingIps);
  if (grantStanding(grant, deps.directory().byId(grant.nodeId), deps.nodes.get(grant.nodeId)) === 'superseded') throw new BootTokenError('superseded');
  return grant;
}

/** grantFor, for the config endpoint: a wipe boot's token fetches no machine config. */
function installGrantFor(deps: HttpDeps, request: FastifyRequest<{ Params: { token: string } }>): BootGrant {
  const grant = grantFor(deps, request);
  if (grant.purpose === 'wipe') throw new BootTokenError('not-an-install');
  return grant;
}

export const configRoutes: FastifyPluginAsync<HttpDeps> = async (app, deps) => {
  app.get<{ Params: { token: string } }>('/v1/boot/:token/config', { config: { limitGroup: 'boot-token' } }, async (request, reply) => {
    let grant: BootGrant;
    try {
      grant = installGrantFor(deps, request);
    } catch (err) {
      if (!(err instanceof BootTokenError)) throw err;
      deps.nodes.record({ ip: request.ip }, 'config-refused', { reason: err.reason, from: request.ip });
      request.refused('boot-token', { reason: err.reason, from: request.ip }, 'machine config refused');
      reply.code(403).type('text/plain');
      return `forbidden: ${err.reason}\n`;
    }
    const directory = deps.directory();
    const spec = directory.byId(grant.nodeId)!;
    const profile = directory.profileOf(spec);
    const mirror = deps.registry && { endpoint: deps.config.httpBaseUrl, registries: Object.keys(deps.config.images.registryUpstreams) };
    let body: string;
    try {
      body = renderMachineConfig(
        spec,
        profile,
        machineConfigContext(spec, profile, { directory, mirror, record: deps.nodes.get(spec.id), logs: nodeLogsUrl(deps.config) }),
      );
    } catch (err) {
      // A config that does not validate is never served; Talos keeps retrying, the operator sees why.
      if (!(err instanceof MaskinError)) throw err;
      deps.nodes.record({ mac: grant.mac }, 'config-refused', { reason: 'invalid-config', error: err.message });
      request.log.error({ node: spec.id, code: err.code, error: err.message }, 'machine config does not validate');
      reply.code(500).type('text/plain');
      return 'machine config invalid; see agent log\n';
    }
    const record = deps.nodes.recordFor(grant.mac);
    deps.nodes.markConfigFetched(record);
    deps.nodes.record({ mac: grant.mac }, 'config-served', { bytes: Buffer.byteLength(body), generation: grant.generation });
    request.served('config');
    reply.type('application/yaml').header('cache-control', 'no-store');
    return body;
  });
};
