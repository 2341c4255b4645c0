// The operator's view of the lifecycle: GET /v1/nodes(/:id) with state, step, time in step, last
// error and attempts; POST /v1/nodes/:id/actions; `maskin-agent nodes` / `maskin-agent node ID ACTION`.
import t from 'tap';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { parseConfig } from '../../agent/config/load.js';
import { formatNodeTable, formatTimeline, type NodeSummary } from '../../agent/nodes/format.js';
import { cliPath } from '../bed/agent.js';
import { bmcNode, harness, harnessApp, withoutBmc } from './harness.js';

const config = parseConfig(
  'provisioning: { interface: prov0, address: 198.18.82.1, subnet: 198.18.82.0/24 }\ndhcp: { pool: { start: 198.18.82.100, end: 198.18.82.199 } }\n',
  { env: { MASKIN_ADMIN_TOKEN: 'admin-secret' } },
);

async function setup(t: { teardown(fn: () => unknown): void }) {
  const h = await harness([bmcNode(1), bmcNode(2), withoutBmc(bmcNode(3))]);
  h.behaviour.set('n2', { handsOver: false });
  const app = await harnessApp(h, config);
  t.teardown(async () => {
    await app.close();
    await h.executor.close();
  });
  return { h, app };
}

t.test('admin API: lifecycle fields in the node list and detail; actions with auth, validation and refusals', async (t) => {
  const { h, app } = await setup(t);
  h.executor.reconcileAll();
  await h.clock.advance(90_000);
  const list = JSON.parse((await app.inject({ url: '/v1/nodes', remoteAddress: '127.0.0.1' })).body) as { nodes: NodeSummary[] };
  const n1 = list.nodes.find((n) => n.id === 'n1')!;
  const n2 = list.nodes.find((n) => n.id === 'n2')!;
  t.equal(n1.state, 'handed-over');
  t.match(n1.lifecycle, { attempt: 0, since: /^2026-11-24T/ });
  t.equal(n2.state, 'provisioning');
  t.match(n2.lifecycle, { step: 'netboot', attempt: 2, lastError: /never reached the installer/ }, 'step, attempt and last error of a node being retried');
  const detail = JSON.parse((await app.inject({ url: '/v1/nodes/n2', remoteAddress: '127.0.0.1' })).body) as { lifecycle: unknown };
  t.match(detail.lifecycle, { step: 'netboot', attempt: 2 });

  const post = (id: string, body: unknown, remoteAddress = '127.0.0.1', headers: Record<string, string> = {}) =>
    app.inject({ method: 'POST', url: `/v1/nodes/${id}/actions`, payload: body as object, remoteAddress, headers });
  t.equal((await post('n1', { action: 'reprovision' }, '198.18.82.50')).statusCode, 401, 'not from the rack network without the token');
  t.equal((await post('n1', { action: 'explode' })).statusCode, 400);
  t.equal((await post('n1', '"reprovision"', '127.0.0.1', { 'content-type': 'application/json' })).statusCode, 400, 'a bare string is not an action object');
  const unknown = await post('nope', { action: 'provision' });
  t.equal(unknown.statusCode, 404);
  const refused = await post('n1', { action: 'provision' });
  t.equal(refused.statusCode, 409);
  t.match(JSON.parse(refused.body), { error: 'conflict', reason: /use reprovision/ });
  t.equal((await post('n3', { action: 'power-off' })).statusCode, 409, 'no BMC, no power-off');
  const ok = await post('n1', { action: 'reprovision' }, '198.18.82.50', { authorization: 'Bearer admin-secret' });
  t.equal(ok.statusCode, 202);
  await h.clock.advance(60_000);
  t.same(h.states('n1').slice(-5), [
    'handed-over→reprovisioning',
    'reprovisioning→provisioning',
    'provisioning→installing',
    'installing→installed',
    'installed→handed-over',
  ]);
  t.ok(h.record('n1').timeline.some((s) => s.step === 'operator-action' && s.detail.action === 'reprovision'));
});

t.test('node table and timeline show state, step, time in step, tries and the last error', async (t) => {
  const now = new Date('2026-11-24T00:10:00Z');
  const base = { known: true, generation: 1, macs: ['52:54:00:00:00:01'], lastStep: { at: '2026-11-24T00:09:00Z', step: 'lifecycle-step' } };
  const text = formatNodeTable(
    [
      {
        ...base,
        id: 'n1',
        state: 'provisioning',
        lifecycle: { step: 'netboot', since: '2026-11-24T00:08:00Z', attempt: 2, lastError: 'never reached the installer (no install script served)' },
      },
      {
        ...base,
        id: 'n2',
        state: 'failed',
        lifecycle: {
          since: '2026-11-24T00:05:00Z',
          attempt: 0,
          failure: { step: 'power', reason: 'BMC https://198.18.80.2: set one-shot PXE: read back BootSourceOverrideEnabled=Disabled after PATCH' },
        },
      },
      { ...base, id: 'n3', state: 'installing' },
    ],
    now,
  );
  t.equal(
    text,
    'NODE  STATE         GEN  IP  MAC                STEP             IN STEP  LAST STEP       AGE  LAST ERROR\n' +
      'n1    provisioning  1    -   52:54:00:00:00:01  netboot (try 2)  2m       lifecycle-step  60s  never reached the installer (no install script served)\n' +
      'n2    failed        1    -   52:54:00:00:00:01  failed at power  -        lifecycle-step  60s  BMC https://198.18.80.2: set one-shot PXE: read back BootSo…\n' +
      'n3    installing    1    -   52:54:00:00:00:01  -                -        lifecycle-step  60s  -\n',
  );
  const h = await harness([bmcNode(1)]);
  h.rack.factory(bmcNode(1), { username: '', password: '' });
  h.rack.server('n1').inventory = { ...h.rack.server('n1').inventory, serial: 'WRONG' };
  h.executor.reconcileAll();
  await h.clock.advance(1_000);
  t.match(
    formatTimeline(h.record('n1')),
    /^node n1: held, generation 1, .*\nlifecycle: idle; held at inventory: serial mismatch: the manifest names SN-n1, the BMC reports WRONG\n/,
  );
  await h.executor.close();
});

t.test('CLI: maskin-agent node ID ACTION posts the action and says why when refused', async (t) => {
  const { h, app } = await setup(t);
  h.executor.reconcileAll();
  await h.clock.advance(90_000);
  const address = await app.listen({ host: '127.0.0.1', port: 0 });
  const run = async (args: string[]): Promise<{ code: number; out: string; err: string }> => {
    try {
      const { stdout, stderr } = await promisify(execFile)(process.execPath, [cliPath, ...args], { env: { ...process.env, MASKIN_ADMIN_TOKEN: '' } });
      return { code: 0, out: stdout, err: stderr };
    } catch (e) {
      const err = e as { code: number; stdout: string; stderr: string };
      return { code: err.code, out: err.stdout, err: err.stderr };
    }
  };
  const ok = await run(['node', 'n1', 'reprovision', '--url', address]);
  t.equal(ok.code, 0, ok.err);
  t.match(ok.out, /reprovision of node n1 accepted/);
  await h.clock.advance(1);
  t.ok(h.states('n1').includes('handed-over→reprovisioning'), 'the agent acted on it');
  const refused = await run(['node', 'n1', 'provision', '--url', address]);
  t.equal(refused.code, 1);
  t.match(refused.err, /maskin-agent: the node is already being provisioned/);
  const usage = await run(['node', 'n1', 'explode', '--url', address]);
  t.equal(usage.code, 2);
  const table = await run(['nodes', '--url', address]);
  t.equal(table.code, 0, table.err);
  t.match(table.out, /^NODE +STATE +GEN +IP +MAC +STEP +IN STEP/);
  t.match(table.out, /\nn2 +provisioning .* netboot \(try 2\)/);
});
