// Desired state in force, and how it changes: a signed manifest (pulled or pushed) is verified
// whole, persisted as last-known-good (synced), and only then swapped in — never half-applied.
// At start: the last good signed manifest from the store, else the local file, else nothing
// (DHCP and discovery only, said loudly).
import { createPublicKey, type KeyObject } from 'node:crypto';
import type { AbstractPutOptions } from 'abstract-level';
import type { Logger } from 'pino';
import { MaskinError, RackNotConfiguredError, type ErrorCode } from '../errors.js';
import type { Sublevel } from '../store/store.js';
import type { TalosChecks } from './load.js';
import { directoryOf, EMPTY_MANIFEST, type Manifest, type NodeDirectory } from './model.js';
import { verifySignedManifest, type VerifiedManifest } from './signature.js';

export type ManifestSource = 'pull' | 'push' | 'store' | 'local-file' | 'none';

export interface ApplyOutcome {
  readonly outcome: 'applied' | 'unchanged' | 'rejected';
  readonly version?: number;
  /** A rejection's code. */
  readonly code?: ErrorCode;
  readonly reason?: string;
  readonly message?: string;
}

export interface ManifestStatus {
  readonly source: ManifestSource;
  readonly version?: number;
  readonly rackId?: string;
  readonly keyId?: string;
  readonly issuedAt?: string;
  readonly appliedAt?: string;
  readonly nodes: number;
  readonly lastRejection?: { readonly at: string; readonly source: string; readonly code: ErrorCode; readonly message: string };
}

/** An offer's outcome as the rest of the agent hears it. */
export interface ManifestEvent {
  readonly outcome: 'applied' | 'rejected' | 'unchanged';
  readonly version: number;
  readonly source: string;
  readonly errorCode?: ErrorCode;
  readonly detail?: string;
}

/** A listener of onEvent (main: the report upstream, the prefetcher and the provisioner). */
export interface ManifestEventSink {
  (event: ManifestEvent): void;
}

export interface StoredManifest {
  /** The exact SignedManifest bytes, base64. */
  readonly bytes: string;
  readonly version: number;
  readonly source: 'pull' | 'push';
  readonly appliedAt: string;
}

const LAST_GOOD = 'last-good';

export interface ApplierDeps {
  readonly store: Sublevel<StoredManifest>;
  readonly rackId?: string;
  readonly trustedKeys: readonly { id: string; publicKeyPem: string }[];
  readonly maxBytes: number;
  readonly talos?: TalosChecks;
  /** Loads the local manifest file, if one is configured. */
  readonly localFile?: () => Manifest;
  readonly log: Logger;
  readonly now?: () => Date;
}

export class ManifestApplier {
  private current: NodeDirectory = directoryOf(EMPTY_MANIFEST);
  private state: ManifestStatus = { source: 'none', nodes: 0 };
  /** Version and bytes of the signed manifest in force, if any: the anti-rollback floor. */
  private signed: { version: number; bytes: Buffer } | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private readonly listeners: ManifestEventSink[] = [];
  private readonly keys: ReadonlyMap<string, KeyObject>;
  private readonly now: () => Date;

  private constructor(private readonly deps: ApplierDeps) {
    this.keys = new Map(deps.trustedKeys.map((k) => [k.id, createPublicKey(k.publicKeyPem)]));
    this.now = deps.now ?? (() => new Date());
  }

  static async open(deps: ApplierDeps): Promise<ManifestApplier> {
    const applier = new ManifestApplier(deps);
    await applier.start();
    return applier;
  }

  directory(): NodeDirectory {
    return this.current;
  }

  status(): ManifestStatus {
    return this.state;
  }

  /** Calls `listener` with the outcome of every later offer that applies or rejects a manifest; opening emits none. */
  onEvent(listener: ManifestEventSink): void {
    this.listeners.push(listener);
  }

  /** Verifies and applies a SignedManifest; serialized, so two offers never interleave. */
  offer(bytes: Uint8Array, source: 'pull' | 'push'): Promise<ApplyOutcome> {
    const run = this.queue.then(() => this.apply(Buffer.from(bytes), source));
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Re-reads the local file; only when no signed manifest is in force (central owns the rack then). */
  reloadLocal(): boolean {
    if (this.signed || !this.deps.localFile) {
      this.deps.log.warn({ source: this.state.source }, 'manifest reload ignored: the manifest in force comes from central');
      return false;
    }
    try {
      this.installLocal(this.deps.localFile());
      this.deps.log.info({ nodes: this.state.nodes }, 'manifest reloaded');
      return true;
    } catch (err) {
      this.deps.log.error({ err: (err as Error).message }, 'manifest rejected; the last good one stays in force');
      return false;
    }
  }

  private async start(): Promise<void> {
    const stored = await this.deps.store.get(LAST_GOOD);
    if (stored) {
      try {
        const verified = this.verify(Buffer.from(stored.bytes, 'base64'), undefined);
        this.signed = { version: verified.version, bytes: Buffer.from(verified.bytes) };
        this.install(verified.manifest, {
          source: 'store',
          version: verified.version,
          keyId: verified.keyId,
          appliedAt: stored.appliedAt,
          ...(verified.issuedAt ? { issuedAt: verified.issuedAt.toISOString() } : {}),
        });
        this.deps.log.info({ version: verified.version, appliedAt: stored.appliedAt }, 'last good manifest loaded from the store');
        return;
      } catch (err) {
        // Keys rotated or config changed under it: never serve what no longer verifies.
        this.deps.log.error({ err: (err as Error).message }, 'the stored last-good manifest no longer verifies; not using it');
      }
    }
    if (this.deps.localFile) {
      this.installLocal(this.deps.localFile());
      this.deps.log.warn({ nodes: this.state.nodes }, 'no signed manifest yet: provisioning from the local manifest file');
      return;
    }
    this.deps.log.error(
      'NO MANIFEST: no signed manifest was ever applied and no local manifest file is configured; serving DHCP and discovery only, installing nothing',
    );
  }

  private verify(bytes: Buffer, currentVersion: number | undefined): VerifiedManifest {
    if (this.deps.rackId === undefined) throw new RackNotConfiguredError();
    return verifySignedManifest(bytes, {
      trustedKeys: this.keys,
      rackId: this.deps.rackId,
      ...(currentVersion !== undefined ? { currentVersion } : {}),
      maxBytes: this.deps.maxBytes,
      ...(this.deps.talos ? { talos: this.deps.talos } : {}),
    });
  }

  private async apply(bytes: Buffer, source: 'pull' | 'push'): Promise<ApplyOutcome> {
    if (this.signed && this.signed.bytes.equals(bytes)) return { outcome: 'unchanged', version: this.signed.version };
    let verified: VerifiedManifest;
    try {
      verified = this.verify(bytes, this.signed?.version);
    } catch (err) {
      if (!(err instanceof MaskinError)) throw err;
      const reason = (err as MaskinError & { reason?: string }).reason;
      this.state = { ...this.state, lastRejection: { at: this.now().toISOString(), source, code: err.code, message: err.message } };
      this.deps.log.warn({ source, code: err.code, err: err.message }, 'manifest rejected; the last good one stays in force');
      this.emit({ outcome: 'rejected', version: this.signed?.version ?? 0, source, errorCode: err.code, detail: err.message.slice(0, 2000) });
      return { outcome: 'rejected', code: err.code, message: err.message, ...(reason ? { reason } : {}) };
    }
    const appliedAt = this.now().toISOString();
    // Durable first: a crash after this line comes back with the new manifest, before it with the old.
    // Sublevels forward `sync` to classic-level; abstract-level's option types omit it.
    await this.deps.store.put(LAST_GOOD, { bytes: bytes.toString('base64'), version: verified.version, source, appliedAt }, {
      sync: true,
    } as AbstractPutOptions<string, StoredManifest>);
    this.signed = { version: verified.version, bytes };
    this.install(verified.manifest, {
      source,
      version: verified.version,
      keyId: verified.keyId,
      appliedAt,
      ...(verified.issuedAt ? { issuedAt: verified.issuedAt.toISOString() } : {}),
    });
    this.deps.log.info({ source, version: verified.version, nodes: this.state.nodes }, 'manifest applied');
    this.emit({ outcome: 'applied', version: verified.version, source });
    return { outcome: 'applied', version: verified.version };
  }

  private emit(event: ManifestEvent): void {
    for (const listener of this.listeners) listener(event);
  }

  /** The swap: one assignment, so readers see the old directory or the new, never a mix. */
  /** A local file has no signature: its own `version` and the time it was read stand for a signed manifest's. */
  private installLocal(manifest: Manifest): void {
    this.install(manifest, { source: 'local-file', version: manifest.version, appliedAt: this.now().toISOString() });
  }

  private install(manifest: Manifest, meta: Omit<ManifestStatus, 'nodes' | 'rackId' | 'lastRejection'>): void {
    const directory = directoryOf(manifest);
    const lastRejection = this.state.lastRejection;
    this.state = {
      ...meta,
      nodes: manifest.nodes.length,
      ...(manifest.rackId ? { rackId: manifest.rackId } : {}),
      ...(lastRejection ? { lastRejection } : {}),
    };
    this.current = directory;
  }
}
