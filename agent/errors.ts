// One catalogue of agent errors with stable codes. HTTP status mapping lives in agent/http only.
// "Not found" is a normal return (undefined), never one of these.

export class MaskinError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'MaskinError';
    this.code = code;
  }
}

/** A config or manifest field is wrong. `field` is a JSON-pointer-like path, `fix` says what to do. */
export class InvalidFieldError extends MaskinError {
  readonly field: string;
  readonly fix: string;
  constructor(code: string, source: string, field: string, problem: string, fix: string) {
    super(code, `${source}: ${field || '(top level)'}: ${problem}. Fix: ${fix}`);
    this.field = field;
    this.fix = fix;
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

/** A packet could not be decoded. Transports drop it and count it; it is never fatal. */
export class MalformedPacketError extends MaskinError {
  constructor(protocol: 'dhcp' | 'tftp', reason: string) {
    super(`MASKIN_ERR_${protocol.toUpperCase()}_MALFORMED`, `malformed ${protocol} packet: ${reason}`);
  }
}

/** A rendered Talos machine config does not validate against the Talos schema. */
export class MachineConfigError extends MaskinError {
  readonly nodeId: string;
  constructor(nodeId: string, detail: string) {
    super('MASKIN_ERR_MACHINE_CONFIG_INVALID', `machine config for node ${nodeId} is invalid: ${detail}`);
    this.nodeId = nodeId;
  }
}

export class BootTokenError extends MaskinError {
  readonly reason: 'unknown' | 'expired' | 'wrong-address' | 'superseded';
  constructor(reason: BootTokenError['reason']) {
    super('MASKIN_ERR_BOOT_TOKEN_REFUSED', `boot token refused: ${reason}`);
    this.reason = reason;
  }
}
