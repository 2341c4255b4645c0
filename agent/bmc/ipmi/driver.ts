// The IPMI BmcDriver: ipmitool over RMCP+ (lanplus), one process per operation. One operation at a
// time per BMC (IPMI BMCs hold few sessions and some drop a command that races another);
// transient failures are retried with backoff, except a power cycle that may already have been
// acted on. Output is read by the pure functions of parse.ts.
//
// Inventory: IPMI has no standard view of a host's NICs; the FRU gives manufacturer, product and
// serials, "mc guid" the system GUID, and "lan print" only the BMC's own port, which is not a host
// NIC. So `nics` (and processors, drives) are empty: an identity check against an IPMI node can
// rest on the serial and UUID only.
import type { Logger } from 'pino';
import { BmcError } from '../../errors.js';
import type { BmcCredentials, BmcDriver, BmcInventory, BootMode, PowerState } from '../driver.js';
import {
  bootFlagMismatches,
  classifyFailure,
  failureDetail,
  parseBootFlags,
  parseFru,
  parseGuid,
  parseLanMac,
  parsePowerStatus,
  type BootFlagCheck,
} from './parse.js';
import { runCommand, type CommandRunner } from './runner.js';

export interface IpmiDriverOptions {
  /** host or host:port (UDP, default 623). */
  readonly address: string;
  readonly credentials: BmcCredentials;
  /** Bound of one ipmitool run; it is killed after. Default 20 s. */
  readonly timeoutMs?: number;
  /** Re-runs after an unreachable, busy or timed-out BMC. Default 2. */
  readonly retries?: number;
  /** ipmitool -C; default ipmitool's own choice (17 on 1.8.19, which asks the BMC first). */
  readonly cipherSuite?: number;
  /** How much of the boot flags the BMC keeps and is checked on read-back. Default 'full'. */
  readonly bootFlagCheck?: BootFlagCheck;
  readonly log: Logger;
  /** Runs ipmitool; tests inject a fake. */
  readonly run?: CommandRunner;
  readonly sleep?: (ms: number) => Promise<void>;
}

/** Sets of the boot device before the read-back mismatch is an error. */
const OVERRIDE_SETS = 3;
const BACKOFF_MS = 500;

export function splitAddress(address: string): { host: string; port: number } {
  const m = /^\[?([^\]]+?)\]?(?::(\d+))?$/.exec(address.trim());
  if (!m || !m[1]) throw new BmcError('unsupported', address, 'parse address', 'expected host or host:port');
  return { host: m[1], port: m[2] ? Number(m[2]) : 623 };
}

/**
 * Whether a failed run may be repeated. A command that reached the BMC may have been acted on:
 * a power cycle repeated after a timeout would restart the server twice and spend the one-shot
 * PXE; unreachable (no session was made) and busy (refused) are safe for every command.
 */
export function retryable(reason: BmcError['reason'], idempotent: boolean): boolean {
  if (reason === 'unreachable' || reason === 'busy') return true;
  return reason === 'timeout' && idempotent;
}

export function createIpmiDriver(opts: IpmiDriverOptions): BmcDriver {
  const { host, port } = splitAddress(opts.address);
  const run = opts.run ?? runCommand;
  const timeoutMs = opts.timeoutMs ?? 20_000;
  const retries = opts.retries ?? 2;
  const check = opts.bootFlagCheck ?? 'full';
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const log = opts.log.child({ component: 'bmc-ipmi', bmc: opts.address });
  const password = opts.credentials.password;
  // -v: the RAKP reason on stderr tells a wrong password from a silent BMC (classifyFailure).
  // -N/-R: ipmitool's own per-message timeout and retries, well inside timeoutMs.
  const base = [
    '-I',
    'lanplus',
    '-H',
    host,
    '-p',
    String(port),
    '-U',
    opts.credentials.username,
    '-E',
    '-v',
    '-N',
    '2',
    '-R',
    '2',
    ...(opts.cipherSuite !== undefined ? ['-C', String(opts.cipherSuite)] : []),
  ];
  const scrub = (text: string): string => (password ? text.split(password).join('***') : text);

  let queue: Promise<unknown> = Promise.resolve();
  const serialised = <T>(fn: () => Promise<T>): Promise<T> => {
    const next = queue.then(fn, fn);
    queue = next.catch(() => undefined);
    return next;
  };

  /** One ipmitool command with retries; resolves with its stdout. */
  const ipmitool = async (operation: string, args: string[], idempotent = true): Promise<string> => {
    for (let attempt = 0; ; attempt++) {
      const started = Date.now();
      const r = await run('ipmitool', [...base, ...args], { env: { IPMI_PASSWORD: password }, timeoutMs });
      if (r.code === 0 && !r.timedOut) {
        log.debug({ operation, args: args.join(' '), ms: Date.now() - started }, 'ipmitool ok');
        return r.stdout;
      }
      const reason: BmcError['reason'] = r.timedOut ? 'timeout' : classifyFailure(r.stderr);
      const detail = r.timedOut ? `ipmitool did not finish within ${timeoutMs} ms (killed)` : scrub(failureDetail(r.stderr));
      if (attempt < retries && retryable(reason, idempotent)) {
        const delayMs = BACKOFF_MS * 2 ** attempt;
        log.warn({ operation, reason, detail, attempt: attempt + 1, delayMs }, 'ipmitool failed; retrying');
        await sleep(delayMs);
        continue;
      }
      const fix =
        reason === 'auth' ? '. Fix: check the username and password of this BMC in the local secrets (and that the user may use RMCP+ at admin level)' : '';
      throw new BmcError(reason, opts.address, operation, `${detail}${fix}`);
    }
  };

  const powerState = async (): Promise<PowerState> => {
    const out = await ipmitool('power status', ['chassis', 'power', 'status']);
    const state = parsePowerStatus(out);
    if (!state) throw new BmcError('protocol', opts.address, 'power status', `unexpected ipmitool output: ${out.trim().slice(0, 200)}`);
    return state;
  };

  const readBootFlags = async (): Promise<ReturnType<typeof parseBootFlags>> =>
    parseBootFlags(await ipmitool('read boot flags', ['chassis', 'bootparam', 'get', '5']));

  return {
    kind: 'ipmi',
    address: opts.address,
    powerState: () => serialised(powerState),
    powerOn: () =>
      serialised(async () => {
        await ipmitool('power on', ['chassis', 'power', 'on']);
      }),
    powerOff: () =>
      serialised(async () => {
        await ipmitool('power off', ['chassis', 'power', 'off']);
      }),
    powerCycle: () =>
      serialised(async () => {
        // "power cycle" on a server that is off is refused by some BMCs and a no-op on others.
        if ((await powerState()) === 'off') await ipmitool('power on', ['chassis', 'power', 'on']);
        else await ipmitool('power cycle', ['chassis', 'power', 'cycle'], false);
      }),
    // A BMC clears the boot-flags valid bit by itself 60 s after it was set unless a chassis
    // control (power on/cycle) follows (IPMI v2.0 §28.12): call this right before powering.
    setOneShotPxe: (mode: BootMode) =>
      serialised(async () => {
        const set = ['chassis', 'bootdev', 'pxe', ...(mode === 'uefi' ? ['options=efiboot'] : [])];
        let problems: string[] = [];
        for (let i = 0; i < OVERRIDE_SETS; i++) {
          await ipmitool('set boot device', set);
          const flags = await readBootFlags();
          problems = flags ? bootFlagMismatches(flags, mode, check) : ['no boot parameter data in the read-back'];
          if (problems.length === 0) {
            log.info({ mode, sets: i + 1 }, 'one-shot PXE set and read back');
            return;
          }
          log.warn({ mode, problems, set: i + 1 }, 'boot flags read back differ from the one-shot PXE just set');
        }
        throw new BmcError('override', opts.address, 'set one-shot PXE', `after ${OVERRIDE_SETS} sets the BMC still reports: ${problems.join('; ')}`);
      }),
    inventory: () =>
      serialised(async () => {
        // FRU and GUID are optional in IPMI: a BMC without them answers "unsupported".
        const optional = async (operation: string, args: string[]): Promise<string> => {
          try {
            return await ipmitool(operation, args);
          } catch (err) {
            if (err instanceof BmcError && err.reason === 'unsupported') return '';
            throw err;
          }
        };
        const fru = parseFru(await optional('read FRU', ['fru', 'print', '0']));
        const uuid = parseGuid(await optional('read GUID', ['mc', 'guid']));
        const bmcMac = parseLanMac(await optional('read LAN', ['lan', 'print']));
        if (bmcMac) log.debug({ bmcMac }, 'BMC LAN port MAC (not a host NIC)');
        const inventory: BmcInventory = {
          ...(fru.manufacturer ? { manufacturer: fru.manufacturer } : {}),
          ...(fru.product ? { model: fru.product } : {}),
          ...(fru.serial ? { serial: fru.serial } : {}),
          ...(uuid ? { uuid } : {}),
          processors: [],
          drives: [],
          nics: [],
        };
        return inventory;
      }),
    close: async () => undefined,
  };
}
