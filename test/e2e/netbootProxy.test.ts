// VM tier: the agent as proxyDHCP next to a foreign DHCP server (Debian's Kea, addresses only, no
// boot options) on the segment. A SeaBIOS + iPXE ROM machine (dhcp.mode: proxy) and an OVMF
// machine with firmware PXE (dhcp.mode: auto, which must pick proxy) take their address from Kea
// and their boot file from the agent, install through the agent and then boot from their disks.
// The agent leases nothing; it binds each node to the address the node showed on port 4011.
// Racks 198.18.223.0/24 and 198.18.224.0/24.
import t, { type Test } from 'tap';
import type { AgentStatus } from '../../agent/http/admin.js';
import type { NodeRecord } from '../../agent/nodes/model.js';
import { startForeignDhcp, type ForeignDhcp } from '../bed/foreignDhcp.js';
import { startVm } from '../bed/qemu.js';
import { assertStepsInOrder, rackWithAgent } from './scenario.js';

const KEA_FIRST = 50;
const KEA_LAST = 90;

async function proxyBoot(t: Test, o: { tag: string; octet: number; firmware: 'bios' | 'uefi'; mode: 'proxy' | 'auto'; mac: string }): Promise<void> {
  let kea: ForeignDhcp | undefined;
  const id = `proxy-${o.firmware}`;
  const env = await rackWithAgent(o.tag, o.octet, [{ id, mac: o.mac }], {
    dhcp: `mode: ${o.mode}\nprobeIntervalSeconds: 30`,
    beforeAgent: async (rack) => {
      kea = await startForeignDhcp(rack, { mac: `02:6b:65:61:${o.octet.toString(16)}:01`, first: KEA_FIRST, last: KEA_LAST });
      return () => kea!.stop();
    },
  });
  t.teardown(env.destroy);
  const status = JSON.parse(await env.rack.exec('curl', ['-sf', 'http://127.0.0.1:9180/v1/status'])) as AgentStatus;
  if (o.mode === 'auto') {
    // The first probe's answers are weighed 3 s after start; until then auto is proxy anyway.
    t.equal(status.dhcp?.inForce, 'proxy', 'auto: proxy while Kea answers');
  }
  const vm = await startVm({ rack: env.rack, name: `p${o.firmware[0]}`, firmware: o.firmware, mac: o.mac });
  t.teardown(() => vm.stop());
  const on = Date.now();
  try {
    await vm.waitFor(/MASKIN-STANDIN: installed/, 420_000);
    const installedAt = vm.serial().length;
    await vm.waitFor(new RegExp(`MASKIN-DISK-BOOT ${o.firmware}`), 300_000, installedAt);
  } catch (err) {
    t.comment(`serial:\n${vm.serial().slice(-4000)}\nagent:\n${env.agent.output().slice(-4000)}\nkea:\n${kea?.output().slice(-2000)}`);
    throw err;
  }
  t.comment(`${o.firmware} power-on to booted from disk, proxyDHCP beside Kea: ${Math.round((Date.now() - on) / 1000)} s`);
  const node = await env.agent.waitForNode(id, (n) => n.state === 'installed' && n.timeline.some((s) => s.step === 'boot-local-served'), 30_000);
  const steps = node.timeline.map((s) => s.step);
  assertStepsInOrder(t, steps, ['dhcp-offer', 'script-served', 'asset-download', 'config-served', 'install-reported', 'boot-local-served']);
  const offers = node.timeline.filter((s) => s.step === 'dhcp-offer');
  t.ok(
    offers.length > 0 && offers.every((s) => s.detail.proxy === true && s.detail.ip === undefined),
    'every offer the agent made was a proxy offer: no address',
  );
  const record = JSON.parse(await env.rack.exec('curl', ['-sf', `http://127.0.0.1:9180/v1/nodes/${id}`])) as NodeRecord & { leases: { ip: string }[] };
  const last = Number(record.leases[0]?.ip.split('.')[3]);
  t.ok(last >= KEA_FIRST && last <= KEA_LAST, `the node's address ${record.leases[0]?.ip} is from Kea's pool, bound from its port-4011 request`);
  t.match(kea!.output(), new RegExp(`DHCP4_LEASE_ALLOC.*hwtype=1 ${o.mac}`), 'Kea leased it');
  const metrics = await env.rack.exec('curl', ['-sf', 'http://127.0.0.1:9180/metrics']);
  t.match(metrics, /^maskin_dhcp_proxy 1$/m, 'proxy in force');
  const gaps = node.timeline
    .filter((s) => s.step === 'script-served' || s.step === 'boot-local-served')
    .map((s) => s.detail.afterDhcpAckMs)
    .filter((g) => g !== undefined);
  t.comment(`boot-server ACK → script request: ${gaps.join(', ')} ms`);
  t.ok(
    gaps.length >= 2 && gaps.every((g) => typeof g === 'number' && g < 2000),
    'iPXE asked for its script within 2 s of its proxy ACK, on both passes (router advertisements)',
  );
  t.comment(await env.agent.cli(['nodes', id]));
}

t.test('SeaBIOS machine installs through the agent in proxy mode beside Kea', (t) =>
  proxyBoot(t, { tag: 'pxbios', octet: 223, firmware: 'bios', mode: 'proxy', mac: '52:54:00:6d:df:01' }),
);

t.test('OVMF machine installs through the agent in auto mode, which picks proxy beside Kea', (t) =>
  proxyBoot(t, { tag: 'pxuefi', octet: 224, firmware: 'uefi', mode: 'auto', mac: '52:54:00:6d:e0:01' }),
);
