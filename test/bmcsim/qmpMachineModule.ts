// The `machineModule` for the standalone Redfish simulator (test/bmcsim/redfish/main.ts) when it
// powers a VM the test process started: options { qmpPath }. The simulator child drives the VM
// through its QMP socket; the test keeps the VM (serial console, stop) itself.
import type { SimMachine } from './machine.js';
import { qmpMachine } from './vmMachine.js';

export async function createSimMachine(options: unknown): Promise<SimMachine> {
  const qmpPath = (options as { qmpPath?: unknown } | undefined)?.qmpPath;
  if (typeof qmpPath !== 'string') throw new Error("qmpMachineModule: machineOptions.qmpPath (the VM's QMP socket) is required");
  // The VM belongs to the test process, which stops it; closing here only drops QMP.
  return qmpMachine(qmpPath, async () => undefined);
}
