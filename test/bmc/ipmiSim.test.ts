// The IPMI driver against a real IPMI BMC: OpenIPMI's ipmi_sim over RMCP+, driven by the real
// ipmitool. No VM: the bed's stand-in process is the server's power. Proves power
// status/on/off/cycle, the one-shot PXE set + read-back (and that it is used up by one boot), the
// inventory from FRU and GUID, and the error reasons for a wrong password and a silent BMC.
// Rack 198.18.32.0/24; ipmi_sim's LAN channel on the rack bridge, ipmitool inside the namespace.
import t from 'tap';
import pino from 'pino';
import { createIpmiDriver, type IpmiDriverOptions } from '../../agent/bmc/ipmi/driver.js';
import { runCommand, type CommandRunner } from '../../agent/bmc/ipmi/runner.js';
import { BmcError } from '../../agent/errors.js';
import { createRack } from '../bed/netns.js';
import { startIpmiBed } from '../bmcsim/ipmi/bed.js';

const log = pino({ level: 'silent' });
const PASSWORD = 'Sim-pass-7731';
const FRU = { manufacturer: 'Maskin Labs', product: 'SIM-1U', serial: 'SN-3201', boardSerial: 'BSN-3201' };

t.test('IPMI driver against ipmi_sim', async (t) => {
  const rack = await createRack('ipmisim', 32);
  t.teardown(() => rack.destroy());
  const bed = await startIpmiBed({ rack, host: rack.address, username: 'admin', password: PASSWORD, fru: FRU, guid: '00112233445566778899aabbccddeeff' });
  t.teardown(() => bed.stop());
  const inRack: CommandRunner = (cmd, args, opts) => runCommand('ip', ['netns', 'exec', rack.ns, cmd, ...args], opts);
  const driverFor = (o: Partial<IpmiDriverOptions> = {}) =>
    createIpmiDriver({
      address: bed.address,
      credentials: { username: 'admin', password: PASSWORD },
      log,
      run: inRack,
      cipherSuite: 3,
      bootFlagCheck: 'device-only',
      timeoutMs: 15_000,
      ...o,
    });
  const bmc = driverFor();
  const until = async (what: () => Promise<boolean>, ms: number): Promise<boolean> => {
    const end = Date.now() + ms;
    while (Date.now() < end) {
      if (await what()) return true;
      await new Promise((r) => setTimeout(r, 100));
    }
    return false;
  };

  t.equal(await bmc.powerState(), 'off');
  await bmc.powerOn();
  t.equal(await bmc.powerState(), 'on');
  const firstPid = await bed.machinePid();
  t.ok(firstPid, 'power on started the machine');
  await bmc.powerOff();
  t.equal(await bmc.powerState(), 'off');
  t.equal(await bed.machinePid(), undefined, 'power off stopped it');

  await bmc.powerCycle();
  t.equal(await bmc.powerState(), 'on', 'cycle of a server that is off powers it on');
  const beforeCycle = await bed.machinePid();
  await bmc.powerCycle();
  // ipmi_sim's cycle is off now, on again a second later.
  t.ok(
    await until(async () => (await bed.machinePid()) !== undefined && (await bed.machinePid()) !== beforeCycle, 5000),
    'cycle of a server that is on restarts it',
  );
  t.same(await bed.boots(), ['disk', 'disk', 'disk'], 'no override: disk boots');

  // One-shot PXE: set and read back, used up by the next boot only.
  await bmc.setOneShotPxe('legacy');
  await bmc.powerCycle();
  t.ok(await until(async () => (await bed.boots()).length === 4, 5000));
  await bmc.powerOff();
  await bmc.powerOn();
  t.same(await bed.boots(), ['disk', 'disk', 'disk', 'pxe', 'disk'], 'PXE for the boot after the override, disk after that');

  // ipmi_sim keeps only the device selector of the boot flags: the full read-back check sees the
  // missing valid/EFI bits, sets again, and gives up with the override error.
  const strict = await driverFor({ bootFlagCheck: 'full' })
    .setOneShotPxe('uefi')
    .catch((e: unknown) => e);
  t.ok(strict instanceof BmcError && strict.reason === 'override', 'read-back catches a BMC that drops the flags');
  t.match((strict as Error).message, /boot flags are not valid; boot type is legacy, not uefi/);

  t.same(await bmc.inventory(), {
    manufacturer: 'Maskin Labs',
    model: 'SIM-1U',
    serial: 'SN-3201',
    uuid: 'ffeeddcc-bbaa-9988-7766-554433221100',
    processors: [],
    drives: [],
    nics: [],
  });

  const wrong = (await driverFor({ credentials: { username: 'admin', password: 'not-the-password' } })
    .powerState()
    .catch((e: unknown) => e)) as BmcError;
  t.equal(wrong.reason, 'auth');
  t.equal(wrong.code, 'MASKIN_ERR_BMC_AUTH');
  t.notMatch(wrong.message, /not-the-password|Sim-pass/, 'no password in the error');

  const silentStarted = Date.now();
  const silent = (await driverFor({ address: `${rack.address}:700`, retries: 0 })
    .powerState()
    .catch((e: unknown) => e)) as BmcError;
  t.equal(silent.reason, 'unreachable');
  t.comment(`silent BMC reported after ${Date.now() - silentStarted} ms`);
  await bmc.powerOff();
});
