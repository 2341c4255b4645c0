// The Redfish driver against the simulator, per vendor flavour and per quirk switch, on loopback.
import t from 'tap';
import { createServer, type Server } from 'node:net';
import pino from 'pino';
import { createRedfishDriver } from '../../agent/bmc/redfish/driver.js';
import { BmcError } from '../../agent/errors.js';
import type { SimFlavour } from '../bmcsim/redfish/flavours.js';
import { PASSWORD, bed } from '../bmcsim/redfish/driverBed.js';

const FLAVOURS: SimFlavour[] = ['dell', 'hpe', 'supermicro', 'ami', 'openbmc', 'generic'];
for (const flavour of FLAVOURS) {
  t.test(`${flavour}: one-shot PXE, power on, cycle, off; inventory; one session, logged out`, async (t) => {
    const b = await bed(t, { flavour, bootMode: 'Legacy' });
    t.equal(await b.driver.powerState(), 'off');
    await b.driver.setOneShotPxe('uefi');
    await b.driver.powerOn();
    t.same(b.machine.bootLog, ['pxe'], 'the first boot after the override is a network boot');
    t.equal(b.sim.state.boot.BootSourceOverrideEnabled, 'Disabled', 'the BMC consumed the one-shot');
    t.equal(b.sim.state.boot.BootSourceOverrideMode, 'UEFI', 'boot mode applied (Dell: from the Settings object at the reset)');
    t.equal(await b.driver.powerState(), 'on');
    await b.driver.setOneShotPxe('uefi');
    await b.driver.powerCycle();
    await b.driver.powerCycle();
    t.same(b.machine.bootLog, ['pxe', 'pxe', 'disk'], 'the override covers the next boot only');
    await b.driver.powerOff();
    await b.driver.powerOff();
    t.equal(await b.driver.powerState(), 'off');
    t.same(b.sim.state.resets, ['On', 'ForceRestart', 'ForceRestart', 'ForceOff'], 'On, ForceRestart, ForceOff; no reset when already off');

    const found = b.logs.find((l) => l['msg'] === 'redfish system found');
    t.equal(found?.['vendor'], flavour === 'generic' ? 'generic' : flavour, 'vendor profile detected from the service root');
    const actionInfo = b.sim.requests.filter((r) => r.path.endsWith('/ResetActionInfo')).length;
    t.equal(actionInfo, flavour === 'ami' || flavour === 'openbmc' ? 1 : 0, 'ActionInfo read once, only where the types are not inline');

    const inv = await b.driver.inventory();
    t.equal(inv.uuid, '4c4c4544-0053-4d10-8030-b1c04f494d31');
    t.same(
      inv.nics.map((n) => n.mac),
      ['52:54:00:12:34:56', '52:54:00:12:34:57'],
      'MACs lower-case with colons whatever the BMC wrote',
    );
    t.equal(inv.memoryMiB, 65536);
    t.equal(inv.processors.length, 2);
    t.equal(inv.drives.length, 1);
    t.equal(inv.drives[0]?.sizeBytes, 480103981056);
    if (flavour === 'openbmc') {
      t.equal(inv.serial, undefined, 'bmcweb publishes no serial: left out, not guessed');
    } else {
      t.equal(inv.serial, 'SIM0001');
      t.ok(inv.manufacturer);
    }
    t.equal(inv.processors[0]?.cores, flavour === 'generic' ? undefined : 16, 'cores from Processors members; the summary has none');

    t.equal(b.sim.state.logins, 1, 'one session for every call');
    t.ok(
      b.sim.requests.filter((r) => r.path !== '/redfish/v1/' && !(r.method === 'POST' && /\/Sessions\/?$/.test(r.path))).every((r) => r.auth === 'session'),
      'every call after login carries the X-Auth-Token',
    );
    t.equal(b.sim.sessionsOpen(), 1);
    await b.driver.close();
    await b.driver.close();
    t.equal(b.sim.sessionsOpen(), 0, 'close() logs the session out');
    await t.rejects(b.driver.powerState(), /closed/);
  });
}

t.test('dell: mode goes to the Settings object, target/enabled to the system; Legacy', async (t) => {
  const b = await bed(t, { flavour: 'dell', bootMode: 'UEFI' });
  await b.driver.setOneShotPxe('legacy');
  const p = b.patches();
  t.same(
    p.map((r) => [r.path, r.body]),
    [
      ['/redfish/v1/Systems/System.Embedded.1', { Boot: { BootSourceOverrideTarget: 'Pxe', BootSourceOverrideEnabled: 'Once' } }],
      ['/redfish/v1/Systems/System.Embedded.1/Settings', { Boot: { BootSourceOverrideMode: 'Legacy' } }],
    ],
  );
  t.ok(
    p.every((r) => r.ifMatch !== undefined && /^"[0-9A-F]{8}"$/.test(r.ifMatch)),
    'If-Match from the ETag header (iDRAC bodies have none)',
  );
  t.equal(b.sim.state.pendingMode, 'Legacy');
  await b.driver.powerOn();
  t.equal(b.sim.state.boot.BootSourceOverrideMode, 'Legacy');
  t.same(b.machine.bootLog, ['pxe']);
});

t.test('hpe and supermicro: the smallest PATCH with If-Match in the BMC own form; trailing-slash ids followed', async (t) => {
  const hpe = await bed(t, { flavour: 'hpe' });
  await hpe.driver.setOneShotPxe('legacy');
  const [p] = hpe.patches();
  t.equal(p?.path, '/redfish/v1/Systems/1/', 'the @odata.id as published, slash included');
  t.same(p?.body, { Boot: { BootSourceOverrideTarget: 'Pxe', BootSourceOverrideEnabled: 'Once', BootSourceOverrideMode: 'Legacy' } });
  t.match(p?.ifMatch, /^W\/"[0-9A-F]{8}"$/, 'weak ETag sent back as is');
  const smc = await bed(t, { flavour: 'supermicro' });
  await smc.driver.setOneShotPxe('uefi');
  t.match(smc.patches()[0]?.ifMatch, /^"[0-9A-F]{8}"$/);
});

t.test('unquoted ETags are quoted in If-Match and still match', async (t) => {
  const b = await bed(t, { flavour: 'generic', quoteEtags: 'none', requireIfMatch: true });
  await b.driver.setOneShotPxe('uefi');
  t.equal(b.patches().length, 1);
  t.match(b.patches()[0]?.ifMatch, /^"[0-9A-F]{8}"$/);
  t.equal(b.patches()[0]?.status, 204);
});

t.test('412 once: re-read, retry with the new ETag', async (t) => {
  const b = await bed(t, { flavour: 'hpe', answer412Once: true }, {}, 'on');
  await b.driver.setOneShotPxe('uefi');
  const p = b.patches();
  t.same(
    p.map((r) => r.status),
    [412, 204],
  );
  t.not(p[0]?.ifMatch, p[1]?.ifMatch, 'the retry carries the changed ETag');
  await b.driver.powerCycle();
  t.same(b.machine.bootLog, ['pxe']);
});

t.test('428: a BMC that demands If-Match but publishes no ETag is a clear error', async (t) => {
  const b = await bed(t, { flavour: 'openbmc', requireIfMatch: true });
  const err = (await b.driver.setOneShotPxe('uefi').catch((e: unknown) => e)) as BmcError;
  t.ok(err instanceof BmcError);
  t.equal(err.reason, 'protocol');
  t.match(err.message, /428.*publishes no ETag/);
  t.match(err.message, b.sim.url.replace('http://', ''), 'names the BMC');
  const ok = await bed(t, { flavour: 'supermicro', requireIfMatch: true });
  await ok.driver.setOneShotPxe('uefi');
  t.same(
    ok.patches().map((r) => r.status),
    [204],
    'with an ETag available no 428 is ever provoked',
  );
});

t.test('dropBootMode: the read-back catches it; re-PATCHed twice, then an override error', async (t) => {
  const b = await bed(t, { flavour: 'hpe', dropBootMode: true, bootMode: 'UEFI' });
  const err = (await b.driver.setOneShotPxe('legacy').catch((e: unknown) => e)) as BmcError;
  t.ok(err instanceof BmcError);
  t.equal(err.code, 'MASKIN_ERR_BMC_BOOT_OVERRIDE');
  t.match(err.message, /BootSourceOverrideMode="UEFI" \(sent Legacy\)/);
  t.equal(b.patches().length, 3);
});

t.test('dropBootMode on a firmware profiled as not reporting the mode: accepted, still PXE boots', async (t) => {
  const b = await bed(t, { flavour: 'hpe', dropBootMode: true, bootMode: 'UEFI' }, { quirks: { reportsMode: false } });
  await b.driver.setOneShotPxe('legacy');
  t.equal(b.patches().length, 1);
  await b.driver.powerOn();
  t.same(b.machine.bootLog, ['pxe']);
});

t.test('forgetOverrideOnce: the read-back catches the lost PATCH and the re-PATCH fixes it', async (t) => {
  const b = await bed(t, { flavour: 'supermicro', forgetOverrideOnce: true });
  await b.driver.setOneShotPxe('uefi');
  t.equal(b.patches().length, 2);
  t.ok(b.logs.some((l) => l['msg'] === 'boot override read-back differs; patching again'));
  await b.driver.powerOn();
  t.same(b.machine.bootLog, ['pxe']);
});

t.test('busy 503 is retried after Retry-After', async (t) => {
  const b = await bed(t, { flavour: 'dell', busyOnce: true });
  t.equal(await b.driver.powerState(), 'off');
  t.equal(b.sim.requests[0]?.status, 503);
  t.same(b.sleeps, [1000], 'waited the Retry-After once');
});

t.test('a BMC that never answers: BmcError timeout within the configured bound', async (t) => {
  const b = await bed(t, { flavour: 'generic', hang: true }, { timeoutMs: 300, retries: 1 });
  const start = Date.now();
  const err = (await b.driver.powerState().catch((e: unknown) => e)) as BmcError;
  const ms = Date.now() - start;
  t.ok(err instanceof BmcError);
  t.equal(err.reason, 'timeout');
  t.match(err.message, /no answer within 300 ms/);
  t.ok(ms >= 550 && ms < 2000, `two attempts of 300 ms took ${ms} ms`);
});

t.test('a Reset that the BMC carried out but never answered is not sent again', async (t) => {
  const b = await bed(t, { flavour: 'dell', stallResetOnce: true }, { timeoutMs: 300, retries: 2 }, 'on');
  await b.driver.setOneShotPxe('uefi');
  const err = (await b.driver.powerCycle().catch((e: unknown) => e)) as BmcError;
  t.equal(err.reason, 'timeout');
  t.same(b.sim.state.resets, ['ForceRestart'], 'one restart, not three');
  t.same(b.machine.bootLog, ['pxe'], 'so the one-shot override was spent on the boot that was asked for');
});

t.test('nothing listening: unreachable, naming the address and operation', async (t) => {
  const srv: Server = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  const driver = createRedfishDriver({
    address: `http://127.0.0.1:${port}`,
    credentials: { username: 'u', password: PASSWORD },
    log: pino({ level: 'silent' }),
    retries: 1,
    sleep: async () => undefined,
  });
  t.teardown(() => driver.close());
  const err = (await driver.inventory().catch((e: unknown) => e)) as BmcError;
  t.equal(err.reason, 'unreachable');
  t.match(err.message, `BMC http://127.0.0.1:${port}: inventory: `);
  t.match(err.message, /ECONNREFUSED/);
});

t.test('wrong password: auth error without the password', async (t) => {
  for (const auth of ['session', 'basic'] as const) {
    const b = await bed(t, { flavour: 'dell' }, { auth, credentials: { username: 'admin', password: 'wrong-' + PASSWORD } });
    const err = (await b.driver.powerState().catch((e: unknown) => e)) as BmcError;
    t.ok(err instanceof BmcError, auth);
    t.equal(err.code, 'MASKIN_ERR_BMC_AUTH');
    t.notMatch(err.message, PASSWORD);
    t.notMatch(JSON.stringify(b.logs), PASSWORD, 'nor in the logs');
    t.match(err.message, /admin/);
  }
});

t.test('no SessionService: basic auth fallback; explicit basic never logs in', async (t) => {
  const b = await bed(t, { flavour: 'openbmc', noSessions: true });
  await b.driver.setOneShotPxe('uefi');
  await b.driver.powerOn();
  t.equal(b.sim.state.logins, 0);
  t.ok(b.sim.requests.filter((r) => r.path !== '/redfish/v1/').every((r) => r.auth === 'basic'));
  const basic = await bed(t, { flavour: 'hpe' }, { auth: 'basic' });
  await basic.driver.inventory();
  t.equal(basic.sim.state.logins, 0);
  t.notOk(basic.sim.requests.some((r) => r.method === 'POST'));
});

t.test('expired session: one re-login, then the call succeeds', async (t) => {
  const b = await bed(t, { flavour: 'ami' });
  await b.driver.powerState();
  b.sim.expireSessions();
  t.equal(await b.driver.powerState(), 'off');
  t.equal(b.sim.state.logins, 2);
});

t.test('cycle fallbacks: PowerCycle, then ForceOff+On; an unusable list is unsupported', async (t) => {
  const pc = await bed(t, { flavour: 'generic', resetTypes: ['On', 'ForceOff', 'PowerCycle'] }, {}, 'on');
  await pc.driver.setOneShotPxe('uefi');
  await pc.driver.powerCycle();
  t.same(pc.sim.state.resets, ['PowerCycle']);
  t.same(pc.machine.bootLog, ['pxe']);
  const offOn = await bed(t, { flavour: 'generic', resetTypes: ['On', 'ForceOff'] }, {}, 'on');
  await offOn.driver.setOneShotPxe('uefi');
  await offOn.driver.powerCycle();
  t.same(offOn.sim.state.resets, ['ForceOff', 'On']);
  t.same(offOn.machine.bootLog, ['pxe']);
  const none = await bed(t, { flavour: 'generic', resetTypes: ['Nmi'] });
  const err = (await none.driver.powerOn().catch((e: unknown) => e)) as BmcError;
  t.equal(err.reason, 'unsupported');
  t.match(err.message, /no usable ResetType for on/);
});

t.test('one operation at a time per BMC', async (t) => {
  const b = await bed(t, { flavour: 'hpe' });
  await Promise.all([b.driver.inventory(), b.driver.powerState(), b.driver.setOneShotPxe('uefi'), b.driver.inventory(), b.driver.powerOn()]);
  t.equal(b.sim.state.maxInFlight, 1);
  t.same(b.machine.bootLog, ['pxe'], 'the queued powerOn ran after the override');
});
