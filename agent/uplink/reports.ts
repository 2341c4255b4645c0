// The report bodies the agent queues for central, one builder per event: a node's discovery facts,
// state change and timeline step, a manifest event, a refused push. The outbox makes them durable.
import { create } from '@bufbuild/protobuf';
import type { Logger } from 'pino';
import { PUSH_UNAUTHENTICATED } from '../errors.js';
import type { ManifestEvent } from '../manifest/applier.js';
import type { NodeRecord } from '../nodes/model.js';
import type { ForeignServer } from '../dhcp/foreign.js';
import { DiscoveryFactSchema, ForeignDhcpServerSchema, ManifestEventSchema, StateChangeSchema, TimelineStepSchema } from './gen/maskin/v1/report_pb.js';
import type { AppendOptions, Outbox, ReportBody } from './outbox.js';

/** Where reportable events go; the outbox makes them durable. Never throws, never blocks. */
export type ReportSink = (body: ReportBody, options?: AppendOptions) => void;

/** Appends to the outbox: durable once appended; a failed append is logged, never fatal to provisioning. */
export function outboxSink(outbox: Pick<Outbox, 'append'>, log: Logger): ReportSink {
  return (body, options) => {
    outbox.append(body, options).catch((err: unknown) => log.error({ err }, 'could not queue a report'));
  };
}

/** Every fact of the record, as text. */
export function discoveryReport(record: Pick<NodeRecord, 'id' | 'macs' | 'known' | 'facts'>): ReportBody {
  const facts: Record<string, string> = {};
  for (const [key, value] of Object.entries(record.facts)) if (value !== undefined) facts[key] = String(value);
  return { case: 'discovery', value: create(DiscoveryFactSchema, { nodeId: record.id, macs: [...record.macs], known: record.known, facts }) };
}

/** `step`: the lifecycle step a failed node failed at, else empty. */
export function stateChangeReport(change: { nodeId: string; from: string; to: string; reason: string; generation: number; step: string }): ReportBody {
  const { nodeId, from, to, reason, generation, step } = change;
  return { case: 'stateChange', value: create(StateChangeSchema, { nodeId, from, to, reason, generation: BigInt(generation), step }) };
}

export function timelineStepReport(nodeId: string, step: string, detail: Record<string, unknown>): ReportBody {
  return { case: 'step', value: create(TimelineStepSchema, { nodeId, step, detailJson: JSON.stringify(detail) }) };
}

export function manifestEventReport(event: ManifestEvent): ReportBody {
  const { outcome, version, source, errorCode = '', detail = '' } = event;
  return { case: 'manifest', value: create(ManifestEventSchema, { outcome, version: BigInt(version), source, errorCode, detail }) };
}

/** A push refused for its credentials (`why`) from address `from`, while manifest `version` stays in force. */
export function refusedPushReport(version: number, from: string, why: string): ReportBody {
  return manifestEventReport({ outcome: 'rejected', version, source: 'push', errorCode: PUSH_UNAUTHENTICATED, detail: `${why} from ${from}` });
}

/** Another DHCP server heard on the provisioning segment, with the agent's mode in force. */
export function foreignDhcpReport(server: ForeignServer, mode: 'full' | 'proxy'): ReportBody {
  const { serverId, address, mac = '', offersAddresses, seenBy } = server;
  return { case: 'foreignDhcp', value: create(ForeignDhcpServerSchema, { serverId, address, mac, offersAddresses, seenBy, mode }) };
}
