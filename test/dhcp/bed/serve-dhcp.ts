// Test-bed entry point: runs only the DHCP service, for real clients in network namespaces.
//   node dist/test/dhcp/bed/serve-dhcp.js '<AgentConfig JSON>' ['<NodeSpec[] JSON>']
// Opens the store under config.dataDir, prints "ready <port>" once bound, stops on SIGTERM.
import pino from 'pino';
import type { AgentConfig } from '../../../agent/config/model.js';
import type { LeaseRecord } from '../../../agent/dhcp/leaseTable.js';
import { openLeasePool } from '../../../agent/dhcp/leases.js';
import { createDhcpService } from '../../../agent/dhcp/server.js';
import { directoryOf, type NodeSpec } from '../../../agent/manifest/model.js';
import { openStore } from '../../../agent/store/store.js';

// Without arguments (e.g. when a test runner sweeps test/), there is nothing to serve.
if (!process.argv[2]) {
  process.stderr.write('usage: serve-dhcp.js <AgentConfig JSON> [<NodeSpec[] JSON>]\n');
  process.exit(0);
}
const config = JSON.parse(process.argv[2]) as AgentConfig;
const nodes = JSON.parse(process.argv[3] ?? '[]') as NodeSpec[];
const directory = directoryOf({ version: 1, profiles: new Map(), nodes, images: [], settings: {} });
const store = await openStore(config.dataDir);
const leases = await openLeasePool(store.sublevel<LeaseRecord>('leases'));
const log = pino({ level: process.env.MASKIN_BED_LOG ?? 'warn' }, pino.destination(2));
const service = createDhcpService({ config, directory: () => directory, leases, observer: { record: () => {} }, log });
const controller = new AbortController();
process.on('SIGTERM', () => controller.abort());
process.on('SIGINT', () => controller.abort());
const running = service.run(controller.signal);
service.ready.then(({ port }) => process.stdout.write(`ready ${port}\n`)).catch(() => undefined);
try {
  await running;
} finally {
  await store.close();
}
