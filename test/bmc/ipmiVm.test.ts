// The IPMI path with a real server: the driver sets a one-shot legacy PXE boot on ipmi_sim and
// powers on; ipmi_sim's chassis program starts the SeaBIOS VM (with the BMC on its KCS interface)
// from the network; iPXE starting on the serial is the proof. Power off through the driver stops
// the VM; the next power-on boots the disk only. Rack 198.18.33.0/24 (no DHCP server: iPXE configuring net0 is enough).
import t from 'tap';
import pino from 'pino';
import { createIpmiDriver } from '../../agent/bmc/ipmi/driver.js';
import { runCommand, type CommandRunner } from '../../agent/bmc/ipmi/runner.js';
import { createRack } from '../bed/netns.js';
import { QmpClient } from '../bed/qmp.js';
import { startIpmiBed } from '../bmcsim/ipmi/bed.js';

const PASSWORD = 'Vm-pass-3302';
const MAC = '52:54:00:6d:33:01';

t.test('IPMI one-shot PXE boots a VM through ipmi_sim, power off stops it', async (t) => {
  const rack = await createRack('ipmivm', 33);
  t.teardown(() => rack.destroy());
  const bed = await startIpmiBed({
    rack,
    host: rack.address,
    username: 'admin',
    password: PASSWORD,
    fru: { manufacturer: 'Maskin Labs', product: 'SIM-1U', serial: 'SN-3301', boardSerial: 'BSN-3301' },
    guid: '33013301330133013301330133013301',
    vm: { rack, name: 'i1', firmware: 'bios', mac: MAC },
  });
  t.teardown(() => bed.stop());
  const inRack: CommandRunner = (cmd, args, opts) => runCommand('ip', ['netns', 'exec', rack.ns, cmd, ...args], opts);
  const bmc = createIpmiDriver({
    address: bed.address,
    credentials: { username: 'admin', password: PASSWORD },
    log: pino({ level: 'silent' }),
    run: inRack,
    cipherSuite: 3,
    bootFlagCheck: 'device-only',
  });

  t.equal(await bmc.powerState(), 'off');
  await bmc.setOneShotPxe('legacy');
  const started = Date.now();
  await bmc.powerOn();
  t.ok(await bed.machinePid(), 'QEMU started by power on');
  await bed.waitForSerial(new RegExp(`iPXE initialising devices[\\s\\S]*Configuring \\(net0 ${MAC}\\)`), 20_000);
  t.comment(`power on to iPXE DHCP: ${Date.now() - started} ms`);
  t.same(await bed.boots(), ['pxe']);

  // The guest reboots itself (as the installer does, here by ctrl-alt-delete once iPXE runs):
  // -boot once=n,order=c puts the disk first again. The blank disk fails, so SeaBIOS then falls
  // through to the NIC; with an installed disk it would boot there.
  const qmp = await QmpClient.connect(bed.qmpPath!);
  t.teardown(() => qmp.close());
  const from = bed.serial().length;
  await qmp.execute('send-key', { keys: ['ctrl', 'alt', 'delete'].map((data) => ({ type: 'qcode', data })) });
  await bed.waitForSerial(/Booting from Hard Disk[\s\S]*$/, 30_000, from);
  const afterReboot = bed.serial().slice(from);
  t.match(afterReboot, /SeaBIOS/, 'the guest rebooted');
  const disk = afterReboot.indexOf('Booting from Hard Disk');
  const rom = afterReboot.indexOf('Booting from ROM');
  t.ok(disk >= 0 && (rom < 0 || disk < rom), 'the disk is tried first after the guest reboot');
  qmp.close();

  await bmc.powerOff();
  t.equal(await bmc.powerState(), 'off');
  t.equal(await bed.machinePid(), undefined, 'QEMU gone after power off');

  // The override was used up: the next power-on boots the (blank) disk only and halts.
  await bmc.powerOn();
  await bed.waitForSerial(/No bootable device/, 60_000);
  t.notMatch(bed.serial(), /iPXE initialising devices|Booting from ROM/, 'no second network boot');
  t.same(await bed.boots(), ['pxe', 'disk']);
  await bmc.powerOff();
});
