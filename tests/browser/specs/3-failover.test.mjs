// A node dies (kill -9): within ~10 s its images become the default image,
// with a badge, and the dashboard shows it down. Runs last: the node stays dead.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { api, eventually, isNodeUrl, nodes, openBrowser, screenshot, servers, tracker } from './lib.mjs';

describe('a node fails', () => {
  let browser;
  let page;
  let victim;
  let victimIds;

  before(async () => {
    browser = await openBrowser();
    page = await browser.page();
  });
  after(async () => browser && browser.close());

  test('its images become the default image after a reload', async () => {
    await page.goto(`${tracker}/`);
    const ids = await page.locator('#gallery .card').evaluateAll((cards) => cards.map((c) => c.dataset.id));
    assert.ok(ids.length > 0);
    assert.equal(await page.locator('.badge-down').count(), 0);

    // The node holding most of the images on this page dies.
    const where = {};
    for (const id of ids) {
      const { body } = await api('GET', `/v1/images/${id}`);
      for (const r of body.replicas) (where[r.server_id] ||= []).push(id);
    }
    const list = await servers();
    const [serverId] = Object.entries(where).sort((a, b) => b[1].length - a[1].length)[0];
    const server = list.find((s) => String(s.server_id) === serverId);
    victim = nodes.find((n) => n.url === server.server_url.replace(/\/$/, ''));
    assert.ok(victim, `no node started at ${server.server_url}`);
    victimIds = where[serverId];

    const killedAt = Date.now();
    process.kill(victim.pid, 'SIGKILL');

    await eventually(async () => {
      await page.reload();
      return (await page.locator('#gallery .card.is-unavailable').count()) === victimIds.length;
    }, 15000, `${victimIds.length} images of ${victim.name} to show the default image`);
    const seconds = (Date.now() - killedAt) / 1000;
    assert.ok(seconds <= 12, `took ${seconds} s`);

    for (const id of ids) {
      const card = page.locator(`#gallery .card[data-id="${id}"]`);
      const src = await card.locator('img').getAttribute('src');
      if (victimIds.includes(id)) {
        assert.match(src, /\/default-image$/);
        assert.equal(await card.locator('.badge-down').textContent(), 'Server down');
        assert.match(await card.locator('img').getAttribute('alt'), /unavailable/);
      } else {
        assert.ok(isNodeUrl(src) && !src.startsWith(`${victim.url}/`), src);
        assert.equal(await card.locator('.badge-down').count(), 0);
      }
    }
    // The default image itself loads (400 × 300, built in).
    const img = page.locator('#gallery .card.is-unavailable img').first();
    await eventually(() => img.evaluate((el) => el.complete && el.naturalWidth === 400), 5000, 'default image');
    await screenshot(page, 'gallery-node-down');

    await page.goto(`${tracker}/images/${victimIds[0]}`);
    assert.match(await page.locator('.notice-warn').textContent(), /default image is shown/);
    assert.match(await page.locator('.detail-figure img').getAttribute('src'), /\/default-image$/);
    await screenshot(page, 'image-page-node-down');
  });

  test('the dashboard shows it down', async () => {
    await page.goto(`${tracker}/admin#token=${encodeURIComponent(process.env.IMGSTORE_ADMIN_TOKEN)}`);
    const r = page.locator('#servers-body tr', { hasText: victim.url });
    await eventually(async () => (await r.locator('.cell-health .badge').textContent()) === 'Down', 6000, 'down');
    assert.match(await r.getAttribute('class'), /is-down/);
    assert.equal(await page.locator('#t-usable').textContent(), String(nodes.length - 1));
    assert.equal(await page.locator('#t-usable-sub').textContent(), '1 down');
    await page.waitForTimeout(2200);
    await screenshot(page, 'dashboard-node-down');
    assert.deepEqual(browser.errors, []);
  });
});
