// A flood of made-up MACs (DHCP and HTTP evidence from machines the manifest does not know)
// against the node records and the report outbox: records stay bounded, a manifest node's reports
// are never evicted for them, and /healthz answers without walking the records.
import t from 'tap';
import { create } from '@bufbuild/protobuf';
import pino from 'pino';
import { Registry } from 'prom-client';
import { parseConfig } from '../../agent/config/load.js';
import { buildApp } from '../../agent/http/app.js';
import { directoryOf, type Manifest } from '../../agent/manifest/model.js';
import type { NodeRecord } from '../../agent/nodes/model.js';
import { NodeRegistry } from '../../agent/nodes/registry.js';
import { BootTokens, type BootGrant } from '../../agent/nodes/tokens.js';
import { AgentHealthSchema } from '../../agent/uplink/gen/maskin/v1/report_pb.js';
import { openOutbox, type StoredReport } from '../../agent/uplink/outbox.js';
import { outboxSink } from '../../agent/uplink/reports.js';
import { tempAgentStore } from '../fakes/tempStore.js';

const N1 = 'aa:bb:cc:91:00:01';
const manifest: Manifest = {
  version: 1,
  images: [],
  settings: {},
  profiles: new Map(),
  nodes: [{ id: 'n1', macs: [N1], profile: 'p', patches: [], desired: 'installed', generation: 1, bootLocal: 'exit' }],
};
const JUNK = 5000;
const junk = (i: number): string => `02:${[i >> 24, i >> 16, i >> 8, i, 0].map((b) => (b & 255).toString(16).padStart(2, '0')).join(':')}`;

t.test('junk MACs: bounded records, the manifest node keeps its reports, /healthz does not walk', async (t) => {
  const { store, dir } = await tempAgentStore(t, 'secflood');
  const log = pino({ level: 'silent' });
  const registry = new Registry();
  const outbox = await openOutbox(store.sublevel<StoredReport>('outbox'), { maxEvents: 1000, log, registry });
  const leases = { ipOf: () => undefined, macOf: () => undefined };
  const directory = directoryOf(manifest);
  const config = parseConfig(
    `provisioning: { interface: prov0, address: 198.18.145.1, subnet: 198.18.145.0/24 }
dhcp: { pool: { start: 198.18.145.100, end: 198.18.145.199 } }
dataDir: ${dir}
`,
    { env: {} },
  );
  const nodes = await NodeRegistry.open({
    store: store.sublevel<NodeRecord>('nodes'),
    directory: () => directory,
    leases,
    now: () => new Date(),
    log,
    reports: outboxSink(outbox, log),
    registry,
  });
  t.teardown(() => nodes.flush());

  // The manifest node boots: steps, facts, a state change.
  nodes.record({ mac: N1 }, 'dhcp-discover', { firmware: 'bios', clientArch: 0, ip: '198.18.145.101' });
  nodes.record({ mac: N1 }, 'dhcp-ack', { firmware: 'bios', clientArch: 0, ip: '198.18.145.101' });
  nodes.transition(nodes.recordFor(N1), 'installing', 'not installed yet', 1);
  nodes.record({ mac: N1 }, 'script-served', { kind: 'install' });

  // Then the junk: each made-up MAC a DHCP exchange with facts (steps and a discovery report each).
  for (let i = 0; i < JUNK; i++) {
    nodes.record({ mac: junk(i) }, 'dhcp-discover', { firmware: 'ipxe', clientArch: 7, ip: `198.18.145.${100 + (i % 100)}` });
    nodes.record({ mac: junk(i) }, 'dhcp-offer', { firmware: 'ipxe', clientArch: 7, ip: `198.18.145.${100 + (i % 100)}` });
  }
  // Appends are written in order: once this one is on disk, every report before it is too.
  await outbox.append({ case: 'health', value: create(AgentHealthSchema, {}) });

  t.ok(nodes.list().length <= 1 + 1024, `records bounded (${nodes.list().length})`);
  t.ok(nodes.get('n1'), 'the manifest node stays');
  const queued = await outbox.peek(2000);
  const n1Reports = queued.filter((r) => (r.body.value as { nodeId?: string } | undefined)?.nodeId === 'n1').map((r) => r.body.case);
  t.same(n1Reports, ['step', 'discovery', 'step', 'stateChange', 'step'], "none of the manifest node's reports was evicted");
  t.ok(outbox.depth() <= 1000, `the outbox holds its bound (${outbox.depth()})`);

  const tokens = await BootTokens.open(store.sublevel<BootGrant>('tokens'), 600);
  const app = await buildApp({ config, directory: () => directory, nodes, tokens, leases, log, metrics: registry, startedAt: new Date() });
  t.teardown(() => app.close());
  nodes.list = () => {
    throw new Error('/healthz walked every record');
  };
  const health = await app.inject({ url: '/healthz', remoteAddress: '198.18.145.66' });
  t.equal(health.statusCode, 200);
  t.ok((JSON.parse(health.body) as { nodes: number }).nodes <= 1025, 'it counts records');
});
