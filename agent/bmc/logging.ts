// The logging decorator every driver the factory builds is wrapped in: one log line per BMC
// operation with the node, BMC address, operation, outcome and duration, at debug when it worked
// and warn when it failed (with the error code). Arguments are never logged: the only one is the
// boot mode, and credentials never reach a driver method.
import type { Logger } from 'pino';
import type { BmcDriver } from './driver.js';

type Operation = Exclude<keyof BmcDriver, 'kind' | 'address'>;

export function withLogging(driver: BmcDriver, log: Logger): BmcDriver {
  const logged = <T>(operation: Operation, run: () => Promise<T>, detail: Record<string, unknown> = {}): Promise<T> => {
    const started = performance.now();
    const fields = (): Record<string, unknown> => ({
      bmc: driver.address,
      driver: driver.kind,
      operation,
      ...detail,
      ms: Math.round(performance.now() - started),
    });
    return run().then(
      (result) => {
        log.debug({ ...fields(), ...(operation === 'powerState' ? { power: result } : {}) }, 'BMC operation done');
        return result;
      },
      (err: unknown) => {
        log.warn({ ...fields(), code: (err as { code?: unknown }).code, error: err instanceof Error ? err.message : String(err) }, 'BMC operation failed');
        throw err;
      },
    );
  };
  return {
    kind: driver.kind,
    address: driver.address,
    powerState: () => logged('powerState', () => driver.powerState()),
    powerOn: () => logged('powerOn', () => driver.powerOn()),
    powerOff: () => logged('powerOff', () => driver.powerOff()),
    powerCycle: () => logged('powerCycle', () => driver.powerCycle()),
    setOneShotPxe: (mode) => logged('setOneShotPxe', () => driver.setOneShotPxe(mode), { mode }),
    inventory: () => logged('inventory', () => driver.inventory()),
    close: () => logged('close', () => driver.close()),
  };
}
