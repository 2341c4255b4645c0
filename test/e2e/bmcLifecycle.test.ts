// The BMC lifecycle's unhappy paths end to end, without a VM: the real agent process, one Redfish
// simulator process per node (in-memory machines: they power on, nothing ever netboots) and the
// reference central, all in one rack namespace. Proves that a server whose BMC inventory is not
// the one the manifest names is held (never powered, reported, stays held); that a node that never
// reaches the installer fails at `netboot` after exactly maxAttempts power cycles and is not
// retried forever; that operator actions through the CLI restart and power off a node (recorded
// as events) and name the problem for an unknown node; that missing credentials fail the node
// with the fix and no BMC call; and that the BMC password shows up nowhere.
// Subnet: 198.18.27.0/24 (rack 'bmclife').
import t from 'tap';
import { createInterface } from 'node:readline';
import path from 'node:path';
import { startAgentInRack, repoRoot, type AgentInRack } from '../bed/agent.js';
import { createRack, stopChild, type Rack } from '../bed/netns.js';
import { startRedfishSimChild, type RedfishSimChild } from '../bmcsim/redfish/child.js';
import { FLAVOURS } from '../bmcsim/redfish/flavours.js';
import type { SimRequest } from '../bmcsim/redfish/server.js';
import { assertStepsInOrder, manifestFor, settled, standinAssets, type ManifestNode } from './scenario.js';

const PASSWORD = 'bmclife-Pw-7f3e9a';
const USER = 'admin';
const CENTRAL_PORT = 18270;
const CONTROL_PORT = 18271;
const NETBOOT_S = 4;
const MAX_ATTEMPTS = 2;
const RECONCILE_S = 1;

interface Bmc {
  readonly node: ManifestNode;
  readonly sim?: RedfishSimChild;
}

/** A Reset POST with its ResetType (On, ForceRestart, ForceOff…). */
const resets = (sim: RedfishSimChild): string[] =>
  sim.requests.filter((r) => r.method === 'POST' && /Actions\/ComputerSystem\.Reset/.test(r.path) && r.status < 300).map((r) => String(r.body?.['ResetType']));
/** Power cycles / power-ons: every Reset but a power-off. */
const powerOns = (sim: RedfishSimChild): number => resets(sim).filter((type) => type !== 'ForceOff' && type !== 'GracefulShutdown').length;
const bootPatches = (sim: RedfishSimChild): SimRequest[] => sim.requests.filter((r) => r.method === 'PATCH');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until<T>(what: string, get: () => Promise<T> | T, ok: (v: T) => boolean, ms: number): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await get();
    if (ok(v)) return v;
    if (Date.now() > end) throw new Error(`${what}: last seen ${JSON.stringify(v)}`);
    await sleep(200);
  }
}

interface CentralReport {
  stateChange?: { nodeId: string; from?: string; to: string; reason?: string; step?: string };
  step?: { nodeId: string; step: string; detailJson?: string };
}

async function startCentral(rack: Rack): Promise<{ reports(agentId: string): Promise<CentralReport[]>; stop(): Promise<void> }> {
  const child = rack.spawn(process.execPath, [
    path.join(repoRoot, 'dist/test/central/main.js'),
    '--host',
    '127.0.0.1',
    '--port',
    String(CENTRAL_PORT),
    '--control-port',
    String(CONTROL_PORT),
  ]);
  await new Promise<void>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`central exited ${code}`)));
    createInterface({ input: child.stdout! }).on('line', (line) => line.startsWith('listening') && resolve());
  });
  return {
    reports: async (agentId) =>
      JSON.parse(await rack.exec('curl', ['-sS', '--max-time', '5', `http://127.0.0.1:${CONTROL_PORT}/control/reports?agent=${agentId}`])) as CentralReport[],
    stop: () => stopChild(child),
  };
}

/** The CLI's exit code and stderr when it refuses (rack.exec rejects on a non-zero exit). */
async function cliRefusal(agent: AgentInRack, args: string[]): Promise<{ code: unknown; stderr: string }> {
  try {
    const out = await agent.cli(args);
    return { code: 0, stderr: out };
  } catch (err) {
    const e = err as { code?: unknown; stderr?: string };
    return { code: e.code, stderr: e.stderr ?? '' };
  }
}

t.test('BMC lifecycle without a VM: held, failed after its retries, operator actions, missing credentials', async (t) => {
  const rack = await createRack('bmclife', 27);
  t.teardown(() => rack.destroy());
  const assets = await standinAssets();
  t.teardown(() => assets.remove());
  const central = await startCentral(rack);
  t.teardown(() => central.stop());

  const sim = async (port: number, serial: string, macs: string[]) => {
    const s = await startRedfishSimChild(rack, {
      flavour: 'generic',
      host: '127.0.0.1',
      port,
      username: USER,
      password: PASSWORD,
      initialPower: 'off',
      inventory: { serial, macs },
    });
    t.teardown(() => s.stop());
    return s;
  };
  const bmcOf = (s: RedfishSimChild | undefined, credentialsRef: string) => ({
    driver: 'redfish' as const,
    address: s?.url ?? 'http://127.0.0.1:8279',
    credentialsRef,
    bootMode: 'legacy' as const,
    vendor: 'generic',
  });
  const [serialSim, macSim, stuckSim, nocredSim] = await Promise.all([
    sim(8271, 'SER-B-0002', ['52:54:00:1b:00:01']),
    sim(8272, 'SER-MAC-0003', ['52:54:00:1b:0f:0f']),
    sim(8273, 'SER-STUCK-0004', ['52:54:00:1b:00:03']),
    sim(8274, 'SER-NOCRED-0005', ['52:54:00:1b:00:04']),
  ]);
  const bmcs: Record<string, Bmc> = {
    // The manifest names serial A; the BMC says B.
    'bl-serial': { sim: serialSim, node: { id: 'bl-serial', mac: '52:54:00:1b:00:01', serial: 'SER-A-0001', bmc: bmcOf(serialSim, 'rack-bmc') } },
    // The serial matches; the BMC lists no NIC with the MAC the manifest names.
    'bl-mac': { sim: macSim, node: { id: 'bl-mac', mac: '52:54:00:1b:00:02', serial: 'SER-MAC-0003', bmc: bmcOf(macSim, 'rack-bmc') } },
    'bl-stuck': { sim: stuckSim, node: { id: 'bl-stuck', mac: '52:54:00:1b:00:03', serial: 'SER-STUCK-0004', bmc: bmcOf(stuckSim, 'rack-bmc') } },
    // A credentials name with no entry anywhere.
    'bl-nocred': { sim: nocredSim, node: { id: 'bl-nocred', mac: '52:54:00:1b:00:04', serial: 'SER-NOCRED-0005', bmc: bmcOf(nocredSim, 'missing-bmc') } },
  };

  const started = Date.now();
  const agent = await startAgentInRack(rack, {
    manifest: manifestFor(Object.values(bmcs).map((b) => b.node)),
    assetsDir: assets.dir,
    env: { MASKIN_BMC_RACK_BMC_USERNAME: USER, MASKIN_BMC_RACK_BMC_PASSWORD: PASSWORD },
    extraConfig: `rackId: bmclife
uplink:
  reportUrl: http://127.0.0.1:${CENTRAL_PORT}/v1/reports
  timeoutSeconds: 2
lifecycle:
  concurrency: 4
  staggerSeconds: 0
  maxAttempts: ${MAX_ATTEMPTS}
  backoffSeconds: 1
  maxBackoffSeconds: 2
  timeoutSeconds: { bmcCall: 5, netboot: ${NETBOOT_S}, install: 30, handover: 30 }
  probeIntervalSeconds: 1
  reconcileIntervalSeconds: ${RECONCILE_S}
`,
  });
  t.teardown(() => agent.stop());
  const agentId = `test-${rack.ns}`;
  const stateChanges = async (id: string) => (await central.reports(agentId)).flatMap((r) => (r.stateChange?.nodeId === id ? [r.stateChange] : []));

  await t.test('identity mismatch: held, reported, never powered, stays held', async (t) => {
    for (const [id, why] of [
      ['bl-serial', /serial mismatch: the manifest names SER-A-0001, the BMC reports SER-B-0002/],
      ['bl-mac', /MAC mismatch: .*not 52:54:00:1b:00:02/],
    ] as const) {
      const { sim } = bmcs[id]!;
      const held = await agent.waitForNode(id, settled, 15_000);
      t.equal(held.state, 'held', `${id} is held`);
      t.match(held.lifecycle?.failure?.reason ?? '', why, `${id}: the reason names the mismatch`);
      t.ok(
        held.timeline.some((s) => s.step === 'identity-check' && s.detail['ok'] === false),
        `${id}: the identity check is in the timeline`,
      );
      t.ok(
        sim!.requests.some((r) => r.method === 'GET' && /EthernetInterfaces/.test(r.path)),
        `${id}: the inventory was read`,
      );
      const upstream = await until(
        `${id} held reported upstream`,
        () => stateChanges(id),
        (c) => c.some((s) => s.to === 'held'),
        10_000,
      );
      t.match(upstream.find((s) => s.to === 'held')?.reason ?? '', why, `${id}: central got the state change to held with the reason`);
    }
    // A few reconcile intervals later: still held, and the BMCs never saw a Reset or a Boot PATCH.
    await sleep(3 * RECONCILE_S * 1000 + 500);
    for (const id of ['bl-serial', 'bl-mac']) {
      const { sim } = bmcs[id]!;
      t.equal((await agent.node(id))?.state, 'held', `${id} stays held`);
      t.same(resets(sim!), [], `${id}: no Reset reached the BMC`);
      t.same(bootPatches(sim!), [], `${id}: no Boot PATCH reached the BMC`);
      t.notOk(
        (await stateChanges(id)).some((s) => s.to !== 'held'),
        `${id}: central never heard of any other state`,
      );
    }
  });

  await t.test('never reaches the installer: failed at netboot after exactly maxAttempts power cycles, not retried', async (t) => {
    const failed = await agent.waitForNode('bl-stuck', settled, 30_000);
    t.equal(failed.state, 'failed', 'the node failed');
    t.equal(failed.lifecycle?.failure?.step, 'netboot', 'at the netboot step');
    t.match(failed.lifecycle?.failure?.reason ?? '', /never reached the installer.*after 2 attempt/, 'with the reason and the attempts');
    t.equal(powerOns(stuckSim), MAX_ATTEMPTS, `the BMC saw exactly ${MAX_ATTEMPTS} power-ons/cycles (${resets(stuckSim).join(', ')})`);
    t.equal(bootPatches(stuckSim).filter((r) => r.status < 300).length >= MAX_ATTEMPTS, true, 'a one-shot PXE was set before each');
    const states = failed.timeline.filter((s) => s.step === 'state-changed').map((s) => String(s.detail['to']));
    assertStepsInOrder(t, states, ['verified', 'provisioning', 'failed']);
    // Within the bounds the config sets: two netboot waits and one backoff, not much more. Measured
    // on the agent's own timeline (provisioning → failed), so a slow agent start-up does not count.
    const changedTo = (to: string) => failed.timeline.find((s) => s.step === 'state-changed' && s.detail['to'] === to)?.at ?? '';
    const failedAfter = (Date.parse(changedTo('failed')) - Date.parse(changedTo('provisioning'))) / 1000;
    t.ok(failedAfter < 2 * NETBOOT_S + 2 + 10, `failed ${failedAfter.toFixed(1)} s after provisioning began`);

    const table = await agent.cli(['nodes']);
    const row = table.split('\n').find((l) => l.startsWith('bl-stuck')) ?? '';
    t.match(row, /failed/, 'the nodes table shows it failed');
    t.match(row, /failed at netboot/, 'with the step');
    t.match(row, /never reached the installer/, 'and the last error');
    const detail = await agent.cli(['nodes', 'bl-stuck']);
    t.match(detail, /failed at netboot: never reached the installer/, 'nodes <id> says where and why');

    const upstream = await until(
      'failed reported upstream',
      () => stateChanges('bl-stuck'),
      (c) => c.some((s) => s.to === 'failed'),
      10_000,
    );
    const up = upstream.find((s) => s.to === 'failed');
    t.equal(up?.step, 'netboot', 'central got the failed state with the step');
    t.match(up?.reason ?? '', /never reached the installer/, 'and the reason');

    await sleep(3 * RECONCILE_S * 1000 + 500);
    t.equal(powerOns(stuckSim), MAX_ATTEMPTS, 'no further power cycle after failing');
    t.equal((await agent.node('bl-stuck'))?.state, 'failed', 'still failed');
  });

  await t.test('operator actions through the CLI, recorded as events', async (t) => {
    const before = powerOns(stuckSim);
    t.match(await agent.cli(['node', 'bl-stuck', 'provision']), /provision of node bl-stuck accepted/, 'provision accepted');
    await until(
      'a new power cycle',
      () => powerOns(stuckSim),
      (n) => n > before,
      10_000,
    );
    const again = await agent.waitForNode('bl-stuck', (n) => n.state === 'provisioning' && n.lifecycle?.step === 'netboot', 10_000);
    t.ok(
      again.timeline.some((s) => s.step === 'operator-action' && s.detail['action'] === 'provision'),
      'provision recorded in the timeline',
    );

    t.match(await agent.cli(['node', 'bl-stuck', 'power-off']), /power-off of node bl-stuck accepted/, 'power-off accepted');
    await until(
      'ForceOff at the BMC',
      () => resets(stuckSim),
      (r) => r.at(-1) === 'ForceOff',
      10_000,
    );
    const sys = `${stuckSim.url}/redfish/v1/Systems/${FLAVOURS.generic.systemId}`;
    const power = JSON.parse(await rack.exec('curl', ['-sS', '--max-time', '5', '-u', `${USER}:${PASSWORD}`, sys])) as { PowerState?: string };
    t.equal(power.PowerState, 'Off', 'the machine is off');
    const off = await agent.waitForNode(
      'bl-stuck',
      (n) => n.timeline.some((s) => s.step === 'operator-action' && s.detail['action'] === 'power-off') && n.lifecycle?.step === undefined,
      10_000,
    );
    t.equal(off.state, 'failed', 'powering off mid-provisioning stops the lifecycle');
    t.match(off.lifecycle?.failure?.reason ?? '', /powered off by the operator/, 'with the operator as the reason');
    const upSteps = (await central.reports(agentId))
      .filter((r) => r.step?.nodeId === 'bl-stuck' && r.step.step === 'operator-action')
      .map((r) => r.step?.detailJson ?? '');
    t.ok(upSteps.some((d) => d.includes('provision')) && upSteps.some((d) => d.includes('power-off')), 'both actions reported upstream');
    const cycles = powerOns(stuckSim);
    await sleep(NETBOOT_S * 1000 + 1500);
    t.equal(powerOns(stuckSim), cycles, 'no power cycle after the operator powered it off');

    const unknown = await cliRefusal(agent, ['node', 'no-such-node', 'provision']);
    t.not(unknown.code, 0, 'an action on an unknown node fails');
    t.match(unknown.stderr, /no node no-such-node in the manifest/, `with a clear error (${unknown.stderr.trim()})`);
    const badAction = await cliRefusal(agent, ['node', 'bl-stuck', 'reboot']);
    t.equal(badAction.code, 2, 'an unknown action is a usage error');
    t.match(badAction.stderr, /Allowed choices are provision, reprovision, power-off, rescue, exit-rescue/, 'naming the actions');
  });

  await t.test('missing credentials: failed with the fix, no BMC call; the password is never shown', async (t) => {
    const failed = await agent.waitForNode('bl-nocred', settled, 10_000);
    t.equal(failed.state, 'failed', 'the node failed');
    t.equal(failed.lifecycle?.failure?.step, 'inventory', 'at its first BMC step');
    const fix = /BMC credentials "missing-bmc" are not defined.*Fix: add an entry named "missing-bmc".*MASKIN_BMC_MISSING_BMC_USERNAME/;
    t.match(failed.lifecycle?.failure?.reason ?? '', fix, 'the node record names the fix');
    t.match(await agent.cli(['nodes', 'bl-nocred']), fix, 'so does `maskin-agent nodes <id>`');
    // It failed at the agent's start; the reconciles since (every second) did not retry it either.
    t.same(nocredSim.requests, [], 'the BMC was never called, nor retried');

    // The other BMCs were logged into with the password: it must not leak anywhere we can read.
    t.ok(serialSim.requests.length > 0, 'the agent did talk to BMCs with the password');
    t.notOk(agent.output().includes(PASSWORD), 'not in the agent log');
    const records = await Promise.all(Object.keys(bmcs).map((id) => agent.cli(['nodes', id])));
    t.notOk(
      records.some((r) => r.includes(PASSWORD)),
      'not in `nodes <id>`',
    );
    const json = JSON.stringify(await Promise.all(Object.keys(bmcs).map((id) => agent.node(id))));
    t.notOk(json.includes(PASSWORD), 'not in the node records');
    const reports = JSON.stringify(await central.reports(agentId));
    t.ok(reports.includes('bl-nocred'), 'central has reports about the nodes');
    t.notOk(reports.includes(PASSWORD), "not in central's stored reports");
  });
  t.comment(`whole run ${((Date.now() - started) / 1000).toFixed(1)} s`);
});
