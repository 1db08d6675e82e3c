// The dashboard: the token, live rows, drain/enable, add/remove, the chart.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  adminToken, api, eventually, makeImage, nodes, openBrowser, screenshot, servers, tracker, uploadRaw,
} from './lib.mjs';

const row = (page, name) => page.locator('#servers-body tr', { hasText: name });

describe('dashboard', () => {
  let browser;
  let page;

  before(async () => {
    browser = await openBrowser();
    page = await browser.page();
  });
  after(async () => browser && browser.close());

  test('asks for the admin token, refuses a wrong one, then shows every server', async () => {
    await page.goto(`${tracker}/admin`);
    await page.locator('#auth').waitFor();
    assert.ok(await page.locator('#dashboard').isHidden());
    // The field has a label and takes focus.
    assert.equal(await page.locator('label[for="auth-token"]').textContent(), 'Admin token');
    assert.equal(await page.evaluate(() => document.activeElement.id), 'auth-token');

    await page.fill('#auth-token', 'wrong-token');
    await page.press('#auth-token', 'Enter');
    await eventually(async () => /refused/.test(await page.locator('#auth-reason').textContent()), 5000, 'refusal');
    assert.ok(await page.locator('#auth').isVisible());

    await page.fill('#auth-token', adminToken);
    await page.press('#auth-token', 'Enter');
    await page.locator('#dashboard').waitFor();
    await eventually(async () => (await page.locator('#servers-body tr').count()) === nodes.length, 5000, 'rows');
    for (const n of nodes) {
      const r = row(page, n.url);
      assert.equal(await r.locator('.server-name').textContent(), n.name);
      assert.equal(await r.locator('.cell-health .badge').textContent(), 'Up');
      assert.equal(await r.locator('.cell-health .state').textContent(), 'active');
      assert.match(await r.locator('.cell-hb').textContent(), /s ago$/);
      assert.match(await r.locator('.cell-images').textContent(), /^\d+ \/ (60|90|150)$/);
    }
    assert.equal(await page.evaluate(() => sessionStorage.getItem('imgstore.adminToken')), adminToken);
  });

  test('takes the token from #token= and keeps it out of the address bar', async () => {
    const other = await openBrowser();
    try {
      const p = await other.page();
      await p.goto(`${tracker}/admin#token=${encodeURIComponent(adminToken)}`);
      await p.locator('#servers-body tr').first().waitFor();
      assert.equal(p.url(), `${tracker}/admin`);
      assert.equal(await p.evaluate(() => sessionStorage.getItem('imgstore.adminToken')), adminToken);
      assert.ok(await p.locator('#auth').isHidden());
    } finally {
      await other.close();
    }
  });

  test('shows cluster totals and the images per server', async () => {
    const list = await servers();
    // One copy per image here (--replicas 1): as many images as copies.
    const images = list.reduce((a, s) => a + s.cur_pic_amount, 0);
    await eventually(async () => (await page.locator('#t-images').textContent()) === images.toLocaleString('en-US'),
      6000, 'image total');
    const { totals } = (await api('GET', '/v1/servers')).body;
    assert.equal(totals.images, images);
    assert.equal(totals.copies, images);
    assert.equal(await page.locator('#t-servers').textContent(), String(nodes.length));
    assert.equal(await page.locator('#t-usable').textContent(), String(nodes.length));
    // One copy per image here (the browser cluster runs --replicas 1), none owed.
    assert.equal(await page.locator('#t-repair').textContent(), 'complete');
    assert.match(await page.locator('#t-repair-sub').textContent(), /^1 per image/);
    const label = await page.locator('#chart svg').getAttribute('aria-label');
    for (const s of list) assert.ok(label.includes(`${s.server_name} ${s.cur_pic_amount} images`), label);
    // Every node got some of the uploads: the load is spread.
    assert.ok(list.every((s) => s.cur_pic_amount > 0), JSON.stringify(list.map((s) => s.cur_pic_amount)));
  });

  test('drains a server and enables it again', async () => {
    const target = nodes[0];
    const r = row(page, target.url);
    await r.getByRole('button', { name: `Drain ${target.name}` }).click();
    await eventually(async () => (await r.getAttribute('data-state')) === 'draining', 6000, 'draining');
    assert.equal(await r.locator('.cell-health .state').textContent(), 'draining');
    assert.match(await page.locator('#flash').textContent(), new RegExp(`${target.name} is now draining`));
    const s = (await servers()).find((x) => x.server_url === target.url);
    assert.equal(s.state, 'draining');
    // Focus stays on the row's buttons for keyboard users.
    assert.equal(await page.evaluate(() => document.activeElement.closest('tr')?.dataset.state), 'draining');
    await screenshot(page, 'dashboard-draining');

    await r.getByRole('button', { name: `Activate ${target.name}` }).click();
    await eventually(async () => (await r.getAttribute('data-state')) === 'active', 6000, 'active again');
    assert.equal((await servers()).find((x) => x.server_url === target.url).state, 'active');
  });

  test('refuses a name that is markup, adds a server, and removes it', async () => {
    const hostile = '<img src=x onerror="window.__pwned=1">';
    const url = 'http://127.0.0.1:9/';  // nothing listens there; it never becomes usable
    await page.fill('#add-url', url);
    await page.fill('#add-name', hostile);
    await page.click('#add-form button[type="submit"]');
    // The tracker's refusal is what the operator reads; nothing is added,
    // and nothing of the name runs.
    const alert = page.locator('#flash [role="alert"]');
    await alert.waitFor();
    assert.match(await alert.textContent(), /a server name has letters, digits/);
    assert.equal(await page.evaluate(() => window.__pwned), undefined);
    assert.equal(await page.locator('#servers-body img').count(), 0);
    assert.ok(!(await servers()).some((s) => s.server_url === url.slice(0, -1)));

    const name = 'spare-9';
    await page.fill('#add-url', url);
    await page.fill('#add-name', name);
    await page.click('#add-form button[type="submit"]');
    const r = page.locator('#servers-body tr', { hasText: name });
    await r.waitFor();
    assert.equal(await r.locator('.server-name').textContent(), name);
    assert.equal(await r.locator('.cell-health .badge').textContent(), 'Down');

    page.once('dialog', (d) => d.accept());
    await r.getByRole('button', { name: /^Remove / }).click();
    await eventually(async () => (await r.count()) === 0, 6000, 'row removed');
    assert.ok(!(await servers()).some((s) => s.server_name === name && s.state !== 'removed'));
  });

  test('shows the tracker\'s message when removing a server that holds images', async () => {
    const busy = (await servers()).find((s) => s.cur_pic_amount > 0);
    const answer = await api('DELETE', `/v1/servers/${busy.server_id}`);
    assert.equal(answer.status, 409);
    // No Remove button is offered for it ...
    assert.equal(await row(page, busy.server_url).getByRole('button', { name: /^Remove / }).count(), 0);
    // ... and if the server fills between a refresh and the click, the
    // tracker's 409 message is what the operator reads.
    await page.route(`**/v1/servers/*`, (route) => (route.request().method() === 'DELETE'
      ? route.fulfill({ status: 409, contentType: 'application/json', body: JSON.stringify(answer.body) })
      : route.continue()));
    await page.fill('#add-url', 'http://127.0.0.1:10/');
    await page.fill('#add-name', 'spare');
    await page.click('#add-form button[type="submit"]');
    const spare = page.locator('#servers-body tr', { hasText: 'spare' });
    page.once('dialog', (d) => d.accept());
    await spare.getByRole('button', { name: 'Remove spare' }).click();
    const alert = page.locator('#flash [role="alert"]');
    await alert.waitFor();
    assert.ok((await alert.textContent()).includes(answer.body.error.message));
    await page.unroute('**/v1/servers/*');
    page.once('dialog', (d) => d.accept());
    await spare.getByRole('button', { name: 'Remove spare' }).click();
    await eventually(async () => (await spare.count()) === 0, 6000, 'spare removed');
  });

  test('charts where new uploads go while it is open', async () => {
    await page.reload();
    await page.locator('#servers-body tr').first().waitFor();
    await page.waitForTimeout(300);
    const img = makeImage(4, { width: 64, height: 48 });
    for (let i = 0; i < 12; i++) assert.equal((await uploadRaw(img.bytes, 'image/png')).status, 201);
    await eventually(async () => /12 new images since this page opened/.test(await page.locator('#chart-note').textContent()),
      6000, 'the chart to count the uploads');
    const label = await page.locator('#chart svg').getAttribute('aria-label');
    assert.match(label, /% of recent uploads/);
  });

  test('screenshots', async () => {
    await page.waitForTimeout(2200);  // a refresh: live indicator and chart settled
    await screenshot(page, 'dashboard');
    await page.setViewportSize({ width: 390, height: 844 });
    await page.waitForTimeout(2200);
    await screenshot(page, 'dashboard-mobile');
    await page.setViewportSize({ width: 1280, height: 860 });
    assert.deepEqual(browser.errors, []);
  });
});
