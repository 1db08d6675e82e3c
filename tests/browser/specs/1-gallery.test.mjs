// The demo site: uploads through the form, refusals, the image page, paging
// and viewing and uploading without JavaScript.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  eventually, isNodeUrl, makeImage, openBrowser, screenshot, textFile, tracker, uploadRaw,
} from './lib.mjs';

describe('demo site', () => {
  let browser;
  let page;

  before(async () => {
    browser = await openBrowser();
    page = await browser.page();
  });
  after(async () => browser && browser.close());

  test('uploads two images through the form and shows them from their nodes', async () => {
    await page.goto(`${tracker}/`);
    assert.equal(await page.locator('h1').textContent(), 'Gallery');
    const a = makeImage(0, { width: 160, height: 120 });
    const b = makeImage(1, { width: 120, height: 160, ext: 'jpg' });
    await page.setInputFiles('#file-input', [a.file, b.file]);

    const done = page.locator('.upload-item.is-done');
    await done.nth(1).waitFor();
    assert.equal(await done.count(), 2);
    for (const item of await done.all()) {
      assert.equal(await item.locator('progress').evaluate((p) => p.value), 100);
      assert.match(await item.locator('.upload-msg a').getAttribute('href'), /^\/images\/[A-Za-z0-9_-]+$/);
    }

    // The gallery refreshes itself with the new images, marked as new.
    const fresh = page.locator('#gallery .card.is-new');
    await eventually(async () => (await fresh.count()) === 2, 10000, 'two new cards');
    for (const card of await fresh.all()) {
      const img = card.locator('img');
      const src = await img.getAttribute('src');
      assert.ok(isNodeUrl(src), `${src} is not on a node`);
      await eventually(() => img.evaluate((el) => el.complete && el.naturalWidth > 0), 5000, `${src} to load`);
    }
    const sizes = await fresh.locator('.card-dims').allTextContents();
    assert.deepEqual(sizes.sort(), ['120 × 160', '160 × 120']);
    assert.deepEqual(browser.errors, []);
  });

  test('refuses a text file and shows the API\'s message', async () => {
    // What the tracker says to the request the page sends for a non-image.
    const expected = await uploadRaw(Buffer.from('shopping list: milk, eggs\n'), 'application/octet-stream');
    assert.equal(expected.status, 415);
    assert.match(expected.body.error.message, /not an image/);

    await page.setInputFiles('#file-input', textFile());
    const refused = page.locator('.upload-item.is-error');
    await refused.waitFor();
    assert.equal(await refused.locator('.upload-name').textContent(), 'notes.txt');
    assert.equal(await refused.locator('.upload-msg').textContent(), expected.body.error.message);
    assert.equal(await refused.locator('.upload-msg').getAttribute('role'), 'alert');
    assert.equal(await refused.locator('.upload-state').textContent(), 'Refused');
    await screenshot(page, 'gallery-uploads');
  });

  test('uploads a file dropped on the drop zone', async () => {
    const c = makeImage(2, { width: 200, height: 100 });
    const dataTransfer = await page.evaluateHandle(({ b64, name }) => {
      const bytes = Uint8Array.from(atob(b64), (ch) => ch.charCodeAt(0));
      const dt = new DataTransfer();
      dt.items.add(new File([bytes], name, { type: 'image/png' }));
      return dt;
    }, { b64: c.bytes.toString('base64'), name: c.name });
    await page.dispatchEvent('#upload-form', 'dragenter', { dataTransfer });
    assert.match(await page.locator('#upload-form').getAttribute('class'), /is-dragging/);
    await page.dispatchEvent('#upload-form', 'drop', { dataTransfer });
    const item = page.locator('.upload-item', { hasText: c.name });
    await eventually(async () => /is-done/.test(await item.getAttribute('class')), 10000, 'dropped upload');
    await eventually(async () => (await page.locator('#gallery .card.is-new').count()) === 1, 10000, 'new card');
    assert.equal(await page.locator('#gallery .card.is-new .card-dims').textContent(), '200 × 100');
  });

  test('an image page shows its metadata and direct URL', async () => {
    const first = page.locator('#gallery .card').first();
    const id = await first.getAttribute('data-id');
    const src = await first.locator('img').getAttribute('src');
    await first.locator('a').click();
    await page.waitForURL(`${tracker}/images/${id}`);
    const meta = Object.fromEntries(await page.locator('.meta dt').evaluateAll((dts) =>
      dts.map((dt) => [dt.textContent, dt.nextElementSibling.textContent.trim()])));
    assert.equal(meta.ID, id);
    assert.equal(meta.Dimensions, '200 × 100');
    assert.match(meta.Type, /^PNG/);
    assert.match(meta.Size, /\(\d+ bytes\)/);
    assert.match(meta['Served by'], /^n[123] \(#\d+\)$/);
    assert.match(meta.Copies, /^1 /);
    assert.match(meta['SHA-256'], /^[0-9a-f]{64}$/);
    assert.equal(await page.locator('#direct-url').inputValue(), src);
    assert.equal(await page.locator('.detail-figure img').getAttribute('src'), src);
    assert.equal(await page.locator('a[href^="/i/"]').getAttribute('href'), `/i/${id}`);
    await screenshot(page, 'image-page');
  });

  test('pages through older images', async () => {
    // 24 a page: fill past one page through the API.
    const variants = [0, 1, 2, 3, 4, 5].map((seed) => makeImage(seed, { width: 96, height: 72 }));
    for (let i = 0; i < 24; i++) {
      assert.equal((await uploadRaw(variants[i % variants.length].bytes, 'image/png')).status, 201);
    }
    await page.goto(`${tracker}/`);
    const next = page.locator('a[rel="next"]');
    assert.equal(await next.getAttribute('href'), '/?page=2');
    assert.equal(await page.locator('#gallery .card').count(), 24);
    await next.click();
    await page.waitForURL(`${tracker}/?page=2`);
    assert.ok((await page.locator('#gallery .card').count()) >= 3);
    assert.equal(await page.locator('a[rel="prev"]').getAttribute('href'), '/');
    assert.equal(await page.locator('a[rel="next"]').count(), 0);
    await page.locator('a[rel="prev"]').click();
    await page.waitForURL(`${tracker}/`);
  });

  test('viewing and uploading work without JavaScript', async () => {
    const plain = await openBrowser({ javaScriptEnabled: false });
    try {
      const p = await plain.page();
      await p.goto(`${tracker}/`);
      const imgs = p.locator('#gallery .card img');
      assert.equal(await imgs.count(), 24);
      for (const src of await imgs.evaluateAll((els) => els.map((e) => e.getAttribute('src')))) {
        assert.ok(isNodeUrl(src), `${src} is not on a node`);
      }
      // The form still posts the file (field `file`) without a script.
      assert.equal(await p.locator('#upload-form').getAttribute('action'), '/v1/images');
      assert.equal(await p.locator('#file-input').getAttribute('name'), 'file');
      assert.ok(await p.locator('#upload-submit').isVisible());
      await p.locator('#gallery .card a').first().click();
      await p.waitForURL(/\/images\/[A-Za-z0-9_-]+$/);
      assert.equal(await p.locator('h1').textContent(), 'Image details');

      // Posted without a script, the form leads to the new image's page...
      await p.goto(`${tracker}/`);
      const img = makeImage(7, { width: 64, height: 48 });
      await p.setInputFiles('#file-input', img.file);
      await p.locator('#upload-submit').click();
      await p.waitForURL(/\/images\/[A-Za-z0-9_-]+$/);
      assert.equal(await p.locator('h1').textContent(), 'Image details');
      assert.ok((await p.locator('main').textContent()).includes('64 × 48'));
      // ...or to a page that says why not.
      await p.goto(`${tracker}/`);
      await p.setInputFiles('#file-input', textFile());
      await p.locator('#upload-submit').click();
      await p.waitForURL(`${tracker}/v1/images`);
      assert.equal(await p.locator('.empty-title').textContent(), 'The image was not stored');
      assert.match(await p.locator('main').textContent(), /not an image/);
    } finally {
      await plain.close();
    }
  });

  test('is usable from the keyboard', async () => {
    await page.goto(`${tracker}/`);
    await screenshot(page, 'gallery');
    await page.setViewportSize({ width: 390, height: 844 });
    await screenshot(page, 'gallery-mobile');
    await page.setViewportSize({ width: 1280, height: 860 });
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement.className), 'skip-link');
    // The file input is reachable and its drop zone shows focus.
    await page.focus('#file-input');
    const outline = await page.locator('#upload-form').evaluate((f) => getComputedStyle(f).outlineStyle);
    assert.equal(outline, 'solid');
    for (const img of await page.locator('img').all()) assert.ok((await img.getAttribute('alt')) !== null);
    // Tab order reaches the first image card after the upload form.
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement.className), 'card-link');
    const ring = await page.locator('#gallery .card').first().evaluate((c) => getComputedStyle(c).outlineStyle);
    assert.equal(ring, 'solid');
    await page.keyboard.press('Enter');
    await page.waitForURL(/\/images\/[A-Za-z0-9_-]+$/);
  });
});
