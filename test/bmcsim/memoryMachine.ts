// An in-memory server for BMC simulators: power and a one-shot boot device, no VM. Driver and
// lifecycle tests assert on its stats and on `bootLog` (what each power-on/reset booted from).
import type { SimBootDevice, SimMachine } from './machine.js';

export interface MemoryMachine extends SimMachine {
  /** The device each power-on or reset booted from, oldest first. */
  readonly bootLog: readonly SimBootDevice[];
  /** The pending one-shot boot device, if any. */
  readonly nextBoot: SimBootDevice | undefined;
}

export function createMemoryMachine(initial: 'on' | 'off' = 'off'): MemoryMachine {
  let state = initial;
  let next: SimBootDevice | undefined;
  const bootLog: SimBootDevice[] = [];
  const stats = { powerOns: 0, powerOffs: 0, resets: 0, pxeBoots: 0 };
  const boot = () => {
    const device = next ?? 'disk';
    next = undefined;
    bootLog.push(device);
    if (device === 'pxe') stats.pxeBoots++;
  };
  return {
    stats,
    bootLog,
    get nextBoot() {
      return next;
    },
    async power() {
      return state;
    },
    async powerOn() {
      if (state === 'on') return;
      state = 'on';
      stats.powerOns++;
      boot();
    },
    async powerOff() {
      if (state === 'off') return;
      state = 'off';
      stats.powerOffs++;
    },
    async reset() {
      if (state === 'off') {
        state = 'on';
        stats.powerOns++;
      } else {
        stats.resets++;
      }
      boot();
    },
    async setNextBoot(device) {
      next = device;
    },
  };
}
