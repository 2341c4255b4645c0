// iPXE endpoints: /boot.ipxe (what DHCP hands a client already running iPXE) chains to /ipxe
// with the identity iPXE reports; /ipxe picks the node by MAC and renders its script. A script
// request counts only from the MAC's own address (agent/nodes/netboot.ts, requesterStanding);
// any other gets the refusal script and changes nothing but a coalesced script-refused step.
import type { FastifyPluginAsync } from 'fastify';
import { nodeLogsUrl } from '../config/model.js';
import { normalizeMac } from '../manifest/model.js';
import { imagesFailed, imagesNotReady } from '../images/readiness.js';
import type { NodeFacts, ReportedFacts } from '../nodes/model.js';
import { planScript } from '../nodes/netboot.js';
import { renderChainScript, renderNoMacScript, renderScript } from '../ipxe/render.js';
import type { HttpDeps } from './deps.js';

/** The chain script's query: the MAC plus the SMBIOS facts iPXE expands (see renderChainScript). */
type IpxeQuery = { mac?: string } & Pick<NodeFacts, 'uuid' | 'serial' | 'manufacturer' | 'product' | 'buildarch' | 'platform'>;

const MAC = /^[0-9a-f]{2}([:-][0-9a-f]{2}){5}$/i;
const clip = (value: string | undefined): string | undefined => (value === undefined || value === '' ? undefined : value.slice(0, 128));

/** The facts the chain script reports, clipped: the query is untrusted input and ends up in the record. */
const reportedFacts = (q: IpxeQuery): ReportedFacts => ({
  uuid: clip(q.uuid)?.toLowerCase(),
  serial: clip(q.serial),
  manufacturer: clip(q.manufacturer),
  product: clip(q.product),
  buildarch: clip(q.buildarch),
  platform: clip(q.platform),
});

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
    const from = request.ip;
    const { spec } = nodes.idFor(mac);
    const directory = deps.directory();
    const profile = spec && directory.profileOf(spec);
    const platform = q.platform === 'efi' ? 'efi' : 'pcbios';
    const waiting = profile && imagesNotReady(deps.images, profile);
    const failed = profile && imagesFailed(deps.images, profile);
    const { bootTokenTtlSeconds: tokenTtlSeconds } = directory.settings;
    const leasedIp = leases.ipOf(mac);
    const plan = planScript({
      mac,
      platform,
      from,
      leasedIp,
      spec,
      record: nodes.find(mac),
      profile,
      imagesNotReady: waiting,
      imageFailed: failed,
      tokenTtlSeconds,
    });
    if (!plan.counts) {
      // Counted and on the timeline (coalesced); at debug here, so a flood cannot flood the log.
      request.log.debug({ mac, from }, 'iPXE script request refused');
    } else {
      nodes.updateFacts(mac, { ...reportedFacts(q), ip: from, bootMac: mac });
      const record = nodes.recordFor(mac);
      if (plan.transition) nodes.transition(record, plan.transition.next, plan.transition.why, plan.transition.generation);
    }
    const token = plan.token && (await tokens.issue(plan.token.grant, plan.token.ttlSeconds));
    for (const s of plan.steps) nodes.record({ mac }, s.step, s.detail);
    const script = renderScript(plan.script, config.httpBaseUrl, token, nodeLogsUrl(config));
    request.served('script', plan.script.kind);
    if (script.kind === 'http-404') {
      // iPXE's chain fails and it returns to the firmware, which boots the next device.
      reply.code(404);
      return '';
    }
    return script.text;
  });
};
