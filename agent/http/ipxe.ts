// iPXE endpoints: /boot.ipxe (what DHCP hands a client already running iPXE) chains to /ipxe
// with the identity iPXE reports; /ipxe picks the node by MAC and renders its script.
import type { FastifyPluginAsync } from 'fastify';
import { normalizeMac } from '../manifest/model.js';
import { imagesNotReady } from '../images/readiness.js';
import { decideBoot } from '../nodes/bootPlan.js';
import type { NodeFacts } from '../nodes/model.js';
import { renderBootLocalScript, renderChainScript, renderDiscoveryScript, renderImageWaitScript, renderInstallScript, renderNoMacScript, renderWaitScript } from '../ipxe/render.js';
import type { HttpDeps } from './deps.js';

/** The chain script's query: the MAC plus the SMBIOS facts iPXE expands (see renderChainScript). */
type IpxeQuery = { mac?: string } & Pick<NodeFacts, 'uuid' | 'serial' | 'manufacturer' | 'product' | 'buildarch' | 'platform'>;

const MAC = /^[0-9a-f]{2}([:-][0-9a-f]{2}){5}$/i;
const clip = (value: string | undefined): string | undefined => (value === undefined || value === '' ? undefined : value.slice(0, 128));

export const ipxeRoutes: FastifyPluginAsync<HttpDeps> = async (app, deps) => {
  const { config, nodes, tokens, leases } = deps;
  app.get('/boot.ipxe', async (_request, reply) => {
    reply.type('text/plain; charset=utf-8');
    return renderChainScript(config.httpBaseUrl);
  });

  app.get<{ Querystring: IpxeQuery }>('/ipxe', async (request, reply) => {
    reply.type('text/plain; charset=utf-8');
    const q = request.query;
    if (q.mac === undefined || !MAC.test(q.mac)) {
      reply.code(400);
      return renderNoMacScript();
    }
    const mac = normalizeMac(q.mac);
    const platform = q.platform === 'efi' ? 'efi' : 'pcbios';
    nodes.updateFacts(mac, {
      uuid: clip(q.uuid)?.toLowerCase(),
      serial: clip(q.serial),
      manufacturer: clip(q.manufacturer),
      product: clip(q.product),
      buildarch: clip(q.buildarch),
      platform: clip(q.platform),
      ip: leases.ipOf(mac) ?? request.ip,
    });
    const record = nodes.recordFor(mac);
    const { spec } = nodes.idFor(mac);
    const decision = decideBoot(spec, record);
    nodes.transition(record, decision.next, decision.why, spec && decision.kind === 'install' ? spec.generation : undefined);

    if (decision.kind === 'discovery' || !spec) {
      nodes.record({ mac }, 'script-served', { kind: 'discovery', platform, why: decision.why });
      return spec ? renderWaitScript(decision.why) : renderDiscoveryScript({ baseUrl: config.httpBaseUrl, mac });
    }
    if (decision.kind === 'boot-local') {
      nodes.record({ mac }, 'boot-local-served', { method: spec.bootLocal, platform });
      const local = renderBootLocalScript(spec.bootLocal, platform);
      if (local.kind === 'http-404') {
        // iPXE's chain fails and it returns to the firmware, which boots the next device.
        reply.code(404);
        return '';
      }
      return local.text;
    }
    const directory = deps.directory();
    const profile = directory.profileOf(spec);
    const waiting = imagesNotReady(deps.images, profile);
    if (waiting) {
      // Not an install yet: nothing unverified is ever served, and no token is issued.
      nodes.record({ mac }, 'script-served', { kind: 'wait-image', platform, waiting });
      return renderImageWaitScript(waiting);
    }
    const token = await tokens.issue({ nodeId: spec.id, mac, ip: leases.ipOf(mac) ?? request.ip, generation: spec.generation }, directory.settings.bootTokenTtlSeconds);
    nodes.record({ mac }, 'script-served', { kind: 'install', platform, profile: profile.name, talosVersion: profile.talosVersion, generation: spec.generation });
    return renderInstallScript({ node: spec, profile, baseUrl: config.httpBaseUrl, token, platform });
  });
};
