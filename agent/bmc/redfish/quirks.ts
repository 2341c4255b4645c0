// Vendor quirk profiles as data: what a driver must do differently per BMC family, each entry
// traced to behaviour seen in public Redfish captures (DMTF mockups, iDRAC9, iLO 5, Supermicro
// X12, Lenovo XCC/SE450, AMI MegaRAC, bmcweb). The driver reads a profile; it never branches on a
// vendor name itself.
import type { Json } from './json.js';

export type RedfishVendor = 'dell' | 'hpe' | 'supermicro' | 'lenovo' | 'ami' | 'openbmc' | 'generic';

export interface RedfishQuirks {
  /**
   * Where the Boot override PATCH goes when the system advertises `@Redfish.Settings`:
   * - 'system': always the ComputerSystem itself;
   * - 'present-properties': the Settings object gets the Boot properties its body lists, the
   *   system the rest (iDRAC: `System.Embedded.1/Settings` holds only BootSourceOverrideMode);
   * - 'all': every Boot property goes to the Settings object (Lenovo XCC `Systems/1/Pending`).
   */
  readonly bootSettings: 'system' | 'present-properties' | 'all';
  /**
   * Whether the read-back of BootSourceOverrideMode can be trusted. When false the mode is sent
   * but not compared (some firmwares accept it and keep reporting the old mode until the reset).
   */
  readonly reportsMode: boolean;
  /** How the BMC writes ETags, for the log line when an If-Match is refused; all forms are handled. */
  readonly etagStyle: 'absent' | 'weak' | 'strong' | 'header-only';
  /** Reset types in order of preference per operation; the first one the BMC allows wins. */
  readonly reset: {
    readonly on: readonly string[];
    readonly off: readonly string[];
    readonly restart: readonly string[];
  };
}

const dmtfReset = {
  on: ['On', 'ForceOn', 'PushPowerButton'],
  // ForceOff first: provisioning wants the power gone now, not after an OS agrees to shut down.
  off: ['ForceOff', 'GracefulShutdown', 'PushPowerButton'],
  restart: ['ForceRestart', 'PowerCycle'],
} as const;

export const QUIRKS: Readonly<Record<RedfishVendor, RedfishQuirks>> = {
  dell: { bootSettings: 'present-properties', reportsMode: true, etagStyle: 'header-only', reset: dmtfReset },
  hpe: { bootSettings: 'system', reportsMode: true, etagStyle: 'weak', reset: dmtfReset },
  supermicro: { bootSettings: 'system', reportsMode: true, etagStyle: 'strong', reset: dmtfReset },
  lenovo: { bootSettings: 'all', reportsMode: true, etagStyle: 'strong', reset: dmtfReset },
  ami: { bootSettings: 'system', reportsMode: true, etagStyle: 'weak', reset: dmtfReset },
  openbmc: { bootSettings: 'system', reportsMode: true, etagStyle: 'absent', reset: dmtfReset },
  generic: { bootSettings: 'system', reportsMode: true, etagStyle: 'absent', reset: dmtfReset },
};

function oemKeys(root: Json): string[] {
  const oem = root['Oem'];
  return oem !== null && typeof oem === 'object' ? Object.keys(oem).map((k) => k.toLowerCase()) : [];
}

/**
 * Picks the profile from the service root (Vendor, Oem keys) and the system's Manufacturer.
 * The root decides when it can: a Supermicro-built board behind an AMI BMC behaves like AMI.
 */
export function detectVendor(root: Json, system: Json): RedfishVendor {
  const vendor = String(root['Vendor'] ?? '')
    .toLowerCase()
    .split(/[^a-z0-9]+/);
  const oem = oemKeys(root);
  const has = (name: string) => vendor.includes(name) || oem.includes(name);
  if (has('dell')) return 'dell';
  if (has('hpe') || has('hp')) return 'hpe';
  if (has('supermicro')) return 'supermicro';
  if (has('lenovo')) return 'lenovo';
  if (has('ami')) return 'ami';
  if (has('openbmc')) return 'openbmc';
  // bmcweb's root names no vendor; it links the manager that provides the service, `bmc`.
  const provider = (root['Links'] as Json | undefined)?.['ManagerProvidingService'] as Json | undefined;
  if (typeof provider?.['@odata.id'] === 'string' && /\/Managers\/bmc\/?$/.test(provider['@odata.id'])) return 'openbmc';
  const maker = String(system['Manufacturer'] ?? '').toLowerCase();
  if (maker.startsWith('dell')) return 'dell';
  if (maker === 'hpe' || maker.startsWith('hewlett')) return 'hpe';
  if (maker.startsWith('supermicro')) return 'supermicro';
  if (maker.startsWith('lenovo')) return 'lenovo';
  return 'generic';
}
