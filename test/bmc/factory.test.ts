import t from 'tap';
import pino from 'pino';
import { createDriverFactory } from '../../agent/bmc/factory.js';
import { nodeFixture } from '../fakes/manifest.js';

const log = pino({ level: 'silent' });
const node = (driver: 'redfish' | 'ipmi') => nodeFixture({ id: 'n1', bmc: { driver, address: 'https://198.18.83.5', bootMode: 'uefi', vendor: 'dell' } });

t.test('the manifest picks the driver; nothing is probed', async (t) => {
  const make = createDriverFactory({ log });
  const redfish = make(node('redfish'), { username: 'u', password: 'p' });
  t.equal(redfish.kind, 'redfish');
  t.match(redfish.address, /198\.18\.83\.5/);
  await redfish.close();
  t.throws(() => make(nodeFixture({ id: 'n2' }), { username: 'u', password: 'p' }), { code: 'MASKIN_ERR_BMC_UNSUPPORTED' });
  t.throws(() => make(node('redfish'), Object.assign({ username: 'u', password: 'p' }, { caFile: '/nonexistent/ca.pem' })), /ca\.pem.*Fix: point caFile/);
});

t.test('every driver comes wrapped in the logging decorator', async (t) => {
  const lines: string[] = [];
  const captured = pino({ level: 'debug' }, { write: (line: string) => void lines.push(line) });
  const driver = createDriverFactory({ log: captured })(node('redfish'), { username: 'u', password: 'p' });
  await driver.close();
  const closeLine = lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l['operation'] === 'close');
  t.equal(closeLine?.['node'], 'n1', 'the line names the node');
  t.match(String(closeLine?.['bmc']), /198\.18\.83\.5/);
});

t.test('ipmi: the ipmitool driver, one per node', async (t) => {
  const ipmi = createDriverFactory({ log })(node('ipmi'), { username: 'u', password: 'p' });
  t.equal(ipmi.kind, 'ipmi');
  t.match(ipmi.address, /198\.18\.83\.5/);
  await ipmi.close();
});
