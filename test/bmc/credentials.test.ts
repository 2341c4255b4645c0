import t from 'tap';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createCredentialResolver, envNameOf } from '../../agent/bmc/credentials.js';
import { NO_BMC } from '../../agent/config/load.js';
import { nodeFixture } from '../fakes/manifest.js';

const node = (credentialsRef?: string) =>
  nodeFixture({
    id: 'r1-n07',
    bmc: { driver: 'redfish', address: 'https://198.18.1.5', bootMode: 'uefi', vendor: 'auto', ...(credentialsRef ? { credentialsRef } : {}) },
  });

t.test('from the secrets file (YAML or JSON), the environment first; the password never serialises', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'bmc-creds-'));
  const file = path.join(dir, 'bmc.yaml');
  writeFileSync(
    file,
    'rack7: { username: root, password: "s3cret-pw", caFile: ca.pem }\nlab: { username: admin, password: x, insecure: true }\nbroken: { username: root }\n',
  );
  const resolve = createCredentialResolver({ ...NO_BMC, secretsFile: file, envCredentials: { RACK7_OVERRIDE: { username: 'env-user', password: 'env-pw' } } });
  const c = resolve(node('rack7'));
  t.equal(c.username, 'root');
  t.equal(c.password, 's3cret-pw');
  t.equal(c.caFile, path.join(dir, 'ca.pem'), 'caFile relative to the secrets file');
  t.notMatch(JSON.stringify(c), /s3cret/, 'JSON has no password');
  t.notMatch(JSON.stringify({ ...c }), /s3cret/, 'nor a spread copy');
  t.equal(resolve(node('lab')).insecure, true);
  t.equal(resolve(node('rack7.override')).username, 'env-user', 'env NAME: upper case, other characters as _');
  t.equal(envNameOf('rack7.override'), 'RACK7_OVERRIDE');
  t.throws(() => resolve(node('broken')), /"broken".*must be \{ username/);
  t.throws(() => resolve(node('nope')), { code: 'MASKIN_ERR_BMC_CREDENTIALS' });
  t.throws(
    () => resolve(node()),
    /"r1-n07" are not defined .*Fix: add an entry named "r1-n07".*MASKIN_BMC_R1_N07_USERNAME/,
    'the node id is the default reference',
  );
  writeFileSync(file, 'rack7: { username: root\n  password: [');
  t.throws(() => resolve(node('rack7')), /cannot be read or parsed/);
});

t.test('no secrets file: the environment only, and the error says so', async (t) => {
  const resolve = createCredentialResolver({ ...NO_BMC, envCredentials: { R1: { username: 'u', password: 'p' } } });
  t.equal(resolve(node('r1')).username, 'u');
  t.throws(() => resolve(node('r2')), /not defined in the environment \(no bmc\.secretsFile is configured\)\. Fix: .*MASKIN_BMC_R2_USERNAME and _PASSWORD/);
});
