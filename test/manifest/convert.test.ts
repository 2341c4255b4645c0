import t from 'tap';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { parse as parseYaml } from 'yaml';
import { buildManifest, loadManifestFile, type RawManifest } from '../../agent/manifest/load.js';
import { manifestToProto, rawFromProto } from '../../agent/manifest/convert.js';
import type { Manifest } from '../../agent/manifest/model.js';
import { talosChecks } from '../../agent/talos/checks.js';
import { InvalidFieldError, ManifestError } from '../../agent/errors.js';
import { Arch, BootLocal, DesiredState, ManifestSchema } from '../../agent/uplink/gen/maskin/v1/manifest_pb.js';
import { VANILLA_SCHEMATIC } from '../fakes/manifest.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const EXAMPLE = path.join(root, 'config/examples/manifest.yaml');
const FULL = path.join(root, 'test/fixtures/manifest/full.yaml');

/** What a node or profile consumer sees; issuedAt is not in the YAML, so it is compared apart. */
function comparable(m: Manifest): unknown {
  return { rackId: m.rackId, version: m.version, profiles: [...m.profiles.values()], nodes: m.nodes, images: m.images, settings: m.settings };
}

function throughWire(file: string, opts: Parameters<typeof manifestToProto>[1]): RawManifest {
  const raw = parseYaml(readFileSync(file, 'utf8')) as RawManifest;
  const bytes = toBinary(ManifestSchema, manifestToProto(raw, { baseDir: path.dirname(file), ...opts }));
  return rawFromProto(fromBinary(ManifestSchema, bytes));
}

t.test('YAML → protobuf → YAML shape gives the model the local file gives', async (t) => {
  const now = new Date('2025-05-01T12:00:00.000Z');
  for (const [file, rackId, talos] of [
    [EXAMPLE, 'rack1', talosChecks],
    [FULL, undefined, undefined],
  ] as const) {
    const local = loadManifestFile(file, talos);
    const wire = buildManifest(throughWire(file, { now, ...(rackId ? { rackId } : {}) }), { file: 'wire', ...(talos ? { talos } : {}) });
    t.same(comparable(wire), { ...(comparable(local) as object), rackId: rackId ?? local.rackId }, path.basename(file));
    t.equal(wire.issuedAt?.toISOString(), now.toISOString(), 'issued_at is the signing time');
  }
  const full = loadManifestFile(FULL);
  t.equal(full.nodes[0]!.patches.length, 2, 'the fixture exercises patches');
  t.equal(full.profiles.get('workers')!.machineConfig.length, 2, 'and multi-document configs');
});

t.test('after one pass the conversion is a fixed point: the same bytes again', async (t) => {
  // The first pass makes defaults explicit (an absent `desired` becomes INSTALLED on the way back).
  const cycle = (raw: RawManifest): Buffer => Buffer.from(toBinary(ManifestSchema, manifestToProto(raw, { now: new Date(1) })));
  const first = cycle(parseYaml(readFileSync(FULL, 'utf8')) as RawManifest);
  const second = cycle(rawFromProto(fromBinary(ManifestSchema, first)));
  const third = cycle(rawFromProto(fromBinary(ManifestSchema, second)));
  t.same(third, second);
  t.ok(Math.abs(second.length - first.length) < 16, 'and only the defaults were added');
});

t.test('rack id: the option wins, and one is required', async (t) => {
  const raw = parseYaml(readFileSync(FULL, 'utf8')) as RawManifest;
  t.equal(manifestToProto(raw, { rackId: 'other' }).rackId, 'other');
  t.equal(manifestToProto(raw).rackId, 'rack-7');
  t.equal(manifestToProto(raw, { version: 99 }).version, 99n);
  delete raw.rackId;
  let err: unknown;
  try {
    manifestToProto(raw);
  } catch (e) {
    err = e;
  }
  t.ok(err instanceof InvalidFieldError && err.field === 'rackId' && /--rack RACK/.test(err.message), String(err));
});

const minimal = (over: Record<string, unknown> = {}, node: Record<string, unknown> = {}) =>
  create(ManifestSchema, {
    rackId: 'r1',
    version: 5n,
    profiles: [
      {
        name: 'p',
        talosVersion: 'v1.13.9',
        schematic: VANILLA_SCHEMATIC,
        arch: Arch.AMD64,
        install: { disk: '/dev/sda' },
        machineConfigYaml: 'version: v1alpha1\nmachine: { type: worker }\n',
      },
    ],
    nodes: [{ id: 'n1', macs: ['52:54:00:00:00:01'], profile: 'p', generation: 1n, ...node }],
    ...over,
  });

function problemsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    if (err instanceof ManifestError) return err.problems.map((p) => p.field);
    throw err;
  }
  return [];
}

t.test('unspecified and unknown enum values mean the defaults the .proto documents; an unknown desired state is refused', async (t) => {
  for (const [desired, bootLocal] of [
    [DesiredState.UNSPECIFIED, BootLocal.UNSPECIFIED],
    [DesiredState.INSTALLED, 99 as BootLocal],
  ] as const) {
    const m = buildManifest(rawFromProto(minimal({}, { desired, bootLocal })));
    t.same([m.nodes[0]!.desired, m.nodes[0]!.bootLocal], ['installed', 'exit']);
  }
  const m = buildManifest(rawFromProto(minimal({}, { desired: DesiredState.DISCOVERY, bootLocal: BootLocal.HTTP_404 })));
  t.same([m.nodes[0]!.desired, m.nodes[0]!.bootLocal], ['discovery', 'http-404']);
  t.equal(buildManifest(rawFromProto(minimal({}, { desired: DesiredState.RESCUE }))).nodes[0]!.desired, 'rescue');
  // A state a newer central knows (decommissioned, say) must never be read as "install".
  t.same(
    problemsOf(() => buildManifest(rawFromProto(minimal({}, { desired: 77 as DesiredState })))),
    ['nodes.0.desired'],
    'an unknown desired state is refused, naming the field',
  );
  t.same(m.settings, {}, "no settings message: keep the agent's own");
  t.equal(m.issuedAt, undefined, 'issued_at 0: not set');
  const p = minimal();
  p.profiles[0]!.arch = Arch.UNSPECIFIED;
  t.same(
    problemsOf(() => buildManifest(rawFromProto(p))),
    ['profiles.p.arch'],
    'ARCH_UNSPECIFIED is refused, naming the field',
  );
});

t.test("zero settings keep the agent's own; set ones pass through", async (t) => {
  const m = buildManifest(rawFromProto(minimal({ settings: { pullIntervalSeconds: 0, bootTokenTtlSeconds: 600, outboxMaxEvents: 0n } })));
  t.same(m.settings, { bootTokenTtlSeconds: 600 });
});

t.test('what the YAML shape cannot carry is refused by the schema, naming the field', async (t) => {
  t.same(
    problemsOf(() => buildManifest(rawFromProto(minimal({}, { patchesJson: ['{"machine":{}}', '{not json'] })))),
    ['nodes.0.patches.1'],
  );
  t.same(
    problemsOf(() => buildManifest(rawFromProto(minimal({}, { patchesJson: ['[1,2]'] })))),
    ['nodes.0.patches.0'],
    'JSON that is not an object',
  );
  const selector = minimal();
  selector.profiles[0]!.install!.disk = '';
  selector.profiles[0]!.install!.diskSelectorJson = '{oops';
  t.ok(problemsOf(() => buildManifest(rawFromProto(selector))).includes('profiles.p.install.diskSelector'));
  t.same(
    problemsOf(() => buildManifest(rawFromProto(minimal({ version: 2n ** 60n })))),
    ['version'],
    'a version a JS number cannot hold',
  );
  t.same(
    problemsOf(() => buildManifest(rawFromProto(minimal({}, { generation: 2n ** 63n })))),
    ['nodes.0.generation'],
  );
  t.same(
    problemsOf(() => buildManifest(rawFromProto(minimal({ issuedAtUnixMs: 2n ** 62n })))),
    ['issuedAt'],
    'a time no Date holds',
  );
  t.same(
    problemsOf(() => buildManifest(rawFromProto(minimal({}, { macs: [] })))),
    ['nodes.0.macs'],
  );
  t.same(
    problemsOf(() => buildManifest(rawFromProto(minimal({ version: 0n })))),
    ['version'],
  );
  const empty = minimal();
  empty.profiles[0]!.machineConfigYaml = '';
  t.same(
    problemsOf(() => buildManifest(rawFromProto(empty))),
    ['profiles.p.machineConfig'],
  );
});

t.test('two profiles with one name are refused, not merged', async (t) => {
  const pb = minimal();
  pb.profiles.push({ ...pb.profiles[0]!, talosVersion: 'v1.12.11' });
  t.same(
    problemsOf(() => rawFromProto(pb)),
    ['profiles.1.name'],
  );
});

t.test('a profile named __proto__ stays a name (and is refused), not a prototype', async (t) => {
  const pb = minimal();
  pb.profiles[0]!.name = '__proto__';
  pb.nodes[0]!.profile = '__proto__';
  const raw = rawFromProto(pb);
  t.ok(Object.hasOwn(raw.profiles, '__proto__'));
  t.ok(problemsOf(() => buildManifest(raw)).some((f) => f.startsWith('profiles')));
});

t.test('BMC boot mode, vendor and wipe policy survive the wire; unknown ones are refused by name', async (t) => {
  const raw = parseYaml(readFileSync(FULL, 'utf8')) as RawManifest;
  raw.nodes[0]!.bmc = { driver: 'redfish', address: 'https://198.18.1.21', credentialsRef: 'rack7-bmc', bootMode: 'legacy', vendor: 'dell' };
  raw.nodes[0]!.wipe = 'on-reprovision';
  raw.nodes[1]!.wipe = 'never';
  const local = buildManifest(structuredClone(raw));
  const wire = buildManifest(rawFromProto(fromBinary(ManifestSchema, toBinary(ManifestSchema, manifestToProto(raw, { now: new Date(1) })))));
  t.same(wire.nodes, local.nodes);
  t.same(wire.nodes[0]!.bmc, { driver: 'redfish', address: 'https://198.18.1.21', credentialsRef: 'rack7-bmc', bootMode: 'legacy', vendor: 'dell' });
  t.equal(wire.nodes[0]!.wipe, 'on-reprovision');
  t.same(wire.nodes[1]!.bmc, { driver: 'ipmi', address: '198.18.1.22', bootMode: 'uefi', vendor: 'auto' }, 'absent boot mode and vendor are the defaults');
  t.equal(wire.nodes[2]!.wipe, undefined, 'absent wipe stays absent (the profile decides)');
  t.same(
    problemsOf(() => buildManifest(rawFromProto(minimal({}, { wipe: 'sometimes' })))),
    ['nodes.0.wipe'],
  );
  t.same(
    problemsOf(() => buildManifest(rawFromProto(minimal({}, { bmc: { driver: 'redfish', address: 'x', bootMode: 'bios', vendor: 'acme' } })))),
    ['nodes.0.bmc.bootMode', 'nodes.0.bmc.vendor'],
  );
});
