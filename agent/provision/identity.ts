// Is the server behind this BMC the one the manifest names? Pure. A mismatch holds the node: a
// wrong cable or a swapped chassis must never be installed over.
import type { BmcInventory } from '../bmc/driver.js';
import type { NodeSpec } from '../manifest/model.js';
import { normalizeMac } from '../manifest/model.js';

/** Undefined when the inventory matches; otherwise why not. */
export function identityMismatch(spec: NodeSpec, inventory: BmcInventory): string | undefined {
  if (spec.serial !== undefined) {
    const got = inventory.serial?.trim();
    if (got === undefined || got === '') return `the manifest names serial ${spec.serial}, the BMC reports none`;
    if (got.toLowerCase() !== spec.serial.trim().toLowerCase()) return `serial mismatch: the manifest names ${spec.serial}, the BMC reports ${got}`;
  }
  // IPMI BMCs report no NICs: then only the serial can be checked. When the BMC lists NICs, every
  // MAC the manifest names must be among them.
  if (inventory.nics.length > 0) {
    const reported = new Set(inventory.nics.map((n) => normalizeMac(n.mac)));
    const missing = spec.macs.filter((mac) => !reported.has(normalizeMac(mac)));
    if (missing.length > 0) return `MAC mismatch: the BMC reports ${[...reported].join(', ')}, not ${missing.join(', ')}`;
  }
  return undefined;
}
