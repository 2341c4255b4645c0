// The logging decorator every driver the factory builds is wrapped in: one log line per BMC
// operation with the node, BMC address, operation, outcome and duration, at debug when it worked
// and warn when it failed (with the error code). Arguments are never logged: the only one is the
// boot mode, and credentials never reach a driver method. Each operation's duration also goes to
// maskin_bmc_call_duration_seconds (bmcCallHistogram) when one is given.
import type { Logger } from 'pino';
import type { Histogram, Registry } from 'prom-client';
import { histogram } from '../runtime/metrics.js';
import type { BmcDriver } from './driver.js';

/** BMC calls take from tens of milliseconds (Redfish GET) to a minute (a slow power-on). */
export function bmcCallHistogram(registry: Registry | undefined): Histogram<'driver' | 'operation' | 'outcome'> {
  return histogram(registry, {
    name: 'maskin_bmc_call_duration_seconds',
    help: 'Duration of BMC operations, by driver (redfish, ipmi), operation and outcome (ok, failed)',
    labelNames: ['driver', 'operation', 'outcome'],
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
  });
}

type Operation = Exclude<keyof BmcDriver, 'kind' | 'address'>;

export function withLogging(driver: BmcDriver, log: Logger, calls?: Histogram<'driver' | 'operation' | 'outcome'>): BmcDriver {
  const logged = <T>(operation: Operation, run: () => Promise<T>, detail: Record<string, unknown> = {}): Promise<T> => {
    const started = performance.now();
    const fields = (): Record<string, unknown> => ({
      bmc: driver.address,
      driver: driver.kind,
      operation,
      ...detail,
      ms: Math.round(performance.now() - started),
    });
    const observe = (outcome: 'ok' | 'failed'): void => calls?.observe({ driver: driver.kind, operation, outcome }, (performance.now() - started) / 1000);
    return run().then(
      (result) => {
        observe('ok');
        log.debug({ ...fields(), ...(operation === 'powerState' ? { power: result } : {}) }, 'BMC operation done');
        return result;
      },
      (err: unknown) => {
        observe('failed');
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
