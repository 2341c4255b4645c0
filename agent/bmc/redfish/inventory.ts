// Pure parsing of a Redfish system and its member resources into BmcInventory. Every piece may be
// missing (bmcweb has no Manufacturer, Intel's system EthernetInterfaces is empty); what is
// missing stays undefined or empty, never a guess.
import type { BmcDrive, BmcInventory, BmcNic, BmcProcessor } from '../driver.js';
import type { Json } from './json.js';

export interface InventoryParts {
  readonly processors: readonly Json[];
  readonly memory: readonly Json[];
  /** Storage Drive resources. */
  readonly drives: readonly Json[];
  /** SimpleStorage resources, used only when no Storage drive was found. */
  readonly simpleStorage: readonly Json[];
  readonly ethernet: readonly Json[];
}

const str = (v: unknown): string | undefined => (typeof v === 'string' && v.trim() !== '' ? v.trim() : undefined);
const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
const absent = (r: Json) => (r['Status'] as Json | undefined)?.['State'] === 'Absent';

/** `AA-BB-cc:dd…`, `aabbccddeeff` → `aa:bb:cc:dd:ee:ff`; anything not 6 octets → undefined. */
export function normaliseMac(v: unknown): string | undefined {
  const s = str(v);
  if (s === undefined) return undefined;
  const hex = s.replace(/[:\-.]/g, '').toLowerCase();
  if (!/^[0-9a-f]{12}$/.test(hex) || hex === '000000000000') return undefined;
  return hex.match(/../g)!.join(':');
}

function processors(system: Json, parts: readonly Json[]): BmcProcessor[] {
  const cpus = parts.filter((p) => !absent(p) && (p['ProcessorType'] === undefined || p['ProcessorType'] === 'CPU'));
  if (cpus.length > 0) {
    return cpus.map((p) => {
      const model = str(p['Model']);
      const cores = num(p['TotalCores']);
      return { ...(model === undefined ? {} : { model }), ...(cores === undefined ? {} : { cores }) };
    });
  }
  const summary = (system['ProcessorSummary'] as Json | undefined) ?? {};
  const count = num(summary['Count']) ?? 0;
  const model = str(summary['Model']);
  return Array.from({ length: count }, () => (model === undefined ? {} : { model }));
}

function memoryMiB(system: Json, dimms: readonly Json[]): number | undefined {
  const sized = dimms.filter((d) => !absent(d) && num(d['CapacityMiB']) !== undefined);
  if (sized.length > 0) return sized.reduce((a, d) => a + (d['CapacityMiB'] as number), 0);
  const gib = num((system['MemorySummary'] as Json | undefined)?.['TotalSystemMemoryGiB']);
  return gib === undefined || gib === 0 ? undefined : Math.round(gib * 1024);
}

function drives(parts: InventoryParts): BmcDrive[] {
  const drive = (name: unknown, serial: unknown, size: unknown): BmcDrive => {
    const n = str(name);
    const s = str(serial);
    const b = num(size);
    return { ...(n === undefined ? {} : { name: n }), ...(s === undefined ? {} : { serial: s }), ...(b === undefined ? {} : { sizeBytes: b }) };
  };
  const real = parts.drives.filter((d) => !absent(d));
  if (real.length > 0) return real.map((d) => drive(d['Name'] ?? d['Id'], d['SerialNumber'], d['CapacityBytes']));
  return parts.simpleStorage.flatMap((s) => {
    const devices = Array.isArray(s['Devices']) ? (s['Devices'] as Json[]) : [];
    return devices.filter((d) => !absent(d)).map((d) => drive(d['Name'], d['SerialNumber'], d['CapacityBytes']));
  });
}

function nics(ethernet: readonly Json[]): BmcNic[] {
  const out: BmcNic[] = [];
  for (const e of ethernet) {
    const mac = normaliseMac(e['PermanentMACAddress']) ?? normaliseMac(e['MACAddress']);
    if (mac !== undefined) out.push({ id: str(e['Id']) ?? mac, mac });
  }
  return out;
}

export function parseInventory(system: Json, parts: InventoryParts): BmcInventory {
  const manufacturer = str(system['Manufacturer']);
  const model = str(system['Model']);
  const serial = str(system['SerialNumber']);
  const uuid = str(system['UUID'])?.toLowerCase();
  const mem = memoryMiB(system, parts.memory);
  return {
    ...(manufacturer === undefined ? {} : { manufacturer }),
    ...(model === undefined ? {} : { model }),
    ...(serial === undefined ? {} : { serial }),
    ...(uuid === undefined ? {} : { uuid }),
    processors: processors(system, parts.processors),
    ...(mem === undefined ? {} : { memoryMiB: mem }),
    drives: drives(parts),
    nics: nics(parts.ethernet),
  };
}
