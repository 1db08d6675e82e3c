// Helpers shared by the specs: the cluster that ./run started, Chromium,
// test images made with vips, and screenshots.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';

function required(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run the specs through tests/browser/run`);
  return value;
}

export const tracker = required('IMGSTORE_TRACKER_URL');
export const adminToken = required('IMGSTORE_ADMIN_TOKEN');
// [{name, pid, url}] of the nodes ./run started.
export const nodes = JSON.parse(required('IMGSTORE_NODES'));
export const outputDir = process.env.TEST_OUTPUT || path.resolve('test-output/browser');
const work = process.env.IMGSTORE_BROWSER_WORK || os.tmpdir();

// Chromium from Debian, each launch with a profile of its own.
export async function openBrowser(contextOptions = {}) {
  const profile = fs.mkdtempSync(path.join(work, 'profile-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1280, height: 860 },
    colorScheme: 'light',
    ...contextOptions,
  });
  context.setDefaultTimeout(15000);
  const errors = [];
  context.on('weberror', (e) => errors.push(String(e.error())));
  return {
    context,
    errors,  // uncaught exceptions in the pages: a spec checks it is empty
    async page() { return context.pages()[0] || context.newPage(); },
    async close() {
      await context.close();
      fs.rmSync(profile, { recursive: true, force: true });
    },
  };
}

// The admin API, for arranging and checking what the pages show.
export async function api(method, urlPath, body) {
  const res = await fetch(`${tracker}${urlPath}`, {
    method,
    headers: {
      Authorization: `Bearer ${adminToken}`,
      ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

export async function uploadRaw(bytes, contentType) {
  const res = await fetch(`${tracker}/v1/images`, {
    method: 'POST', headers: { 'Content-Type': contentType }, body: bytes,
  });
  return { status: res.status, body: await res.json() };
}

export const servers = async () => (await api('GET', '/v1/servers')).body.servers;

// A colourful gradient PNG (or JPEG) made by vips, different for each seed.
let made = 0;
export function makeImage(seed, { width = 160, height = 120, ext = 'png' } = {}) {
  const dir = fs.mkdtempSync(path.join(work, 'img-'));
  const v = (name) => path.join(dir, `${name}.v`);
  const vips = (...args) => execFileSync('vips', args.map(String), { stdio: ['ignore', 'ignore', 'pipe'] });
  vips('xyz', v('xy'), width, height);
  vips('extract_band', v('xy'), v('x'), 0);
  vips('extract_band', v('xy'), v('y'), 1);
  vips('linear', v('x'), v('xs'), 230 / width, 25, '--uchar');
  vips('linear', v('y'), v('ys'), 230 / height, 25, '--uchar');
  vips('black', v('k'), width, height);
  vips('linear', v('k'), v('ks'), 1, (seed * 67 + 40) % 256, '--uchar');
  const orders = [['xs', 'ys', 'ks'], ['ks', 'xs', 'ys'], ['ys', 'ks', 'xs'], ['xs', 'ks', 'ys'],
    ['ks', 'ys', 'xs'], ['ys', 'xs', 'ks']];
  const file = path.join(dir, `test-${seed}-${made++}.${ext}`);
  vips('bandjoin', orders[seed % orders.length].map(v).join(' '), file);
  const bytes = fs.readFileSync(file);
  for (const f of fs.readdirSync(dir)) if (f.endsWith('.v')) fs.rmSync(path.join(dir, f));
  return { file, bytes, name: path.basename(file), width, height };
}

export function textFile() {
  const file = path.join(fs.mkdtempSync(path.join(work, 'txt-')), 'notes.txt');
  fs.writeFileSync(file, 'shopping list: milk, eggs\n');
  return file;
}

export async function screenshot(page, name) {
  fs.mkdirSync(outputDir, { recursive: true });
  const file = path.join(outputDir, `${name}.png`);
  // Lazy images below the fold would be blank in a full-page shot.
  await page.evaluate(async () => {
    const imgs = Array.from(document.images);
    for (const img of imgs) img.loading = 'eager';
    await Promise.race([
      Promise.all(imgs.map((img) => (img.complete ? null : new Promise((r) => { img.onload = r; img.onerror = r; })))),
      new Promise((r) => setTimeout(r, 3000)),
    ]);
  });
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

// Polls fn until it returns a truthy value or `ms` pass.
export async function eventually(fn, ms = 10000, what = 'condition') {
  const deadline = Date.now() + ms;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${last}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

export const isNodeUrl = (url) => nodes.some((n) => url.startsWith(`${n.url}/`));
