// The lifecycle executor as a supervised service: a look at every node with a BMC at start and
// every reconcileIntervalMs (manifest changes and netboot events wake lanes in between), then
// closes the drivers (Redfish sessions logged out) on stop.
import type { Service } from '../runtime/service.js';
import type { Clock } from '../runtime/clock.js';
import type { ProvisionExecutor } from './executor.js';

export function createProvisionService(executor: ProvisionExecutor, intervalMs: number, clock: Clock): Service {
  return {
    name: 'provision',
    async run(stop) {
      while (!stop.aborted) {
        executor.reconcileAll();
        await clock.sleep(intervalMs, stop);
      }
      await executor.close();
    },
  };
}
