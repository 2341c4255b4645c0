// Composition root: wires the subsystems and runs them under one supervisor. Nothing else here.
import path from 'node:path';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { AgentConfig } from './config/model.js';
import { createAnnounceService } from './announce/service.js';
import { ConsoleBuffers, DEFAULT_CONSOLE_LIMITS } from './console/buffer.js';
import { createConsoleSink } from './console/sink.js';
import { createRaService } from './ra/service.js';
import { openLeasePool } from './dhcp/leases.js';
import type { LeaseView } from './dhcp/leaseView.js';
import type { LeaseRecord } from './dhcp/leaseTable.js';
import { createDhcpWatch } from './dhcp/probe.js';
import { createProxyBindings, withProxyBindings } from './dhcp/proxyBindings.js';
import { poolMetrics } from './dhcp/metrics.js';
import { reservationsOf } from './dhcp/policy.js';
import { createDhcpService } from './dhcp/server.js';
import { udpServerProbe } from './net/serverProbe.js';
import { checkDhcpServers, dhcpServerFindings, interfaceFindings, missingAssets, missingBootFiles } from './preflight.js';
import { buildAdminApp, buildApp } from './http/app.js';
import type { HttpDeps, ImagesPort } from './http/deps.js';
import { createAdminService, createHttpService } from './http/service.js';
import { agentMetrics } from './runtime/metrics.js';
import { supervise } from './runtime/supervisor.js';
import type { Service } from './runtime/service.js';
import { ManifestApplier, type StoredManifest } from './manifest/applier.js';
import { loadManifestFile } from './manifest/load.js';
import { manifestMetrics } from './manifest/metrics.js';
import { directoryOf, EMPTY_MANIFEST, type NodeDirectory } from './manifest/model.js';
import { nodeMetrics } from './nodes/metrics.js';
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
import { openStore, type AgentStore } from './store/store.js';
import { talosChecks } from './talos/checks.js';
import { createFetcher } from './images/fetcher.js';
import { installerPins, prefetchInstaller } from './images/installer.js';
import { createRegistryMirror, type TagRecord } from './images/oci.js';
import { pinsFor, referencedDigests } from './images/pins.js';
import { createPrefetcher } from './images/prefetch.js';
import { cacheStatus } from './images/status.js';
import { openContentStore, type IndexEntry } from './images/store.js';
import { createTftpService } from './tftp/server.js';
import { createUplinkClient } from './uplink/client.js';
import { createHealthService } from './uplink/health.js';
import { openOutbox, type Outbox, type StoredReport } from './uplink/outbox.js';
import { createManifestPuller } from './uplink/puller.js';
import { createReporter, httpReportTransport } from './uplink/reporter.js';
import { foreignDhcpReport, manifestEventReport, outboxSink, refusedPushReport } from './uplink/reports.js';
import { uplinkStatus } from './uplink/status.js';

export interface AgentHandle {
  /** Re-reads the local manifest file (only while no signed manifest is in force). */
  reloadManifest(): boolean;
}

/** The local manifest file alone (check-config). */
export function loadManifest(config: AgentConfig): NodeDirectory {
  return directoryOf(config.manifestFile === undefined ? EMPTY_MANIFEST : loadManifestFile(config.manifestFile, talosChecks));
}

/** Runs the agent until `signal` aborts or a service fails. */
export async function runAgent(config: AgentConfig, log: Logger, signal: AbortSignal, onReady?: (agent: AgentHandle) => void): Promise<void> {
  for (const f of interfaceFindings(config)) log.warn({ field: f.field }, f.message);
  // Not awaited: serving DHCP does not wait for the NTP and DNS servers it names (each asked once, ≤ 1 s).
  checkDhcpServers(config, udpServerProbe()).then(
    (checks) => {
      for (const f of dhcpServerFindings(config, checks, true)) log.warn({ field: f.field }, f.message);
    },
    (err: unknown) => log.warn({ err }, 'checking the DHCP-named NTP and DNS servers failed'),
  );
  const store = await openStore(config.dataDir);
  try {
    const metrics = agentMetrics();
    const applier = await openApplier(config, store, log);
    const directory = (): NodeDirectory => applier.directory();
    for (const f of [...missingBootFiles(config, directory()), ...missingAssets(config, directory())]) log.warn({ field: f.field }, f.message);
    // The manifest may override the outbox bound: read on every check.
    const outbox = await openOutbox(store.sublevel<StoredReport>('outbox'), {
      maxEvents: () => directory().settings.outboxMaxEvents ?? config.outboxMaxEvents,
      log: log.child({ component: 'outbox' }),
      registry: metrics,
    });
    const report = outboxSink(outbox, log);
    applier.onEvent((event) => report(manifestEventReport(event)));

    const images = await openImageCache(config, store, directory, log, metrics);
    const leases = await openLeasePool(store.sublevel<LeaseRecord>('leases'));
    // Proxy mode: the addresses PXE clients showed they hold; after this agent's own leases.
    const proxyBindings = createProxyBindings({ ttlMs: config.dhcp.leaseTime * 1000, max: PROXY_BINDINGS_MAX });
    const addresses = withProxyBindings(leases, proxyBindings);
    const dhcpWatch = createDhcpWatch({
      config,
      log: log.child({ component: 'dhcp-probe' }),
      registry: metrics,
      onNewServer: (server, mode) => report(foreignDhcpReport(server, mode)),
    });
    const nodes = await NodeRegistry.open({
      store: store.sublevel<NodeRecord>('nodes'),
      directory,
      leases: addresses,
      now: () => new Date(),
      log: log.child({ component: 'nodes' }),
      reports: report,
      maxUnknown: config.nodes.maxUnknown,
      registry: metrics,
    });
    const tokens = await BootTokens.open(store.sublevel<BootGrant>('tokens'), config.bootTokenTtl);
    const provisioner = createProvisioner(config, directory, nodes, addresses, log, metrics);
    nodeMetrics(metrics, () => nodes.list(), directory);
    manifestMetrics(metrics, applier);
    poolMetrics(metrics, config, leases, () => {
      const reserved = reservationsOf(directory());
      return (ip) => reserved.has(ip);
    });
    // A newly applied manifest starts fetching its images and provisioning its BMC nodes.
    applier.onEvent((event) => {
      if (event.outcome !== 'applied') return;
      images.prefetcher.kick();
      provisioner.reconcileAll();
    });
    const uplink = createUplink(config, applier, outbox, log);
    const consoles = config.nodeLogs.enabled ? createConsoles(config, directory, nodes, addresses, log, metrics) : undefined;

    const httpDeps: HttpDeps = {
      config,
      directory,
      nodes,
      tokens,
      leases: addresses,
      log,
      metrics,
      startedAt: new Date(),
      images: images.port,
      registry: images.registry,
      provisioner,
      manifest: {
        offer: (bytes, source) => applier.offer(bytes, source),
        refusedPush: (from, why) => report(refusedPushReport(applier.status().version ?? 0, from, why)),
      },
      uplinkStatus: () => uplinkStatus({ manifest: applier, outbox, puller: uplink.puller, reporter: uplink.reporter }),
      cacheStatus: () => cacheStatus(images.content, images.prefetcher, config.images.limitBytes),
      dhcpStatus: () => dhcpWatch.status(),
      ...(consoles ? { console: consoles.buffers } : {}),
    };
    const app = await buildApp(httpDeps);
    const adminApp = await buildAdminApp(httpDeps);

    const dhcp = createDhcpService({
      config,
      directory,
      leases,
      observer: nodes,
      log,
      registry: metrics,
      mode: () => dhcpWatch.mode(),
      probeMac: dhcpWatch.probeMac,
      proxyBindings,
    });
    const tftp = createTftpService({
      root: config.bootBinariesDir,
      address: config.provisioning.address,
      port: config.ports.tftp,
      bounds: config.tftp,
      observer: nodes,
      log,
      registry: metrics,
    });
    const http = createHttpService(app, config);
    const admin = createAdminService(adminApp, { config, log: log.child({ component: 'admin' }) });
    const services: Service[] = [
      dhcp,
      dhcpWatch,
      tftp,
      http,
      admin,
      createTokenPruner(tokens, log),
      images.prefetcher,
      images.fetcher.service,
      createHealthService({
        outbox,
        log: log.child({ component: 'health' }),
        extra: () => ({
          manifestVersion: applier.status().version ?? 0,
          dataDir: config.dataDir,
          profilesReady: images.prefetcher.readiness(),
          cacheBytes: images.content.totalBytes(),
        }),
      }),
      createProvisionService(provisioner, config.lifecycle.reconcileIntervalMs, systemClock),
      createAnnounceService({ config, log: log.child({ component: 'announce' }), registry: metrics }),
      createRaService({ config, log: log.child({ component: 'ra' }), registry: metrics, dir: path.join(config.dataDir, 'ra') }),
      ...(uplink.puller ? [uplink.puller] : []),
      ...(uplink.reporter ? [uplink.reporter] : []),
      ...(consoles ? [consoles.sink] : []),
    ];
    // Ready once DHCP, TFTP, HTTP and the admin listener listen; a bind failure fails the supervisor instead.
    Promise.all([dhcp.ready, tftp.ready, http.ready, admin.ready]).then(
      () => {
        log.info(
          {
            address: config.provisioning.address,
            ports: config.ports,
            baseUrl: config.httpBaseUrl,
            admin: admin.addresses().map((a) => `http://${a}:${config.admin.port}/`),
            manifest: applier.status(),
          },
          'maskin-agent running',
        );
        onReady?.({ reloadManifest: () => applier.reloadLocal() });
      },
      () => undefined,
    );
    try {
      await supervise(services, signal, log);
    } finally {
      await uplink.client.close();
      await nodes.flush();
      await leases.flush();
    }
  } finally {
    await store.close();
  }
}

/** The manifest in force: the last good signed one from the store, else the local file. */
function openApplier(config: AgentConfig, store: AgentStore, log: Logger): Promise<ManifestApplier> {
  const manifestFile = config.manifestFile;
  return ManifestApplier.open({
    store: store.sublevel<StoredManifest>('manifest'),
    ...(config.rackId !== undefined ? { rackId: config.rackId } : {}),
    trustedKeys: config.uplink.trustedKeys,
    maxBytes: config.uplink.maxManifestBytes,
    talos: talosChecks,
    ...(manifestFile !== undefined ? { localFile: () => loadManifestFile(manifestFile, talosChecks) } : {}),
    log: log.child({ component: 'manifest' }),
  });
}

/** The verified image cache: pinned kernels/initramfs and the installer image's registry blobs, prefetched. */
async function openImageCache(config: AgentConfig, store: AgentStore, directory: () => NodeDirectory, log: Logger, metrics: Registry) {
  const content = await openContentStore({
    dir: path.join(config.dataDir, 'cache'),
    index: store.sublevel<IndexEntry>('images'),
    limitBytes: config.images.limitBytes,
    log: log.child({ component: 'cache' }),
  });
  const fetcher = createFetcher({ store: content, log: log.child({ component: 'fetch' }), registry: metrics });
  const pins = pinsFor(directory, config.images.factoryUrl);
  const fetch: ImagesPort['fetch'] = (digest, source) => fetcher.fetch(digest, source);
  const registry = createRegistryMirror({
    store: content,
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
    referenced: () => referencedDigests(directory()),
    store: content,
    fetch,
    installers: () => installerPins(directory()),
    prefetchInstaller: (pin) => prefetchInstaller(registry, pin),
    log: log.child({ component: 'prefetch' }),
  });
  const port: ImagesPort = {
    pins,
    store: content,
    fetch,
    progress: (digest) => fetcher.active().find((p) => p.digest === digest),
    failure: (digest) => prefetcher.failure(digest),
  };
  return { content, registry, prefetcher, port, fetcher };
}

/**
 * The nodes' consoles: Talos log delivery to provisioning.address, attributed by the address this
 * agent leased, or a manifest node's fixed ipv4 (relayed racks), as script requests are.
 */
function createConsoles(config: AgentConfig, directory: () => NodeDirectory, nodes: NodeRegistry, leases: LeaseView, log: Logger, registry: Registry) {
  const buffers = new ConsoleBuffers({ ...DEFAULT_CONSOLE_LIMITS, linesPerNode: config.nodeLogs.linesPerNode }, Date.now);
  const sink = createConsoleSink({
    address: config.provisioning.address,
    port: config.nodeLogs.port,
    attribute: (ip) => {
      const mac = leases.macOf(ip);
      if (mac !== undefined) return nodes.find(mac)?.id;
      return directory()
        .all()
        .find((n) => n.ipv4 === ip)?.id;
    },
    buffers,
    onMilestone: (id, milestone, line) => {
      const record = nodes.get(id);
      if (!record) return;
      nodes.note(record, 'console-milestone', { milestone, source: line.source, msg: line.msg.slice(0, 200) });
      // Real Talos reports its wipe only on its console (from the address leased to the node).
      if (milestone === 'wipe-complete' && record.state === 'decommissioning') nodes.markWiped(record, 'console');
    },
    log: log.child({ component: 'console' }),
    registry,
  });
  return { buffers, sink };
}

/** Proxy-mode address bindings kept (agent/dhcp/proxyBindings.ts), the oldest dropped first. */
const PROXY_BINDINGS_MAX = 4096;

/** Nodes with a BMC are provisioned by the agent itself: inventory, identity, one-shot PXE, power. */
function createProvisioner(config: AgentConfig, directory: () => NodeDirectory, nodes: NodeRegistry, leases: LeaseView, log: Logger, metrics: Registry) {
  return new ProvisionExecutor({
    directory,
    nodes,
    drivers: createDriverFactory({ log: log.child({ component: 'bmc' }), ipmi: config.bmc.ipmi, registry: metrics }),
    credentials: createCredentialResolver(config.bmc),
    // The lease of the NIC that netbooted first: another of the node's MACs may hold an older one.
    addressOf: (record) =>
      [...(record.facts.bootMac ? [record.facts.bootMac] : []), ...record.macs].map((mac) => leases.ipOf(mac)).find((ip) => ip !== undefined) ??
      record.facts.ip,
    probe: tcpProbe,
    clock: systemClock,
    settings: config.lifecycle,
    log: log.child({ component: 'provision' }),
  });
}

/** Central: the client, the manifest puller (with uplink.manifestUrl), the report delivery (with uplink.reportUrl and rackId). */
function createUplink(config: AgentConfig, applier: ManifestApplier, outbox: Outbox, log: Logger) {
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
        intervalSeconds: () => applier.directory().settings.pullIntervalSeconds ?? config.uplink.pullIntervalSeconds,
        maxBytes: config.uplink.maxManifestBytes,
        apply: (bytes) => applier.offer(bytes, 'pull'),
        log: log.child({ component: 'pull' }),
      })
    : undefined;
  const reporter =
    config.uplink.reportUrl && config.rackId
      ? createReporter({
          outbox,
          agentId: config.agentId,
          rackId: config.rackId,
          post: httpReportTransport({ url: config.uplink.reportUrl, dispatcher: client.dispatcher, headers: client.headers, timeoutMs: client.timeoutMs }),
          log: log.child({ component: 'reports' }),
        })
      : undefined;
  if (!reporter) log.warn('uplink.reportUrl (or rackId) not set: reports are queued in the outbox (bounded) and not delivered');
  return { client, puller, reporter };
}
