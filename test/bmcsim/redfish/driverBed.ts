// A Redfish driver wired to a simulator over a memory machine, with the driver's log lines and
// sleeps captured, for the driver tests.
import pino from 'pino';
import { createRedfishDriver, type RedfishDriverOptions } from '../../../agent/bmc/redfish/driver.js';
import { createMemoryMachine, type MemoryMachine } from '../memoryMachine.js';
import type { SimFlavour } from './flavours.js';
import { startRedfishSim, type RedfishSim, type RedfishSimOptions } from './server.js';

/** Non-ASCII and distinctive, so a leak into a message or log line is found by a plain search. */
export const PASSWORD = 'p4ss-Wörd-7731';
type Teardown = { teardown(fn: () => unknown): void };

/** Sleeps are recorded, not slept, unless the driver options give their own. */
export async function bed(
  t: Teardown,
  simOpts: Partial<RedfishSimOptions> & { flavour: SimFlavour },
  driverOpts: Partial<RedfishDriverOptions> = {},
  power: 'on' | 'off' = 'off',
) {
  const machine: MemoryMachine = createMemoryMachine(power);
  const sim: RedfishSim = await startRedfishSim({ password: PASSWORD, ...simOpts, machine });
  const logs: Record<string, unknown>[] = [];
  const sleeps: number[] = [];
  const driver = createRedfishDriver({
    address: sim.url,
    credentials: { username: 'admin', password: PASSWORD },
    log: pino({ level: 'debug' }, { write: (line: string) => void logs.push(JSON.parse(line) as Record<string, unknown>) }),
    timeoutMs: 2_000,
    sleep: async (ms) => void sleeps.push(ms),
    ...driverOpts,
  });
  t.teardown(async () => {
    await driver.close();
    await sim.close();
  });
  const patches = () => sim.requests.filter((r) => r.method === 'PATCH');
  return { sim, machine, driver, logs, sleeps, patches };
}
