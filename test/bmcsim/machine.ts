// What a simulated BMC controls: the server itself. Implementations: an in-memory machine (for
// driver and lifecycle tests without a VM) and a QEMU VM driven through QMP (test/bed/qmp.ts).
// The BMC simulators (Redfish: test/bmcsim/redfish/, IPMI: OpenIPMI's ipmi_sim) sit on top.

export type SimBootDevice = 'pxe' | 'disk';

export interface SimMachine {
  power(): Promise<'on' | 'off'>;
  /** Powers on (no-op when on); boots from the device set by setNextBoot, else the disk. */
  powerOn(): Promise<void>;
  /** Immediate power off (no-op when off). */
  powerOff(): Promise<void>;
  /** Forced restart when on; powers on when off. */
  reset(): Promise<void>;
  /**
   * The device the next power-on or reset boots from. A one-shot: after that boot has started the
   * machine goes back to booting from its disk (a guest-initiated reboot boots the disk).
   */
  setNextBoot(device: SimBootDevice): Promise<void>;
  /** Counts of power operations, for assertions. */
  readonly stats: { powerOns: number; powerOffs: number; resets: number; pxeBoots: number };
}
