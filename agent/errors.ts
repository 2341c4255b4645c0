// One catalogue of agent errors with stable codes. HTTP status mapping lives in agent/http only.
// "Not found" is a normal return (undefined), never one of these.

/**
 * Every code the agent puts in an error, a log line or a report upstream. Codes are stable: they
 * are never renamed. README.md has one row per code (test/errors.test.ts holds them to this list).
 */
export const ERROR_CODES = [
  // agent config and local manifest file
  'MASKIN_ERR_CONFIG_FIELD',
  'MASKIN_ERR_CONFIG_INVALID',
  'MASKIN_ERR_MANIFEST_FIELD',
  'MASKIN_ERR_MANIFEST_INVALID',
  // signed manifests: keys, rejections, pushes
  'MASKIN_ERR_MANIFEST_KEY',
  'MASKIN_ERR_MANIFEST_NO_RACK',
  'MASKIN_ERR_MANIFEST_TOO_LARGE',
  'MASKIN_ERR_MANIFEST_GARBAGE',
  'MASKIN_ERR_MANIFEST_UNKNOWN_KEY',
  'MASKIN_ERR_MANIFEST_BAD_SIGNATURE',
  'MASKIN_ERR_MANIFEST_WRONG_RACK',
  'MASKIN_ERR_MANIFEST_ROLLBACK',
  'MASKIN_ERR_STOPPING',
  'MASKIN_ERR_PUSH_UNAUTHENTICATED',
  'MASKIN_ERR_CLI_FILE',
  // DHCP and TFTP packets
  'MASKIN_ERR_DHCP_MALFORMED',
  'MASKIN_ERR_TFTP_MALFORMED',
  // boot tokens, kernel arguments, Talos machine configs
  'MASKIN_ERR_BOOT_TOKEN_REFUSED',
  'MASKIN_ERR_KERNEL_ARG_REFUSED',
  'MASKIN_ERR_TALOS_VERSION_UNSUPPORTED',
  'MASKIN_ERR_TALOS_CONFIG_INVALID',
  'MASKIN_ERR_MACHINE_CONFIG_INVALID',
  // uplink to central
  'MASKIN_ERR_UPLINK_FILE',
  'MASKIN_ERR_UPLINK_UNREACHABLE',
  'MASKIN_ERR_UPLINK_TIMEOUT',
  'MASKIN_ERR_UPLINK_TLS',
  'MASKIN_ERR_UPLINK_HTTP_STATUS',
  'MASKIN_ERR_UPLINK_TOO_LARGE',
  'MASKIN_ERR_REPORT_ACK_INVALID',
  // image cache and OCI mirror
  'MASKIN_ERR_IMAGE_DIGEST_MISMATCH',
  'MASKIN_ERR_IMAGE_DISK_FULL',
  'MASKIN_ERR_IMAGE_CACHE_TOO_SMALL',
  'MASKIN_ERR_IMAGE_UPSTREAM',
  'MASKIN_ERR_IMAGE_UPSTREAM_NOT_FOUND',
  // BMCs
  'MASKIN_ERR_BMC_UNREACHABLE',
  'MASKIN_ERR_BMC_TIMEOUT',
  'MASKIN_ERR_BMC_AUTH',
  'MASKIN_ERR_BMC_BUSY',
  'MASKIN_ERR_BMC_UNSUPPORTED',
  'MASKIN_ERR_BMC_PROTOCOL',
  'MASKIN_ERR_BMC_BOOT_OVERRIDE',
  'MASKIN_ERR_BMC_CREDENTIALS',
  // mDNS self-announcement (never needed for provisioning)
  'MASKIN_ERR_ANNOUNCE',
  'MASKIN_ERR_ANNOUNCE_CONFLICT',
  'MASKIN_ERR_MDNS_MALFORMED',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

export class MaskinError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'MaskinError';
    this.code = code;
  }
}

/** Where a wrong field is: the agent config file, the environment read with it, or a manifest. */
export type FieldSource = 'config' | 'environment' | 'manifest';

const FIELD_CODES: Readonly<Record<FieldSource, ErrorCode>> = {
  config: 'MASKIN_ERR_CONFIG_FIELD',
  environment: 'MASKIN_ERR_CONFIG_FIELD',
  manifest: 'MASKIN_ERR_MANIFEST_FIELD',
};

/** A config or manifest field is wrong. `field` is a JSON-pointer-like path, `fix` says what to do. */
export class InvalidFieldError extends MaskinError {
  readonly field: string;
  readonly fix: string;
  /** Where in the file, when known: `line 14`, `line 14, node rack1-n02`; it leads the message, as a compiler's file:line does. */
  readonly at: string | undefined;
  constructor(source: FieldSource, field: string, problem: string, fix: string, at?: string) {
    super(FIELD_CODES[source], `${source}: ${at ? `${at}: ` : ''}${field || '(top level)'}: ${problem}. Fix: ${fix}`);
    this.field = field;
    this.fix = fix;
    this.at = at;
  }
}

export class ConfigError extends MaskinError {
  readonly problems: InvalidFieldError[];
  constructor(file: string, problems: InvalidFieldError[]) {
    super('MASKIN_ERR_CONFIG_INVALID', `invalid agent config ${file}:\n` + problems.map((p) => `  - ${p.message}`).join('\n'));
    this.problems = problems;
  }
}

export class ManifestError extends MaskinError {
  readonly problems: InvalidFieldError[];
  constructor(file: string, problems: InvalidFieldError[]) {
    super('MASKIN_ERR_MANIFEST_INVALID', `invalid manifest ${file}:\n` + problems.map((p) => `  - ${p.message}`).join('\n'));
    this.problems = problems;
  }
}

export type PacketProtocol = 'dhcp' | 'tftp';

const MALFORMED_CODES: Readonly<Record<PacketProtocol, ErrorCode>> = {
  dhcp: 'MASKIN_ERR_DHCP_MALFORMED',
  tftp: 'MASKIN_ERR_TFTP_MALFORMED',
};

/** A packet could not be decoded. Transports drop it and count it; it is never fatal. */
export class MalformedPacketError extends MaskinError {
  constructor(protocol: PacketProtocol, reason: string) {
    super(MALFORMED_CODES[protocol], `malformed ${protocol} packet: ${reason}`);
  }
}

/** A rendered Talos machine config does not validate against the Talos schema. */
export class MachineConfigError extends MaskinError {
  readonly nodeId: string;
  /** What is wrong, without the node: nodes that share a profile and patches share it. */
  readonly detail: string;
  constructor(nodeId: string, detail: string) {
    super('MASKIN_ERR_MACHINE_CONFIG_INVALID', `machine config for node ${nodeId} is invalid: ${detail}`);
    this.nodeId = nodeId;
    this.detail = detail;
  }
}

export class BootTokenError extends MaskinError {
  readonly reason: 'unknown' | 'expired' | 'wrong-address' | 'superseded' | 'not-an-install';
  constructor(reason: BootTokenError['reason']) {
    super('MASKIN_ERR_BOOT_TOKEN_REFUSED', `boot token refused: ${reason}`);
    this.reason = reason;
  }
}

/** A kernel argument cannot be put on an iPXE `kernel` line (iPXE would expand or split it). */
export class KernelArgError extends MaskinError {
  readonly arg: string;
  constructor(arg: string, reason: string) {
    super('MASKIN_ERR_KERNEL_ARG_REFUSED', `kernel argument ${JSON.stringify(arg)} refused: ${reason}`);
    this.arg = arg;
  }
}

/** A profile names a Talos version we carry no machine-config schema or kernel-arg rules for. */
export class TalosVersionError extends MaskinError {
  constructor(version: string, supported: string) {
    super('MASKIN_ERR_TALOS_VERSION_UNSUPPORTED', `Talos version ${JSON.stringify(version)} is not supported; supported: ${supported}`);
  }
}

/** Talos machine-config documents that fail the Talos schema (base configs, before any node is involved). */
export class TalosSchemaError extends MaskinError {
  readonly problems: readonly string[];
  constructor(version: string, problems: readonly string[]) {
    super('MASKIN_ERR_TALOS_CONFIG_INVALID', `machine config does not validate against the Talos ${version} schema: ${problems.join('; ')}`);
    this.problems = problems;
  }
}

export type ManifestRejection = 'too-large' | 'garbage' | 'unknown-key' | 'bad-signature' | 'wrong-rack' | 'rollback' | 'invalid';

const REJECTION_CODES: Readonly<Record<ManifestRejection, ErrorCode>> = {
  'too-large': 'MASKIN_ERR_MANIFEST_TOO_LARGE',
  garbage: 'MASKIN_ERR_MANIFEST_GARBAGE',
  'unknown-key': 'MASKIN_ERR_MANIFEST_UNKNOWN_KEY',
  'bad-signature': 'MASKIN_ERR_MANIFEST_BAD_SIGNATURE',
  'wrong-rack': 'MASKIN_ERR_MANIFEST_WRONG_RACK',
  rollback: 'MASKIN_ERR_MANIFEST_ROLLBACK',
  // Same code as ManifestError on purpose: a signed manifest that fails the schema is the same fault.
  invalid: 'MASKIN_ERR_MANIFEST_INVALID',
};

/** A signed manifest (pulled or pushed) was refused whole; the one in force stays. */
export class ManifestRejectedError extends MaskinError {
  readonly reason: ManifestRejection;
  constructor(reason: ManifestRejection, detail: string, options?: { cause?: unknown }) {
    super(REJECTION_CODES[reason], `signed manifest rejected (${reason}): ${detail}`, options);
    this.reason = reason;
  }
}

/** Reported upstream when a manifest push comes without the push token; nothing is thrown for it. */
export const PUSH_UNAUTHENTICATED = 'MASKIN_ERR_PUSH_UNAUTHENTICATED' satisfies ErrorCode;

/** A key for signing or verifying manifests is not an Ed25519 PEM key of the kind asked for; the message says the fix. */
export class ManifestKeyError extends MaskinError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('MASKIN_ERR_MANIFEST_KEY', message, options);
  }
}

/** No rackId is configured; a signed manifest names its rack, so none can be accepted. */
export class RackNotConfiguredError extends MaskinError {
  constructor() {
    super('MASKIN_ERR_MANIFEST_NO_RACK', 'rackId is not configured, so no signed manifest can be accepted');
  }
}

/** A file the `manifest` commands read or write cannot be used; the message names the file and the fix. */
export class CliFileError extends MaskinError {
  constructor(message: string) {
    super('MASKIN_ERR_CLI_FILE', message);
  }
}

/** A file the uplink config names (pinned CA, client cert/key) cannot be read or used. `field` is the config field. */
export class UplinkFileError extends MaskinError {
  readonly field: string;
  constructor(field: string, file: string, problem: string, options?: { cause?: unknown }) {
    super('MASKIN_ERR_UPLINK_FILE', `config: ${field}: ${file}: ${problem}`, options);
    this.field = field;
  }
}

export type UplinkFailure = 'unreachable' | 'timeout' | 'tls' | 'status' | 'too-large';

const UPLINK_CODES: Readonly<Record<UplinkFailure, ErrorCode>> = {
  unreachable: 'MASKIN_ERR_UPLINK_UNREACHABLE',
  timeout: 'MASKIN_ERR_UPLINK_TIMEOUT',
  tls: 'MASKIN_ERR_UPLINK_TLS',
  status: 'MASKIN_ERR_UPLINK_HTTP_STATUS',
  'too-large': 'MASKIN_ERR_UPLINK_TOO_LARGE',
};

/** One request to central failed. `retryable`: another attempt soon may succeed (network, timeout, 5xx). */
export class UplinkRequestError extends MaskinError {
  readonly reason: UplinkFailure;
  readonly status: number | undefined;
  readonly retryable: boolean;
  constructor(reason: UplinkFailure, detail: string, opts: { status?: number; retryable: boolean; cause?: unknown }) {
    super(UPLINK_CODES[reason], `central ${reason}: ${detail}`, { cause: opts.cause });
    this.reason = reason;
    this.status = opts.status;
    this.retryable = opts.retryable;
  }
}

/** Central answered a report batch, but not with an ack the outbox can act on; the batch stays queued. */
export class ReportAckError extends MaskinError {
  constructor(detail: string, options?: { cause?: unknown }) {
    super('MASKIN_ERR_REPORT_ACK_INVALID', `report ack refused: ${detail}`, options);
  }
}

/** Work refused or cut short because the agent is stopping (SIGTERM, or another service failed). */
export class StoppingError extends MaskinError {
  constructor() {
    super('MASKIN_ERR_STOPPING', 'the agent is stopping');
  }
}

/** Bytes received for a digest hash to something else; nothing of them was stored or served. */
export class DigestMismatchError extends MaskinError {
  readonly expected: string;
  readonly got: string;
  constructor(expected: string, got: string, what: string) {
    super('MASKIN_ERR_IMAGE_DIGEST_MISMATCH', `digest mismatch for ${what}: expected ${expected}, got ${got}`);
    this.expected = expected;
    this.got = got;
  }
}

/** The filesystem holding the image cache is full (ENOSPC) or over quota (EDQUOT). */
export class DiskFullError extends MaskinError {
  readonly dir: string;
  constructor(dir: string, what: string, options?: { cause?: unknown }) {
    const errno = (options?.cause as { code?: string } | undefined)?.code ?? 'ENOSPC';
    super(
      'MASKIN_ERR_IMAGE_DISK_FULL',
      `image cache ${dir} is full (${errno}) while writing ${what}; existing entries are intact. Fix: free space there or lower images.limitBytes`,
      options,
    );
    this.dir = dir;
  }
}

/** The pinned images (current and last-good manifest) alone exceed the cache size limit; they are kept anyway. */
export class CacheTooSmallError extends MaskinError {
  readonly pinnedBytes: number;
  readonly limitBytes: number;
  constructor(pinnedBytes: number, limitBytes: number, pinnedCount: number) {
    super(
      'MASKIN_ERR_IMAGE_CACHE_TOO_SMALL',
      `image cache limit ${limitBytes} bytes is smaller than the ${pinnedCount} pinned images (${pinnedBytes} bytes); they are kept, nothing else is cached. Fix: raise the cache limit`,
    );
    this.pinnedBytes = pinnedBytes;
    this.limitBytes = limitBytes;
  }
}

/** An image source answered with an error status, or could not be reached after every retry. */
export class UpstreamError extends MaskinError {
  readonly url: string;
  readonly status: number | undefined;
  constructor(url: string, detail: string, opts: { status?: number; cause?: unknown } = {}) {
    super(
      opts.status === 404 ? 'MASKIN_ERR_IMAGE_UPSTREAM_NOT_FOUND' : 'MASKIN_ERR_IMAGE_UPSTREAM',
      `image upstream ${url}: ${opts.status === 404 ? 'not found (404)' : detail}`,
      { cause: opts.cause },
    );
    this.url = url;
    this.status = opts.status;
  }
}

export type BmcFailure = 'unreachable' | 'timeout' | 'auth' | 'busy' | 'unsupported' | 'protocol' | 'override';

const BMC_CODES: Readonly<Record<BmcFailure, ErrorCode>> = {
  unreachable: 'MASKIN_ERR_BMC_UNREACHABLE',
  timeout: 'MASKIN_ERR_BMC_TIMEOUT',
  auth: 'MASKIN_ERR_BMC_AUTH',
  busy: 'MASKIN_ERR_BMC_BUSY',
  unsupported: 'MASKIN_ERR_BMC_UNSUPPORTED',
  protocol: 'MASKIN_ERR_BMC_PROTOCOL',
  override: 'MASKIN_ERR_BMC_BOOT_OVERRIDE',
};

/**
 * A BMC operation failed. `reason` says which way, for the lifecycle's retry decision:
 * unreachable/timeout/busy are retried with backoff, auth/unsupported/override are not fixed by
 * retrying the same call. The message names the BMC address and the operation, never a credential.
 */
export class BmcError extends MaskinError {
  readonly address: string;
  readonly operation: string;
  readonly reason: BmcFailure;
  constructor(reason: BmcFailure, address: string, operation: string, detail: string, options?: { cause?: unknown }) {
    super(BMC_CODES[reason], `BMC ${address}: ${operation}: ${detail}`, options);
    this.address = address;
    this.operation = operation;
    this.reason = reason;
  }
}

/** A node's BMC credentials reference names nothing in the local secrets. */
export class BmcCredentialsError extends MaskinError {
  constructor(ref: string, where: string) {
    super(
      'MASKIN_ERR_BMC_CREDENTIALS',
      `BMC credentials "${ref}" are not defined in ${where}. Fix: add an entry named "${ref}" (username, password) there, or set MASKIN_BMC_${ref.toUpperCase().replace(/[^A-Z0-9]/g, '_')}_USERNAME and _PASSWORD`,
    );
  }
}
