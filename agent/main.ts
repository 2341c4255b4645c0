// Composition root: wires the subsystems and runs them under one supervisor. Nothing else here.
import { existsSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import path from 'node:path';
import type { Logger } from 'pino';
import { collectDefaultMetrics, Registry } from 'prom-client';
import type { AgentConfig } from './config/model.js';
import { openLeasePool } from './dhcp/leases.js';
import type { LeaseRecord } from './dhcp/leaseTable.js';
import { bootFilesNamed, createDhcpService } from './dhcp/server.js';
import { buildApp } from './http/app.js';
import { aborted, supervise, type Service } from './lifecycle/supervisor.js';
import { loadManifestFile } from './manifest/load.js';
import { directoryOf, EMPTY_MANIFEST, type NodeDirectory } from './manifest/model.js';
import type { NodeRecord } from './nodes/model.js';
import { NodeRegistry } from './nodes/registry.js';
import { BootTokens, type BootGrant } from './nodes/tokens.js';
import { openStore } from './store/store.js';
import { validateMachineConfigDocs } from './talos/configSchema.js';
import { createTftpService } from './tftp/server.js';

export interface AgentHandle {
  /** Re-reads the manifest file; a bad one is rejected whole and the last good one stays. */
  reloadManifest(): boolean;
}

export function loadManifest(config: AgentConfig): NodeDirectory {
  return directoryOf(config.manifestFile === undefined ? EMPTY_MANIFEST : loadManifestFile(config.manifestFile, validateMachineConfigDocs));
}

/** Runs the agent until `signal` aborts or a service fails. */
export async function runAgent(config: AgentConfig, log: Logger, signal: AbortSignal, onReady?: (agent: AgentHandle) => void): Promise<void> {
  checkProvisioningInterface(config, log);
  let directory = loadManifest(config);
  log.info({ manifest: config.manifestFile, nodes: directory.all().length }, 'manifest loaded');
  checkBootFiles(config, directory, log);

  const store = await openStore(config.dataDir);
  try {
    const metrics = new Registry();
    collectDefaultMetrics({ register: metrics, prefix: 'maskin_' });
    const leases = await openLeasePool(store.sublevel<LeaseRecord>('leases'));
    const nodes = await NodeRegistry.open({
      store: store.sublevel<NodeRecord>('nodes'),
      directory: () => directory,
      leases,
      now: () => new Date(),
      log: log.child({ component: 'nodes' }),
    });
    const tokens = await BootTokens.open(store.sublevel<BootGrant>('tokens'), config.bootTokenTtl);
    const app = await buildApp({ config, directory: () => directory, nodes, tokens, leases, log, metrics, startedAt: new Date() });

    const http: Service = {
      name: 'http',
      async run(stop) {
        await app.listen({ host: config.httpListen, port: config.ports.http });
        await aborted(stop);
        await app.close();
      },
    };
    const pruneTokens: Service = {
      name: 'token-pruner',
      async run(stop) {
        const timer = setInterval(() => void tokens.prune().catch((err: unknown) => log.warn({ err }, 'token prune failed')), 60_000);
        await aborted(stop);
        clearInterval(timer);
      },
    };
    const services: Service[] = [
      createDhcpService({ config, directory: () => directory, leases, observer: nodes, log, registry: metrics }),
      createTftpService({ root: config.bootBinariesDir, address: config.provisioning.address, port: config.ports.tftp, observer: nodes, log: log.child({ component: 'tftp' }), registry: metrics }),
      http,
      pruneTokens,
    ];
    onReady?.({
      reloadManifest() {
        try {
          const next = loadManifest(config);
          directory = next;
          log.info({ nodes: next.all().length }, 'manifest reloaded');
          return true;
        } catch (err) {
          log.error({ err: (err as Error).message }, 'manifest rejected; the last good one stays in force');
          return false;
        }
      },
    });
    log.info({ address: config.provisioning.address, ports: config.ports, baseUrl: config.httpBaseUrl }, 'maskin-agent running');
    try {
      await supervise(services, signal, log);
    } finally {
      await nodes.flush();
      await leases.flush();
    }
  } finally {
    await store.close();
  }
}

/** A boot file DHCP may name but nobody can fetch strands that kind of machine in PXE. */
function checkBootFiles(config: AgentConfig, directory: NodeDirectory, log: Logger): void {
  for (const file of bootFilesNamed(config, directory)) {
    if (file.via === 'tftp' && !existsSync(path.join(config.bootBinariesDir, file.name)))
      log.warn({ file: file.name, dir: config.bootBinariesDir }, 'boot file named by DHCP is missing from bootBinariesDir; clients of that kind cannot boot until it is there');
  }
}

/** The service must only ever serve the provisioning network; say so when the host disagrees. */
function checkProvisioningInterface(config: AgentConfig, log: Logger): void {
  const nics = networkInterfaces();
  const nic = nics[config.provisioning.interface];
  const holder = Object.entries(nics).find(([, addrs]) => addrs?.some((a) => a.address === config.provisioning.address))?.[0];
  if (!holder) {
    log.warn({ address: config.provisioning.address }, 'provisioning.address is on no interface of this host; DHCP replies cannot be sent until it is');
  } else if (!nic) {
    log.warn({ interface: config.provisioning.interface, holder }, 'provisioning.interface does not exist on this host; the systemd confinement will not match');
  } else if (holder !== config.provisioning.interface) {
    log.warn({ interface: config.provisioning.interface, holder }, 'provisioning.address is held by another interface than provisioning.interface');
  }
}
