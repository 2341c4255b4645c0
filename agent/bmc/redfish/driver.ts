// The Redfish BmcDriver: service root → Systems → the first system, then power, reset, one-shot
// PXE and inventory through it. One operation at a time per BMC (BMCs serialise badly and some
// lose a PATCH that races a reset). Decisions live in policy.ts/quirks.ts, HTTP in client.ts.
import type { Logger } from 'pino';
import type { BmcCredentials, BmcDriver, BmcInventory, BootMode, PowerState } from '../driver.js';
import { BmcError } from '../../errors.js';
import { RedfishClient } from './client.js';
import { patchWithEtag } from './etagPatch.js';
import { parseInventory } from './inventory.js';
import {
  actionInfoResetTypes,
  chooseResetTypes,
  inlineResetTypes,
  overrideMismatches,
  planBootPatches,
  resourceEtag,
  settingsPath,
  wantedOverride,
  type PowerOp,
} from './policy.js';
import { QUIRKS, detectVendor, type RedfishQuirks, type RedfishVendor } from './quirks.js';
import type { Json } from './json.js';

export interface RedfishDriverOptions {
  /** `https://host[:port]`, `http://…` (tests), or a bare host (https). */
  readonly address: string;
  readonly credentials: BmcCredentials;
  /** Quirk profile; 'auto' (default) reads the service root and the system once. */
  readonly vendor?: 'auto' | RedfishVendor;
  /** Per-site deviations from the vendor profile (a firmware that never reports the boot mode). */
  readonly quirks?: Partial<RedfishQuirks>;
  /** PEM CA that signed this BMC's certificate; replaces the system store for it. */
  readonly ca?: string;
  /** Skips certificate verification; warned once. */
  readonly insecure?: boolean;
  readonly auth?: 'session' | 'basic';
  /** Bound per request (connect, headers, each body pause). Default 10 s. */
  readonly timeoutMs?: number;
  /** Retries after a network error or 5xx. Default 2. */
  readonly retries?: number;
  readonly log: Logger;
  readonly now?: () => number;
  readonly sleep?: (ms: number) => Promise<void>;
}

/** Re-PATCHes after a read-back showed the override did not stick, before giving up. */
const OVERRIDE_REPATCHES = 2;
/** How long a ForceOff may take to show as Off before the On of a ForceOff+On cycle. */
const POWER_SETTLE_MS = 60_000;

export function normaliseOrigin(address: string): string {
  const withScheme = /^[a-z]+:\/\//i.test(address) ? address : `https://${address}`;
  return new URL(withScheme).origin;
}

interface System {
  readonly path: string;
  readonly quirks: RedfishQuirks;
  readonly vendor: RedfishVendor;
  readonly resetTarget: string | undefined;
  /** Allowed ResetTypes; undefined when the BMC publishes none (send the DMTF preference). */
  readonly resetTypes: string[] | undefined;
}

const link = (o: unknown): string | undefined => {
  const id = (o as Json | undefined)?.['@odata.id'];
  return typeof id === 'string' ? id : undefined;
};

export function createRedfishDriver(opts: RedfishDriverOptions): BmcDriver {
  const origin = normaliseOrigin(opts.address);
  const log = opts.log.child({ component: 'bmc-redfish', bmc: origin });
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const now = opts.now ?? Date.now;
  if (opts.insecure === true) log.warn('TLS certificate verification is OFF for this BMC (insecure); anyone on the path can read its credentials');
  const client = new RedfishClient({
    origin,
    credentials: opts.credentials,
    ...(opts.ca === undefined ? {} : { ca: opts.ca }),
    ...(opts.insecure === undefined ? {} : { insecure: opts.insecure }),
    auth: opts.auth ?? 'session',
    timeoutMs: opts.timeoutMs ?? 10_000,
    retries: opts.retries ?? 2,
    log,
    sleep,
  });
  let system: System | undefined;
  let closed = false;
  let closing: Promise<void> | undefined;
  let queue: Promise<unknown> = Promise.resolve();

  function exclusive<T>(op: string, fn: () => Promise<T>): Promise<T> {
    // Outcome and duration are logged by the factory's decorator (agent/bmc/logging.ts).
    const run = queue.then(async () => {
      if (closed) throw new BmcError('protocol', origin, op, 'driver already closed');
      return fn();
    });
    queue = run.catch(() => undefined);
    return run;
  }

  async function discover(op: string): Promise<System> {
    if (system !== undefined) return system;
    // The service root is readable without credentials (DSP0266 §13.3.1); it says how to log in.
    const root = (await client.request('GET', '/redfish/v1/', op, undefined, {}, false)).body;
    const sessionsLink = link((root['Links'] as Json | undefined)?.['Sessions']);
    const sessionService = link(root['SessionService']);
    client.useSessionsAt(sessionsLink ?? (sessionService === undefined ? undefined : `${sessionService.replace(/\/$/, '')}/Sessions`));
    const systemsPath = link(root['Systems']);
    if (systemsPath === undefined) throw new BmcError('unsupported', origin, op, 'the service root links no Systems collection');
    const members = (await client.get(systemsPath, op)).body['Members'];
    const first = Array.isArray(members) ? link(members[0]) : undefined;
    if (first === undefined) throw new BmcError('unsupported', origin, op, `${systemsPath} has no members`);
    const sys = (await client.get(first, op)).body;
    const vendor = opts.vendor === undefined || opts.vendor === 'auto' ? detectVendor(root, sys) : opts.vendor;
    const quirks = { ...QUIRKS[vendor], ...opts.quirks };
    const action = (sys['Actions'] as Json | undefined)?.['#ComputerSystem.Reset'] as Json | undefined;
    const target = typeof action?.['target'] === 'string' ? action['target'] : undefined;
    let resetTypes = inlineResetTypes(action);
    const info = action?.['@Redfish.ActionInfo'];
    if (resetTypes === undefined && typeof info === 'string') resetTypes = actionInfoResetTypes((await client.get(info, op)).body);
    log.info({ vendor, system: first, resetTypes }, 'redfish system found');
    system = { path: first, quirks, vendor, resetTarget: target, resetTypes };
    return system;
  }

  async function readPower(op: string, sys: System): Promise<PowerState> {
    const state = (await client.get(sys.path, op)).body['PowerState'];
    if (state === 'On' || state === 'PoweringOn' || state === 'Paused') return 'on';
    if (state === 'Off' || state === 'PoweringOff') return 'off';
    throw new BmcError('protocol', origin, op, `PowerState is ${JSON.stringify(state ?? null)}, not On/Off`);
  }

  async function reset(op: string, sys: System, type: string): Promise<void> {
    if (sys.resetTarget === undefined) throw new BmcError('unsupported', origin, op, `${sys.path} has no #ComputerSystem.Reset action`);
    const res = await client.request('POST', sys.resetTarget, op, { ResetType: type });
    if (res.status >= 300) {
      throw new BmcError(res.status === 400 ? 'unsupported' : 'protocol', origin, op, `Reset ${type} answered HTTP ${res.status}${client.detail(res.body)}`);
    }
    log.info({ op, resetType: type }, 'reset sent');
  }

  async function waitFor(op: string, sys: System, want: PowerState): Promise<void> {
    const deadline = now() + POWER_SETTLE_MS;
    while ((await readPower(op, sys)) !== want) {
      if (now() > deadline) throw new BmcError('timeout', origin, op, `the server did not reach power ${want} within ${POWER_SETTLE_MS / 1000} s`);
      await sleep(1_000);
    }
  }

  async function power(op: PowerOp, name: string): Promise<void> {
    const sys = await discover(name);
    const state = await readPower(name, sys);
    if ((op === 'on' && state === 'on') || (op === 'off' && state === 'off')) return;
    const types = chooseResetTypes(op, state, sys.resetTypes, sys.quirks);
    if (types === undefined) throw new BmcError('unsupported', origin, name, `no usable ResetType for ${op} among ${JSON.stringify(sys.resetTypes)}`);
    for (const [i, type] of types.entries()) {
      if (i > 0) await waitFor(name, sys, 'off');
      await reset(name, sys, type);
    }
  }

  async function readResource(op: string, path: string): Promise<{ etag: string | undefined; body: Json }> {
    const res = await client.get(path, op);
    return { etag: res.etag, body: res.body };
  }

  async function setOneShotPxe(mode: BootMode): Promise<void> {
    const op = `setOneShotPxe(${mode})`;
    const sys = await discover(op);
    const current = await readResource(op, sys.path);
    const settingsAt = sys.quirks.bootSettings === 'system' ? undefined : settingsPath(current.body);
    const settings = settingsAt === undefined ? undefined : { path: settingsAt, ...(await readResource(op, settingsAt)) };
    const patches = planBootPatches(sys.path, wantedOverride(mode), sys.quirks, settings);
    const etags = new Map<string, string | undefined>([[sys.path, resourceEtag(current.etag, current.body)]]);
    if (settings !== undefined) etags.set(settings.path, resourceEtag(settings.etag, settings.body));
    const io = {
      address: origin,
      op,
      detail: (b: Json) => client.detail(b),
      read: (path: string) => readResource(op, path),
      patch: async (path: string, body: Json, ifMatch: string | undefined) => {
        const res = await client.request('PATCH', path, op, body, ifMatch === undefined ? {} : { 'if-match': ifMatch });
        if (res.status === 412) log.info({ op, path, etagStyle: sys.quirks.etagStyle, sent: ifMatch }, 'If-Match refused (412); re-reading the ETag');
        return res;
      },
    };
    let mismatches: string[] = [];
    for (let round = 0; round <= OVERRIDE_REPATCHES; round++) {
      for (const p of patches) await patchWithEtag(io, p.path, { Boot: p.boot }, etags.get(p.path));
      mismatches = [];
      for (const p of patches) {
        const back = await readResource(op, p.path);
        etags.set(p.path, resourceEtag(back.etag, back.body));
        mismatches.push(...overrideMismatches(p, back.body, sys.quirks).map((m) => `${p.path}: ${m}`));
      }
      if (mismatches.length === 0) {
        if (round > 0) log.warn({ op, rounds: round + 1 }, 'boot override stuck only after a re-PATCH');
        return;
      }
      log.warn({ op, mismatches, round }, 'boot override read-back differs; patching again');
    }
    throw new BmcError(
      'override',
      origin,
      op,
      `the BMC did not keep the one-shot PXE override after ${OVERRIDE_REPATCHES + 1} PATCHes; read-back shows ${mismatches.join('; ')}`,
    );
  }

  /** The resources an array of `{ "@odata.id" }` links names, one GET at a time, skipping those the BMC lacks. */
  async function linked(op: string, refs: unknown): Promise<Json[]> {
    const out: Json[] = [];
    for (const r of Array.isArray(refs) ? (refs as unknown[]) : []) {
      const path = link(r);
      const body = path === undefined ? undefined : await optional(op, path);
      if (body !== undefined) out.push(body);
    }
    return out;
  }

  async function members(op: string, collection: string | undefined): Promise<Json[]> {
    if (collection === undefined) return [];
    return linked(op, (await optional(op, collection))?.['Members']);
  }

  /** A GET whose 404 means "this BMC does not have it", which inventory tolerates. */
  async function optional(op: string, path: string): Promise<Json | undefined> {
    try {
      return (await client.get(path, op)).body;
    } catch (err) {
      if (err instanceof BmcError && err.reason === 'unsupported') return undefined;
      throw err;
    }
  }

  async function inventory(): Promise<BmcInventory> {
    const op = 'inventory';
    const sys = await discover(op);
    const body = (await client.get(sys.path, op)).body;
    const drives: Json[] = [];
    for (const storage of await members(op, link(body['Storage']))) drives.push(...(await linked(op, storage['Drives'])));
    return parseInventory(body, {
      processors: await members(op, link(body['Processors'])),
      memory: await members(op, link(body['Memory'])),
      drives,
      simpleStorage: drives.length > 0 ? [] : await members(op, link(body['SimpleStorage'])),
      ethernet: await members(op, link(body['EthernetInterfaces'])),
    });
  }

  return {
    kind: 'redfish',
    address: origin,
    powerState: () => exclusive('powerState', async () => readPower('powerState', await discover('powerState'))),
    powerOn: () => exclusive('powerOn', () => power('on', 'powerOn')),
    powerOff: () => exclusive('powerOff', () => power('off', 'powerOff')),
    powerCycle: () => exclusive('powerCycle', () => power('cycle', 'powerCycle')),
    setOneShotPxe: (mode) => exclusive(`setOneShotPxe(${mode})`, () => setOneShotPxe(mode)),
    inventory: () => exclusive('inventory', inventory),
    close: () =>
      (closing ??= exclusive('close', async () => {
        await client.close();
        closed = true;
      })),
  };
}
