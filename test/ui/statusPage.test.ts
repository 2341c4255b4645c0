// The rack status page in a real browser: Debian's Chromium driven by puppeteer-core against the
// admin API on a loopback port, with nodes in several states (the provisioning harness's BMC rack).
// Login (a wrong token refused), the rack view, a node's timeline chart, an action with its
// confirmation (declined, then accepted), a live update without a reload, and the session and
// CSRF rules a browser is held to even on loopback. MASKIN_SCREENSHOTS=DIR also saves the pages.
import t from 'tap';
import { existsSync } from 'node:fs';
import path from 'node:path';
import puppeteer, { type Page } from 'puppeteer-core';
import { parseConfig } from '../../agent/config/load.js';
import { bmcNode, harness, harnessApp, withoutBmc } from '../provision/harness.js';

const CHROMIUM = '/usr/bin/chromium';
const TOKEN = 'ui-test-admin-token';
const config = parseConfig(
  'agentId: edge-ui\nrackId: rack-ui\nprovisioning: { interface: prov0, address: 198.18.86.1, subnet: 198.18.86.0/24 }\ndhcp: { pool: { start: 198.18.86.100, end: 198.18.86.199 } }\n',
  { env: { MASKIN_ADMIN_TOKEN: TOKEN } },
);

async function setup(t: { teardown(fn: () => unknown): void }) {
  // n1 hands over, n2 never reaches its installer (provisioning, retried), n3 has no BMC and never
  // booted (never-seen), n4's BMC reports another serial (held); an unknown machine is discovered.
  const h = await harness([bmcNode(1, { hostname: 'rack-ui-n01' }), bmcNode(2), withoutBmc(bmcNode(3)), bmcNode(4)]);
  h.behaviour.set('n2', { handsOver: false });
  h.rack.factory(bmcNode(4), { username: '', password: '' });
  h.rack.server('n4').inventory = { ...h.rack.server('n4').inventory, serial: 'WRONG' };
  h.nodes.recordFor('52:54:00:aa:bb:01');
  const app = await harnessApp(h, config);
  h.executor.reconcileAll();
  await h.clock.advance(90_000);
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  const browser = await puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    // Root in a container: Chromium's sandbox needs user namespaces it may not get.
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
  });
  t.teardown(async () => {
    await browser.close();
    await app.close();
    await h.executor.close();
  });
  const page = await browser.newPage();
  await page.setViewport({ width: 1280, height: 900 });
  return { h, url, page };
}

const shots = process.env.MASKIN_SCREENSHOTS;
async function screenshot(page: Page, name: string): Promise<void> {
  if (shots) await page.screenshot({ path: path.join(shots, `${name}.png`), fullPage: true });
}

t.test('status page: login, rack view, timeline chart, confirmed action, live update', async (t) => {
  t.ok(existsSync(CHROMIUM), `${CHROMIUM} is there (scripts/setup-debian installs it)`);
  const { h, url, page } = await setup(t);
  await page.goto(`${url}/ui`);
  await page.waitForSelector('#token');
  await screenshot(page, 'login');

  // A wrong token is refused, on the page and by the agent.
  await page.type('#token', 'not-the-token');
  await page.click('#login');
  await page.waitForFunction(() => /login refused: wrong admin token/.test(document.querySelector('#login-error')?.textContent ?? ''));
  await page.$eval('#token', (el) => ((el as HTMLInputElement).value = ''));
  await page.type('#token', TOKEN);
  await page.click('#login');

  // The rack at a glance: nodes by state, problems first.
  await page.waitForSelector('#states .card');
  const states = await page.$$eval('#states .card', (cards) => cards.map((c) => c.getAttribute('data-state')));
  t.ok(states.length >= 5, `states shown: ${states.join(', ')}`);
  for (const s of ['held', 'provisioning', 'discovered', 'never-seen', 'handed-over']) t.ok(states.includes(s), `${s} has a card`);
  t.equal(states[0], 'held', 'the state that needs an operator comes first');
  const order = await page.$$eval('#nodes tr[data-node]', (rows) => rows.map((r) => r.getAttribute('data-node')));
  t.equal(order[0], 'n4', 'the held node leads the table');
  t.match(await page.$eval('#agent-facts', (el) => el.textContent), /Agent edge-ui, rack rack-ui/);
  t.match(await page.$eval('tr[data-node="n4"]', (el) => el.textContent), /held.*serial mismatch/);
  await screenshot(page, 'rack');

  // Live: a new machine appears without a reload.
  await page.evaluate(() => ((window as unknown as { marker: number }).marker = 42));
  const updatesBefore = await page.evaluate(() => (window as unknown as { maskinUpdates: number }).maskinUpdates);
  h.nodes.recordFor('52:54:00:aa:bb:02');
  await page.waitForSelector('tr[data-node="mac-52-54-00-aa-bb-02"]', { timeout: 10_000 });
  t.equal(await page.evaluate(() => (window as unknown as { marker: number }).marker), 42, 'the page was not reloaded');
  t.ok((await page.evaluate(() => (window as unknown as { maskinUpdates: number }).maskinUpdates)) > updatesBefore, 'a server-sent event brought it');

  // A node: its timeline as a chart of boot phases.
  await page.click('tr[data-node="n1"] a');
  await page.waitForSelector('#timeline rect.step');
  const bars = await page.$$eval('#timeline rect.step', (rects) => rects.map((r) => Number(r.getAttribute('width'))));
  t.ok(bars.length >= 3, `${bars.length} bars`);
  t.ok(
    bars.every((w) => w >= 2),
    'every step has a visible bar',
  );
  t.match(await page.$eval('#timeline', (el) => el.textContent), /s in all/);
  await screenshot(page, 'node');

  // An action asks first: declined, nothing happens; accepted, the agent acts.
  const dialogs: string[] = [];
  let accept = false;
  page.on('dialog', (d) => {
    dialogs.push(d.message());
    void (accept ? d.accept() : d.dismiss());
  });
  await page.click('button[data-action="reprovision"]');
  await page.waitForFunction(() => true);
  t.same(dialogs, ['reprovision node n1?']);
  t.notOk(h.states('n1').includes('handed-over→reprovisioning'), 'declined: nothing sent');
  accept = true;
  await page.click('button[data-action="reprovision"]');
  await page.waitForFunction(() => /reprovision accepted/.test(document.querySelector('#action-result')?.textContent ?? ''));
  await h.clock.advance(1);
  t.ok(h.states('n1').includes('handed-over→reprovisioning'), 'accepted: the agent acted');
  await page.click('button[data-action="provision"]');
  await page.waitForFunction(() => /provision refused: /.test(document.querySelector('#action-result')?.textContent ?? ''));
  t.pass("a refused action shows the agent's reason");

  // The session's rules, from inside the page (a browser on loopback is not trusted for it).
  const probe = await page.evaluate(async () => {
    const post = (headers: Record<string, string>) =>
      fetch('/v1/nodes/n2/actions', {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify({ action: 'power-off' }),
        credentials: 'same-origin',
      }).then((r) => r.status);
    const noCsrf = await post({});
    const badCsrf = await post({ 'x-maskin-csrf': 'f'.repeat(64) });
    await fetch('/ui/logout', { method: 'POST', credentials: 'same-origin' });
    const afterLogout = await fetch('/v1/nodes', { credentials: 'same-origin' }).then((r) => r.status);
    return { noCsrf, badCsrf, afterLogout };
  });
  t.same(probe, { noCsrf: 401, badCsrf: 401, afterLogout: 401 }, 'no CSRF token, a wrong one, or no session: refused');
});
