// What an operator reads when a config or manifest is wrong: the YAML line quoted, schema problems
// with their line and node id, enum values listed, versions that must be quoted, articles right,
// and no rename suggested across unrelated fields.
import t from 'tap';
import { closest } from '../../agent/config/schemaErrors.js';
import { parseConfig } from '../../agent/config/load.js';
import { parseManifest } from '../../agent/manifest/load.js';

const HEAD = 'provisioning: { interface: prov0, address: 198.18.0.1, subnet: 198.18.0.0/24 }\n';

const configError = (text: string): string => {
  try {
    parseConfig(text, { env: {} });
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error('accepted');
};
const manifestError = (text: string): string => {
  try {
    parseManifest(text);
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error('accepted');
};

t.test('a YAML syntax error names its line and column and quotes the source line', async (t) => {
  const message = configError(`${HEAD}dhcp:\n  pool: { start: 198.18.0.100, end: 198.18.0.150 }\nlogLevel: info: debug\n`);
  t.match(
    message,
    /config: line 4, column \d+: \(top level\): not valid YAML \(Nested mappings are not allowed in compact mappings\)\. Fix: fix the YAML syntax:\n {8}logLevel: info: debug\n {8} *\^/,
  );
  t.match(
    manifestError('version: 1\nprofiles: {\nnodes: []\n'),
    /manifest: line \d+, column \d+: \(top level\): not valid YAML \(.+\)\. Fix: fix the YAML syntax:\n {8}\S/,
  );
});

t.test('schema problems: the line, an enum value and the allowed ones, an article that fits', async (t) => {
  const message = configError(`${HEAD}dhcp:\n  pool: { start: 198.18.0.100, end: 198.18.0.150 }\n  mode: fast\nports: 5\n`);
  t.match(message, /config: line 4: dhcp\.mode: is "fast", not one of the allowed values\. Fix: use one of: full, proxy, auto/);
  t.match(message, /config: line 5: ports: must be object\. Fix: use an object\n?/);
  t.notMatch(message, /use a object/);
});

t.test('no rename across unrelated fields; a real typo still gets its suggestion', async (t) => {
  const message = configError(`${HEAD}dhcp:\n  pool: { start: 198.18.0.100, end: 198.18.0.150 }\n  end: 4\ndataDri: /var/lib/x\n`);
  t.match(message, /line 4: dhcp\.end: unknown field\. Fix: remove it \(known fields: .*\bdns\b.*\)/);
  t.notMatch(message, /rename it to `dns`/);
  t.match(message, /line 5: dataDri: unknown field\. Fix: remove it or rename it to `dataDir`/);
  t.equal(closest('end', ['dns', 'mode', 'pool']), undefined);
  t.equal(closest('dataDri', ['dataDir', 'assetsDir']), 'dataDir', 'a swap of two letters is one edit');
  t.equal(closest('poolStrat', ['poolStart', 'poolEnd']), 'poolStart');
});

t.test('manifest: node ids beside their index, and versions YAML read as numbers', async (t) => {
  const manifest = [
    'version: 1',
    'profiles:',
    '  workers:',
    '    talosVersion: 1.10',
    '    schematic: 376567988ad370138ad8b2698212367b8edcb69b5fd68c80be1f2ec7d603b4ba',
    '    arch: amd64',
    '    install: { disk: /dev/sda }',
    '    machineConfig: "version: v1alpha1\\nmachine: { type: worker }\\n"',
    'nodes:',
    '  - id: rack1-n01',
    '    macs: ["52:54:00:00:00:01"]',
    '    profile: workers',
    '  - id: rack1-n02',
    '    macs: [nonsense]',
    '    profile: workers',
    '    desired: sideways',
    '',
  ].join('\n');
  const message = manifestError(manifest);
  t.match(
    message,
    /manifest: line 4: profiles\.workers\.talosVersion: must be string\. Fix: quote it, as in "1\.10" \(unquoted, YAML reads 1\.10 as the number 1\.1\)/,
  );
  t.match(message, /manifest: line 14, node rack1-n02: nodes\.1\.macs\.0: must match pattern/);
  t.match(
    message,
    /manifest: line 16, node rack1-n02: nodes\.1\.desired: is "sideways", not one of the allowed values\. Fix: use one of: installed, discovery, rescue, decommissioned/,
  );
});
