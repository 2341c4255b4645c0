// The admin listener as a browser meets it: the real agent in a rack namespace with a management
// NIC (oob0), and Debian's Chromium run inside other namespaces (puppeteer over a pipe, since its
// DevTools port would be on the namespace's own loopback). From the management network the status
// page loads and the token logs in; from a host on the provisioning network the admin port is
// closed and the boot server answers 404 for the page. Rack 198.18.87.0/24, management 198.19.87.0/24.
import t from 'tap';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import puppeteer, { type Browser } from 'puppeteer-core';
import { startAgentInRack } from '../bed/agent.js';
import { createRack, sh } from '../bed/netns.js';
import { manifestFor } from '../e2e/scenario.js';

const run = promisify(execFile);
const CHROMIUM = '/usr/bin/chromium';
const TOKEN = 'admin-listener-test-token';
const OOB_AGENT = '198.19.87.1';
const OOB_PEER = '198.19.87.2';

/** Chromium inside namespace `ns`: a wrapper puppeteer launches, talking to it over fds 3 and 4. */
async function browserIn(ns: string, dir: string): Promise<Browser> {
  const wrapper = path.join(dir, `chromium-${ns}`);
  await writeFile(wrapper, `#!/bin/sh\nexec ip netns exec ${ns} ${CHROMIUM} "$@"\n`);
  await chmod(wrapper, 0o755);
  return puppeteer.launch({
    executablePath: wrapper,
    pipe: true,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
  });
}

t.test('the status page answers on the management NIC and never on the provisioning network', async (t) => {
  const rack = await createRack('uiadm', 87);
  const oobNs = `${rack.ns}-o`;
  const dir = await mkdtemp(path.join(tmpdir(), 'maskin-uiadm-'));
  const browsers: Browser[] = [];
  let agent: Awaited<ReturnType<typeof startAgentInRack>> | undefined;
  t.teardown(async () => {
    for (const b of browsers) await b.close().catch(() => undefined);
    await agent?.stop();
    await rack.destroy();
    await run('ip', ['netns', 'del', oobNs]).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  });
  const node = await rack.addHost('n', { address: '198.18.87.50/24' });
  // The management network: oob0 in the rack namespace, an operator's machine at its other end.
  await run('ip', ['netns', 'del', oobNs]).catch(() => undefined);
  await sh('ip', ['netns', 'add', oobNs]);
  await sh('ip', ['-n', rack.ns, 'link', 'add', 'oob0', 'type', 'veth', 'peer', 'name', 'eth0']);
  await sh('ip', ['-n', rack.ns, 'link', 'set', 'eth0', 'netns', oobNs]);
  await sh('ip', ['-n', rack.ns, 'addr', 'add', `${OOB_AGENT}/24`, 'dev', 'oob0']);
  await sh('ip', ['-n', rack.ns, 'link', 'set', 'oob0', 'up']);
  await sh('ip', ['-n', oobNs, 'link', 'set', 'lo', 'up']);
  await sh('ip', ['-n', oobNs, 'addr', 'add', `${OOB_PEER}/24`, 'dev', 'eth0']);
  await sh('ip', ['-n', oobNs, 'link', 'set', 'eth0', 'up']);

  // The default admin.listen: 127.0.0.1 and oob0.
  agent = await startAgentInRack(rack, {
    manifest: manifestFor([{ id: 'uiadm-n1', mac: '52:54:00:6d:87:01' }]),
    assetsDir: dir,
    env: { MASKIN_ADMIN_TOKEN: TOKEN },
  });
  t.match(agent.output(), /admin listener on http:\/\/198\.19\.87\.1:9180\//, 'the agent says where the admin listener is');

  await t.test('from the management network: the page loads and the token logs in', async (t) => {
    const browser = await browserIn(oobNs, dir);
    browsers.push(browser);
    const page = await browser.newPage();
    const res = await page.goto(`http://${OOB_AGENT}:9180/ui`);
    t.equal(res?.status(), 200);
    await page.waitForSelector('#token');
    await page.type('#token', TOKEN);
    await page.click('#login');
    await page.waitForSelector('#nodes tr[data-node="uiadm-n1"]');
    t.match(await page.$eval('#nodes tr[data-node="uiadm-n1"]', (el) => el.textContent), /never-seen/, 'the rack view shows the manifest node');
  });

  await t.test('from the provisioning network: the admin port is closed, the boot server has no page', async (t) => {
    const browser = await browserIn(node, dir);
    browsers.push(browser);
    const page = await browser.newPage();
    await t.rejects(page.goto(`http://${rack.address}:9180/ui`), /net::ERR_CONNECTION_REFUSED/, 'nothing listens on admin.port there');
    const boot = await page.goto(`http://${rack.address}/ui`);
    t.equal(boot?.status(), 404, 'the boot server does not serve the status page');
    t.notMatch(await page.content(), /id="token"/, 'no login form');
    const api = await page.goto(`http://${rack.address}/v1/nodes`);
    t.equal(api?.status(), 404, 'nor the admin API');
    // The page's own address on the management network is not routed from here either.
    await t.rejects(page.goto(`http://${OOB_AGENT}:9180/ui`, { timeout: 10_000 }), /net::ERR_/, 'the management address is not reachable from a node');
  });
});
