import t from 'tap';
import { nodeFixture, profileFixture } from '../fakes/manifest.js';
import { decideBoot, installWipes } from '../../agent/nodes/bootPlan.js';
import { renderMachineConfig } from '../../agent/talos/machineConfig.js';
import type { NodeSpec } from '../../agent/manifest/model.js';
import type { NodeRecord, NodeState } from '../../agent/nodes/model.js';

const spec = (over: Partial<NodeSpec> = {}): NodeSpec => nodeFixture({ id: 'n1', macs: ['aa:bb:cc:dd:ee:01'], profile: 'p', ...over });
const record = (state: NodeState, generation: number, configFetched = false): NodeRecord => ({
  ...(state === 'held' ? { lifecycle: { since: '2026-01-01T00:00:00Z', attempt: 1, failure: { reason: 'serial mismatch' } } } : {}),
  id: 'n1',
  known: true,
  macs: ['aa:bb:cc:dd:ee:01'],
  state,
  generation,
  facts: {},
  timeline: [],
  ...(configFetched ? { configFetchedAt: '2026-01-01T00:00:00Z' } : {}),
});

const table: [string, NodeSpec | undefined, NodeRecord | undefined, string, NodeState][] = [
  ['unknown machine', undefined, undefined, 'discovery', 'discovered'],
  ['unknown machine seen before', undefined, record('discovered', 0), 'discovery', 'discovered'],
  ['known, desired discovery', spec({ desired: 'discovery' }), undefined, 'discovery', 'discovered'],
  ['known, first boot', spec(), undefined, 'install', 'installing'],
  ['known, record without generation yet', spec(), record('discovered', 0), 'install', 'installing'],
  ['installing, no config fetched yet (script retried)', spec(), record('installing', 1), 'install', 'installing'],
  ['installing, config fetched, netboots again', spec(), record('installing', 1, true), 'boot-local', 'installed'],
  ['installed', spec(), record('installed', 1), 'boot-local', 'installed'],
  ['installed, generation bumped', spec({ generation: 2 }), record('installed', 1), 'install', 'installing'],
  ['installing old generation with config fetched, generation bumped', spec({ generation: 3 }), record('installing', 2, true), 'install', 'installing'],
  ['installed then desired discovery keeps installed', spec({ desired: 'discovery' }), record('installed', 1), 'discovery', 'installed'],
  ['handed over boots local', spec(), record('handed-over', 1), 'boot-local', 'handed-over'],
  ['handed over, generation bumped', spec({ generation: 2 }), record('handed-over', 1), 'install', 'installing'],
  ['handed over then desired discovery keeps handed-over', spec({ desired: 'discovery' }), record('handed-over', 1), 'discovery', 'handed-over'],
  ['held is never installed', spec(), record('held', 1), 'discovery', 'held'],
  ['held is never installed, even on a generation bump', spec({ generation: 5 }), record('held', 1), 'discovery', 'held'],
  ['held stays held under desired discovery', spec({ desired: 'discovery' }), record('held', 1), 'discovery', 'held'],
  ['failed then desired discovery is discovered', spec({ desired: 'discovery' }), record('failed', 1), 'discovery', 'discovered'],
  ['verified (BMC powered it on): install', spec(), record('verified', 1), 'install', 'installing'],
  ['provisioning: install', spec(), record('provisioning', 1), 'install', 'installing'],
  ['reprovisioning at the same generation: install again', spec(), record('reprovisioning', 1), 'install', 'installing'],
  ['failed, netboots anyway: install', spec(), record('failed', 1), 'install', 'installing'],
  ['failed at hand-over after installing this generation: its disk', spec(), { ...record('failed', 1), installedGeneration: 1 }, 'boot-local', 'failed'],
  [
    'failed, installed at an older generation only: install',
    spec({ generation: 2 }),
    { ...record('failed', 2), installedGeneration: 1 },
    'install',
    'installing',
  ],
  // Rescue: the manifest's, or an operator's request (which wins over installed and discovery).
  ['desired rescue, installed: rescue, never its disk', spec({ desired: 'rescue' }), { ...record('installed', 1), installedGeneration: 1 }, 'rescue', 'rescue'],
  ['desired rescue, never installed: rescue, never an install', spec({ desired: 'rescue' }), undefined, 'rescue', 'rescue'],
  ['desired rescue, generation bumped: still rescue', spec({ desired: 'rescue', generation: 4 }), record('installed', 1), 'rescue', 'rescue'],
  ['operator rescue over desired installed', spec(), { ...record('handed-over', 1), rescueRequestedAt: '2026-12-03T10:00:00Z' }, 'rescue', 'rescue'],
  [
    'operator rescue over desired discovery',
    spec({ desired: 'discovery' }),
    { ...record('discovered', 0), rescueRequestedAt: '2026-12-03T10:00:00Z' },
    'rescue',
    'rescue',
  ],
  ['operator rescue of a failed node', spec(), { ...record('failed', 1), rescueRequestedAt: '2026-12-03T10:00:00Z' }, 'rescue', 'rescue'],
  ['held: no rescue either', spec({ desired: 'rescue' }), record('held', 1), 'discovery', 'held'],
  ['out of rescue, installed at this generation: its disk', spec(), { ...record('rescue', 1), installedGeneration: 1 }, 'boot-local', 'installed'],
  ['out of rescue, never installed: install', spec(), record('rescue', 1), 'install', 'installing'],
  ['out of rescue, installed at an older generation: install', spec(), { ...record('rescue', 1), installedGeneration: 0 }, 'install', 'installing'],
  [
    'out of rescue into discovery, installed: installed',
    spec({ desired: 'discovery' }),
    { ...record('rescue', 1), installedGeneration: 1 },
    'discovery',
    'installed',
  ],
  ['out of rescue into discovery, never installed: discovered', spec({ desired: 'discovery' }), record('rescue', 1), 'discovery', 'discovered'],
  // Decommission: the wipe until it is reported, then nothing; never an install or a config.
  [
    'desired decommissioned, installed: wipe',
    spec({ desired: 'decommissioned' }),
    { ...record('handed-over', 1), installedGeneration: 1 },
    'wipe',
    'decommissioning',
  ],
  ['desired decommissioned, wipe not reported yet: wipe again', spec({ desired: 'decommissioned' }), record('decommissioning', 1), 'wipe', 'decommissioning'],
  [
    'desired decommissioned, wiped, not powered off yet',
    spec({ desired: 'decommissioned' }),
    { ...record('decommissioning', 1), wipedAt: '2026-12-03T10:00:00Z' },
    'discovery',
    'decommissioning',
  ],
  [
    'decommissioned: nothing to boot',
    spec({ desired: 'decommissioned' }),
    { ...record('decommissioned', 1), wipedAt: '2026-12-03T10:00:00Z' },
    'discovery',
    'decommissioned',
  ],
  [
    'decommissioned, generation bumped: still nothing',
    spec({ desired: 'decommissioned', generation: 9 }),
    { ...record('decommissioned', 1), wipedAt: '2026-12-03T10:00:00Z' },
    'discovery',
    'decommissioned',
  ],
  [
    'decommission wins over an operator rescue',
    spec({ desired: 'decommissioned' }),
    { ...record('installed', 1), rescueRequestedAt: '2026-12-03T10:00:00Z' },
    'wipe',
    'decommissioning',
  ],
  ['held: never wiped (its identity is not confirmed)', spec({ desired: 'decommissioned' }), record('held', 1), 'discovery', 'held'],
  [
    'out of decommissioned (manifest installed again): install',
    spec(),
    { ...record('decommissioned', 1), wipedAt: '2026-12-03T10:00:00Z' },
    'install',
    'installing',
  ],
  ['a decommission called off before the wipe: its disk', spec(), { ...record('decommissioning', 1), installedGeneration: 1 }, 'boot-local', 'installed'],
];
for (const [name, s, r, kind, next] of table) {
  t.test(name, async (t) => {
    const d = decideBoot(s, r);
    t.equal(d.kind, kind);
    t.equal(d.next, next);
    t.ok(d.why.length > 0, 'says why');
  });
}

t.test('wipe policy: explicit per node, else the profile; on-reprovision only wipes a node installed before', async (t) => {
  const wiping = profileFixture({ install: { disk: '/dev/sda', wipe: true } });
  const keeping = profileFixture();
  const fresh = record('installing', 1);
  const reinstall = { ...record('reprovisioning', 2), installedGeneration: 1 };
  const rows: [string, NodeSpec, typeof keeping, NodeRecord | undefined, boolean][] = [
    ['no policy, profile wipe: true', spec(), wiping, fresh, true],
    ['no policy, profile wipe: false', spec(), keeping, reinstall, false],
    ['always', spec({ wipe: 'always' }), keeping, fresh, true],
    ['never beats the profile', spec({ wipe: 'never' }), wiping, reinstall, false],
    ['on-reprovision, first install', spec({ wipe: 'on-reprovision' }), wiping, fresh, false],
    ['on-reprovision, never seen', spec({ wipe: 'on-reprovision' }), keeping, undefined, false],
    ['on-reprovision, reinstall', spec({ wipe: 'on-reprovision' }), keeping, reinstall, true],
  ];
  for (const [name, s, p, r, wipes] of rows) t.equal(installWipes(s, p, r), wipes, name);
  const rendered = (wipe: boolean) =>
    renderMachineConfig(spec({ wipe: 'on-reprovision' }), { ...keeping, machineConfig: [{ version: 'v1alpha1', machine: { type: 'worker' } }] }, { wipe });
  t.match(rendered(true), /wipe: true/, 'the rendered install section carries it');
  t.match(rendered(false), /wipe: false/);
});
