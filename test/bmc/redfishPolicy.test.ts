// The pure Redfish decisions as tables: reset types, If-Match forms, where the Boot PATCH goes,
// read-back comparison, vendor detection, inventory parsing and the ETag-guarded PATCH loop.
import t from 'tap';
import { mayRepeat } from '../../agent/bmc/redfish/client.js';
import { patchWithEtag, type EtagPatchIo } from '../../agent/bmc/redfish/etagPatch.js';
import { normaliseMac, parseInventory } from '../../agent/bmc/redfish/inventory.js';
import {
  actionInfoResetTypes,
  chooseResetTypes,
  ifMatchValue,
  inlineResetTypes,
  overrideMismatches,
  planBootPatches,
  resourceEtag,
  settingsPath,
  wantedOverride,
} from '../../agent/bmc/redfish/policy.js';
import { QUIRKS, detectVendor } from '../../agent/bmc/redfish/quirks.js';
import { normaliseOrigin } from '../../agent/bmc/redfish/driver.js';
import { BmcError } from '../../agent/errors.js';

const q = QUIRKS.generic;
const DELL = ['On', 'ForceOff', 'ForceRestart', 'GracefulRestart', 'GracefulShutdown', 'PushPowerButton', 'Nmi', 'PowerCycle'];
const ILO_OLD = ['On', 'ForceOff', 'ForceRestart', 'Nmi', 'PushPowerButton'];
const AMI = ['GracefulShutdown', 'ForceRestart', 'ForceOff', 'On'];
const SMC = ['On', 'ForceOff', 'GracefulShutdownGracefulRestart', 'ForceRestart', 'Nmi', 'ForceOn'];

t.test('chooseResetTypes', async (t) => {
  const cases: [string, 'on' | 'off' | 'cycle', 'on' | 'off', string[] | undefined, string[] | undefined][] = [
    ['dell on', 'on', 'off', DELL, ['On']],
    ['dell off', 'off', 'on', DELL, ['ForceOff']],
    ['dell cycle', 'cycle', 'on', DELL, ['ForceRestart']],
    ['cycle of an off server is On', 'cycle', 'off', DELL, ['On']],
    ['old iLO cycle', 'cycle', 'on', ILO_OLD, ['ForceRestart']],
    ['AMI off', 'off', 'on', AMI, ['ForceOff']],
    ['graceful only', 'off', 'on', ['On', 'GracefulShutdown'], ['GracefulShutdown']],
    ['ForceOn only', 'on', 'off', ['ForceOn', 'ForceOff'], ['ForceOn']],
    ['Supermicro malformed value ignored', 'cycle', 'on', SMC, ['ForceRestart']],
    ['PowerCycle when no ForceRestart', 'cycle', 'on', ['On', 'ForceOff', 'PowerCycle'], ['PowerCycle']],
    ['ForceOff+On as the last resort', 'cycle', 'on', ['On', 'ForceOff', 'Nmi'], ['ForceOff', 'On']],
    ['GracefulShutdown+On', 'cycle', 'on', ['On', 'GracefulShutdown'], ['GracefulShutdown', 'On']],
    ['push button alone cannot cycle', 'cycle', 'on', ['PushPowerButton'], undefined],
    ['push button can power on', 'on', 'off', ['PushPowerButton', 'Nmi'], ['PushPowerButton']],
    ['nothing usable', 'on', 'off', ['Nmi'], undefined],
    ['no published list: the DMTF preference', 'cycle', 'on', undefined, ['ForceRestart']],
  ];
  for (const [name, op, power, allowed, want] of cases) t.same(chooseResetTypes(op, power, allowed, q), want, name);
});

t.test('reset types published inline or through ActionInfo', async (t) => {
  t.same(inlineResetTypes({ target: '/x', 'ResetType@Redfish.AllowableValues': ['On', 3, 'ForceOff'] }), ['On', 'ForceOff']);
  t.equal(inlineResetTypes({ target: '/x', '@Redfish.ActionInfo': '/x/ResetActionInfo' }), undefined);
  t.equal(inlineResetTypes(undefined), undefined);
  t.same(
    actionInfoResetTypes({
      Parameters: [
        { Name: 'Other', AllowableValues: ['x'] },
        { Name: 'ResetType', AllowableValues: ['On', 'ForceOff'] },
      ],
    }),
    ['On', 'ForceOff'],
  );
  t.equal(actionInfoResetTypes({ Parameters: [] }), undefined);
  t.equal(actionInfoResetTypes({}), undefined);
});

t.test('ifMatchValue and resourceEtag', async (t) => {
  const cases: [unknown, string | undefined][] = [
    ['W/"1C210906"', 'W/"1C210906"'],
    ['"27ffd39c"', '"27ffd39c"'],
    ['27ffd39c', '"27ffd39c"'],
    ['""27ffd39c""', '"27ffd39c"'],
    [`'W/"7dc5e2b9"'`, 'W/"7dc5e2b9"'],
    ['  "abc"  ', '"abc"'],
    ['W/" "', undefined],
    ['', undefined],
    [null, undefined],
    [42, undefined],
    ['a"b', undefined],
  ];
  for (const [raw, want] of cases) t.equal(ifMatchValue(raw), want, JSON.stringify(raw));
  t.equal(resourceEtag('"hdr"', { '@odata.etag': 'W/"body"' }), '"hdr"', 'the header wins');
  t.equal(resourceEtag(undefined, { '@odata.etag': 'W/"body"' }), 'W/"body"');
  t.equal(resourceEtag(undefined, {}), undefined);
});

t.test('planBootPatches', async (t) => {
  const want = wantedOverride('legacy');
  t.same(want, { BootSourceOverrideTarget: 'Pxe', BootSourceOverrideEnabled: 'Once', BootSourceOverrideMode: 'Legacy' });
  t.same(wantedOverride('uefi').BootSourceOverrideMode, 'UEFI');
  const sys = '/redfish/v1/Systems/1';
  t.same(planBootPatches(sys, want, QUIRKS.hpe), [{ path: sys, boot: want }], 'one PATCH to the system');
  const dellSettings = { path: `${sys}/Settings`, body: { Boot: { BootOrder: [], BootSourceOverrideMode: null, UefiTargetBootSourceOverride: null } } };
  t.same(
    planBootPatches(sys, want, QUIRKS.dell, dellSettings),
    [
      { path: sys, boot: { BootSourceOverrideTarget: 'Pxe', BootSourceOverrideEnabled: 'Once' } },
      { path: `${sys}/Settings`, boot: { BootSourceOverrideMode: 'Legacy' } },
    ],
    'iDRAC: the mode to the Settings object that lists it',
  );
  t.same(planBootPatches(sys, want, QUIRKS.dell), [{ path: sys, boot: want }], 'no Settings object advertised: the system');
  t.same(
    planBootPatches(sys, want, QUIRKS.lenovo, { path: `${sys}/Pending`, body: { Boot: {} } }),
    [{ path: `${sys}/Pending`, boot: want }],
    'Lenovo: all to Pending',
  );
  t.same(planBootPatches(sys, want, QUIRKS.generic, dellSettings), [{ path: sys, boot: want }], 'profile says system');
  t.equal(settingsPath({ '@Redfish.Settings': { SettingsObject: { '@odata.id': '/redfish/v1/Systems/Self/SD' } } }), '/redfish/v1/Systems/Self/SD');
  t.equal(settingsPath({}), undefined);
});

t.test('overrideMismatches', async (t) => {
  const patch = { path: '/s', boot: { ...wantedOverride('uefi') } };
  const back = (b: Record<string, unknown>) => ({ Boot: b });
  t.same(overrideMismatches(patch, back({ BootSourceOverrideTarget: 'Pxe', BootSourceOverrideEnabled: 'Once', BootSourceOverrideMode: 'UEFI' }), q), []);
  t.same(overrideMismatches(patch, back({ BootSourceOverrideTarget: 'Pxe', BootSourceOverrideEnabled: 'Disabled', BootSourceOverrideMode: 'UEFI' }), q), [
    'BootSourceOverrideEnabled="Disabled" (sent Once)',
  ]);
  t.same(overrideMismatches(patch, back({ BootSourceOverrideTarget: 'Pxe', BootSourceOverrideEnabled: 'Once' }), q), [
    'BootSourceOverrideMode=null (sent UEFI)',
  ]);
  t.same(
    overrideMismatches(patch, back({ BootSourceOverrideTarget: 'Pxe', BootSourceOverrideEnabled: 'Once', BootSourceOverrideMode: 'Legacy' }), {
      ...q,
      reportsMode: false,
    }),
    [],
    'mode not compared when the profile says it is not reported',
  );
  t.same(overrideMismatches(patch, {}, q).length, 3, 'no Boot at all: everything differs');
});

t.test('detectVendor', async (t) => {
  const cases: [string, Record<string, unknown>, Record<string, unknown>, string][] = [
    ['iDRAC', { Vendor: 'Dell', Oem: { Dell: {} } }, {}, 'dell'],
    ['iLO', { Vendor: 'HPE', Oem: { Hpe: {} } }, {}, 'hpe'],
    ['old iLO without Vendor', { Oem: { Hp: {} } }, {}, 'hpe'],
    ['Supermicro', { Vendor: 'Supermicro' }, {}, 'supermicro'],
    ['Lenovo', { Vendor: 'Lenovo' }, {}, 'lenovo'],
    ['AMI on a GIGABYTE board', { Vendor: 'AMI', Oem: { Ami: {} } }, { Manufacturer: 'GIGABYTE' }, 'ami'],
    ['bmcweb', { Links: { ManagerProvidingService: { '@odata.id': '/redfish/v1/Managers/bmc' } } }, {}, 'openbmc'],
    ['root silent, Dell system', {}, { Manufacturer: 'Dell Inc.' }, 'dell'],
    ['Intel', { Oem: { Intel_RackScale: {} } }, { Manufacturer: 'Intel Corporation' }, 'generic'],
    ['nothing', {}, {}, 'generic'],
  ];
  for (const [name, root, sys, want] of cases) t.equal(detectVendor(root, sys), want, name);
});

t.test('normaliseMac and normaliseOrigin', async (t) => {
  t.equal(normaliseMac('7C:D3:0A:44:55:66'), '7c:d3:0a:44:55:66');
  t.equal(normaliseMac('a4-bf-01-28-90-aa'), 'a4:bf:01:28:90:aa');
  t.equal(normaliseMac('a4bf012890aa'), 'a4:bf:01:28:90:aa');
  t.equal(normaliseMac('00:00:00:00:00:00'), undefined);
  t.equal(normaliseMac(''), undefined);
  t.equal(normaliseMac('zz:bf:01:28:90:aa'), undefined);
  t.equal(normaliseOrigin('bmc1.rack'), 'https://bmc1.rack');
  t.equal(normaliseOrigin('10.0.0.5:8443'), 'https://10.0.0.5:8443');
  t.equal(normaliseOrigin('http://127.0.0.1:9000/redfish/v1'), 'http://127.0.0.1:9000');
});

t.test('parseInventory', async (t) => {
  const full = parseInventory(
    {
      Manufacturer: 'HPE',
      Model: ' ProLiant ',
      SerialNumber: 'MXQ019020B',
      UUID: '30393137-3136-584D-5130-313930323042',
      ProcessorSummary: { Count: 1, Model: 'X' },
      MemorySummary: { TotalSystemMemoryGiB: 64 },
    },
    {
      processors: [{ ProcessorType: 'CPU', Model: 'AMD EPYC 7302P', TotalCores: 16 }, { ProcessorType: 'GPU', Model: 'gpu' }, { Status: { State: 'Absent' } }],
      memory: [{ CapacityMiB: 32768 }, { CapacityMiB: 32768 }, { Status: { State: 'Absent' }, CapacityMiB: 0 }],
      drives: [
        { Id: '0', SerialNumber: 'S1', CapacityBytes: 960 },
        { Name: 'gone', Status: { State: 'Absent' } },
      ],
      simpleStorage: [{ Devices: [{ Name: 'ignored when Storage has drives' }] }],
      ethernet: [{ Id: '1', MACAddress: '14:02:EC:D9:3A:A0' }, { Id: '2', PermanentMACAddress: '94-40-c9-5c-86-bc', MACAddress: '' }, { Id: '3' }],
    },
  );
  t.same(full, {
    manufacturer: 'HPE',
    model: 'ProLiant',
    serial: 'MXQ019020B',
    uuid: '30393137-3136-584d-5130-313930323042',
    processors: [{ model: 'AMD EPYC 7302P', cores: 16 }],
    memoryMiB: 65536,
    drives: [{ name: '0', serial: 'S1', sizeBytes: 960 }],
    nics: [
      { id: '1', mac: '14:02:ec:d9:3a:a0' },
      { id: '2', mac: '94:40:c9:5c:86:bc' },
    ],
  });
  const sparse = parseInventory(
    { ProcessorSummary: { Count: 2, Model: 'AMD EPYC 7702' }, MemorySummary: { TotalSystemMemoryGiB: 0.0 } },
    {
      processors: [],
      memory: [],
      drives: [],
      simpleStorage: [
        {
          Devices: [
            { Name: 'SATA Bay 1', CapacityBytes: 8e12 },
            { Name: 'SATA Bay 2', Status: { State: 'Absent' } },
          ],
        },
      ],
      ethernet: [],
    },
  );
  t.same(
    sparse,
    { processors: [{ model: 'AMD EPYC 7702' }, { model: 'AMD EPYC 7702' }], drives: [{ name: 'SATA Bay 1', sizeBytes: 8e12 }], nics: [] },
    'summaries and SimpleStorage; a 0 GiB summary is unknown',
  );
  t.same(parseInventory({}, { processors: [], memory: [], drives: [], simpleStorage: [], ethernet: [] }), { processors: [], drives: [], nics: [] });
});

function fakeIo(statuses: number[], etags: (string | undefined)[]) {
  const sent: (string | undefined)[] = [];
  let reads = 0;
  const io: EtagPatchIo = {
    address: 'https://bmc',
    op: 'setOneShotPxe(uefi)',
    detail: (b) => (typeof b['m'] === 'string' ? `: ${b['m']}` : ''),
    patch: async (_p, _b, ifMatch) => {
      sent.push(ifMatch);
      return { status: statuses.shift() ?? 204, body: { m: 'bad value' } };
    },
    read: async () => ({ etag: etags[reads++], body: {} }),
  };
  return { io, sent, reads: () => reads };
}

t.test('patchWithEtag', async (t) => {
  const ok = fakeIo([204], []);
  t.equal(await patchWithEtag(ok.io, '/s', {}, 'W/"1"'), 1);
  t.same(ok.sent, ['W/"1"']);

  const e412 = fakeIo([412, 204], ['W/"2"']);
  t.equal(await patchWithEtag(e412.io, '/s', {}, 'W/"1"'), 2);
  t.same(e412.sent, ['W/"1"', 'W/"2"'], '412: re-read, retry with the fresh ETag');

  const e428 = fakeIo([428, 204], ['abc']);
  t.equal(await patchWithEtag(e428.io, '/s', {}, undefined), 2);
  t.same(e428.sent, [undefined, '"abc"'], '428: re-read to get an ETag, quoted');

  const noEtag = fakeIo([428], [undefined]);
  await t.rejects(patchWithEtag(noEtag.io, '/s', {}, undefined), { reason: 'protocol', message: /428.*publishes no ETag/ });

  const always412 = fakeIo([412, 412, 412, 204], ['"2"', '"3"', '"4"']);
  const err = (await patchWithEtag(always412.io, '/s', {}, '"1"').catch((e: unknown) => e)) as BmcError;
  t.ok(err instanceof BmcError);
  t.match(err.message, /after 3 attempts/);
  t.equal(always412.sent.length, 3, 'bounded');

  const bad = fakeIo([400], []);
  await t.rejects(patchWithEtag(bad.io, '/s', {}, undefined), {
    reason: 'unsupported',
    message: 'BMC https://bmc: setOneShotPxe(uefi): PATCH /s answered HTTP 400: bad value',
  });
});

t.test('mayRepeat: a Reset POST is repeated only when the BMC cannot have acted on it', async (t) => {
  const cases: [string, { status: number } | { code: string | undefined }, boolean][] = [
    ['GET', { code: 'ETIMEDOUT' }, true],
    ['GET', { status: 500 }, true],
    ['PATCH', { code: 'ECONNRESET' }, true],
    ['DELETE', { status: 502 }, true],
    ['POST', { status: 503 }, true],
    ['POST', { code: 'ECONNREFUSED' }, true],
    ['POST', { code: 'UND_ERR_CONNECT_TIMEOUT' }, true],
    ['POST', { code: 'ETIMEDOUT' }, false],
    ['POST', { code: 'ECONNRESET' }, false],
    ['POST', { status: 500 }, false],
    ['POST', { code: undefined }, false],
    ['GET', { code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' }, false],
  ];
  for (const [method, failure, want] of cases) t.equal(mayRepeat(method, failure), want, `${method} ${JSON.stringify(failure)}`);
});
