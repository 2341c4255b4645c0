import t from 'tap';
import { nodeFixture } from '../fakes/manifest.js';
import { decideBoot } from '../../agent/nodes/bootPlan.js';
import type { NodeSpec } from '../../agent/manifest/model.js';
import type { NodeRecord, NodeState } from '../../agent/nodes/model.js';

const spec = (over: Partial<NodeSpec> = {}): NodeSpec => nodeFixture({ id: 'n1', macs: ['aa:bb:cc:dd:ee:01'], profile: 'p', ...over });
const record = (state: NodeState, generation: number, configFetched = false): NodeRecord => ({
  id: 'n1', known: true, macs: ['aa:bb:cc:dd:ee:01'], state, generation, facts: {}, timeline: [],
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
];
for (const [name, s, r, kind, next] of table) {
  t.test(name, async (t) => {
    const d = decideBoot(s, r);
    t.equal(d.kind, kind);
    t.equal(d.next, next);
    t.ok(d.why.length > 0, 'says why');
  });
}
