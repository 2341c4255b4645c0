import { readFileSync } from 'node:fs';
import t from 'tap';
import { nodeFixture, profileFixture, VANILLA_SCHEMATIC } from '../fakes/manifest.js';
import { parse, parseAllDocuments } from 'yaml';
import { MachineConfigError, TalosSchemaError } from '../../agent/errors.js';
import type { NodeSpec, Profile } from '../../agent/manifest/model.js';
import { machineConfigProblems, validateMachineConfigDocs } from '../../agent/talos/configSchema.js';
import { machineConfigDocs, renderMachineConfig } from '../../agent/talos/machineConfig.js';

const fixture = readFileSync(new URL('../fixtures/talos/worker.yaml', import.meta.url), 'utf8');
const baseDocs = (): Record<string, unknown>[] => parseAllDocuments(fixture).map((d) => d.toJS() as Record<string, unknown>);

const profile = (over: Partial<Profile> = {}): Profile => profileFixture({ install: { disk: '/dev/nvme0n1', wipe: true }, machineConfig: baseDocs(), ...over });
const node = (over: Partial<NodeSpec> = {}): NodeSpec => nodeFixture({ generation: 3, ...over });
type Doc = Record<string, any>;
const MCE = { code: 'MASKIN_ERR_MACHINE_CONFIG_INVALID', constructor: MachineConfigError };

// Figures reported to the team: first validation per release line reads and compiles the schema.
t.test('the fixture validates against every release line; compile is paid once', async (t) => {
  for (const v of ['v1.12.11', 'v1.13.9', 'v1.14.0', 'v1.15.0']) {
    const docs = baseDocs();
    const t0 = performance.now();
    const first = machineConfigProblems(v, docs);
    const t1 = performance.now();
    const again = machineConfigProblems(v, docs);
    const t2 = performance.now();
    t.same(first, [], `${v} first`);
    t.same(again, [], `${v} again`);
    t.comment(`${v}: first validation ${(t1 - t0).toFixed(1)} ms, next ${(t2 - t1).toFixed(2)} ms`);
  }
});

t.test('renders the base + profile install + hostname as multi-document YAML', async (t) => {
  const text = renderMachineConfig(node({ hostname: 'r1-n07' }), profile());
  const docs = parseAllDocuments(text).map((d) => d.toJS() as Doc);
  t.equal(docs.length, 2);
  const [main, hostname] = docs as [Doc, Doc];
  t.same(main.machine.install, { disk: '/dev/nvme0n1', image: `factory.talos.dev/metal-installer/${VANILLA_SCHEMATIC}:v1.13.9`, wipe: true });
  t.same(hostname, { apiVersion: 'v1alpha1', kind: 'HostnameConfig', hostname: 'r1-n07' }, 'auto: stable replaced by the static hostname');
  t.equal(main.machine.ca.crt, (baseDocs()[0] as Doc).machine.ca.crt, 'certificates survive on one line');
  t.notMatch(text, /\n {4,}[A-Za-z0-9+/=]{20,}\n/, 'no folded base64');
});

t.test('install image: profile, then context, then Image Factory', async (t) => {
  const img = (p: Profile, ctx = {}) => (machineConfigDocs(node(), p, ctx)[0] as Doc).machine.install.image;
  t.equal(
    img(profile({ install: { disk: '/dev/sda', wipe: false, image: 'registry.local/installer:x' } }), { installerImage: 'mirror/i:y' }),
    'registry.local/installer:x',
  );
  t.equal(img(profile(), { installerImage: 'mirror.local:5000/siderolabs/installer:v1.13.9' }), 'mirror.local:5000/siderolabs/installer:v1.13.9');
  t.equal(img(profile()), `factory.talos.dev/metal-installer/${VANILLA_SCHEMATIC}:v1.13.9`);
});

t.test('profile diskSelector replaces the base disk; node patches override the profile, in order', async (t) => {
  const p = profile({ install: { diskSelector: { size: '>= 100GB', type: 'nvme' }, wipe: false } });
  const plain = machineConfigDocs(node(), p)[0] as Doc;
  t.same(plain.machine.install.diskSelector, { size: '>= 100GB', type: 'nvme' });
  t.notOk('disk' in plain.machine.install, 'base disk removed');

  const patched = machineConfigDocs(
    node({
      patches: [
        { machine: { install: { diskSelector: null, disk: '/dev/sdb' }, nodeLabels: { rack: 'r1' } } },
        { machine: { install: { disk: '/dev/sdc' }, nodeLabels: { rack: 'r2', slot: '7' } } },
      ],
    }),
    p,
  )[0] as Doc;
  t.equal(patched.machine.install.disk, '/dev/sdc', 'second patch wins');
  t.notOk('diskSelector' in patched.machine.install, 'null deletes');
  t.same(patched.machine.nodeLabels, { 'node.kubernetes.io/exclude-from-external-load-balancers': '', rack: 'r2', slot: '7' });
  t.equal(patched.machine.install.wipe, false);
});

t.test('hostname: no HostnameConfig in the base → one is added; legacy machine.network.hostname → that is set', async (t) => {
  const noHostDoc = profile({ machineConfig: baseDocs().slice(0, 1) });
  const docs = machineConfigDocs(node({ hostname: 'n7' }), noHostDoc);
  t.same(docs[1], { apiVersion: 'v1alpha1', kind: 'HostnameConfig', hostname: 'n7' });

  const legacy = machineConfigDocs(node({ hostname: 'n7', patches: [{ machine: { network: { hostname: 'old' } } }] }), noHostDoc);
  t.equal(legacy.length, 1, 'no second hostname source');
  t.equal((legacy[0] as Doc).machine.network.hostname, 'n7', 'node.hostname wins over the patch');

  const none = machineConfigDocs(node(), profile());
  t.same(none[1], { apiVersion: 'v1alpha1', kind: 'HostnameConfig', auto: 'stable' }, 'without a hostname the base is untouched');
});

t.test('the profile is never modified by rendering', async (t) => {
  const p = profile();
  const before = structuredClone(p.machineConfig);
  renderMachineConfig(node({ hostname: 'x', patches: [{ machine: { nodeLabels: { a: 'b' } } }] }), p);
  t.same(p.machineConfig, before);
});

t.test('invalid results are refused with the node, document kind and JSON path', async (t) => {
  t.throws(() => renderMachineConfig(node({ patches: [{ machine: { install: { disks: '/dev/sda' } } }] }), profile()), {
    ...MCE,
    nodeId: 'r1-n07',
    message: /node r1-n07 .*document 1 \(v1alpha1\): \/machine\/install: unknown field "disks"/,
  });
  t.throws(() => renderMachineConfig(node({ patches: [{ machine: { type: 'wrker' } }] }), profile()), {
    ...MCE,
    message: /\/machine\/type: must be equal to one of the allowed values/,
  });
  t.throws(() => renderMachineConfig(node({ patches: [{ cluster: { controlPlane: { endpoint: 'http://198.18.0.10:6443' } } }] }), profile()), {
    ...MCE,
    message: /\/cluster\/controlPlane\/endpoint: must match pattern "\^https:\/\/"/,
  });
  const badDoc = [...baseDocs(), { apiVersion: 'v1alpha1', kind: 'HostnameConfig', hostname: 'a', colour: 'blue' }];
  t.throws(() => renderMachineConfig(node(), profile({ machineConfig: badDoc })), {
    ...MCE,
    message: /document 3 \(HostnameConfig\): \/: unknown field "colour"/,
  });
  t.throws(() => renderMachineConfig(node(), profile({ machineConfig: [...baseDocs(), { apiVersion: 'v1alpha1', kind: 'NoSuchConfig' }] })), {
    ...MCE,
    message: /has no document kind "NoSuchConfig"/,
  });
});

t.test('the error never echoes config values (they hold secrets)', async (t) => {
  const secret = 'SECRET-TOKEN-VALUE-1234';
  let message = '';
  try {
    renderMachineConfig(node({ patches: [{ machine: { token: 42, type: secret } }] }), profile());
  } catch (err) {
    message = (err as Error).message;
  }
  t.match(message, /\/machine\/token: must be string/);
  t.match(message, /\/machine\/type: must be equal to one of the allowed values/);
  t.notMatch(message, secret);
});

t.test('without exactly one v1alpha1 document: error (Talos would sit in maintenance mode)', async (t) => {
  const rest = baseDocs().slice(1);
  t.throws(() => renderMachineConfig(node(), profile({ machineConfig: rest })), { ...MCE, message: /exactly one v1alpha1 document.*found 0.*maintenance/ });
  t.throws(() => renderMachineConfig(node(), profile({ machineConfig: [...baseDocs(), ...baseDocs().slice(0, 1)] })), { ...MCE, message: /found 2/ });
  t.throws(() => renderMachineConfig(node({ patches: [{ version: null }] }), profile()), {
    ...MCE,
    message: /patch 1 removes or replaces the v1alpha1 document/,
  });
  t.throws(() => validateMachineConfigDocs('v1.13.9', rest), { code: 'MASKIN_ERR_TALOS_CONFIG_INVALID', constructor: TalosSchemaError });
});

t.test('an UnattendedInstall document in the base is refused (two install sources)', async (t) => {
  const docs = [...baseDocs(), { apiVersion: 'v1alpha1', kind: 'UnattendedInstall', installer: { image: 'x' } }];
  t.same(machineConfigProblems('v1.14.0', docs), [], 'valid for 1.14 on its own');
  t.throws(() => renderMachineConfig(node(), profile({ talosVersion: 'v1.14.0', machineConfig: docs })), { ...MCE, message: /UnattendedInstall/ });
});

t.test('fields Talos accepts but its schemas omit pass; typos still fail', async (t) => {
  // machine.install.extraKernelArgs and machine.registries are nodoc in 1.13; the 1.14 schema
  // omits machine.install, machine.kubelet and cluster.network entirely.
  const patch = {
    machine: {
      install: { extraKernelArgs: ['console=ttyS1'] },
      registries: { mirrors: { 'docker.io': { endpoints: ['http://198.18.0.1:5000'] } } },
      network: { hostname: 'h' },
    },
  };
  for (const v of ['v1.12.11', 'v1.13.9', 'v1.14.0']) {
    t.doesNotThrow(() => renderMachineConfig(node({ patches: [patch] }), profile({ talosVersion: v })), v);
    t.throws(
      () => renderMachineConfig(node({ patches: [{ machine: { kubelet: { extraArgz: {} } } }] }), profile({ talosVersion: v })),
      { ...MCE, message: /\/machine\/kubelet: unknown field "extraArgz"/ },
      `${v} typo`,
    );
    t.throws(
      () => renderMachineConfig(node({ patches: [{ machine: { install: { wipe: 'yes please' } } }] }), profile({ talosVersion: v })),
      { ...MCE, message: /\/machine\/install\/wipe: must be boolean/ },
      `${v} grafted field still typed`,
    );
  }
});

t.test('the rendered text parses back to the validated documents', async (t) => {
  const n = node({ hostname: 'r1-n07', patches: [{ machine: { sysctls: { 'net.core.somaxconn': '65535' } } }] });
  const text = renderMachineConfig(n, profile());
  t.same(
    parseAllDocuments(text).map((d) => d.toJS()),
    machineConfigDocs(n, profile()),
  );
  t.equal(parse(text.split('---\n')[1] ?? '').kind, 'HostnameConfig');
});

t.test('registry mirror: one RegistryMirrorConfig per registry, on every release line, schema-checked', async (t) => {
  const registryMirror = { endpoint: 'http://198.18.9.1:8080', registries: ['factory.talos.dev', 'ghcr.io', 'ghcr.io'] };
  for (const v of ['v1.12.11', 'v1.13.9', 'v1.14.0']) {
    const docs = machineConfigDocs(node({ hostname: 'n1' }), profile({ talosVersion: v }), { registryMirror });
    t.same(
      docs.filter((d) => d['kind'] === 'RegistryMirrorConfig'),
      [
        { apiVersion: 'v1alpha1', kind: 'RegistryMirrorConfig', name: 'factory.talos.dev', endpoints: [{ url: 'http://198.18.9.1:8080' }] },
        { apiVersion: 'v1alpha1', kind: 'RegistryMirrorConfig', name: 'ghcr.io', endpoints: [{ url: 'http://198.18.9.1:8080' }] },
      ],
      `${v}: one document per registry, duplicates folded`,
    );
  }
  t.equal(machineConfigDocs(node(), profile()).filter((d) => d['kind'] === 'RegistryMirrorConfig').length, 0, 'no mirror in context: none');
  t.throws(
    () => machineConfigDocs(node(), profile(), { registryMirror: { endpoint: '198.18.9.1:8080', registries: ['ghcr.io'] } }),
    { ...MCE, message: /RegistryMirrorConfig.*url/ },
    'an endpoint without scheme fails the schema',
  );
});

t.test('registry mirror: registries the base already mirrors are left to the base', async (t) => {
  const own = { apiVersion: 'v1alpha1', kind: 'RegistryMirrorConfig', name: 'ghcr.io', endpoints: [{ url: 'https://mirror.corp' }] };
  const legacy = { machine: { registries: { mirrors: { 'factory.talos.dev': { endpoints: ['https://factory-mirror.corp'] } } } } };
  const docs = machineConfigDocs(node({ patches: [legacy] }), profile({ machineConfig: [...baseDocs(), own] }), {
    registryMirror: { endpoint: 'http://198.18.9.1:8080', registries: ['factory.talos.dev', 'ghcr.io', 'docker.io'] },
  });
  const mirrors = docs.filter((d) => d['kind'] === 'RegistryMirrorConfig');
  t.same(mirrors, [own, { apiVersion: 'v1alpha1', kind: 'RegistryMirrorConfig', name: 'docker.io', endpoints: [{ url: 'http://198.18.9.1:8080' }] }]);
});

t.test('node log sink: one json_lines destination in machine.logging, on every release line, schema-checked', async (t) => {
  const logDestination = 'tcp://198.18.9.1:5170';
  for (const v of ['v1.12.11', 'v1.13.9', 'v1.14.0']) {
    const main = machineConfigDocs(node(), profile({ talosVersion: v }), { logDestination }).find((d) => d['version'] === 'v1alpha1') as Doc;
    t.same(main['machine']['logging'], { destinations: [{ endpoint: logDestination, format: 'json_lines' }] }, v);
  }
  const own = { machine: { logging: { destinations: [{ endpoint: 'udp://10.0.0.9:514', format: 'json_lines' }] } } };
  const kept = machineConfigDocs(node({ patches: [own] }), profile(), { logDestination }).find((d) => d['version'] === 'v1alpha1') as Doc;
  t.same(
    kept['machine']['logging']['destinations'].map((d: Doc) => d['endpoint']),
    ['udp://10.0.0.9:514', logDestination],
    "the base's own destinations stay, ours follows",
  );
  const same = { machine: { logging: { destinations: [{ endpoint: logDestination, format: 'json_lines' }] } } };
  const once = machineConfigDocs(node({ patches: [same] }), profile(), { logDestination }).find((d) => d['version'] === 'v1alpha1') as Doc;
  t.equal(once['machine']['logging']['destinations'].length, 1, 'not added twice');
  t.throws(
    () => machineConfigDocs(node(), profile(), { logDestination: '198.18.9.1:5170' }),
    { ...MCE, message: /endpoint/ },
    'an endpoint without scheme fails the schema',
  );
  t.equal((machineConfigDocs(node(), profile()).find((d) => d['version'] === 'v1alpha1') as Doc)['machine']['logging'], undefined, 'sink off: nothing added');
});
