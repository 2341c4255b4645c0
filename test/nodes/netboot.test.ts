// The netboot planner as tables: whose script request counts (lease, fixed address, request
// address), script requests (node state × desired state × platform × image readiness), the
// timeline steps each script records, the boot token's binding, installer reports, and when a
// boot token is superseded.
import t from 'tap';
import { nodeFixture, profileFixture } from '../fakes/manifest.js';
import { decideBoot } from '../../agent/nodes/bootPlan.js';
import { grantStanding, planReport, planScript, requesterStanding, type ScriptPlan, type ScriptRequest } from '../../agent/nodes/netboot.js';
import type { IpxePlatform, IpxeScript } from '../../agent/ipxe/render.js';
import type { NodeSpec } from '../../agent/manifest/model.js';
import type { NodeRecord, NodeState } from '../../agent/nodes/model.js';

const MAC = 'aa:bb:cc:dd:ee:01';
const IP = '198.18.9.101';
const profile = profileFixture({ name: 'p' });
const spec = (over: Partial<NodeSpec> = {}): NodeSpec => nodeFixture({ id: 'n1', macs: [MAC], profile: 'p', ...over });
const record = (state: NodeState, generation: number, over: Partial<NodeRecord> = {}): NodeRecord => ({
  ...(state === 'held' ? { lifecycle: { since: '2026-01-01T00:00:00Z', attempt: 1, failure: { reason: 'serial mismatch' } } } : {}),
  id: 'n1',
  known: true,
  macs: [MAC],
  state,
  generation,
  facts: {},
  timeline: [],
  ...over,
});
const unknown = (): NodeRecord => record('discovered', 0, { id: 'mac-aa-bb-cc-dd-ee-01', known: false });
const fetched = { configFetchedAt: '2026-01-01T00:00:00Z' };

const request = (s: NodeSpec | undefined, r: NodeRecord | undefined, platform: IpxePlatform, imagesNotReady?: string): ScriptRequest => ({
  mac: MAC,
  platform,
  from: IP,
  leasedIp: IP,
  spec: s,
  record: r,
  profile: s ? profile : undefined,
  imagesNotReady,
  tokenTtlSeconds: 77,
});

const showScript = (s: IpxeScript): string => {
  switch (s.kind) {
    case 'discovery':
      return `discovery ${s.mac}`;
    case 'refused':
      return `refused ${s.reason} from ${s.from}`;
    case 'wait':
      return `wait "${s.reason}"`;
    case 'wait-image':
      return `wait-image "${s.waiting}"`;
    case 'failed-image':
      return `failed-image "${s.cause}"`;
    case 'boot-local':
      return `boot-local ${s.method}/${s.platform}`;
    case 'install':
      return `install ${s.node.id}@${s.node.generation} ${s.profile.name}/${s.platform}`;
    case 'rescue':
      return `rescue ${s.node.id} ${s.profile.name}/${s.platform}`;
    case 'wipe':
      return `wipe ${s.node.id} ${s.profile.name}/${s.platform}`;
  }
};
/** `script →state@generation token@generation`; the transition and token only when planned. */
const show = (p: ScriptPlan): string =>
  [
    showScript(p.script),
    p.transition && `→${p.transition.next}${p.transition.generation !== undefined ? `@${p.transition.generation}` : ''}`,
    p.token && `token@${p.token.grant.generation}`,
  ]
    .filter(Boolean)
    .join(' ');

const K63 = 'kernel-amd64, 63% of 14 MB';
const I0 = 'initramfs-amd64.xz, not downloaded yet';
const K5 = 'kernel-amd64, 5 MB so far';
const discovery = spec({ desired: 'discovery' });
const WAIT = 'wait "desired state is discovery"';

/** [name, spec, record, platform, expected, the image not ready yet] */
const table: [string, NodeSpec | undefined, NodeRecord, IpxePlatform, string, string?][] = [
  // Unknown MAC: discovery, whatever else holds.
  ['unknown machine', undefined, unknown(), 'efi', `discovery ${MAC}`],
  ['unknown machine, images missing', undefined, unknown(), 'pcbios', `discovery ${MAC}`, K63],
  // Known node, desired state discovery: never an install; what is on its disk is kept.
  ['desired discovery, never booted', discovery, record('discovered', 0), 'efi', WAIT],
  ['desired discovery, installed: stays installed', discovery, record('installed', 1), 'pcbios', WAIT],
  ['desired discovery, handed over: stays', discovery, record('handed-over', 1), 'efi', WAIT],
  ['desired discovery, installing: back to discovered', discovery, record('installing', 1), 'efi', `${WAIT} →discovered`],
  ['desired discovery, failed: discovered', discovery, record('failed', 1), 'efi', `${WAIT} →discovered`],
  ['desired discovery, images missing: no wait for images', discovery, record('discovered', 0), 'efi', WAIT, I0],
  ['held: told why, never installed', spec(), record('held', 1), 'efi', 'wait "held: serial mismatch"'],
  ['held, generation bumped: still held', spec({ generation: 5 }), record('held', 1), 'pcbios', 'wait "held: serial mismatch"'],
  // Rescue: the profile's kernel without a machine config, so no token; images must be ready.
  ['desired rescue, installed', spec({ desired: 'rescue' }), record('installed', 1), 'efi', 'rescue n1 p/efi →rescue'],
  ['desired rescue, in rescue, boots again', spec({ desired: 'rescue' }), record('rescue', 1), 'pcbios', 'rescue n1 p/pcbios'],
  ['desired rescue, images missing: waits for them', spec({ desired: 'rescue' }), record('installed', 1), 'efi', `wait-image "${K5}" →rescue`, K5],
  ['operator rescue', spec(), { ...record('handed-over', 1), rescueRequestedAt: '2026-12-03T10:00:00Z' }, 'efi', 'rescue n1 p/efi →rescue'],
  ['out of rescue, never installed: install', spec(), record('rescue', 1), 'efi', 'install n1@1 p/efi →installing@1 token@1'],
  ['out of rescue, installed: its disk', spec(), { ...record('rescue', 1), installedGeneration: 1 }, 'pcbios', 'boot-local exit/pcbios →installed'],
  // Decommission: the wipe script with a wipe token (reports only), then nothing.
  ['desired decommissioned', spec({ desired: 'decommissioned' }), record('installed', 1), 'pcbios', 'wipe n1 p/pcbios →decommissioning token@1'],
  [
    'decommissioned',
    spec({ desired: 'decommissioned' }),
    { ...record('decommissioned', 1), wipedAt: '2026-12-03T10:00:00Z' },
    'efi',
    'wait "decommissioned: its disk was wiped"',
  ],
  // Install: a token bound to this boot.
  ['first boot, EFI', spec(), record('discovered', 0), 'efi', 'install n1@1 p/efi →installing@1 token@1'],
  ['first boot, BIOS', spec(), record('discovered', 0), 'pcbios', 'install n1@1 p/pcbios →installing@1 token@1'],
  ['installing, script retried: a fresh token, no state change', spec(), record('installing', 1), 'efi', 'install n1@1 p/efi token@1'],
  ['verified (BMC powered it on)', spec(), record('verified', 1), 'efi', 'install n1@1 p/efi →installing@1 token@1'],
  ['provisioning', spec(), record('provisioning', 1), 'pcbios', 'install n1@1 p/pcbios →installing@1 token@1'],
  ['reprovisioning at the same generation', spec(), record('reprovisioning', 1), 'efi', 'install n1@1 p/efi →installing@1 token@1'],
  ['failed, netboots anyway', spec(), record('failed', 1), 'efi', 'install n1@1 p/efi →installing@1 token@1'],
  // Generation bump: reprovision.
  ['installed, generation bumped', spec({ generation: 2 }), record('installed', 1), 'efi', 'install n1@2 p/efi →installing@2 token@2'],
  ['handed over, generation bumped', spec({ generation: 2 }), record('handed-over', 1), 'pcbios', 'install n1@2 p/pcbios →installing@2 token@2'],
  [
    'installing gen 2, config fetched, bumped to 3',
    spec({ generation: 3 }),
    record('installing', 2, fetched),
    'efi',
    'install n1@3 p/efi →installing@3 token@3',
  ],
  // Installing → installed: it netbooted again after fetching its config.
  ['installing, config fetched: installed, boot local', spec(), record('installing', 1, fetched), 'efi', 'boot-local exit/efi →installed'],
  [
    'installing, config fetched, http-404',
    spec({ bootLocal: 'http-404' }),
    record('installing', 1, fetched),
    'pcbios',
    'boot-local http-404/pcbios →installed',
  ],
  // Boot local: every method × platform; image readiness does not matter.
  ['installed, exit, BIOS', spec(), record('installed', 1), 'pcbios', 'boot-local exit/pcbios'],
  ['installed, exit, EFI', spec(), record('installed', 1), 'efi', 'boot-local exit/efi'],
  ['installed, sanboot, BIOS', spec({ bootLocal: 'sanboot' }), record('installed', 1), 'pcbios', 'boot-local sanboot/pcbios'],
  ['installed, sanboot, EFI', spec({ bootLocal: 'sanboot' }), record('installed', 1), 'efi', 'boot-local sanboot/efi'],
  ['installed, http-404, BIOS', spec({ bootLocal: 'http-404' }), record('installed', 1), 'pcbios', 'boot-local http-404/pcbios'],
  ['installed, http-404, EFI', spec({ bootLocal: 'http-404' }), record('installed', 1), 'efi', 'boot-local http-404/efi'],
  ['handed over', spec({ bootLocal: 'sanboot' }), record('handed-over', 1), 'pcbios', 'boot-local sanboot/pcbios'],
  ['failed at hand-over after installing this generation', spec(), record('failed', 1, { installedGeneration: 1 }), 'efi', 'boot-local exit/efi'],
  ['installed, images missing: its disk all the same', spec(), record('installed', 1), 'efi', 'boot-local exit/efi', K63],
  // Waiting for images: installing, but no token and no installer.
  ['first boot, kernel downloading', spec(), record('discovered', 0), 'efi', `wait-image "${K63}" →installing@1`, K63],
  ['installing, initramfs not downloaded yet', spec(), record('installing', 1), 'pcbios', `wait-image "${I0}"`, I0],
  ['generation bumped, new kernel downloading', spec({ generation: 2 }), record('installed', 1), 'efi', `wait-image "${K5}" →installing@2`, K5],
];
for (const [name, s, r, platform, want, waiting] of table) {
  t.test(name, async (t) => {
    const plan = planScript(request(s, r, platform, waiting));
    t.equal(show(plan), want);
    if (plan.transition) t.equal(plan.transition.why, decideBoot(s, r).why, 'the state change says why, as decideBoot does');
    t.equal(plan.token !== undefined, plan.script.kind === 'install' || plan.script.kind === 'wipe', 'a token only with an install or a wipe script');
    t.equal(plan.token?.grant.purpose, plan.script.kind === 'wipe' ? 'wipe' : undefined, "a wipe script's token is a wipe token");
  });
}

const OTHER = '198.18.9.66';
const FIXED = '198.18.40.7';
/** [name, spec, record, the request's address, the MAC's bound lease, expected standing, expected plan] */
const binding: [string, NodeSpec | undefined, NodeRecord | undefined, string, string | undefined, string, string][] = [
  // The node's own address: its lease, or its fixed address from the manifest.
  ['from its lease', spec(), record('discovered', 0), IP, IP, 'ok', 'install n1@1 p/efi →installing@1 token@1'],
  [
    'from its fixed address, no lease (relayed rack)',
    spec({ ipv4: FIXED }),
    record('discovered', 0),
    FIXED,
    undefined,
    'ok',
    'install n1@1 p/efi →installing@1 token@1',
  ],
  ['from its fixed address, leased elsewhere', spec({ ipv4: FIXED }), record('discovered', 0), FIXED, IP, 'ok', 'install n1@1 p/efi →installing@1 token@1'],
  ['from its lease, with a fixed address too', spec({ ipv4: FIXED }), record('discovered', 0), IP, IP, 'ok', 'install n1@1 p/efi →installing@1 token@1'],
  ['first request ever, no record yet', spec(), undefined, IP, IP, 'ok', 'install n1@1 p/efi →installing@1 token@1'],
  ['unknown machine from its lease', undefined, undefined, IP, IP, 'ok', `discovery ${MAC}`],
  // Anyone else: refused, whatever the node's state; no token, no state change.
  ['no lease, no fixed address: nobody gets a token', spec(), record('discovered', 0), IP, undefined, 'no-lease', `refused no-lease from ${IP}`],
  ['no lease, no record yet', spec(), undefined, OTHER, undefined, 'no-lease', `refused no-lease from ${OTHER}`],
  ['another host, node leased', spec(), record('discovered', 0), OTHER, IP, 'wrong-address', `refused wrong-address from ${OTHER}`],
  ['another host, node installing: its token stands', spec(), record('installing', 1), OTHER, IP, 'wrong-address', `refused wrong-address from ${OTHER}`],
  [
    'another host, node fetched its config: not made installed',
    spec(),
    record('installing', 1, fetched),
    OTHER,
    IP,
    'wrong-address',
    `refused wrong-address from ${OTHER}`,
  ],
  [
    'another host, generation bumped: no reinstall',
    spec({ generation: 2 }),
    record('installed', 1),
    OTHER,
    IP,
    'wrong-address',
    `refused wrong-address from ${OTHER}`,
  ],
  [
    'another host, node has a fixed address',
    spec({ ipv4: FIXED }),
    record('discovered', 0),
    OTHER,
    undefined,
    'wrong-address',
    `refused wrong-address from ${OTHER}`,
  ],
  ['unknown machine from another host', undefined, unknown(), OTHER, IP, 'wrong-address', `refused wrong-address from ${OTHER}`],
  ['unknown machine without a lease', undefined, undefined, OTHER, undefined, 'no-lease', `refused no-lease from ${OTHER}`],
  ['the agent host itself is nobody special', spec(), record('discovered', 0), '127.0.0.1', IP, 'wrong-address', 'refused wrong-address from 127.0.0.1'],
];
for (const [name, s, r, from, leasedIp, standing, want] of binding) {
  t.test(`binding: ${name}`, async (t) => {
    t.equal(requesterStanding({ from, leasedIp, spec: s }), standing);
    const plan = planScript({ ...request(s, r, 'efi'), from, leasedIp });
    t.equal(show(plan), want);
    t.equal(plan.counts, standing === 'ok');
    if (!plan.counts) {
      t.same(plan.steps, [{ step: 'script-refused', detail: { reason: standing, from } }], 'one refusal step, nothing else');
      t.equal(plan.token, undefined);
      t.equal(plan.transition, undefined);
    }
    if (plan.token) t.equal(plan.token.grant.ip, from, 'the token is bound to the address that counted');
  });
}

t.test('the steps each script records, with their details in timeline order', async (t) => {
  const rows: [string, ScriptRequest, object[]][] = [
    [
      'discovery',
      request(undefined, unknown(), 'efi'),
      [{ step: 'script-served', detail: { kind: 'discovery', platform: 'efi', why: 'not in the manifest' } }],
    ],
    [
      'wait',
      request(spec({ desired: 'discovery' }), record('installed', 1), 'pcbios'),
      [{ step: 'script-served', detail: { kind: 'discovery', platform: 'pcbios', why: 'desired state is discovery' } }],
    ],
    [
      'boot local',
      request(spec({ bootLocal: 'sanboot' }), record('installed', 1), 'efi'),
      [{ step: 'boot-local-served', detail: { method: 'sanboot', platform: 'efi' } }],
    ],
    [
      'wait for images',
      request(spec(), record('installing', 1), 'efi', K63),
      [{ step: 'script-served', detail: { kind: 'wait-image', platform: 'efi', waiting: K63 } }],
    ],
    [
      'install',
      request(spec({ generation: 2 }), record('installed', 1), 'pcbios'),
      [{ step: 'script-served', detail: { kind: 'install', platform: 'pcbios', profile: 'p', talosVersion: 'v1.13.9', generation: 2 } }],
    ],
  ];
  // Key order too: the timeline report carries the detail as JSON text.
  for (const [name, req, steps] of rows) t.equal(JSON.stringify(planScript(req).steps), JSON.stringify(steps), name);
});

t.test('install: the token binds node, MAC, address and generation, for the manifest lifetime', async (t) => {
  const plan = planScript(request(spec({ id: 'n1', generation: 4 }), record('installed', 3), 'efi'));
  t.same(plan.token, { grant: { nodeId: 'n1', mac: MAC, ip: IP, generation: 4 }, ttlSeconds: 77 });
  t.same(plan.script, { kind: 'install', node: spec({ generation: 4 }), profile, platform: 'efi' });
  t.same(plan.transition, { next: 'installing', why: 'generation 4 is newer than 3', generation: 4 });
  const agentTtl = planScript({ ...request(spec(), record('discovered', 0), 'efi'), tokenTtlSeconds: undefined });
  t.equal(agentTtl.token?.ttlSeconds, undefined, 'no manifest lifetime: the agent configured one');
  t.throws(() => planScript({ ...request(spec(), record('discovered', 0), 'efi'), profile: undefined }), /no profile/);
});

t.test('installer reports: steps in timeline order, then the state change', async (t) => {
  const rows: [string, Record<string, unknown>, NodeState, string][] = [
    ['install complete', { step: 'install-complete', disk: '/dev/sda' }, 'installing', 'installer-event install-reported →installed'],
    ['install complete on a BMC node', { step: 'install-complete' }, 'provisioning', 'installer-event install-reported →installed'],
    ['install complete reported again', { step: 'install-complete' }, 'installed', 'installer-event install-reported'],
    ['install failed: no state change', { step: 'install-failed', error: 'no disk' }, 'installing', 'installer-event install-failed'],
    ['progress', { step: 'progress', pct: 40 }, 'installing', 'installer-event'],
    ['no step among the fields kept', { k0: 0, k1: 1 }, 'installing', 'installer-event'],
  ];
  for (const [name, detail, state, want] of rows) {
    const plan = planReport(detail, record(state, 1));
    const shown = [...plan.steps.map((s) => s.step), ...(plan.transition ? [`→${plan.transition.next}`] : [])].join(' ');
    t.equal(shown, want, name);
    t.ok(
      plan.steps.every((s) => s.detail === detail),
      `${name}: every step carries the report`,
    );
    if (plan.transition) t.same(plan.transition, { next: 'installed', why: 'installer reported success' }, `${name}: why, and no new generation`);
  }
});

t.test('a boot token stands only for the generation the manifest still wants installed', async (t) => {
  const rows: [string, number, NodeSpec | undefined, 'ok' | 'superseded'][] = [
    ['same generation, desired installed', 2, spec({ generation: 2 }), 'ok'],
    ['generation bumped since', 1, spec({ generation: 2 }), 'superseded'],
    ['token newer than the manifest', 3, spec({ generation: 2 }), 'superseded'],
    ['desired state now discovery', 2, spec({ generation: 2, desired: 'discovery' }), 'superseded'],
    ['node left the manifest', 2, undefined, 'superseded'],
    ['desired state now rescue', 2, spec({ generation: 2, desired: 'rescue' }), 'superseded'],
  ];
  for (const [name, generation, s, want] of rows) t.equal(grantStanding({ generation }, s), want, name);
  t.equal(
    grantStanding({ generation: 2 }, spec({ generation: 2 }), { rescueRequestedAt: '2026-12-03T10:00:00Z' }),
    'superseded',
    'an operator asked for rescue',
  );
  const decommission = spec({ generation: 2, desired: 'decommissioned' });
  t.equal(grantStanding({ generation: 2 }, decommission), 'superseded', 'an install token under decommission');
  t.equal(grantStanding({ generation: 2, purpose: 'wipe' }, decommission, {}), 'ok', 'the wipe token, until the wipe is reported');
  t.equal(grantStanding({ generation: 2, purpose: 'wipe' }, decommission, { wipedAt: '2026-12-03T10:00:00Z' }), 'superseded', 'the wipe token, once wiped');
  t.equal(
    grantStanding({ generation: 2, purpose: 'wipe' }, spec({ generation: 2 }), {}),
    'superseded',
    'the wipe token, once the manifest is back at installed',
  );
});

t.test("a wipe boot's reports: only wipe-complete counts, never an install", async (t) => {
  const r = { state: 'decommissioning' as const, generation: 1 };
  t.same(planReport({ step: 'wipe-complete', disk: '/dev/vda' }, r, 'wipe'), {
    steps: [{ step: 'installer-event', detail: { step: 'wipe-complete', disk: '/dev/vda' } }],
    wiped: true,
  });
  t.same(
    planReport({ step: 'install-complete' }, r, 'wipe'),
    { steps: [{ step: 'installer-event', detail: { step: 'install-complete' } }] },
    'no install from a wipe token',
  );
  t.same(planReport({ step: 'wipe-complete' }, r).wiped, undefined, 'no wipe from an install token');
});

t.test('an image that failed for good: the script says so instead of waiting, before any install or token', async (t) => {
  const cause = 'image kernel-amd64: digest mismatch for https://factory/kernel-amd64: expected sha256:aaaa, got sha256:bbbb';
  const failing = { ...request(spec(), record('discovered', 0), 'efi', K63), imageFailed: cause };
  const p = planScript(failing);
  t.equal(show(p), `failed-image "${cause}" →installing@1`, 'it outranks the wait, and the node still moves to installing');
  t.equal(p.token, undefined, 'no boot token');
  t.same(p.steps, [{ step: 'script-served', detail: { kind: 'failed-image', platform: 'efi', cause } }]);
  t.equal(
    show(planScript({ ...request(spec(), record('installed', 1), 'efi'), imageFailed: cause })),
    'boot-local exit/efi',
    'an installed node boots its disk all the same',
  );
  t.equal(show(planScript({ ...request(undefined, unknown(), 'pcbios'), imageFailed: cause })), `discovery ${MAC}`, 'an unknown machine is not told');
});
