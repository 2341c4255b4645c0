// Report bodies for the uplink tests, one builder per kind.
import { create } from '@bufbuild/protobuf';
import {
  AgentHealthSchema,
  DiscoveryFactSchema,
  ManifestEventSchema,
  StateChangeSchema,
  TimelineStepSchema,
} from '../../agent/uplink/gen/maskin/v1/report_pb.js';
import type { ReportBody } from '../../agent/uplink/outbox.js';

export const body = {
  step: (nodeId: string, step = 'dhcp'): ReportBody => ({ case: 'step', value: create(TimelineStepSchema, { nodeId, step, detailJson: '{}' }) }),
  health: (depth = 0): ReportBody => ({ case: 'health', value: create(AgentHealthSchema, { outboxDepth: BigInt(depth) }) }),
  state: (nodeId: string, to = 'installing'): ReportBody => ({ case: 'stateChange', value: create(StateChangeSchema, { nodeId, from: 'discovered', to }) }),
  discovery: (nodeId: string): ReportBody => ({ case: 'discovery', value: create(DiscoveryFactSchema, { nodeId, macs: ['52:54:00:00:00:01'] }) }),
  manifest: (version: number): ReportBody => ({
    case: 'manifest',
    value: create(ManifestEventSchema, { outcome: 'applied', version: BigInt(version), source: 'pull' }),
  }),
};
