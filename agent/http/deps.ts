// What the HTTP surface needs from the rest of the agent.
import type { ConsoleBuffers } from '../console/buffer.js';
import type { DhcpWatchStatus } from '../dhcp/probe.js';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { AgentConfig } from '../config/model.js';
import type { LeaseView } from '../dhcp/leaseView.js';
import type { ErrorCode } from '../errors.js';
import type { ContentStore, Download, DownloadProgress } from '../images/model.js';
import type { RegistryMirror } from '../images/oci.js';
import type { AssetPin } from '../images/pins.js';
import type { ImageFailure } from '../images/prefetch.js';
import type { CacheStatus } from '../images/status.js';
import type { NodeDirectory } from '../manifest/model.js';
import type { NodeRegistry } from '../nodes/registry.js';
import type { BootTokens } from '../nodes/tokens.js';
import type { ProvisionExecutor } from '../provision/executor.js';
import type { UplinkStatus } from '../uplink/status.js';

/** The manifest applier as HTTP sees it (push endpoint, status). */
export interface ManifestPort {
  offer(
    bytes: Uint8Array,
    source: 'pull' | 'push',
  ): Promise<{ outcome: 'applied' | 'unchanged' | 'rejected'; version?: number; code?: ErrorCode; message?: string }>;
  /** Records a refused push (no or wrong credentials) upstream. */
  refusedPush(from: string, why: string): void;
}

/** The verified image cache as HTTP sees it. */
export interface ImagesPort {
  /** Pinned kernel/initramfs by asset path (`<schematic>/<version>/<file>`). */
  pins(): ReadonlyMap<string, AssetPin>;
  readonly store: ContentStore;
  /** Single-flight download of a pinned digest (streams while it runs). */
  fetch(digest: string, source: { url: string; size?: number }): Download;
  /** Progress of a running download of this digest, if one runs. */
  progress(digest: string): DownloadProgress | undefined;
  /** The last failure of this digest's download, until one succeeds (the prefetcher's). */
  failure?(digest: string): ImageFailure | undefined;
}

export interface HttpDeps {
  readonly config: AgentConfig;
  readonly directory: () => NodeDirectory;
  readonly nodes: NodeRegistry;
  readonly tokens: BootTokens;
  readonly leases: LeaseView;
  readonly log: Logger;
  readonly metrics: Registry;
  /** Started-at, for /healthz. */
  readonly startedAt: Date;
  /** Absent: push disabled (answers 404). */
  readonly manifest?: ManifestPort;
  /** Absent: assets come from assetsDir only. */
  readonly images?: ImagesPort;
  /** Absent: no /v2/ registry mirror. */
  readonly registry?: RegistryMirror;
  /** Operator actions on nodes with a BMC (agent/provision); absent: POST /v1/nodes/:id/actions answers 404. */
  readonly provisioner?: Pick<ProvisionExecutor, 'manual'>;
  /** Manifest version/source/age, last pull, outbox depth: for GET /v1/status. */
  readonly uplinkStatus?: () => UplinkStatus;
  /** Image cache size and per-image state: for GET /v1/status. */
  readonly cacheStatus?: () => CacheStatus;
  /** DHCP mode in force and other DHCP servers on the segment: for GET /v1/status. */
  readonly dhcpStatus?: () => DhcpWatchStatus;
  /** The nodes' consoles (agent/console); absent: the node log sink is off. */
  readonly console?: Pick<ConsoleBuffers, 'lines'>;
}
