// Pure readings of ipmitool 1.8.x output (lanplus) and of its failures. Formats: ipmitool's
// lib/ipmi_chassis.c (power status, "chassis bootparam get 5"), lib/ipmi_fru.c ("fru print"),
// lib/ipmi_mc.c ("mc guid"), lib/ipmi_lanp.c ("lan print"); RAKP errors from
// src/plugins/lanplus/lanplus.c (printed with -v). Boot flags: IPMI v2.0 §28.13 table 28-14,
// parameter 5.
import type { BmcError } from '../../errors.js';
import type { BootMode, PowerState } from '../driver.js';

/** "Chassis Power is on|off" → the state; undefined when the text says neither. */
export function parsePowerStatus(stdout: string): PowerState | undefined {
  const m = /Chassis Power is (on|off)/i.exec(stdout);
  return m ? (m[1]!.toLowerCase() as PowerState) : undefined;
}

export type BootDevice =
  'none' | 'pxe' | 'disk' | 'disk-safe' | 'diagnostic' | 'cdrom' | 'bios' | 'remote-floppy' | 'remote-cdrom' | 'remote-disk' | 'floppy' | 'other';

/** Boot device selector, data byte 2 bits 5:2 (table 28-14). */
const DEVICES: Readonly<Record<number, BootDevice>> = {
  0x0: 'none',
  0x1: 'pxe',
  0x2: 'disk',
  0x3: 'disk-safe',
  0x4: 'diagnostic',
  0x5: 'cdrom',
  0x6: 'bios',
  0x7: 'remote-floppy',
  0x8: 'remote-cdrom',
  0x9: 'remote-disk',
  0xb: 'remote-disk',
  0xf: 'floppy',
};

export interface BootFlags {
  /** Data byte 1 bit 7: the BMC will hand these flags to the firmware at the next boot. */
  readonly valid: boolean;
  /** Data byte 1 bit 6: all future boots (true) or only the next one (false). */
  readonly persistent: boolean;
  /** Data byte 1 bit 5: EFI boot (true) or PC-compatible legacy (false). */
  readonly mode: BootMode;
  readonly device: BootDevice;
}

/**
 * Reads "chassis bootparam get 5". The "Boot parameter data:" hex (5 bytes) is authoritative; the
 * lines below it are ipmitool's rendering of the same bits. Undefined when there is no data line.
 */
export function parseBootFlags(stdout: string): BootFlags | undefined {
  const m = /Boot parameter data:\s*([0-9a-f]+)/i.exec(stdout);
  if (!m || m[1]!.length < 4) return undefined;
  const b1 = parseInt(m[1]!.slice(0, 2), 16);
  const b2 = parseInt(m[1]!.slice(2, 4), 16);
  return {
    valid: (b1 & 0x80) !== 0,
    persistent: (b1 & 0x40) !== 0,
    mode: (b1 & 0x20) !== 0 ? 'uefi' : 'legacy',
    device: DEVICES[(b2 >> 2) & 0xf] ?? 'other',
  };
}

/**
 * How much of parameter 5 a BMC keeps: 'full' (valid, next-boot-only, EFI bit and device, as real
 * BMCs do) or 'device-only' (OpenIPMI's ipmi_sim answers data byte 1 = 0 whatever was set).
 */
export type BootFlagCheck = 'full' | 'device-only';

/** What differs between the flags read back and a one-shot PXE in `mode`; empty when they match. */
export function bootFlagMismatches(flags: BootFlags, mode: BootMode, check: BootFlagCheck): string[] {
  const out: string[] = [];
  if (flags.device !== 'pxe') out.push(`boot device is ${flags.device}, not pxe`);
  if (check === 'device-only') return out;
  if (!flags.valid) out.push('boot flags are not valid');
  if (flags.persistent) out.push('override is persistent, not next boot only');
  if (flags.mode !== mode) out.push(`boot type is ${flags.mode}, not ${mode}`);
  return out;
}

export interface FruInfo {
  readonly manufacturer?: string;
  readonly product?: string;
  readonly serial?: string;
  readonly boardSerial?: string;
  readonly chassisSerial?: string;
}

/**
 * Reads the first FRU device of "fru print 0": Product fields first, Board fields as fallback
 * (many boards fill only one of the two areas).
 */
export function parseFru(stdout: string): FruInfo {
  const fields = new Map<string, string>();
  for (const line of stdout.split('\n')) {
    const m = /^\s*([A-Za-z][A-Za-z ./]*?)\s*:\s*(.*?)\s*$/.exec(line);
    if (!m || fields.has(m[1]!)) continue;
    fields.set(m[1]!, m[2]!);
  }
  const get = (...keys: string[]): string | undefined => {
    for (const k of keys) {
      const v = fields.get(k);
      if (v && !/^(unspecified|not specified|n\/a|none|0+|to be filled by o\.e\.m\.)$/i.test(v)) return v;
    }
    return undefined;
  };
  const manufacturer = get('Product Manufacturer', 'Board Mfg');
  const product = get('Product Name', 'Board Product');
  const serial = get('Product Serial', 'Board Serial', 'Chassis Serial');
  const boardSerial = get('Board Serial');
  const chassisSerial = get('Chassis Serial');
  return {
    ...(manufacturer ? { manufacturer } : {}),
    ...(product ? { product } : {}),
    ...(serial ? { serial } : {}),
    ...(boardSerial ? { boardSerial } : {}),
    ...(chassisSerial ? { chassisSerial } : {}),
  };
}

/**
 * "System GUID : 8-4-4-4-12" → lower case; undefined for none or all zeroes. With -v, ipmitool
 * prints the 16 bytes as received instead ("System GUID : 00112233…", 32 hex digits); IPMI sends
 * them least significant first, so they are reversed into the form ipmitool prints without -v.
 */
export function parseGuid(stdout: string): string | undefined {
  const dashed = /System GUID\s*:\s*([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})/i.exec(stdout)?.[1];
  const raw = /System GUID\s*:\s*([0-9a-f]{32})\s*$/im.exec(stdout)?.[1];
  let guid = dashed?.toLowerCase();
  if (!guid && raw) {
    const hex = (raw.toLowerCase().match(/../g) ?? []).reverse().join('');
    guid = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  }
  if (!guid || /^[0-]+$/.test(guid)) return undefined;
  return guid;
}

/**
 * "MAC Address : xx:…" of "lan print": the BMC's own LAN port. It is not a host NIC, so the
 * inventory never lists it as one; the driver only logs it.
 */
export function parseLanMac(stdout: string): string | undefined {
  const m = /^MAC Address\s*:\s*([0-9a-f]{2}(?::[0-9a-f]{2}){5})\s*$/im.exec(stdout);
  if (!m || m[1] === '00:00:00:00:00:00') return undefined;
  return m[1]!.toLowerCase();
}

/**
 * Which way a failed ipmitool run failed, from its stderr (run with -v, which prints the RAKP
 * reason). ipmitool says "Unable to establish IPMI v2 / RMCP+ session" for a wrong password and
 * for a BMC that does not answer alike; only the lines before it tell them apart.
 */
export function classifyFailure(stderr: string): BmcError['reason'] {
  if (/RAKP \d HMAC is invalid|unauthorized name|invalid (password|user ?name|role)|insufficient privilege|Unauthorized/i.test(stderr)) return 'auth';
  if (/node busy|out of space|temporarily unavailable|command response could not be provided/i.test(stderr)) return 'busy';
  if (/Invalid command|Invalid data field in request|not supported|parameter not supported|Unknown command/i.test(stderr)) return 'unsupported';
  if (
    /Get Auth Capabilities error|No response from remote controller|Unable to establish IPMI v2 \/ RMCP\+ session|Error issuing Get Channel Authentication Capabilities|Connection refused|Name or service not known|Address lookup/i.test(
      stderr,
    )
  )
    return 'unreachable';
  return 'protocol';
}

/** The last meaningful stderr line, for an error message (never contains the password: it is only in the environment). */
export function failureDetail(stderr: string): string {
  const lines = stderr
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !/^Loading IANA PEN Registry|^Running Get VSO|^Discovered IPMB|Get Channel Cipher Suites/i.test(l));
  return lines.slice(-2).join('; ') || 'ipmitool failed without a message';
}
