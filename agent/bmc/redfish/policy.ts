// Pure Redfish decisions: which ResetType, which If-Match, where the Boot PATCH goes and whether
// the read-back kept it. No I/O; the driver feeds them resources it fetched.
import type { BootMode } from '../driver.js';
import type { RedfishQuirks } from './quirks.js';
import type { Json } from './json.js';

export type PowerOp = 'on' | 'off' | 'cycle';

/**
 * The ResetType sequence for `op`: one value, or ForceOff then On for a cycle on a BMC that has
 * neither a restart nor a power cycle. `allowed` undefined means the BMC published no list, so the
 * preferred DMTF value is sent. Returns undefined when nothing allowed fits.
 */
export function chooseResetTypes(op: PowerOp, power: 'on' | 'off', allowed: readonly string[] | undefined, quirks: RedfishQuirks): string[] | undefined {
  const pick = (prefs: readonly string[]) => (allowed === undefined ? prefs[0] : prefs.find((p) => allowed.includes(p)));
  if (op === 'on' || (op === 'cycle' && power === 'off')) {
    const on = pick(quirks.reset.on);
    return on === undefined ? undefined : [on];
  }
  if (op === 'off') {
    const off = pick(quirks.reset.off);
    return off === undefined ? undefined : [off];
  }
  const restart = pick(quirks.reset.restart);
  if (restart !== undefined) return [restart];
  const off = pick(quirks.reset.off.filter((t) => t !== 'PushPowerButton'));
  const on = pick(quirks.reset.on);
  return off !== undefined && on !== undefined ? [off, on] : undefined;
}

/** `ResetType@Redfish.AllowableValues` from the action, or undefined when it is not inline. */
export function inlineResetTypes(action: Json | undefined): string[] | undefined {
  const v = action?.['ResetType@Redfish.AllowableValues'];
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : undefined;
}

/** The ResetType parameter's AllowableValues from an `@Redfish.ActionInfo` resource. */
export function actionInfoResetTypes(info: Json): string[] | undefined {
  const params = info['Parameters'];
  if (!Array.isArray(params)) return undefined;
  const p = params.find((x) => (x as Json | null)?.['Name'] === 'ResetType') as Json | undefined;
  const v = p?.['AllowableValues'];
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : undefined;
}

/**
 * The If-Match value for an ETag as a BMC wrote it: `W/"x"` and `"x"` pass unchanged; a bare
 * `x` is quoted (RFC 9110 entity-tag syntax); a doubled `""x""` and the single-quote wrapped
 * `'W/"x"'` seen in iDRAC/OpenStack captures are unwrapped. Empty or blank (AMI's `W/" "` on
 * collections) means no usable ETag.
 */
export function ifMatchValue(raw: unknown): string | undefined {
  if (typeof raw !== 'string') return undefined;
  let v = raw.trim();
  if (v.length >= 2 && v.startsWith("'") && v.endsWith("'")) v = v.slice(1, -1).trim();
  const weak = v.startsWith('W/');
  if (weak) v = v.slice(2);
  while (v.length >= 4 && v.startsWith('""') && v.endsWith('""')) v = v.slice(1, -1);
  if (v.length >= 2 && v.startsWith('"') && v.endsWith('"')) v = v.slice(1, -1);
  if (v.trim() === '' || v.includes('"')) return undefined;
  return `${weak ? 'W/' : ''}"${v}"`;
}

/** The ETag of a fetched resource: the response header wins over the body's @odata.etag. */
export function resourceEtag(header: string | undefined, body: Json): string | undefined {
  return ifMatchValue(header) ?? ifMatchValue(body['@odata.etag']);
}

export interface BootOverride {
  readonly BootSourceOverrideTarget: 'Pxe';
  readonly BootSourceOverrideEnabled: 'Once';
  readonly BootSourceOverrideMode: 'UEFI' | 'Legacy';
}

export function wantedOverride(mode: BootMode): BootOverride {
  return { BootSourceOverrideTarget: 'Pxe', BootSourceOverrideEnabled: 'Once', BootSourceOverrideMode: mode === 'uefi' ? 'UEFI' : 'Legacy' };
}

export interface BootPatch {
  /** The resource to PATCH and later read back. */
  readonly path: string;
  readonly boot: Partial<Record<keyof BootOverride, string>>;
}

/** The `@Redfish.Settings` SettingsObject link of a resource, if any. */
export function settingsPath(system: Json): string | undefined {
  const s = system['@Redfish.Settings'] as Json | undefined;
  const id = (s?.['SettingsObject'] as Json | undefined)?.['@odata.id'];
  return typeof id === 'string' ? id : undefined;
}

/**
 * Splits the override into the fewest PATCHes: one to the system unless the profile routes
 * properties to the Settings object (`settings` is its body, fetched only when the profile needs it).
 */
export function planBootPatches(systemPath: string, want: BootOverride, quirks: RedfishQuirks, settings?: { path: string; body: Json }): BootPatch[] {
  const all = { ...want };
  if (settings === undefined || quirks.bootSettings === 'system') return [{ path: systemPath, boot: all }];
  if (quirks.bootSettings === 'all') return [{ path: settings.path, boot: all }];
  const listed = new Set(Object.keys((settings.body['Boot'] as Json | undefined) ?? {}));
  const toSettings: BootPatch['boot'] = {};
  const toSystem: BootPatch['boot'] = {};
  for (const [k, v] of Object.entries(all) as [keyof BootOverride, string][]) (listed.has(k) ? toSettings : toSystem)[k] = v;
  return [
    ...(Object.keys(toSystem).length > 0 ? [{ path: systemPath, boot: toSystem }] : []),
    ...(Object.keys(toSettings).length > 0 ? [{ path: settings.path, boot: toSettings }] : []),
  ];
}

/**
 * What a read-back of `patch.path` shows that differs from what was sent, as `Property=value`
 * strings (empty: it stuck). Mode is skipped when the profile says the BMC does not report it.
 */
export function overrideMismatches(patch: BootPatch, readBack: Json, quirks: RedfishQuirks): string[] {
  const boot = (readBack['Boot'] as Json | undefined) ?? {};
  const out: string[] = [];
  for (const [k, v] of Object.entries(patch.boot)) {
    if (k === 'BootSourceOverrideMode' && !quirks.reportsMode) continue;
    if (boot[k] !== v) out.push(`${k}=${JSON.stringify(boot[k] ?? null)} (sent ${v})`);
  }
  return out;
}
