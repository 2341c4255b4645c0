// Composition root: wires the subsystems and runs them under one supervisor. Nothing else here.
import { existsSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import path from 'node:path';
import type { Logger } from 'pino';
import type { AgentConfig } from './config/model.js';
import { openLeasePool } from './dhcp/leases.js';
import type { LeaseRecord } from './dhcp/leaseTable.js';
import { bootFilesNamed, createDhcpService } from './dhcp/server.js';
import { buildApp } from './http/app.js';
import { createHttpService } from './http/service.js';
import { agentMetrics } from './runtime/metrics.js';
import { supervise } from './runtime/supervisor.js';
import type { Service } from './runtime/service.js';
import { ManifestApplier, type StoredManifest } from './manifest/applier.js';
import { loadManifestFile } from './manifest/load.js';
import { directoryOf, EMPTY_MANIFEST, type NodeDirectory, type SettingsOverride } from './manifest/model.js';
import type { NodeRecord } from './nodes/model.js';
import { NodeRegistry } from './nodes/registry.js';
import { createTokenPruner } from './nodes/tokenPruner.js';
import { BootTokens, type BootGrant } from './nodes/tokens.js';
import { createCredentialResolver } from './bmc/credentials.js';
import { createDriverFactory } from './bmc/factory.js';
import { systemClock } from './runtime/clock.js';
import { ProvisionExecutor } from './provision/executor.js';
import { tcpProbe } from './provision/handover.js';
import { createProvisionService } from './provision/service.js';
import { openStore } from './store/store.js';
import { validateMachineConfigDocs } from './talos/configSchema.js';
import { createFetcher } from './images/fetcher.js';
import { installerPins, prefetchInstaller } from './images/installer.js';
import { createRegistryMirror, type TagRecord } from './images/oci.js';
import { assetPins, referencedDigests, type AssetPin } from './images/pins.js';
import { createPrefetcher } from './images/prefetch.js';
import { cacheStatus } from './images/status.js';
import { openContentStore, type IndexEntry } from './images/store.js';
import { createTftpService } from './tftp/server.js';
import { createUplinkClient } from './uplink/client.js';
import { createHealthService } from './uplink/health.js';
import { openOutbox, type StoredReport } from './uplink/outbox.js';
import { createManifestPuller } from './uplink/puller.js';
import { createReporter, httpReportTransport } from './uplink/reporter.js';
import { manifestEventReport, outboxSink, refusedPushReport } from './uplink/reports.js';
import { uplinkStatus } from './uplink/status.js';

export interface AgentHandle {
  /** Re-reads the local manifest file (only while no signed manifest is in force). */
  reloadManifest(): boolean;
}

/** The local manifest file alone (check-config). */
export function loadManifest(config: AgentConfig): NodeDirectory {
  return directoryOf(config.manifestFile === undefined ? EMPTY_MANIFEST : loadManifestFile(config.manifestFile, validateMachineConfigDocs));
}

/** Runs the agent until `signal` aborts or a service fails. */
export async function runAgent(config: AgentConfig, log: Logger, signal: AbortSignal, onReady?: (agent: AgentHandle) => void): Promise<void> {
  checkProvisioningInterface(config, log);
  const store = await openStore(config.dataDir);
  try {
    const metrics = agentMetrics();
    // The manifest may override some settings; the outbox opens before the manifest (it records
    // the manifest's own events), so it reads them late.
    let overrides = (): SettingsOverride => ({});
    const outbox = await openOutbox(store.sublevel<StoredReport>('outbox'), {
      maxEvents: () => overrides().outboxMaxEvents ?? config.outboxMaxEvents,
      log: log.child({ component: 'outbox' }),
      registry: metrics,
    });
    const report = outboxSink(outbox, log);
    const manifestFile = config.manifestFile;
    // Set once the prefetcher exists: a newly applied manifest starts fetching its images.
    let manifestApplied = (): void => {};
    const applier = await ManifestApplier.open({
      store: store.sublevel<StoredManifest>('manifest'),
      ...(config.rackId !== undefined ? { rackId: config.rackId } : {}),
      trustedKeys: config.uplink.trustedKeys,
      maxBytes: config.uplink.maxManifestBytes,
      checkBase: validateMachineConfigDocs,
      ...(manifestFile !== undefined ? { localFile: () => loadManifestFile(manifestFile, validateMachineConfigDocs) } : {}),
      log: log.child({ component: 'manifest' }),
      events: (e) => {
        report(manifestEventReport(e));
        if (e.outcome === 'applied') manifestApplied();
      },
    });
    const directory = (): NodeDirectory => applier.directory();
    overrides = () => applier.directory().settings;
    checkBootFiles(config, directory(), log);

    // The verified image cache: pinned kernels/initramfs and the installer image's registry blobs.
    const images = await openContentStore({ dir: path.join(config.dataDir, 'cache'), index: store.sublevel<IndexEntry>('images'), limitBytes: config.images.limitBytes, log: log.child({ component: 'cache' }) });
    const fetcher = createFetcher({ store: images, log: log.child({ component: 'fetch' }) });
    // Asset pins change only with the manifest: computed once per directory, not per request.
    let pinned: { directory: NodeDirectory; pins: ReadonlyMap<string, AssetPin> } | undefined;
    const pins = (): ReadonlyMap<string, AssetPin> => {
      const current = applier.directory();
      if (pinned?.directory !== current) pinned = { directory: current, pins: assetPins(current, config.images.factoryUrl) };
      return pinned.pins;
    };
    const registry = createRegistryMirror({
      store: images,
      tags: store.sublevel<TagRecord>('oci-tags'),
      upstreams: (host) => {
        const url = config.images.registryUpstreams[host];
        return url === undefined ? undefined : { url };
      },
      fetcher,
      log: log.child({ component: 'registry' }),
    });
    const prefetcher = createPrefetcher({
      pins,
      referenced: () => referencedDigests(applier.directory()),
      store: images,
      fetch: (digest, source) => fetcher.fetch(digest, source),
      installers: () => installerPins(applier.directory()),
      prefetchInstaller: (pin) => prefetchInstaller(registry, pin),
      log: log.child({ component: 'prefetch' }),
    });

    const leases = await openLeasePool(store.sublevel<LeaseRecord>('leases'));
    const nodes = await NodeRegistry.open({ store: store.sublevel<NodeRecord>('nodes'), directory, leases, now: () => new Date(), log: log.child({ component: 'nodes' }), reports: report });
    const tokens = await BootTokens.open(store.sublevel<BootGrant>('tokens'), config.bootTokenTtl);
    // Nodes with a BMC are provisioned by the agent itself: inventory, identity, one-shot PXE, power.
    const provisioner = new ProvisionExecutor({
      directory,
      nodes,
      drivers: createDriverFactory({ log: log.child({ component: 'bmc' }), ipmi: config.bmc.ipmi }),
      credentials: createCredentialResolver(config.bmc),
      addressOf: (record) => record.macs.map((mac) => leases.ipOf(mac)).find((ip) => ip !== undefined) ?? record.facts.ip,
      probe: tcpProbe,
      clock: systemClock,
      settings: config.lifecycle,
      log: log.child({ component: 'provision' }),
    });
    manifestApplied = () => {
      prefetcher.kick();
      provisioner.reconcileAll();
    };

    const client = createUplinkClient({
      timeoutMs: config.uplink.timeoutSeconds * 1000,
      ...(config.uplink.caFile ? { caFile: config.uplink.caFile } : {}),
      ...(config.uplink.certFile ? { certFile: config.uplink.certFile } : {}),
      ...(config.uplink.keyFile ? { keyFile: config.uplink.keyFile } : {}),
      ...(config.uplink.token ? { token: config.uplink.token } : {}),
    });
    const puller = config.uplink.manifestUrl
      ? createManifestPuller({
          url: config.uplink.manifestUrl,
          client,
          intervalSeconds: () => overrides().pullIntervalSeconds ?? config.uplink.pullIntervalSeconds,
          maxBytes: config.uplink.maxManifestBytes,
          apply: (bytes) => applier.offer(bytes, 'pull'),
          log: log.child({ component: 'pull' }),
        })
      : undefined;
    const reporter = config.uplink.reportUrl && config.rackId
      ? createReporter({
          outbox,
          agentId: config.agentId,
          rackId: config.rackId,
          post: httpReportTransport({ url: config.uplink.reportUrl, dispatcher: client.dispatcher, headers: client.headers, timeoutMs: client.timeoutMs }),
          log: log.child({ component: 'reports' }),
        })
      : undefined;
    if (!reporter) log.warn('uplink.reportUrl (or rackId) not set: reports are queued in the outbox (bounded) and not delivered');

    const app = await buildApp({
      config,
      directory,
      nodes,
      tokens,
      leases,
      log,
      metrics,
      startedAt: new Date(),
      images: { pins, store: images, fetch: (digest, source) => fetcher.fetch(digest, source), progress: (digest) => fetcher.active().find((p) => p.digest === digest) },
      registry,
      provisioner,
      manifest: {
        offer: (bytes, source) => applier.offer(bytes, source),
        refusedPush: (from, why) => report(refusedPushReport(applier.status().version ?? 0, from, why)),
      },
      uplinkStatus: () => uplinkStatus({ manifest: applier, outbox, puller, reporter }),
      cacheStatus: () => cacheStatus(images, prefetcher, config.images.limitBytes),
    });

    const services: Service[] = [
      createDhcpService({ config, directory, leases, observer: nodes, log, registry: metrics }),
      createTftpService({ root: config.bootBinariesDir, address: config.provisioning.address, port: config.ports.tftp, observer: nodes, log: log.child({ component: 'tftp' }), registry: metrics }),
      createHttpService(app, config),
      createTokenPruner(tokens, log),
      prefetcher,
      createHealthService({ outbox, log: log.child({ component: 'health' }), extra: () => ({ manifestVersion: applier.status().version ?? 0, dataDir: config.dataDir, profilesReady: prefetcher.readiness(), cacheBytes: images.totalBytes() }) }),
      createProvisionService(provisioner, config.lifecycle.reconcileIntervalMs, systemClock),
      ...(puller ? [puller] : []),
      ...(reporter ? [reporter] : []),
    ];
    onReady?.({ reloadManifest: () => applier.reloadLocal() });
    log.info({ address: config.provisioning.address, ports: config.ports, baseUrl: config.httpBaseUrl, manifest: applier.status() }, 'maskin-agent running');
    try {
      await supervise(services, signal, log);
    } finally {
      await client.close();
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
