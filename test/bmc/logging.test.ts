import t from 'tap';
import pino from 'pino';
import { Writable } from 'node:stream';
import type { BmcDriver } from '../../agent/bmc/driver.js';
import { withLogging } from '../../agent/bmc/logging.js';
import { BmcError } from '../../agent/errors.js';

function captured(): { log: pino.Logger; lines: () => Record<string, unknown>[] } {
  const out: string[] = [];
  const log = pino(
    { level: 'debug' },
    new Writable({
      write(chunk, _enc, done) {
        out.push(String(chunk));
        done();
      },
    }),
  );
  return { log, lines: () => out.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

const inner = (calls: string[]): BmcDriver => ({
  kind: 'redfish',
  address: 'https://198.18.83.9',
  powerState: async () => (calls.push('powerState'), 'off'),
  powerOn: async () => void calls.push('powerOn'),
  powerOff: async () => void calls.push('powerOff'),
  powerCycle: async () => {
    calls.push('powerCycle');
    throw new BmcError('timeout', 'https://198.18.83.9', 'power cycle', 'no answer within 10 ms');
  },
  setOneShotPxe: async (mode) => void calls.push(`setOneShotPxe:${mode}`),
  inventory: async () => (calls.push('inventory'), { serial: 'S1', processors: [], drives: [], nics: [] }),
  close: async () => void calls.push('close'),
});

t.test('every operation is passed through and logged once, failures at warn with the code', async (t) => {
  const calls: string[] = [];
  const { log, lines } = captured();
  const driver = withLogging(inner(calls), log);
  t.equal(driver.kind, 'redfish');
  t.equal(driver.address, 'https://198.18.83.9');
  t.equal(await driver.powerState(), 'off');
  await driver.setOneShotPxe('legacy');
  await driver.powerOn();
  await driver.powerOff();
  t.same((await driver.inventory()).serial, 'S1');
  await t.rejects(driver.powerCycle(), { code: 'MASKIN_ERR_BMC_TIMEOUT' }, 'the error reaches the caller unchanged');
  await driver.close();
  t.same(calls, ['powerState', 'setOneShotPxe:legacy', 'powerOn', 'powerOff', 'inventory', 'powerCycle', 'close']);

  const logged = lines();
  t.same(
    logged.map((l) => l['operation']),
    ['powerState', 'setOneShotPxe', 'powerOn', 'powerOff', 'inventory', 'powerCycle', 'close'],
  );
  t.ok(
    logged.every((l) => l['bmc'] === 'https://198.18.83.9' && l['driver'] === 'redfish' && typeof l['ms'] === 'number'),
    'each line names the BMC and the duration',
  );
  t.equal(logged[0]?.['power'], 'off', 'the power state read is logged');
  t.equal(logged[1]?.['mode'], 'legacy');
  const failed = logged.find((l) => l['operation'] === 'powerCycle');
  t.equal(failed?.['level'], 40, 'a failure is a warning');
  t.equal(failed?.['code'], 'MASKIN_ERR_BMC_TIMEOUT');
  t.match(String(failed?.['error']), /no answer within 10 ms/);
  t.ok(
    logged.filter((l) => l['operation'] !== 'powerCycle').every((l) => l['level'] === 20),
    'successes are debug',
  );
});
