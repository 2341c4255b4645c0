// HTTPS to a BMC: trusted through its own CA (a per-BMC PEM), refused without it with an error
// that says how to fix it, and the explicit insecure flag, which works and warns once.
import t from 'tap';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { BmcError } from '../../agent/errors.js';
import { bed } from '../bmcsim/redfish/driverBed.js';

const run = promisify(execFile);

/** A throw-away CA and a server certificate for 127.0.0.1 signed by it. */
async function pki(dir: string) {
  const f = (n: string) => path.join(dir, n);
  await run('openssl', [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-days',
    '2',
    '-subj',
    '/CN=bmc test CA',
    '-keyout',
    f('ca.key'),
    '-out',
    f('ca.pem'),
  ]);
  await run('openssl', [
    'req',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-subj',
    '/CN=127.0.0.1',
    '-keyout',
    f('bmc.key'),
    '-out',
    f('bmc.csr'),
  ]);
  await writeFile(f('ext.cnf'), 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n');
  await run('openssl', [
    'x509',
    '-req',
    '-in',
    f('bmc.csr'),
    '-CA',
    f('ca.pem'),
    '-CAkey',
    f('ca.key'),
    '-CAcreateserial',
    '-days',
    '2',
    '-extfile',
    f('ext.cnf'),
    '-out',
    f('bmc.pem'),
  ]);
  return { ca: await readFile(f('ca.pem'), 'utf8'), key: await readFile(f('bmc.key'), 'utf8'), cert: await readFile(f('bmc.pem'), 'utf8') };
}

t.test('HTTPS BMC: per-BMC CA, missing CA, insecure', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'maskin-rftls-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const { ca, key, cert } = await pki(dir);
  const tls = { key, cert };

  const trusted = await bed(t, { flavour: 'dell', tls }, { ca });
  t.match(trusted.sim.url, /^https:\/\//);
  await trusted.driver.setOneShotPxe('uefi');
  await trusted.driver.powerOn();
  t.same(trusted.machine.bootLog, ['pxe'], 'works end to end over TLS with the BMC CA');
  t.notOk(
    trusted.logs.some((l) => l['level'] === 40),
    'no warning when verified',
  );

  const untrusted = await bed(t, { flavour: 'dell', tls });
  const err = (await untrusted.driver.powerState().catch((e: unknown) => e)) as BmcError;
  t.ok(err instanceof BmcError);
  t.equal(err.reason, 'unreachable');
  t.match(err.message, /TLS: (UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_GET_ISSUER_CERT_LOCALLY)/);
  t.match(err.message, /Fix: give this BMC's CA certificate \(ca\)/);
  t.equal(untrusted.sim.requests.length, 0, 'nothing was sent, credentials least of all');

  const insecure = await bed(t, { flavour: 'hpe', tls }, { insecure: true });
  await insecure.driver.powerState();
  await insecure.driver.inventory();
  const warns = insecure.logs.filter((l) => l['level'] === 40 && /verification is OFF/.test(String(l['msg'])));
  t.equal(warns.length, 1, 'insecure is warned once, not per request');

  const wrongCa = await bed(t, { flavour: 'hpe', tls }, { ca: cert });
  const err2 = (await wrongCa.driver.powerState().catch((e: unknown) => e)) as BmcError;
  t.equal(err2.reason, 'unreachable', 'a CA that did not sign the BMC certificate is refused');
});
