import t from 'tap';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadManifestFile, parseManifest } from '../../agent/manifest/load.js';
import { directoryOf } from '../../agent/manifest/model.js';
import { ManifestError } from '../../agent/errors.js';

const examples = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../config/examples');

t.test('the example manifest loads with defaults and a directory by MAC', async (t) => {
  const m = loadManifestFile(path.join(examples, 'manifest.yaml'));
  t.equal(m.version, 1);
  const dir = directoryOf(m);
  const n1 = dir.byMac('52-54-00-6D-00-01');
  t.equal(n1?.id, 'rack1-n01');
  t.equal(n1?.ipv4, '198.18.0.11');
  t.equal(dir.byMac('52:54:00:6d:00:02')?.bootLocal, 'exit');
  t.equal(dir.byMac('52:54:00:00:00:99'), undefined, 'unknown MAC is a normal undefined');
  const profile = dir.profileOf(n1!);
  t.equal(profile.install.disk, '/dev/vda');
  t.equal(profile.install.wipe, false);
  t.equal(profile.machineConfig.length, 1);
  t.equal(profile.machineConfig[0]!.version, 'v1alpha1');
});

const base = (nodes: string, extra = ''): string => `
version: 3
profiles:
  p1:
    talosVersion: v1.12.11
    schematic: ${'a'.repeat(64)}
    arch: amd64
    install: { disk: /dev/sda }
    machineConfig: |
      version: v1alpha1
      machine: { type: worker }
${extra}
nodes:
${nodes}
`;

t.test('defaults for a node', async (t) => {
  const m = parseManifest(base('  - { id: n1, macs: ["AA:BB:CC:DD:EE:01"], profile: p1 }'));
  const n = m.nodes[0]!;
  t.same([n.desired, n.generation, n.bootLocal, n.patches], ['installed', 1, 'exit', []]);
  t.same(n.macs, ['aa:bb:cc:dd:ee:01']);
});

const rejects: [string, string, RegExp][] = [
  ['unknown profile', base('  - { id: n1, macs: ["aa:bb:cc:dd:ee:01"], profile: nope }'), /nodes\.0\.profile: unknown profile nope\. Fix: use one of: p1/],
  [
    'duplicate MAC',
    base('  - { id: n1, macs: ["aa:bb:cc:dd:ee:01"], profile: p1 }\n  - { id: n2, macs: ["AA-BB-CC-DD-EE-01"], profile: p1 }'),
    /nodes\.1\.macs: MAC aa:bb:cc:dd:ee:01 is also listed for node n1/,
  ],
  [
    'duplicate id',
    base('  - { id: n1, macs: ["aa:bb:cc:dd:ee:01"], profile: p1 }\n  - { id: n1, macs: ["aa:bb:cc:dd:ee:02"], profile: p1 }'),
    /nodes\.1\.id: duplicate node id n1/,
  ],
  ['bad MAC', base('  - { id: n1, macs: ["aa:bb:cc"], profile: p1 }'), /nodes\.0\.macs\.0: .*Fix: expected a MAC address/],
  [
    'bad desired state',
    base('  - { id: n1, macs: ["aa:bb:cc:dd:ee:01"], profile: p1, desired: running }'),
    /nodes\.0\.desired: .*Fix: use one of: installed, discovery/,
  ],
  [
    'bad boot-local',
    base('  - { id: n1, macs: ["aa:bb:cc:dd:ee:01"], profile: p1, bootLocal: reboot }'),
    /nodes\.0\.bootLocal: .*Fix: use one of: exit, sanboot, http-404/,
  ],
  [
    'iPXE expansion in kernel args',
    base('  - { id: n1, macs: ["aa:bb:cc:dd:ee:01"], profile: p1 }').replace('arch: amd64', 'arch: amd64\n    kernelArgs: ["talos.foo=${uuid}"]'),
    /kernelArgs\.0: .*one kernel argument without spaces or \$\{\.\.\.\}/,
  ],
  [
    'a kernel arg maskin owns',
    base('  - { id: n1, macs: ["aa:bb:cc:dd:ee:01"], profile: p1 }').replace('arch: amd64', 'arch: amd64\n    kernelArgs: ["talos.config=http://elsewhere/x"]'),
    /profiles\.p1\.kernelArgs: "talos\.config=http:\/\/elsewhere\/x": talos\.config is set by maskin/,
  ],
  [
    'a rescue kernel arg maskin owns',
    base('  - { id: n1, macs: ["aa:bb:cc:dd:ee:01"], profile: p1 }').replace(
      'arch: amd64',
      'arch: amd64\n    rescueKernelArgs: ["talos.experimental.wipe=system"]',
    ),
    /profiles\.p1\.rescueKernelArgs: "talos\.experimental\.wipe=system": talos\.experimental\.wipe is set by maskin/,
  ],
  [
    'removing a required arg',
    base('  - { id: n1, macs: ["aa:bb:cc:dd:ee:01"], profile: p1 }').replace('arch: amd64', 'arch: amd64\n    kernelArgs: ["-pti"]'),
    /profiles\.p1\.kernelArgs: "-pti": Talos requires pti=on/,
  ],
  [
    'reserved address twice',
    base(
      '  - { id: n1, macs: ["aa:bb:cc:dd:ee:01"], profile: p1, ipv4: 198.18.0.5 }\n  - { id: n2, macs: ["aa:bb:cc:dd:ee:02"], profile: p1, ipv4: 198.18.0.5 }',
    ),
    /nodes\.1\.ipv4: 198\.18\.0\.5 is also reserved for node n1/,
  ],
  [
    'unsupported Talos version',
    base('  - { id: n1, macs: ["aa:bb:cc:dd:ee:01"], profile: p1 }').replace('v1.12.11', 'v1.9.0'),
    /profiles\.p1\.talosVersion: .*Fix: expected a Talos version v1\.12\.x to v1\.15\.x/,
  ],
  [
    'no install disk',
    base('  - { id: n1, macs: ["aa:bb:cc:dd:ee:01"], profile: p1 }').replace('install: { disk: /dev/sda }', 'install: { wipe: true }'),
    /profiles\.p1\.install/,
  ],
];
for (const [name, text, pattern] of rejects) {
  t.test(`rejects whole: ${name}`, async (t) => {
    let caught: unknown;
    try {
      parseManifest(text);
    } catch (err) {
      caught = err;
    }
    t.ok(caught instanceof ManifestError, 'ManifestError');
    t.match((caught as Error).message, pattern);
  });
}

t.test('a base-config check failure names the profile', async (t) => {
  let caught: unknown;
  try {
    parseManifest(base('  - { id: n1, macs: ["aa:bb:cc:dd:ee:01"], profile: p1 }'), {
      talos: {
        base: () => {
          throw new ManifestError('x', []);
        },
        node: () => undefined,
      },
    });
  } catch (err) {
    caught = err;
  }
  t.match((caught as Error).message, /profiles\.p1\.machineConfig:/);
});

t.test('rack id, pinned images, setting overrides and BMC references', async (t) => {
  const text = base(
    '  - { id: n1, macs: ["aa:bb:cc:dd:ee:01"], profile: p1, bmc: { driver: redfish, address: "https://198.18.1.5", credentialsRef: bmc-n1 } }',
  ).replace(
    'version: 3',
    `version: 3\nrackId: rack-7\nsettings: { pullIntervalSeconds: 30 }\nimages:\n  - { kind: kernel, profile: p1, digest: "sha256:${'ab'.repeat(32)}" }`,
  );
  const m = parseManifest(text);
  t.equal(m.rackId, 'rack-7');
  t.same(m.settings, { pullIntervalSeconds: 30 });
  t.equal(m.images[0]?.digest, `sha256:${'ab'.repeat(32)}`);
  t.same(
    m.nodes[0]?.bmc,
    { driver: 'redfish', address: 'https://198.18.1.5', credentialsRef: 'bmc-n1', bootMode: 'uefi', vendor: 'auto' },
    'boot mode and vendor default to uefi and auto',
  );
  t.equal(m.nodes[0]?.wipe, undefined, 'no wipe policy: the profile decides');
  let caught: unknown;
  try {
    parseManifest(text.replace(`sha256:${'ab'.repeat(32)}`, 'md5:1234').replace('profile: p1, digest', 'profile: nope, digest'));
  } catch (err) {
    caught = err;
  }
  t.match((caught as Error).message, /images\.0\.digest: .*Fix: expected sha256:<64 hex>/);
});

t.test('BMC boot mode, vendor profile and wipe policy', async (t) => {
  const text = base(
    '  - { id: n1, macs: ["aa:bb:cc:dd:ee:01"], profile: p1, wipe: on-reprovision, bmc: { driver: ipmi, address: 198.18.1.5, bootMode: legacy, vendor: supermicro } }',
  );
  const m = parseManifest(text);
  t.same(m.nodes[0]?.bmc, { driver: 'ipmi', address: '198.18.1.5', bootMode: 'legacy', vendor: 'supermicro' });
  t.equal(m.nodes[0]?.wipe, 'on-reprovision');
  for (const [bad, field] of [
    ['wipe: sometimes', /nodes\.0\.wipe/],
    ['bootMode: bios', /nodes\.0\.bmc\.bootMode/],
    ['vendor: acme', /nodes\.0\.bmc\.vendor/],
  ] as const) {
    const broken = text.replace(bad.startsWith('wipe') ? 'wipe: on-reprovision' : bad.startsWith('boot') ? 'bootMode: legacy' : 'vendor: supermicro', bad);
    t.throws(() => parseManifest(broken), field, bad);
  }
});

t.test("every node's rendered machine config is checked: each bad node named, alike nodes each reported", async (t) => {
  const { talosChecks } = await import('../../agent/talos/checks.js');
  const nodes = [
    '  - { id: good, macs: ["aa:bb:cc:dd:ee:01"], profile: p1, patches: [{ machine: { nodeLabels: { a: b } } }] }',
    '  - { id: typo1, macs: ["aa:bb:cc:dd:ee:02"], profile: p1, hostname: typo1, patches: [{ machine: { nodeLabelz: { a: b } } }] }',
    '  - { id: typo2, macs: ["aa:bb:cc:dd:ee:03"], profile: p1, hostname: typo2, patches: [{ machine: { nodeLabelz: { a: b } } }] }',
  ].join('\n');
  let caught: unknown;
  try {
    parseManifest(base(nodes), { talos: talosChecks });
  } catch (err) {
    caught = err;
  }
  t.type(caught, ManifestError);
  const problems = (caught as ManifestError).problems.map((p) => `${p.field}: ${p.message}`);
  t.equal(problems.length, 2, problems.join('\n'));
  t.match(problems[0], /^nodes\.1\.patches: .*node typo1 is invalid: .*unknown field "nodeLabelz"/);
  t.match(problems[1], /^nodes\.2\.patches: .*node typo2 is invalid: .*unknown field "nodeLabelz"/);
  t.doesNotThrow(() => parseManifest(base(nodes.split('\n')[0]!), { talos: talosChecks }), 'the good node alone passes');
});
