// The one interface the provisioning lifecycle drives a server's BMC through. Drivers:
// Redfish (agent/bmc/redfish/) and IPMI through ipmitool (agent/bmc/ipmi/); one per node, chosen
// from the manifest's BmcRef, never by probing protocols. Every method is bounded in time and
// throws a MaskinError (agent/errors.ts, MASKIN_ERR_BMC_*) that names the BMC and the cause.
// Credentials never appear in errors, logs or reports.

export type PowerState = 'on' | 'off';
/** Firmware boot mode for the one-shot network boot. */
export type BootMode = 'uefi' | 'legacy';

export interface BmcProcessor {
  readonly model?: string;
  readonly cores?: number;
}

export interface BmcDrive {
  readonly name?: string;
  readonly serial?: string;
  readonly sizeBytes?: number;
}

export interface BmcNic {
  readonly id: string;
  /** Lower-case, colon separated. */
  readonly mac: string;
}

/** What the BMC says the server is; compared with the manifest before anything is installed. */
export interface BmcInventory {
  readonly manufacturer?: string;
  readonly model?: string;
  readonly serial?: string;
  readonly uuid?: string;
  readonly processors: readonly BmcProcessor[];
  readonly memoryMiB?: number;
  readonly drives: readonly BmcDrive[];
  readonly nics: readonly BmcNic[];
}

export interface BmcDriver {
  readonly kind: 'redfish' | 'ipmi';
  /** Where the BMC is (host or URL), for logs and errors. */
  readonly address: string;
  powerState(): Promise<PowerState>;
  powerOn(): Promise<void>;
  /** Immediate (forced) power off. */
  powerOff(): Promise<void>;
  /** Power-cycles a server that is on (forced restart), powers on one that is off. */
  powerCycle(): Promise<void>;
  /**
   * Sets a one-time network (PXE) boot in `mode` for the next boot only, then reads it back and
   * throws MASKIN_ERR_BMC_BOOT_OVERRIDE when the BMC did not keep it (after its own bounded
   * re-tries). Call it immediately before each powerCycle/powerOn.
   */
  setOneShotPxe(mode: BootMode): Promise<void>;
  inventory(): Promise<BmcInventory>;
  /** Releases sessions (Redfish logout). Idempotent. */
  close(): Promise<void>;
}

/** Resolved from the local secrets, never from the manifest. */
export interface BmcCredentials {
  readonly username: string;
  readonly password: string;
}
