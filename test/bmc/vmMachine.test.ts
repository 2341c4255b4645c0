// The QMP-driven machine under the Redfish simulator, on a real SeaBIOS VM (QEMU 7.2, TCG): off
// until powered on, disk-only by default (a blank disk halts, no netboot), one network boot after
// setNextBoot('pxe') and none after the next reset. That last part is the QEMU fact the one-shot
// rests on: the firmware boots the NIC after a reset once its bootindex is set through qom-set,
// and the guest's own reboot (ctrl-alt-delete here) is redirected to the disk.
// Rack 198.18.30.0/24 (no DHCP server: iPXE starting and configuring net0 is the proof).
import t from 'tap';
import { createRack } from '../bed/netns.js';
import { plainText, qemuArgs } from '../bed/qemu.js';
import { startVmMachine } from '../bmcsim/vmMachine.js';

// iPXE's banner line is printed by its option ROM at every POST; these only when it boots.
const NETBOOT = /iPXE initialising devices|Booting from ROM/;
const HALTED = /No bootable device/;

t.test('qemuArgs: QMP socket, paused start and strict boot are opt-in', async (t) => {
  const base = {
    firmware: 'bios' as const,
    accel: 'tcg' as const,
    mac: '52:54:00:00:00:01',
    tap: 'mtx',
    disk: '/d.raw',
    serial: '/s.log',
    memoryMb: 512,
    bootOrder: 'c',
  };
  const plain = qemuArgs(base).join(' ');
  t.notMatch(plain, /-qmp|-S\b|strict|id=nic0/, 'nothing new unless asked');
  const sim = qemuArgs({ ...base, qmp: '/q.sock', paused: true, strictBoot: true }).join(' ');
  t.match(sim, /-qmp unix:\/q\.sock,server=on,wait=off/);
  t.match(sim, / -S /);
  t.match(sim, /-boot strict=on/);
  t.match(sim, /virtio-net-pci,netdev=net0,mac=52:54:00:00:00:01,id=nic0/, 'NIC without bootindex, addressable through QOM');
  t.match(sim, /virtio-blk-pci,drive=disk0,bootindex=1/);
});

t.test('VM machine: off at start, disk-only boot, one-shot PXE, then disk-only again', async (t) => {
  const rack = await createRack('qmpvm', 30);
  t.teardown(() => rack.destroy());
  const machine = await startVmMachine({ rack, name: 'q1', firmware: 'bios', mac: '52:54:00:6d:30:01' });
  t.teardown(() => machine.close());
  const vm = machine.vm;
  const since = (from: number): string => plainText(vm.serial().slice(from));

  t.equal(await machine.power(), 'off', 'powered off at start');
  await new Promise((r) => setTimeout(r, 1000));
  t.equal(vm.serial(), '', 'no firmware output while off');

  const started = Date.now();
  await machine.powerOn();
  t.equal(await machine.power(), 'on');
  await vm.waitFor(HALTED, 60_000);
  t.notMatch(since(0), NETBOOT, 'no override: the blank disk halts, the NIC is not tried');
  t.comment(`power-on to "No bootable device": ${Date.now() - started} ms`);

  await machine.powerOff();
  t.equal(await machine.power(), 'off');
  await machine.setNextBoot('pxe');
  let from = vm.serial().length;
  const pxeStarted = Date.now();
  await machine.powerOn();
  await vm.waitFor(/Configuring \(net0 52:54:00:6d:30:01\)/, 90_000, from);
  t.match(since(from), NETBOOT, 'one-shot PXE: iPXE boots and starts DHCP');
  t.comment(`power-on to iPXE DHCP: ${Date.now() - pxeStarted} ms`);

  // The guest reboots itself (as the installer does, minutes later; here once the firmware's own
  // early reset window has passed): the disk only, no second network boot.
  await new Promise((r) => setTimeout(r, Math.max(0, pxeStarted + 4000 - Date.now())));
  from = vm.serial().length;
  await machine.qmp.execute('send-key', { keys: ['ctrl', 'alt', 'delete'].map((data) => ({ type: 'qcode', data })) });
  await vm.waitFor(/SeaBIOS[\s\S]*No bootable device/, 60_000, from);
  t.notMatch(since(from), NETBOOT, 'the guest-initiated reboot after the one-shot boots the disk');
  t.equal(await machine.power(), 'on');

  // A BMC reset with the override, then one without.
  await machine.setNextBoot('pxe');
  from = vm.serial().length;
  await machine.reset();
  await vm.waitFor(/Configuring \(net0 52:54:00:6d:30:01\)/, 90_000, from);
  from = vm.serial().length;
  await machine.reset();
  await vm.waitFor(/SeaBIOS[\s\S]*No bootable device/, 60_000, from);
  t.notMatch(since(from), NETBOOT, 'the reset after the one-shot does not netboot');
  t.same(machine.stats, { powerOns: 2, powerOffs: 1, resets: 2, pxeBoots: 2, guestReboots: 1 });
});

// OVMF reads the same fw_cfg bootorder into its boot options at each boot, so the one-shot works
// for UEFI machines too; only the network boot is checked (OVMF takes ~20 s to give up on a blank
// disk under TCG). Rack 198.18.31.0/24.
t.test('VM machine: one-shot PXE on OVMF', async (t) => {
  const rack = await createRack('qmpuefi', 31);
  t.teardown(() => rack.destroy());
  const machine = await startVmMachine({ rack, name: 'u1', firmware: 'uefi', mac: '52:54:00:6d:31:01' });
  t.teardown(() => machine.close());
  await machine.setNextBoot('pxe');
  const started = Date.now();
  await machine.powerOn();
  await machine.vm.waitFor(/>>Start PXE over IPv4/, 90_000);
  t.comment(`power-on to OVMF PXE: ${Date.now() - started} ms`);
  t.equal(machine.stats.pxeBoots, 1);
});
