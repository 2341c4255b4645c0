// Another host on the provisioning network against a node's boot, through app.inject(): it asks
// /ipxe for the node's MAC (with and without the node holding a lease) and floods refusals. It
// gets no token and no config; the node's state, facts, token and timeline stay the node's own,
// and nothing about it goes upstream.
import t from 'tap';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { Registry } from 'prom-client';
import { parseConfig } from '../../agent/config/load.js';
import { buildApp } from '../../agent/http/app.js';
import { parseManifest } from '../../agent/manifest/load.js';
import { directoryOf } from '../../agent/manifest/model.js';
import type { NodeRecord } from '../../agent/nodes/model.js';
import { NodeRegistry, type ReportBody } from '../../agent/nodes/registry.js';
import { BootTokens, type BootGrant } from '../../agent/nodes/tokens.js';
import { openStore } from '../../agent/store/store.js';
import { VANILLA_SCHEMATIC } from '../fakes/manifest.js';

const examples = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../config/examples');
const N1 = { mac: '52:54:00:91:00:01', ip: '198.18.145.101' };
const N2 = { mac: '52:54:00:91:00:02' }; // holds no lease
const N3 = { mac: '52:54:00:91:00:03', ip: '198.18.145.103' };
const ATTACKER = '198.18.145.66';

async function setup(t: { teardown(fn: () => unknown): void }) {
  const dir = await mkdtemp(path.join(tmpdir(), 'maskin-sechijack-'));
  const config = parseConfig(
    `provisioning: { interface: prov0, address: 198.18.145.1, subnet: 198.18.145.0/24 }
dhcp: { pool: { start: 198.18.145.100, end: 198.18.145.199 } }
assetsDir: ${dir}/assets
dataDir: ${dir}/data
# The flood below is about the timeline, not the per-source rate limit (test/security/httpLimits.test.ts).
http: { limits: { bootToken: 100000 } }`,
    { env: {} },
  );
  const directory = directoryOf(
    parseManifest(`
version: 1
profiles:
  w:
    talosVersion: v1.13.9
    schematic: ${VANILLA_SCHEMATIC}
    arch: amd64
    install: { disk: /dev/vda }
    machineConfigFile: ${path.join(examples, 'worker.machineconfig.yaml')}
nodes:
  - { id: n1, macs: ["${N1.mac}"], profile: w }
  - { id: n2, macs: ["${N2.mac}"], profile: w }
  - { id: n3, macs: ["${N3.mac}"], profile: w }
`),
  );
  const leased = new Map([
    [N1.mac, N1.ip],
    [N3.mac, N3.ip],
  ]);
  const leases = { ipOf: (mac: string) => leased.get(mac), macOf: (ip: string) => [...leased].find(([, v]) => v === ip)?.[0] };
  const store = await openStore(config.dataDir);
  const reports: ReportBody[] = [];
  const log = pino({ level: 'silent' });
  const nodes = await NodeRegistry.open({
    store: store.sublevel<NodeRecord>('nodes'),
    directory: () => directory,
    leases,
    now: () => new Date(),
    log,
    reports: (body) => reports.push(body),
  });
  const tokens = await BootTokens.open(store.sublevel<BootGrant>('tokens'), 600);
  const app = await buildApp({ config, directory: () => directory, nodes, tokens, leases, log, metrics: new Registry(), startedAt: new Date() });
  t.teardown(async () => {
    await app.close();
    await nodes.flush();
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });
  return { app, nodes, reports };
}

const script = (mac: string, serial: string) => `/ipxe?mac=${mac}&serial=${serial}&uuid=11111111-2222-3333-4444-555555555555&platform=efi`;
const tokenOf = (body: string): string | undefined => /\/v1\/boot\/([A-Za-z0-9_-]+)\/config/.exec(body)?.[1];

t.test('a node without a lease: whoever asks first gets no token, and nothing is recorded about it', async (t) => {
  const { app, nodes, reports } = await setup(t);
  const res = await app.inject({ url: script(N2.mac, 'EVIL'), remoteAddress: ATTACKER });
  t.equal(res.statusCode, 200, 'a script, so a real console shows why');
  t.match(res.body, /refused: 52:54:00:91:00:02 holds no DHCP lease from this agent/);
  t.equal(tokenOf(res.body), undefined, 'no token');
  t.notMatch(res.body, /kernel|talos\.config/);
  const n2 = nodes.get('n2');
  t.equal(n2?.state ?? 'discovered', 'discovered', 'no state change');
  t.same(n2?.facts ?? {}, {}, 'no facts');
  t.same(
    reports.map((r) => r.case),
    ['step'],
    'no discovery report, no state change: only the refusal step',
  );
  t.same(
    n2?.timeline.map((s) => [s.step, s.detail.reason, s.detail.from]),
    [['script-refused', 'no-lease', ATTACKER]],
  );
});

t.test('a leased node keeps its token, state and facts while another host asks for its script', async (t) => {
  const { app, nodes, reports } = await setup(t);
  const own = await app.inject({ url: script(N1.mac, 'REAL'), remoteAddress: N1.ip });
  const token = tokenOf(own.body);
  t.ok(token, 'the node itself gets its install script');
  t.equal(nodes.get('n1')!.state, 'installing');
  const reportsBefore = reports.length;

  const hijack = await app.inject({ url: script(N1.mac, 'EVIL'), remoteAddress: ATTACKER });
  t.match(hijack.body, /refused: this request came from 198\.18\.145\.66/);
  t.equal(tokenOf(hijack.body), undefined, 'the attacker gets no token');
  t.equal((await app.inject({ url: `/v1/boot/${token}/config`, remoteAddress: ATTACKER })).statusCode, 403, "nor the node's config with its token");
  t.equal((await app.inject({ url: `/v1/boot/${token}/config`, remoteAddress: N1.ip })).statusCode, 200, "the node's token was not superseded");
  t.equal(nodes.get('n1')!.state, 'installing');

  // The node fetched its config: a script request now would count as "netbooted again, installed".
  await app.inject({ url: script(N1.mac, 'EVIL'), remoteAddress: ATTACKER });
  const n1 = nodes.get('n1')!;
  t.equal(n1.state, 'installing', 'not made installed by someone else');
  t.equal(n1.facts.serial, 'REAL', 'facts are the node’s own');
  t.equal(n1.facts.ip, N1.ip);
  t.notOk(
    reports.slice(reportsBefore).some((r) => r.case === 'discovery' || r.case === 'stateChange'),
    'no discovery report and no state change went upstream',
  );

  const again = await app.inject({ url: script(N1.mac, 'REAL'), remoteAddress: N1.ip });
  t.match(again.body, /exit 1/, 'the node itself netbooting again is sent to its disk');
  t.equal(nodes.get('n1')!.state, 'installed');
});

t.test("a flood of refusals cannot rotate a node's timeline", async (t) => {
  const { app, nodes } = await setup(t);
  await app.inject({ url: script(N3.mac, 'REAL'), remoteAddress: N3.ip });
  const own = nodes.get('n3')!.timeline.map((s) => s.step);
  t.same(own, ['state-changed', 'script-served']);
  for (let i = 0; i < 600; i++) {
    await app.inject({ url: script(N3.mac, 'EVIL'), remoteAddress: ATTACKER });
    await app.inject({ url: `/v1/boot/${'A'.repeat(32)}/config`, remoteAddress: N3.ip });
    await app.inject({ method: 'POST', url: `/v1/boot/${'B'.repeat(32)}/events`, remoteAddress: N3.ip, payload: { step: 'install-complete' } });
  }
  const timeline = nodes.get('n3')!.timeline;
  t.same(
    timeline.slice(0, 2).map((s) => s.step),
    own,
    "the node's own steps are still there",
  );
  t.same(
    timeline.slice(2).map((s) => [s.step, s.detail.reason, s.detail.endpoint ?? '', s.detail.count]),
    [
      ['script-refused', 'wrong-address', '', 600],
      ['config-refused', 'unknown', '', 600],
      ['config-refused', 'unknown', 'events', 600],
    ],
    'one counted step per refusal kind',
  );
  t.equal(nodes.get('n3')!.state, 'installing');
});

t.test('an unknown MAC asked for from an address without its lease leaves no record', async (t) => {
  const { app, nodes, reports } = await setup(t);
  for (let i = 0; i < 50; i++) {
    const res = await app.inject({ url: script(`02:00:00:91:01:${i.toString(16).padStart(2, '0')}`, 'JUNK'), remoteAddress: ATTACKER });
    t.equal(tokenOf(res.body), undefined);
  }
  t.equal(nodes.list().length, 0, 'no record made');
  t.equal(reports.length, 0, 'nothing reported');
});
