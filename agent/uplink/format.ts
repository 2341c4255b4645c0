// `maskin-agent status` as text (pure): the agent, then its uplink view from GET /v1/status.
import { age } from '../nodes/format.js';
import type { DhcpWatchStatus } from '../dhcp/probe.js';
import type { UplinkStatus } from './status.js';

/** The head of GET /v1/status and, when the agent runs an uplink, its view. */
export type StatusView = Partial<UplinkStatus> & {
  readonly agentId: string;
  readonly rackId?: string | undefined;
  readonly nodes: number;
  readonly dhcp?: DhcpWatchStatus | undefined;
};

const ago = (ms: number | string | undefined, now: Date): string => {
  if (ms === undefined) return 'never';
  const t = typeof ms === 'string' ? Date.parse(ms) : ms;
  return `${age(new Date(t).toISOString(), now)} ago`;
};

export function formatStatus(s: StatusView, now: Date): string {
  const m = s.manifest;
  const lines = [
    `agent ${s.agentId}${s.rackId ? `, rack ${s.rackId}` : ''}: ${s.nodes} node record(s)`,
    m
      ? `manifest: ${m.version !== undefined ? `version ${m.version}` : 'unversioned'} from ${m.source}${m.keyId ? ` (key ${m.keyId})` : ''}, ${m.nodes} node(s), applied ${ago(m.appliedAt, now)}${m.issuedAt ? `, issued ${ago(m.issuedAt, now)}` : ''}`
      : 'manifest: (no uplink status)',
  ];
  if (m?.lastRejection)
    lines.push(
      `  last rejected: ${m.lastRejection.code} via ${m.lastRejection.source}, ${ago(m.lastRejection.at, now)}: ${m.lastRejection.message.split('\n')[0]}`,
    );
  if (s.pull)
    lines.push(
      `pull: last ${s.pull.lastResult ?? 'none yet'} ${ago(s.pull.lastAttemptAt, now)}, last success ${ago(s.pull.lastSuccessAt, now)}${s.pull.consecutiveFailures ? `, ${s.pull.consecutiveFailures} failure(s) in a row: ${s.pull.lastError ?? ''}` : ''}`,
    );
  if (s.outbox)
    lines.push(
      `outbox: ${s.outbox.depth} report(s) queued${s.outbox.oldestAt !== undefined ? `, oldest ${ago(s.outbox.oldestAt, now)} (seq ${s.outbox.oldestSeq})` : ''}, ${s.outbox.evicted} evicted`,
    );
  if (s.reporter)
    lines.push(
      `reports: last delivered ${ago(s.reporter.lastSuccessAt, now)}${s.reporter.consecutiveFailures ? `, ${s.reporter.consecutiveFailures} failure(s) in a row: ${s.reporter.lastError ?? ''}` : ''}`,
    );
  if (s.dhcp) {
    const { configured, inForce, foreignServers } = s.dhcp;
    lines.push(`dhcp: ${inForce}${configured === 'auto' ? ' (auto)' : ''}, ${foreignServers.length} other server(s) heard on the segment`);
    for (const f of foreignServers)
      lines.push(
        `  ${inForce === 'full' ? 'CONFLICT ' : ''}${f.serverId} at ${f.address} (${f.mac ?? 'MAC unknown'}), ${f.offersAddresses ? 'hands out addresses' : 'proxyDHCP'}, heard ${ago(f.lastSeen, now)} by ${f.seenBy}`,
      );
  }
  return lines.join('\n') + '\n';
}
