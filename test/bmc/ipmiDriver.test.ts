// The IPMI driver's decisions with a fake ipmitool: what it runs (password only in the
// environment), retries with backoff for transient failures but never a power cycle that may
// have been acted on, the boot-flag read-back and its re-sets, power cycle of a server that is off,
// one operation at a time.
import t from 'tap';
import pino from 'pino';
import { createIpmiDriver, retryable, splitAddress } from '../../agent/bmc/ipmi/driver.js';
import type { CommandResult, CommandRunner } from '../../agent/bmc/ipmi/runner.js';
import { BmcError } from '../../agent/errors.js';

const log = pino({ level: 'silent' });
const PASSWORD = 'hunter2-secret';
const ok = (stdout: string): CommandResult => ({ code: 0, stdout, stderr: '', timedOut: false });
const fail = (stderr: string): CommandResult => ({ code: 1, stdout: '', stderr, timedOut: false });
const UNREACHABLE = 'Get Auth Capabilities error\nError: Unable to establish IPMI v2 / RMCP+ session\n';
const AUTH = '> RAKP 2 HMAC is invalid\nError: Unable to establish IPMI v2 / RMCP+ session\n';
const bootparam = (hex: string): string => `Boot parameter version: 1\nBoot parameter 5 is valid/unlocked\nBoot parameter data: ${hex}\n`;

interface Call {
  args: string[];
  env: Readonly<Record<string, string>>;
}

/** A fake ipmitool answering by the command after the connection options. */
function fakeIpmitool(answer: (cmd: string, n: number) => CommandResult | Promise<CommandResult>): { run: CommandRunner; calls: Call[]; sleeps: number[] } {
  const calls: Call[] = [];
  const sleeps: number[] = [];
  const run: CommandRunner = async (cmd, args, opts) => {
    t.equal(cmd, 'ipmitool');
    calls.push({ args: [...args], env: opts.env });
    const i = args.indexOf('-R');
    const command = args.slice(i + 2).join(' ');
    return answer(command, calls.length);
  };
  return { run, calls, sleeps };
}

function driver(run: CommandRunner, sleeps: number[], extra: { bootFlagCheck?: 'full' | 'device-only' } = {}) {
  return createIpmiDriver({
    address: '198.18.32.9:6230',
    credentials: { username: 'admin', password: PASSWORD },
    log,
    run,
    retries: 2,
    sleep: async (ms) => void sleeps.push(ms),
    ...extra,
  });
}

t.test('address and retry policy', async (t) => {
  t.same(splitAddress('10.1.2.3'), { host: '10.1.2.3', port: 623 });
  t.same(splitAddress('bmc-7.rack:6230'), { host: 'bmc-7.rack', port: 6230 });
  t.ok(retryable('unreachable', false), 'no session: nothing was sent');
  t.ok(retryable('busy', false));
  t.ok(retryable('timeout', true));
  t.notOk(retryable('timeout', false), 'a timed-out power cycle may have happened');
  t.notOk(retryable('auth', true));
  t.notOk(retryable('unsupported', true));
});

t.test('ipmitool arguments: lanplus, host, port, user, -E; password only in IPMI_PASSWORD', async (t) => {
  const f = fakeIpmitool(() => ok('Chassis Power is on\n'));
  t.equal(await driver(f.run, f.sleeps).powerState(), 'on');
  const [call] = f.calls;
  t.same(call!.args.slice(0, 9), ['-I', 'lanplus', '-H', '198.18.32.9', '-p', '6230', '-U', 'admin', '-E']);
  t.same(call!.args.slice(-3), ['chassis', 'power', 'status']);
  t.notOk(
    call!.args.some((a) => a.includes(PASSWORD)),
    'no password in argv',
  );
  t.same(call!.env, { IPMI_PASSWORD: PASSWORD });
});

t.test('transient failures are retried with backoff, then reported with their reason', async (t) => {
  const flaky = fakeIpmitool((_cmd, n) => (n < 3 ? fail(UNREACHABLE) : ok('Chassis Power is off\n')));
  t.equal(await driver(flaky.run, flaky.sleeps).powerState(), 'off');
  t.same(flaky.sleeps, [500, 1000], 'exponential backoff');

  const dead = fakeIpmitool(() => fail(UNREACHABLE));
  const err = await driver(dead.run, dead.sleeps)
    .powerOn()
    .catch((e: unknown) => e);
  t.ok(err instanceof BmcError);
  t.equal((err as BmcError).reason, 'unreachable');
  t.equal((err as BmcError).code, 'MASKIN_ERR_BMC_UNREACHABLE');
  t.equal(dead.calls.length, 3, 'one try and two retries');

  const wrong = fakeIpmitool(() => fail(AUTH));
  const auth = (await driver(wrong.run, wrong.sleeps)
    .powerState()
    .catch((e: unknown) => e)) as BmcError;
  t.equal(auth.reason, 'auth');
  t.equal(wrong.calls.length, 1, 'a wrong password is not retried (it would lock the account)');
  t.match(auth.message, /BMC 198\.18\.32\.9:6230: power status: .*RAKP 2 HMAC is invalid.*Fix: check the username and password/);
  t.notMatch(auth.message, new RegExp(PASSWORD));

  const slow = fakeIpmitool((cmd) => (cmd === 'chassis power status' ? ok('Chassis Power is on\n') : { code: null, stdout: '', stderr: '', timedOut: true }));
  const timeout = (await driver(slow.run, slow.sleeps)
    .powerCycle()
    .catch((e: unknown) => e)) as BmcError;
  t.equal(timeout.reason, 'timeout');
  t.same(
    slow.calls.map((c) => c.args.slice(-3).join(' ')),
    ['chassis power status', 'chassis power cycle'],
    'a timed-out power cycle is not repeated',
  );
});

t.test('power cycle: cycle when on, on when off', async (t) => {
  for (const [state, expected] of [
    ['on', 'chassis power cycle'],
    ['off', 'chassis power on'],
  ] as const) {
    const f = fakeIpmitool((cmd) => (cmd === 'chassis power status' ? ok(`Chassis Power is ${state}\n`) : ok('Chassis Power Control: ok\n')));
    await driver(f.run, f.sleeps).powerCycle();
    t.equal(f.calls.at(-1)!.args.slice(-3).join(' '), expected);
  }
});

t.test('one-shot PXE: bootdev (efiboot for UEFI), read back, set again, then override error', async (t) => {
  const good = fakeIpmitool((cmd) => (cmd.startsWith('chassis bootparam') ? ok(bootparam('a004000000')) : ok('Set Boot Device to pxe\n')));
  await driver(good.run, good.sleeps).setOneShotPxe('uefi');
  t.same(
    good.calls.map((c) => c.args.slice(-4).join(' ')),
    ['chassis bootdev pxe options=efiboot', 'chassis bootparam get 5'],
  );

  // The BMC forgets the EFI bit once, keeps it the second time.
  let sets = 0;
  const forgetful = fakeIpmitool((cmd) => {
    if (cmd.startsWith('chassis bootdev')) sets += 1;
    return cmd.startsWith('chassis bootparam') ? ok(bootparam(sets === 1 ? '8004000000' : 'a004000000')) : ok('Set Boot Device to pxe\n');
  });
  await driver(forgetful.run, forgetful.sleeps).setOneShotPxe('uefi');
  t.equal(sets, 2, 'set again after a read-back mismatch');

  const never = fakeIpmitool((cmd) => (cmd.startsWith('chassis bootparam') ? ok(bootparam('8008000000')) : ok('Set Boot Device to pxe\n')));
  const err = (await driver(never.run, never.sleeps)
    .setOneShotPxe('legacy')
    .catch((e: unknown) => e)) as BmcError;
  t.equal(err.reason, 'override');
  t.equal(err.code, 'MASKIN_ERR_BMC_BOOT_OVERRIDE');
  t.match(err.message, /after 3 sets the BMC still reports: boot device is disk, not pxe/);
  t.equal(never.calls.filter((c) => c.args.includes('bootdev')).length, 3, 'bounded re-sets');

  const legacy = fakeIpmitool((cmd) => (cmd.startsWith('chassis bootparam') ? ok(bootparam('8004000000')) : ok('')));
  await driver(legacy.run, legacy.sleeps).setOneShotPxe('legacy');
  t.equal(legacy.calls[0]!.args.slice(-3).join(' '), 'chassis bootdev pxe', 'no efiboot option for legacy');

  const sim = fakeIpmitool((cmd) => (cmd.startsWith('chassis bootparam') ? ok(bootparam('0004000000')) : ok('')));
  await driver(sim.run, sim.sleeps, { bootFlagCheck: 'device-only' }).setOneShotPxe('uefi');
  t.equal(sim.calls.length, 2, 'device-only accepts a BMC that keeps only the device');
});

t.test('inventory: FRU and GUID, no host NICs; a BMC without FRU is not an error', async (t) => {
  const f = fakeIpmitool((cmd) => {
    if (cmd === 'fru print 0') return ok(' Product Manufacturer  : Maskin Labs\n Product Name          : SIM-1U\n Product Serial        : SN-0001\n');
    if (cmd === 'mc guid') return ok('System GUID   : efcdab89-6745-2301-efcd-ab8967452301\n');
    return ok('MAC Address             : 0c:c4:7a:12:34:56\n');
  });
  t.same(await driver(f.run, f.sleeps).inventory(), {
    manufacturer: 'Maskin Labs',
    model: 'SIM-1U',
    serial: 'SN-0001',
    uuid: 'efcdab89-6745-2301-efcd-ab8967452301',
    processors: [],
    drives: [],
    nics: [],
  });

  const bare = fakeIpmitool((cmd) =>
    cmd === 'mc guid' ? ok('System GUID   : efcdab89-6745-2301-efcd-ab8967452301\n') : fail('Invalid completion code received: Invalid command\n'),
  );
  t.same(await driver(bare.run, bare.sleeps).inventory(), { uuid: 'efcdab89-6745-2301-efcd-ab8967452301', processors: [], drives: [], nics: [] });
});

t.test('one ipmitool at a time per BMC', async (t) => {
  let running = 0;
  let most = 0;
  const f = fakeIpmitool(async () => {
    running += 1;
    most = Math.max(most, running);
    await new Promise((r) => setTimeout(r, 10));
    running -= 1;
    return ok('Chassis Power is on\n');
  });
  const d = driver(f.run, f.sleeps);
  await Promise.all([d.powerState(), d.powerOn(), d.powerState(), d.inventory()]);
  t.equal(most, 1);
});
