// The machine-config inputs from where the agent stands: the /v2/ mirror only when it runs and
// mirrors some registry, the manifest's pinned installer by digest, the node's wipe policy.
import t from 'tap';
import { nodeFixture, profileFixture } from '../fakes/manifest.js';
import type { ImagePin, NodeSpec, Profile } from '../../agent/manifest/model.js';
import type { NodeRecord } from '../../agent/nodes/model.js';
import { machineConfigContext, type ConfigSite } from '../../agent/talos/configContext.js';

const DIGEST = `sha256:${'a'.repeat(64)}`;
const profile: Profile = profileFixture({ name: 'workers' });
const installer: ImagePin = { kind: 'installer', profile: 'workers', source: 'factory.talos.dev/installer/abc:v1.13.9', digest: DIGEST };
const directory = (images: ImagePin[]) => ({ images, profiles: new Map([['workers', profile]]) });
const reinstall: NodeRecord = {
  id: 'r1-n07',
  known: true,
  macs: [],
  state: 'reprovisioning',
  generation: 2,
  installedGeneration: 1,
  facts: {},
  timeline: [],
};
const site = (over: Partial<ConfigSite> = {}): ConfigSite => ({ directory: directory([]), mirror: undefined, record: undefined, ...over });
const mirror = { endpoint: 'http://198.18.9.1', registries: ['factory.talos.dev', 'ghcr.io'] };

t.test('machine-config inputs', async (t) => {
  const rows: [string, NodeSpec, ConfigSite, object][] = [
    ['no mirror, no pin, profile wipe: false', nodeFixture(), site(), { wipe: false }],
    ['mirror running', nodeFixture(), site({ mirror }), { registryMirror: mirror, wipe: false }],
    ['mirror running with no registries: none', nodeFixture(), site({ mirror: { ...mirror, registries: [] } }), { wipe: false }],
    [
      'pinned installer, by digest',
      nodeFixture(),
      site({ directory: directory([installer]) }),
      { installerImage: `factory.talos.dev/installer/abc@${DIGEST}`, wipe: false },
    ],
    ['on-reprovision, first install', nodeFixture({ wipe: 'on-reprovision' }), site(), { wipe: false }],
    ['on-reprovision, installed before', nodeFixture({ wipe: 'on-reprovision' }), site({ record: reinstall }), { wipe: true }],
  ];
  for (const [name, node, s, want] of rows) t.strictSame(machineConfigContext(node, profile, s), want, name);
});
