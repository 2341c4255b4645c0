// A SimMachine over a real QEMU VM, driven through QMP: what a BMC simulator (Redfish) powers on
// and off. Power off is "paused after a reset" (stop + system_reset), power on is `cont`, so the
// QEMU process, its tap and its serial log live for the whole test.
//
// The one-shot network boot: the VM starts with `-boot strict=on` and only the disk in the boot
// order, as a server whose firmware lists its disk. After setNextBoot('pxe'), the next power-on or
// reset first gives the NIC bootindex 0 through qom-set; QEMU rebuilds fw_cfg "bootorder" from
// the bootindex properties at every reset, so the firmware boots the NIC (QEMU 7.2 + SeaBIOS).
//
// Giving the disk back: not right after that reset, because SeaBIOS, once it has run, answers a
// reset with a reset of its own before POST, and QEMU rebuilds "bootorder" at that one too.
// Instead, from FIRMWARE_RESET_WINDOW_MS after it, a guest reboot is turned into a pause (QMP
// set-action reboot=shutdown, with -no-shutdown); the machine then removes the NIC's bootindex
// and resets the guest itself, so the installer's reboot boots the disk. A BMC reset or power-off
// during the network boot removes it first, likewise.
import type { SimBootDevice, SimMachine } from './machine.js';
import { NIC_QOM_ID, startVm, type Vm, type VmOptions } from '../bed/qemu.js';
import { QmpClient, type QmpEvent } from '../bed/qmp.js';

const NIC_PATH = `/machine/peripheral/${NIC_QOM_ID}`;
/** Removes a device from the boot order (QEMU's bootindex setter treats a negative index as "none"). */
const NO_BOOTINDEX = -1;
const RESET_TIMEOUT_MS = 10_000;
/** Guest resets this soon after the reset that started a network boot are the firmware's own. */
const FIRMWARE_RESET_WINDOW_MS = 3_000;

/** The machine over a VM's QMP socket, for a process that does not own the VM (a simulator child). */
export interface QmpMachine extends SimMachine {
  /** The VM's QMP connection, for tests that act as the guest (e.g. send-key ctrl-alt-delete). */
  readonly qmp: QmpClient;
  /** SimMachine's counts plus the guest's own reboots during a network boot, redirected to the disk. */
  readonly stats: SimMachine['stats'] & { guestReboots: number };
  /** Closes QMP and stops QEMU (kills it, removes its tap and files). Idempotent. */
  close(): Promise<void>;
}

export interface VmMachine extends QmpMachine {
  readonly vm: Vm;
}

/**
 * Starts a powered-off VM fit for a BMC simulator (QMP, paused, disk-only strict boot, guest
 * shutdown keeps the process) and returns the machine over it. `bootOrder`, `qmp`, `paused` and
 * `strictBoot` are set here; everything else is startVm's.
 */
export async function startVmMachine(opts: Omit<VmOptions, 'bootOrder' | 'qmp' | 'paused' | 'strictBoot'>): Promise<VmMachine> {
  // -no-shutdown: a guest power-off leaves QEMU in the 'shutdown' run state (reported off)
  // instead of exiting, like a server that turned itself off under its BMC.
  const vm = await startVm({ ...opts, bootOrder: 'c', strictBoot: true, qmp: true, paused: true, extraArgs: ['-no-shutdown', ...(opts.extraArgs ?? [])] });
  try {
    return await vmMachine(vm);
  } catch (err) {
    await vm.stop();
    throw err;
  }
}

/** The machine over an already started VM that has a QMP socket and a disk-only strict boot order. */
export async function vmMachine(vm: Vm): Promise<VmMachine> {
  if (!vm.qmpPath) throw new Error('vmMachine needs a VM started with qmp: true');
  return { ...(await qmpMachine(vm.qmpPath, () => vm.stop())), vm };
}

/**
 * The machine over the QMP socket of a VM started with a QMP socket and a disk-only strict boot
 * order (startVmMachine's options); `stop` ends the VM on close().
 */
export async function qmpMachine(qmpPath: string, stop: () => Promise<void>): Promise<QmpMachine> {
  const qmp = await QmpClient.connect(qmpPath);
  const stats = { powerOns: 0, powerOffs: 0, resets: 0, pxeBoots: 0, guestReboots: 0 };
  let pxeNext = false;
  let netBooting = false;
  let interceptTimer: NodeJS.Timeout | undefined;
  // One QMP sequence at a time: a reset racing a power-off would leave the boot order half set.
  let queue: Promise<unknown> = Promise.resolve();
  const serialised = <T>(fn: () => Promise<T>): Promise<T> => {
    const run = queue.then(fn, fn);
    queue = run.catch(() => undefined);
    return run;
  };

  const running = async (): Promise<boolean> => (await qmp.execute<{ running: boolean }>('query-status')).running;

  /** Ends a network boot in progress: disk-only boot order, guest reboots reset again. */
  const endNetworkBoot = async (): Promise<void> => {
    if (!netBooting) return;
    netBooting = false;
    clearTimeout(interceptTimer);
    await qmp.execute('qom-set', { path: NIC_PATH, property: 'bootindex', value: NO_BOOTINDEX });
    await qmp.execute('set-action', { reboot: 'reset' });
  };

  /** system_reset, waiting until QEMU has performed it (the command only requests it). */
  const resetNow = async (): Promise<void> => {
    const done = qmp.waitForEvent('RESET', RESET_TIMEOUT_MS);
    await qmp.execute('system_reset');
    await done;
  };

  /** A reset after which the firmware runs: it uses up a pending one-shot network boot. */
  const bootingReset = async (): Promise<void> => {
    await endNetworkBoot();
    if (pxeNext) await qmp.execute('qom-set', { path: NIC_PATH, property: 'bootindex', value: 0 });
    await resetNow();
    if (pxeNext) {
      pxeNext = false;
      netBooting = true;
      stats.pxeBoots += 1;
      // SeaBIOS, reset after it has run once, resets the machine itself before its POST (to
      // restore its pristine image); that reset must stay a plain reset, so guest reboots are
      // intercepted only after it.
      interceptTimer = setTimeout(() => {
        void serialised(async () => {
          if (netBooting) await qmp.execute('set-action', { reboot: 'shutdown' });
        }).catch(() => undefined);
      }, FIRMWARE_RESET_WINDOW_MS);
    }
  };

  const powerOn = async (): Promise<void> => {
    if (await running()) return;
    // From 'paused' (our off), 'prelaunch' (-S) or 'shutdown' (guest power-off) alike: a reset
    // gives a fresh boot and is what QEMU requires before `cont` after a guest shutdown.
    await bootingReset();
    await qmp.execute('cont');
    stats.powerOns += 1;
  };

  // The guest rebooting during the network boot (reboot=shutdown turned it into a pause): boot
  // it again, from the disk.
  qmp.on('event', (e: QmpEvent) => {
    if (e.event !== 'SHUTDOWN' || e.data?.['reason'] !== 'guest-reset' || !netBooting) return;
    void serialised(async () => {
      if (!netBooting) return;
      await endNetworkBoot();
      await resetNow();
      await qmp.execute('cont');
      stats.guestReboots += 1;
    }).catch(() => undefined);
  });

  const machine: QmpMachine = {
    qmp,
    stats,
    power: () => serialised(async () => ((await running()) ? 'on' : 'off')),
    powerOn: () => serialised(powerOn),
    powerOff: () =>
      serialised(async () => {
        if (!(await running())) return;
        await qmp.execute('stop');
        await endNetworkBoot();
        // Reset while stopped: the next `cont` starts from the firmware, not where it stopped.
        await resetNow();
        stats.powerOffs += 1;
      }),
    reset: () =>
      serialised(async () => {
        if (!(await running())) return powerOn();
        await bootingReset();
        stats.resets += 1;
      }),
    setNextBoot: (device: SimBootDevice) =>
      serialised(async () => {
        // Applied at the next booting reset (bootingReset), as firmware reads a BMC's boot flags at POST.
        pxeNext = device === 'pxe';
      }),
    async close() {
      clearTimeout(interceptTimer);
      qmp.close();
      await stop();
    },
  };
  return machine;
}
