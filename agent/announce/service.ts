// The announcer service: on each of announce.interfaces that has an IPv4 address, a responder
// (responder.ts) answers for `_maskin-agent._tcp` and announces the agent three times; it is
// reopened when the address changes or the socket fails, and says goodbye when the agent stops.
// Nothing here is needed for provisioning, so nothing here stops the agent: every failure is a
// warning, a metric and a retry.
import { networkInterfaces } from 'node:os';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { AgentConfig } from '../config/model.js';
import { nicSubnet, parseSubnet, subnetsOverlap, type Subnet } from '../net/ipv4.js';
import type { Service } from '../runtime/service.js';
import { agentVersion } from '../runtime/version.js';
import { aborted, sleep } from '../runtime/wait.js';
import { announceMetrics } from './metrics.js';
import type { Link } from './policy.js';
import { announcedRecords, SERVICE_TYPE } from './records.js';
import { openResponder, type Responder } from './responder.js';

/** RFC 6762 §8.3: at least two announcements, one second apart; the third after two more. */
export const ANNOUNCE_GAPS_MS: readonly number[] = [1000, 2000];
/** How often an interface's address (and a missing interface) is looked at again. */
export const RECHECK_MS = 5000;

type Nics = ReturnType<typeof networkInterfaces>;

export interface AnnounceDeps {
  readonly config: AgentConfig;
  readonly log: Logger;
  readonly registry?: Registry;
  /** Default: the package version. */
  readonly version?: string;
  /** Default: os.networkInterfaces (tests give a fixed view). */
  readonly interfaces?: () => Nics;
  readonly recheckMs?: number;
}

export type LinkProblem = 'no-interface' | 'no-address' | 'provisioning-subnet';

/** The interface's first IPv4 address and its subnet, or why it cannot be announced on. */
export function linkOf(name: string, nics: Nics, provisioning: Subnet, provisioningAddress: string): Link | LinkProblem {
  const addrs = nics[name];
  if (!addrs) return 'no-interface';
  const v4 = addrs.find((a) => a.family === 'IPv4' && !a.internal);
  if (!v4) return 'no-address';
  const subnet = nicSubnet(v4);
  // A NIC on the provisioning network under another name (a bridge, a VLAN) is the provisioning network.
  if (addrs.some((a) => a.address === provisioningAddress) || subnetsOverlap(subnet, provisioning)) return 'provisioning-subnet';
  return { address: v4.address, subnet };
}

const PROBLEM_TEXT: Readonly<Record<LinkProblem | 'bind', string>> = {
  'no-interface': 'no such interface on this host',
  'no-address': 'the interface has no IPv4 address yet',
  'provisioning-subnet': 'the interface is on the provisioning network; the agent never announces there',
  bind: 'cannot bind UDP 5353 on it',
};

export function createAnnounceService(deps: AnnounceDeps): Service {
  const { config, log } = deps;
  const settings = config.announce;
  const metrics = announceMetrics(deps.registry);
  const nics = deps.interfaces ?? networkInterfaces;
  const recheckMs = deps.recheckMs ?? RECHECK_MS;
  const identity = { agentId: config.agentId, ...(config.rackId !== undefined ? { rackId: config.rackId } : {}), version: deps.version ?? agentVersion() };
  const provisioning = parseSubnet(config.provisioning.subnet);

  const ownAddresses = (view: Nics): Set<string> => new Set(Object.values(view).flatMap((list) => (list ?? []).map((a) => a.address)));

  async function announceOn(name: string, signal: AbortSignal): Promise<void> {
    metrics.up.set({ interface: name }, 0);
    let lastProblem: string | undefined;
    const problem = (reason: LinkProblem | 'bind', extra: Record<string, unknown> = {}): void => {
      metrics.up.set({ interface: name }, 0);
      // Once per change of state: a NIC that is absent on purpose (no oob0 on this rack) is no flood.
      if (lastProblem === reason) return;
      lastProblem = reason;
      metrics.failures.inc({ interface: name, reason });
      log.warn(
        { code: 'MASKIN_ERR_ANNOUNCE', interface: name, reason, ...extra },
        `not announcing on ${name}: ${PROBLEM_TEXT[reason]}; retrying every ${recheckMs / 1000} s (provisioning is unaffected)`,
      );
    };
    while (!signal.aborted) {
      let view: Nics;
      try {
        view = nics();
      } catch {
        view = {};
      }
      const link = linkOf(name, view, provisioning, config.provisioning.address);
      if (typeof link === 'string') {
        problem(link);
        await sleep(recheckMs, signal);
        continue;
      }
      const announced = announcedRecords({ instanceName: settings.instanceName, identity, port: config.admin.port, address: link.address });
      let responder: Responder;
      try {
        responder = await openResponder({
          interfaceName: name,
          link,
          records: announced.records,
          own: ownAddresses(view),
          provisioning,
          metrics,
          log,
        });
      } catch (err) {
        problem('bind', { err: (err as Error).message });
        await sleep(recheckMs, signal);
        continue;
      }
      lastProblem = undefined;
      metrics.up.set({ interface: name }, 1);
      log.info(
        { interface: name, address: link.address, service: announced.serviceName, host: announced.hostName, type: SERVICE_TYPE },
        'announcing over mDNS',
      );
      await runAnnounced(name, link, responder, signal);
      await responder.close();
      metrics.up.set({ interface: name }, 0);
    }
  }

  /** Announcements, then watching the address until it changes, the socket breaks or the agent stops. */
  async function runAnnounced(name: string, link: Link, responder: Responder, signal: AbortSignal): Promise<void> {
    await responder.announce();
    for (const gap of ANNOUNCE_GAPS_MS) {
      await sleep(gap, signal);
      if (signal.aborted) return;
      await responder.announce();
    }
    while (!signal.aborted) {
      await sleep(recheckMs, signal);
      if (signal.aborted || responder.broken()) return;
      let now: Link | LinkProblem;
      try {
        now = linkOf(name, nics(), provisioning, config.provisioning.address);
      } catch {
        now = 'no-interface';
      }
      if (typeof now === 'string' || now.address !== link.address || now.subnet.mask !== link.subnet.mask) {
        log.info({ interface: name, was: link.address, now: typeof now === 'string' ? now : now.address }, 'interface address changed; announcing again');
        return;
      }
    }
  }

  return {
    name: 'announce',
    async run(signal) {
      if (!settings.enabled) {
        await aborted(signal);
        return;
      }
      // Each interface on its own: one that fails never holds up the others. Nothing rejects.
      await Promise.all(
        settings.interfaces.map((name) =>
          announceOn(name, signal).catch((err: unknown) => {
            log.error({ code: 'MASKIN_ERR_ANNOUNCE', err, interface: name }, 'mDNS announcer failed on this interface; provisioning is unaffected');
            return aborted(signal);
          }),
        ),
      );
    },
  };
}
