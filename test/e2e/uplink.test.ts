// The central contract end to end, with the real agent process in a rack namespace and
// the reference central as a process beside it (on the rack's loopback):
// pull → provision; central stopped → still provisions, reports queue; agent restarted while
// central is down → still provisions from the last good manifest; pushes (unauthenticated one
// refused); central back → every queued report arrives exactly once, in order; a tampered
// manifest at central is rejected and the last good one stays. Rack 198.18.23.0/24.
import t from 'tap';
import { writeFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { startAgentInRack, repoRoot, type AgentInRack } from '../bed/agent.js';
import { createRack } from '../bed/netns.js';
import type { RawManifest } from '../../agent/manifest/load.js';
import { testSigner } from '../fakes/signedManifests.js';
import { standinAssets } from './scenario.js';

const N1 = '52:54:00:6d:00:01'; // rack1-n01 in config/examples/manifest.yaml
const CENTRAL = 'http://127.0.0.1:18080';
const CONTROL = 'http://127.0.0.1:18081';
// The test host has a static address and no lease: as rack1-n01's fixed ipv4 it is the address
// that node's script requests count from.
const N1_ADDRESS = '198.18.23.50';
const n1Here = (raw: RawManifest): void => {
  raw.nodes[0]!.ipv4 = N1_ADDRESS;
};

t.test('signed manifests pulled and pushed, provisioning through a WAN outage, reports never lost', async (t) => {
  const rack = await createRack('uplink', 23);
  const assets = await standinAssets();
  const dir = await mkdtemp(path.join(tmpdir(), 'maskin-uplink-'));
  t.teardown(async () => {
    await rack.destroy();
    await assets.remove();
    await rm(dir, { recursive: true, force: true });
  });
  const signer = testSigner('central-1');
  await writeFile(path.join(dir, 'central-1.pub'), signer.publicPem);
  await writeFile(path.join(dir, 'v1.pb'), signer.sign({ version: 1, mutate: n1Here }));

  const central = rack.spawn(process.execPath, [
    path.join(repoRoot, 'dist/test/central/main.js'),
    '--host',
    '127.0.0.1',
    '--port',
    '18080',
    '--control-port',
    '18081',
    '--manifest',
    path.join(dir, 'v1.pb'),
  ]);
  await new Promise<void>((resolve, reject) => {
    central.once('exit', (code) => reject(new Error(`central exited ${code}`)));
    createInterface({ input: central.stdout! }).on('line', (line) => line.startsWith('listening') && resolve());
  });
  const curl = (args: string[], ns = rack.ns) => rack.exec('curl', ['-sS', '--max-time', '10', ...args], ns);
  const control = (what: string, body?: string) =>
    curl(['-X', 'POST', ...(body ? ['-H', 'content-type: application/json', '-d', body] : []), `${CONTROL}/control/${what}`]);

  const dataDir = path.join(dir, 'data');
  const agentOpts = {
    manifest: 'version: 1\nprofiles: {}\nnodes: []\n',
    assetsDir: assets.dir,
    dataDir,
    extraConfig: `rackId: rack1
uplink:
  manifestUrl: ${CENTRAL}/v1/racks/rack1/manifest
  reportUrl: ${CENTRAL}/v1/reports
  pullIntervalSeconds: 10
  timeoutSeconds: 2
  trustedKeys: [{ id: central-1, publicKeyFile: ${path.join(dir, 'central-1.pub')} }]
`,
    env: { MASKIN_PUSH_TOKEN: 'push-secret' },
  };
  let agent: AgentInRack = await startAgentInRack(rack, agentOpts);
  t.teardown(() => agent.stop());
  const status = async () =>
    JSON.parse(await curl(['http://127.0.0.1:9180/v1/status'])) as {
      manifest: { source: string; version?: number; lastRejection?: { code: string } };
      outbox: { depth: number };
      pull?: { lastResult?: string };
    };
  const until = async <T>(what: string, get: () => Promise<T>, ok: (v: T) => boolean, ms = 20_000): Promise<T> => {
    const end = Date.now() + ms;
    for (;;) {
      const v = await get();
      if (ok(v)) return v;
      if (Date.now() > end) throw new Error(`${what}: last ${JSON.stringify(v)}\n${agent.output().slice(-3000)}`);
      await new Promise((r) => setTimeout(r, 300));
    }
  };

  // 1. Pulled at start; the node is known and gets its installer.
  await until('manifest v1 pulled', status, (s) => s.manifest.version === 1 && s.manifest.source === 'pull');
  const host = await rack.addHost('n1', { mac: N1, address: `${N1_ADDRESS}/24` });
  const script = () => curl([`http://198.18.23.1/ipxe?mac=${N1}&platform=pcbios`], host);
  t.match(await script(), /kernel http:\/\/198\.18\.23\.1\/assets\/.*kernel-amd64/, 'provisions from the pulled manifest');

  // 2. WAN down: keeps provisioning; reports queue.
  await control('stop');
  t.match(await script(), /kernel /, 'still provisions with central down');
  await until('reports queued', status, (s) => s.outbox.depth > 0);

  // 3. Restart while central is down: last good manifest from the store.
  await agent.stop();
  agent = await startAgentInRack(rack, agentOpts);
  const afterRestart = await status();
  t.equal(afterRestart.manifest.source, 'store');
  t.equal(afterRestart.manifest.version, 1);
  t.match(await script(), /kernel /, 'provisions after a restart with central down');

  // 4. Push: unauthenticated refused; authenticated v2 applied (drops node 2).
  await writeFile(
    path.join(dir, 'v2.pb'),
    signer.sign({
      version: 2,
      mutate: (m) => {
        m.nodes = m.nodes.slice(0, 1);
        n1Here(m);
      },
    }),
  );
  const pushArgs = [
    '-o',
    '/dev/null',
    '-w',
    '%{http_code}',
    '-X',
    'PUT',
    '-H',
    'content-type: application/x-protobuf',
    '--data-binary',
    `@${path.join(dir, 'v2.pb')}`,
    'http://198.18.23.1/v1/manifest',
  ];
  t.equal(await curl(pushArgs, host), '401', 'push without credentials');
  t.equal(await curl(['-H', 'authorization: Bearer push-secret', ...pushArgs], host), '200', 'authenticated push');
  t.equal((await status()).manifest.version, 2);
  t.equal(await curl(['-H', 'authorization: Bearer push-secret', ...pushArgs], host), '200', 'same bytes again: unchanged');
  await writeFile(path.join(dir, 'v1again.pb'), signer.sign({ version: 1, mutate: n1Here }));
  t.equal(
    await curl(
      ['-H', 'authorization: Bearer push-secret', ...pushArgs.slice(0, -2), `@${path.join(dir, 'v1again.pb')}`, 'http://198.18.23.1/v1/manifest'],
      host,
    ),
    '409',
    'rollback refused',
  );

  // 5. Central back (still serving v1, older than v2: the pull is refused as a rollback, v2 stays).
  await control('start');
  const drained = await until('outbox drained', status, (s) => s.outbox.depth === 0, 60_000);
  t.equal(drained.manifest.version, 2);
  const reports = JSON.parse(await curl([`${CONTROL}/control/reports?agent=test-${rack.ns}`])) as {
    seq: string;
    step?: unknown;
    stateChange?: unknown;
    discovery?: unknown;
    manifest?: { outcome: string; errorCode?: string };
  }[];
  const seqs = reports.map((r) => Number(r.seq));
  t.ok(seqs.length > 5, `${seqs.length} reports arrived`);
  t.same(
    seqs,
    seqs.map((_, i) => seqs[0]! + i),
    'in order, none missing, none twice',
  );
  t.ok(
    reports.some((r) => r.stateChange),
    'state changes reported',
  );
  t.ok(
    reports.some((r) => r.discovery),
    'discovery facts reported',
  );
  t.ok(
    reports.some((r) => r.manifest?.errorCode === 'MASKIN_ERR_PUSH_UNAUTHENTICATED'),
    'the refused push was reported',
  );
  t.ok(
    reports.some((r) => r.manifest?.errorCode === 'MASKIN_ERR_MANIFEST_ROLLBACK'),
    'the rollback was reported',
  );

  // 6. A tampered manifest at central: rejected, v2 stays.
  const tampered = Buffer.from(signer.sign({ version: 3 }));
  tampered.writeUInt8(tampered.readUInt8(12) ^ 0x01, 12); // inside the signed payload
  await writeFile(path.join(dir, 'bad.pb'), tampered);
  await curl(['-X', 'POST', '--data-binary', `@${path.join(dir, 'bad.pb')}`, `${CONTROL}/control/manifest?rack=rack1`]);
  const rejected = await until('tampered pull rejected', status, (s) => s.manifest.lastRejection?.code === 'MASKIN_ERR_MANIFEST_BAD_SIGNATURE', 30_000);
  t.equal(rejected.manifest.version, 2, 'last good stays in force');
  t.match(await script(), /kernel /, 'and still provisions');
});
