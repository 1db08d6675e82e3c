// imgstore demo site: uploads with progress on the gallery, and the copy
// button on an image's page. Viewing works without this script; it only adds.
'use strict';

(() => {
  document.documentElement.classList.add('js');

  const MAX_PARALLEL = 3;  // uploads in flight at once; the rest wait their turn

  function formatBytes(n) {
    if (n < 1024) return `${n} B`;
    const units = ['KiB', 'MiB', 'GiB', 'TiB'];
    let v = n;
    let u = -1;
    while (v >= 1024 && u < units.length - 1) {
      v /= 1024;
      u += 1;
    }
    return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[u]}`;
  }

  function el(tag, props = {}, children = []) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props)) {
      if (key === 'class') node.className = value;
      else if (key === 'text') node.textContent = value;
      else node.setAttribute(key, value);
    }
    for (const child of children) node.append(child);
    return node;
  }

  // The API's error text, from `{"error":{"code","message"}}`, or a fallback.
  function apiError(xhr) {
    try {
      const body = JSON.parse(xhr.responseText);
      if (body && body.error && body.error.message) {
        return { code: body.error.code || '', message: body.error.message };
      }
    } catch (_) {
      // not JSON: fall through
    }
    return { code: '', message: `The tracker answered ${xhr.status} ${xhr.statusText || ''}`.trim() };
  }

  // ---- copy buttons (image page) ----
  for (const button of document.querySelectorAll('[data-copy]')) {
    const input = document.getElementById(button.dataset.copy);
    if (!input || !navigator.clipboard) continue;
    button.hidden = false;
    button.addEventListener('click', async () => {
      try {
        await navigator.clipboard.writeText(input.value);
        button.textContent = 'Copied';
      } catch (_) {
        input.select();
        button.textContent = 'Press Ctrl+C';
      }
      setTimeout(() => { button.textContent = 'Copy'; }, 2000);
    });
  }

  // ---- uploads (gallery) ----
  const form = document.getElementById('upload-form');
  const input = document.getElementById('file-input');
  const list = document.getElementById('upload-list');
  if (!form || !input || !list) return;

  const status = document.getElementById('upload-status');
  const queue = [];
  let running = 0;
  let batchIds = [];
  let batchRefused = 0;

  function addFiles(files) {
    for (const file of files) {
      const item = makeItem(file);
      list.prepend(item.li);
      queue.push({ file, item });
    }
    pump();
  }

  function makeItem(file) {
    const preview = el('img', { class: 'upload-preview', alt: '' });
    if (file.type.startsWith('image/') && file.size < 20 * 1024 * 1024) {
      const url = URL.createObjectURL(file);
      preview.src = url;
      preview.addEventListener('load', () => URL.revokeObjectURL(url), { once: true });
      preview.addEventListener('error', () => { preview.removeAttribute('src'); }, { once: true });
    }
    const name = el('span', { class: 'upload-name', text: file.name || 'pasted image', title: file.name });
    const state = el('span', { class: 'upload-state', text: `Waiting · ${formatBytes(file.size)}` });
    const progress = el('progress', { max: '100', value: '0', 'aria-label': `Upload progress of ${file.name}` });
    const msg = el('p', { class: 'upload-msg' });
    const li = el('li', { class: 'upload-item is-waiting' }, [preview, name, state, progress, msg]);
    return { li, state, progress, msg, name };
  }

  function pump() {
    while (running < MAX_PARALLEL && queue.length > 0) {
      const job = queue.shift();
      running += 1;
      upload(job.file, job.item).finally(() => {
        running -= 1;
        if (running === 0 && queue.length === 0) batchDone();
        else pump();
      });
    }
  }

  function upload(file, item) {
    return new Promise((resolve) => {
      const xhr = new XMLHttpRequest();
      item.li.className = 'upload-item is-uploading';
      item.state.textContent = 'Uploading…';
      xhr.upload.addEventListener('progress', (e) => {
        if (!e.lengthComputable) return;
        const pct = Math.round((e.loaded / e.total) * 100);
        item.progress.value = pct;
        item.state.textContent = `${pct}% of ${formatBytes(e.total)}`;
      });
      xhr.addEventListener('load', () => {
        if (xhr.status === 201) {
          let body = {};
          try { body = JSON.parse(xhr.responseText); } catch (_) { /* keep {} */ }
          item.progress.value = 100;
          item.li.className = 'upload-item is-done';
          item.li.dataset.id = body.id || '';
          item.state.textContent = 'Stored';
          item.msg.replaceChildren();
          const dims = body.width && body.height ? `${body.width} × ${body.height}, ` : '';
          item.msg.append(`${dims}${formatBytes(body.bytes || file.size)} · `);
          if (body.id) {
            item.msg.append(el('a', { href: `/images/${encodeURIComponent(body.id)}`, text: 'View details' }));
            batchIds.push(body.id);
          }
        } else {
          fail(item, apiError(xhr));
        }
        resolve();
      });
      xhr.addEventListener('error', () => {
        fail(item, { code: '', message: 'Could not reach the tracker. Check your connection and try again.' });
        resolve();
      });
      xhr.addEventListener('abort', () => {
        fail(item, { code: '', message: 'Upload cancelled.' });
        resolve();
      });
      xhr.open('POST', '/v1/images');
      // Raw body. The browser guesses types from file names (and knows none
      // for some formats), so only its image/* guesses are passed on; any
      // other file goes as octet-stream and the tracker judges its bytes,
      // which gives the person the real reason ("not an image: ...").
      xhr.setRequestHeader('Content-Type', file.type.startsWith('image/') ? file.type : 'application/octet-stream');
      xhr.setRequestHeader('Accept', 'application/json');
      xhr.send(file);
    });
  }

  function fail(item, error) {
    batchRefused += 1;
    item.li.className = 'upload-item is-error';
    item.progress.hidden = true;
    item.state.textContent = 'Refused';
    item.msg.setAttribute('role', 'alert');
    item.msg.textContent = error.message;
    if (error.code) item.msg.title = error.code;
  }

  // Shows the new images: the newest page, rendered by the server, replaces
  // the gallery, so script and server never disagree on how a card looks.
  async function batchDone() {
    const ids = batchIds;
    const refused = batchRefused;
    batchIds = [];
    batchRefused = 0;
    // One announcement a batch for screen readers, not one per progress step.
    const parts = [];
    if (ids.length) parts.push(`${ids.length} image${ids.length === 1 ? '' : 's'} uploaded`);
    if (refused) parts.push(`${refused} refused`);
    if (status) status.textContent = `${parts.join(', ')}.`;
    if (ids.length === 0) return;
    try {
      const res = await fetch('/', { headers: { Accept: 'text/html' }, cache: 'no-store' });
      if (!res.ok) return;
      const doc = new DOMParser().parseFromString(await res.text(), 'text/html');
      const fresh = doc.getElementById('gallery');
      const current = document.getElementById('gallery');
      if (!fresh || !current) return;
      current.replaceWith(document.adoptNode(fresh));
      const summary = doc.getElementById('gallery-summary');
      const mine = document.getElementById('gallery-summary');
      if (summary && mine) mine.textContent = summary.textContent;
      for (const card of document.querySelectorAll('#gallery .card')) {
        if (ids.includes(card.dataset.id)) card.classList.add('is-new');
      }
      if (location.search) history.replaceState(null, '', '/');
    } catch (_) {
      // The uploads succeeded and each row links to its image; a failed
      // refresh only means the grid shows them on the next reload.
    }
  }

  input.addEventListener('change', () => {
    if (input.files && input.files.length) addFiles(Array.from(input.files));
    input.value = '';
  });

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    if (input.files && input.files.length) addFiles(Array.from(input.files));
  });

  let depth = 0;
  const hasFiles = (e) => e.dataTransfer && Array.from(e.dataTransfer.types || []).includes('Files');
  form.addEventListener('dragenter', (e) => {
    if (!hasFiles(e)) return;
    e.preventDefault();
    depth += 1;
    form.classList.add('is-dragging');
  });
  form.addEventListener('dragover', (e) => {
    if (!hasFiles(e)) return;
    e.preventDefault();
    e.dataTransfer.dropEffect = 'copy';
  });
  form.addEventListener('dragleave', () => {
    depth = Math.max(0, depth - 1);
    if (depth === 0) form.classList.remove('is-dragging');
  });
  form.addEventListener('drop', (e) => {
    e.preventDefault();
    depth = 0;
    form.classList.remove('is-dragging');
    if (e.dataTransfer && e.dataTransfer.files.length) addFiles(Array.from(e.dataTransfer.files));
  });
  // A file dropped beside the zone should not make the browser leave the page.
  window.addEventListener('dragover', (e) => { if (hasFiles(e)) e.preventDefault(); });
  window.addEventListener('drop', (e) => { if (hasFiles(e)) e.preventDefault(); });

  // Pasting an image (Ctrl+V) uploads it too.
  window.addEventListener('paste', (e) => {
    const files = Array.from((e.clipboardData && e.clipboardData.files) || []);
    if (files.length) addFiles(files);
  });
})();
