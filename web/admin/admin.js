// imgstore dashboard: reads GET /v1/servers every 2 s and draws the server
// table, the totals and the images-per-server chart; its buttons call
// PATCH/POST/DELETE /v1/servers. Every value from the API reaches the page
// through textContent or an attribute, never as markup: names and URLs are
// whatever a node or an operator typed.
'use strict';

(() => {
  const REFRESH_MS = 2000;
  const TOKEN_KEY = 'imgstore.adminToken';
  const SVG_NS = 'http://www.w3.org/2000/svg';

  const $ = (id) => document.getElementById(id);
  const dashboard = $('dashboard');
  const auth = $('auth');
  const authForm = $('auth-form');
  const authToken = $('auth-token');
  const authReason = $('auth-reason');
  const live = $('live');
  const liveText = $('live-text');
  const flashBox = $('flash');
  const tbody = $('servers-body');
  const emptyNote = $('servers-empty');
  const chart = $('chart');
  const chartNote = $('chart-note');
  const addForm = $('add-form');
  const signOut = $('sign-out');

  // ---- token: from #token=..., kept in sessionStorage (this tab only) ----
  function takeTokenFromFragment() {
    const params = new URLSearchParams(location.hash.replace(/^#/, ''));
    const token = params.get('token');
    if (token) {
      sessionStorage.setItem(TOKEN_KEY, token);
      // Keep the secret out of the address bar, history and screenshots.
      history.replaceState(null, '', location.pathname + location.search);
    }
  }
  const token = () => sessionStorage.getItem(TOKEN_KEY) || '';

  class ApiError extends Error {
    constructor(status, code, message) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  async function api(method, path, body) {
    const headers = { Accept: 'application/json' };
    if (token()) headers.Authorization = `Bearer ${token()}`;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    let res;
    try {
      res = await fetch(path, {
        method, headers, cache: 'no-store',
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (_) {
      throw new ApiError(0, 'network', 'Cannot reach the tracker.');
    }
    const text = await res.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch (_) { data = null; }
    if (!res.ok) {
      const err = data && data.error ? data.error : {};
      throw new ApiError(res.status, err.code || '', err.message || `The tracker answered ${res.status}.`);
    }
    return data;
  }

  // ---- formatting ----
  const nf = new Intl.NumberFormat();
  const num = (n) => nf.format(Number(n) || 0);

  function bytes(n) {
    n = Number(n) || 0;
    if (n < 1024) return `${n} B`;
    const units = ['KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
    let v = n;
    let u = -1;
    while (v >= 1024 && u < units.length - 1) { v /= 1024; u += 1; }
    return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[u]}`;
  }

  function age(server) {
    const s = server.heartbeat_age_s;
    if (s === null || s === undefined || !server.last_heartbeat_at) return 'never';
    if (s < 10) return `${Number(s).toFixed(1)} s ago`;
    if (s < 120) return `${Math.round(s)} s ago`;
    if (s < 7200) return `${Math.round(s / 60)} min ago`;
    if (s < 172800) return `${Math.round(s / 3600)} h ago`;
    return `${Math.round(s / 86400)} days ago`;
  }

  const usable = (s) => s.flg_usable === true || s.flg_usable === 1;
  const safeHref = (url) => (/^https?:\/\//i.test(url || '') ? url : null);
  const displayName = (s) => s.server_name || `server ${s.server_id}`;

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

  function badge(kind, text) {
    return el('span', { class: `badge badge-${kind}`, text });
  }

  // ---- flash messages ----
  let flashTimer = 0;
  function flash(kind, text) {
    clearTimeout(flashTimer);
    const close = el('button', { type: 'button', 'aria-label': 'Dismiss message', text: '×' });
    const box = el('div', { class: `notice notice-${kind}` }, [el('span', { text }), close]);
    if (kind === 'error') box.setAttribute('role', 'alert');
    close.addEventListener('click', () => flashBox.replaceChildren());
    flashBox.replaceChildren(box);
    if (kind !== 'error') flashTimer = setTimeout(() => flashBox.replaceChildren(), 6000);
  }

  // ---- totals ----
  function renderTotals(servers, totals, repair) {
    const present = servers.filter((s) => s.state !== 'removed');
    // Images count each image once; copies, capacity and bytes_used count
    // every copy the servers hold.
    const copies = present.reduce((a, s) => a + (Number(s.cur_pic_amount) || 0), 0);
    const t = {
      servers: present.length,
      usable: present.filter(usable).length,
      images: copies,
      copies,
      bytes_used: present.reduce((a, s) => a + (Number(s.bytes_used) || 0), 0),
      capacity: present.reduce((a, s) => a + (Number(s.max_pic_amount) || 0), 0),
      ...(totals || {}),
    };
    const byState = (st) => present.filter((s) => s.state === st).length;
    const down = t.servers - t.usable;
    $('t-servers').textContent = num(t.servers);
    $('t-servers-sub').textContent =
      `${byState('active')} active · ${byState('draining')} draining · ${byState('disabled')} disabled`;
    $('t-usable').textContent = num(t.usable);
    $('t-usable-sub').textContent = down > 0 ? `${down} down` : 'all up';
    $('t-usable').parentElement.classList.toggle('is-bad', down > 0);
    $('t-images').textContent = num(t.images);
    $('t-images-sub').textContent =
      `${num(t.copies)} cop${t.copies === 1 ? 'y' : 'ies'} on ${present.length} server${present.length === 1 ? '' : 's'}`;
    $('t-bytes').textContent = bytes(t.bytes_used);
    const free = present.filter(usable).reduce((a, s) => a + (Number(s.disk_free_bytes) || 0), 0);
    $('t-bytes-sub').textContent = `${bytes(free)} free on usable disks`;
    const pct = t.capacity > 0 ? (t.copies / t.capacity) * 100 : 0;
    $('t-capacity').textContent = `${pct < 10 ? pct.toFixed(1) : Math.round(pct)}%`;
    const fill = $('t-capacity-bar');
    fill.style.width = `${Math.min(100, pct)}%`;
    fill.classList.toggle('is-high', pct >= 75 && pct < 95);
    fill.classList.toggle('is-full', pct >= 95);
    $('t-capacity-sub').textContent = `${num(t.copies)} of ${num(t.capacity)} image slots`;
    // Copies: how many each image should have, and what repair still owes.
    const backlog = Number(t.repair_backlog) || 0;
    $('t-repair').textContent = backlog > 0 ? `${num(backlog)} to repair` : 'complete';
    $('t-repair').parentElement.classList.toggle('is-bad', backlog > 0);
    const made = repair ? Number(repair.copies_made) || 0 : 0;
    $('t-repair-sub').textContent =
      `${num(Number(t.replicas) || 1)} per image${made > 0 ? ` · ${num(made)} repaired` : ''}`;
  }

  // ---- chart: images per server, with the even share and recent uploads ----
  const baseline = new Map();  // server_id → cur_pic_amount when the page opened

  function svg(tag, attrs = {}, text) {
    const node = document.createElementNS(SVG_NS, tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // Two series per server: what it stores (bars to scale, with the even share
  // dashed), and its share of the uploads seen since this page opened, which
  // is where placement shows itself at work.
  function renderChart(servers) {
    const shown = servers.filter((s) => s.state !== 'removed');
    for (const s of shown) {
      if (!baseline.has(s.server_id)) baseline.set(s.server_id, Number(s.cur_pic_amount) || 0);
    }
    if (shown.length === 0) {
      chart.replaceChildren(el('p', { class: 'muted', text: 'No servers to chart yet.' }));
      return;
    }
    // Drawn at the container's own width, so text keeps its size; narrow
    // screens get one server per block (label above its bars).
    const W = Math.max(300, Math.floor(chart.clientWidth || 860));
    const narrow = W < 640;
    const counts = shown.map((s) => Number(s.cur_pic_amount) || 0);
    const total = counts.reduce((a, b) => a + b, 0);
    const max = Math.max(1, ...counts);
    const recent = shown.map((s, i) => Math.max(0, counts[i] - baseline.get(s.server_id)));
    const recentTotal = recent.reduce((a, b) => a + b, 0);
    const pctOf = (n, d) => (d > 0 ? Math.round((n / d) * 100) : 0);

    let L;
    if (narrow) {
      L = { row: 62, head: 0, label: 0, bar: W, x2: 0, bar2: W, y1: 20, y2: 42, h1: 14, h2: 8 };
    } else {
      const free = W - 150 - 120 - 110;
      L = { row: 38, head: 26, label: 150, bar: Math.round(free * 0.64), bar2: 0, y1: 4, y2: 4, h1: 18, h2: 18 };
      L.x2 = L.label + L.bar + 120;
      L.bar2 = free - L.bar;
    }
    const H = L.head + shown.length * L.row + 6;
    const described = shown.map((s, i) => {
      const share = recentTotal > 0 ? `, ${pctOf(recent[i], recentTotal)}% of recent uploads` : '';
      return `${displayName(s)} ${counts[i]} images${share}`;
    });
    const root = svg('svg', { viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: 'img', 'aria-label': `Images per server: ${described.join('; ')}` });
    if (!narrow) {
      root.append(svg('text', { x: L.label, y: 14, class: 'chart-head' }, 'Images stored'));
      root.append(svg('text', { x: L.x2, y: 14, class: 'chart-head' }, 'Where new uploads went'));
    }
    shown.forEach((s, i) => {
      const y = L.head + i * L.row;
      const state = !usable(s) ? 'is-down' : s.state === 'active' ? '' : `is-${s.state}`;
      const w = (counts[i] / max) * L.bar;
      const share = recentTotal > 0 ? recent[i] / recentTotal : 0;
      const stored = `${num(counts[i])} · ${pctOf(counts[i], total)}%`;
      const fresh = recentTotal > 0 ? `+${num(recent[i])} · ${Math.round(share * 100)}%` : '—';
      root.append(svg('text', { x: 0, y: narrow ? y + 14 : y + 18, class: 'chart-label' }, truncate(displayName(s), narrow ? 16 : 18)));
      root.append(svg('rect', { x: L.label, y: y + L.y1, width: L.bar, height: L.h1, rx: 5, class: 'chart-track' }));
      root.append(svg('rect', { x: L.label, y: y + L.y1, width: counts[i] ? Math.max(w, 3) : 0, height: L.h1, rx: 5, class: `chart-bar ${state}` }));
      root.append(svg('rect', { x: L.x2, y: y + L.y2, width: L.bar2, height: L.h2, rx: 4, class: 'chart-track' }));
      root.append(svg('rect', { x: L.x2, y: y + L.y2, width: share > 0 ? Math.max(share * L.bar2, 3) : 0, height: L.h2, rx: 4, class: 'chart-recent' }));
      if (narrow) {
        root.append(svg('text', { x: W, y: y + 14, class: 'chart-value', 'text-anchor': 'end' },
          recentTotal > 0 ? `${stored} · new +${num(recent[i])}` : stored));
      } else {
        root.append(svg('text', { x: L.label + L.bar + 10, y: y + 18, class: 'chart-value' }, stored));
        root.append(svg('text', { x: L.x2 + L.bar2 + 10, y: y + 18, class: 'chart-value' }, fresh));
      }
    });
    if (total > 0) {
      const even = L.label + ((total / shown.length) / max) * L.bar;
      root.append(svg('line', { x1: even, x2: even, y1: L.head, y2: H - 2, class: 'chart-even' }));
    }
    const legend = el('ul', { class: 'chart-legend' }, [
      el('li', {}, [el('span', { class: 'swatch', 'aria-hidden': 'true' }), 'images stored']),
      el('li', {}, [el('span', { class: 'swatch swatch-even', 'aria-hidden': 'true' }), 'even share of what is stored']),
      el('li', {}, [el('span', { class: 'swatch swatch-draining', 'aria-hidden': 'true' }), 'draining']),
      el('li', {}, [el('span', { class: 'swatch swatch-disabled', 'aria-hidden': 'true' }), 'disabled']),
      el('li', {}, [el('span', { class: 'swatch swatch-down', 'aria-hidden': 'true' }), 'server down']),
      el('li', {}, [el('span', { class: 'swatch swatch-recent', 'aria-hidden': 'true' }), 'where new uploads went']),
    ]);
    chart.replaceChildren(root, legend);
    chartNote.textContent = recentTotal > 0
      ? `${num(recentTotal)} new image${recentTotal === 1 ? '' : 's'} since this page opened.`
      : 'Placement spreads new uploads by remaining capacity; upload some to see where they go.';
  }

  function truncate(text, n) {
    return text.length > n ? `${text.slice(0, n - 1)}…` : text;
  }

  // ---- server table, updated in place so focus and selection survive ----
  const COLUMNS = ['ID', 'Server', 'URL', 'Health', 'Images', 'Disk', 'Heartbeat', 'Actions'];
  const rows = new Map();  // server_id → { tr, td: [...], sig }
  const busy = new Set();  // server ids with a request in flight: ignore repeats

  function makeRow() {
    const tr = el('tr');
    const td = COLUMNS.map((label) => {
      const cell = el('td', { 'data-label': label });
      tr.append(cell);
      return cell;
    });
    ['cell-id', 'cell-name', 'cell-url', 'cell-health', 'cell-images', 'cell-disk', 'cell-hb',
      'cell-actions'].forEach((c, i) => td[i].classList.add(c));
    return { tr, td, sig: '' };
  }

  function setText(cell, text) {
    if (cell.textContent !== text) cell.textContent = text;
  }

  // Replaces a cell's children only when what it shows changed.
  function setChildren(cell, sig, make) {
    if (cell.dataset.sig === sig) return;
    cell.dataset.sig = sig;
    cell.replaceChildren(...make());
  }

  function updateRow(row, s) {
    const [id, name, url, health, images, disk, hb, actions] = row.td;
    const up = usable(s);
    row.tr.dataset.serverId = String(s.server_id);
    row.tr.dataset.state = s.state;
    row.tr.classList.toggle('is-down', !up && s.state !== 'removed');
    row.tr.classList.toggle('is-removed', s.state === 'removed');
    setText(id, String(s.server_id));

    setChildren(name, `${s.server_name}|${s.pic_root_path}`, () => [
      el('span', { class: 'server-name', text: s.server_name || '(unnamed)' }),
      el('code', { class: 'server-root', text: s.pic_root_path || 'root not reported yet' }),
    ]);
    const href = safeHref(s.server_url);
    setChildren(url, `${href ? 'a' : 't'}|${s.server_url}`, () =>
      [href ? el('a', { href, text: s.server_url, rel: 'noreferrer' }) : (s.server_url || '—')]);
    const kind = { active: 'ok', draining: 'warn', disabled: 'neutral', removed: 'neutral' }[s.state] || 'neutral';
    // Up and active, yet placement passes it over: full by the counts, by
    // its own --max-pics or disk reserve, or its last store failed.
    const idle = up && s.state === 'active' && s.takes_uploads === false;
    setChildren(health, `${up}|${idle}|${s.state}`, () => [
      !up ? badge('down', 'Down') : idle ? badge('warn', 'No uploads') : badge('ok', 'Up'),
      el('span', { class: `state state-${kind}`, text: s.state }),
    ]);
    health.title = idle ? 'full (images or disk), or its last store failed: no uploads until it has room or beats again' : '';

    const cur = Number(s.cur_pic_amount) || 0;
    const max = Number(s.max_pic_amount) || 0;
    const pct = max > 0 ? Math.min(100, (cur / max) * 100) : 0;
    if (!images.firstChild) {
      images.append(el('span', { class: 'images-text' }),
        el('div', { class: 'bar', role: 'presentation' }, [el('span', { class: 'bar-fill' })]));
    }
    setText(images.firstChild, `${num(cur)} / ${num(max)}`);
    images.title = `${pct.toFixed(1)}% full`;
    const fill = images.querySelector('.bar-fill');
    fill.style.width = `${pct}%`;
    fill.classList.toggle('is-high', pct >= 75 && pct < 95);
    fill.classList.toggle('is-full', pct >= 95);

    if (!disk.firstChild) disk.append(el('span', { class: 'disk-free' }), el('span', { class: 'disk-used' }));
    const seen = Boolean(s.last_heartbeat_at);  // disk figures come with heartbeats
    setText(disk.firstChild, seen ? `${bytes(s.disk_free_bytes)} free` : '—');
    setText(disk.lastChild, seen ? `${bytes(s.bytes_used)} used` : '');
    setText(hb, age(s));
    hb.classList.toggle('hb-stale', !up && s.state !== 'removed');

    const removable = cur === 0 && s.state !== 'removed';
    const sig = `${s.state}|${removable}|${displayName(s)}`;
    if (row.sig !== sig) {
      row.sig = sig;
      renderActions(actions, s, removable);
    }
  }

  const ACTIONS = {
    active: [['drain', 'Drain'], ['disable', 'Disable']],
    draining: [['enable', 'Activate'], ['disable', 'Disable']],
    disabled: [['enable', 'Enable'], ['drain', 'Drain']],
    removed: [],
  };
  const TARGET = { drain: 'draining', disable: 'disabled', enable: 'active' };

  function renderActions(cell, s, removable) {
    const focused = cell.contains(document.activeElement) ? document.activeElement.dataset.action : null;
    const buttons = (ACTIONS[s.state] || ACTIONS.active).map(([action, label]) =>
      el('button', {
        type: 'button', class: 'button button-quiet button-small', 'data-action': action,
        'aria-label': `${label} ${displayName(s)}`, text: label,
      }));
    if (removable) {
      buttons.push(el('button', {
        type: 'button', class: 'button button-danger button-small', 'data-action': 'remove',
        'aria-label': `Remove ${displayName(s)}`, text: 'Remove',
      }));
    }
    for (const b of buttons) b.addEventListener('click', () => act(s, b.dataset.action));
    cell.replaceChildren(el('div', { class: 'actions' }, buttons));
    if (focused) {
      const again = cell.querySelector(`[data-action="${focused}"]`) || cell.querySelector('button');
      if (again && !again.disabled) again.focus();
    }
  }

  function renderTable(servers) {
    const sorted = [...servers].sort((a, b) => a.server_id - b.server_id);
    const seen = new Set();
    for (const s of sorted) {
      seen.add(s.server_id);
      let row = rows.get(s.server_id);
      if (!row) {
        row = makeRow();
        rows.set(s.server_id, row);
      }
      updateRow(row, s);
    }
    for (const [id, row] of rows) {
      if (!seen.has(id)) {
        row.tr.remove();
        rows.delete(id);
      }
    }
    // Reorder only when needed: moving a row would take focus from its buttons.
    const want = sorted.map((s) => rows.get(s.server_id).tr);
    const have = Array.from(tbody.children);
    if (want.length !== have.length || want.some((tr, i) => tr !== have[i])) tbody.replaceChildren(...want);
    emptyNote.hidden = servers.length > 0;
  }

  // ---- actions ----
  async function act(s, action) {
    const name = displayName(s);
    if (busy.has(s.server_id)) return;
    if (action === 'remove' && !window.confirm(`Remove ${name} from the cluster?`)) return;
    busy.add(s.server_id);
    try {
      if (action === 'remove') {
        await api('DELETE', `/v1/servers/${encodeURIComponent(s.server_id)}`);
        flash('ok', `Removed ${name}.`);
      } else {
        await api('PATCH', `/v1/servers/${encodeURIComponent(s.server_id)}`, { state: TARGET[action] });
        flash('ok', `${name} is now ${TARGET[action]}.`);
      }
    } catch (e) {
      if (e.status === 401 || e.status === 403) askForToken(e);
      flash('error', `Could not ${action} ${name}: ${e.message}`);
    } finally {
      busy.delete(s.server_id);
      refreshSoon(0);
    }
  }

  addForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    const url = $('add-url').value.trim();
    const name = $('add-name').value.trim();
    const body = name ? { url, name } : { url };
    const submit = addForm.querySelector('button[type="submit"]');
    submit.disabled = true;
    try {
      await api('POST', '/v1/servers', body);
      flash('ok', `Added ${name || url}. It takes uploads once its first heartbeat arrives.`);
      addForm.reset();
      refreshSoon(0);
    } catch (err) {
      if (err.status === 401 || err.status === 403) askForToken(err);
      flash('error', `Could not add ${url}: ${err.message}`);
    } finally {
      submit.disabled = false;
    }
  });

  // ---- auth ----
  function askForToken(err) {
    stopped = true;
    clearTimeout(timer);
    dashboard.hidden = true;
    auth.hidden = false;
    signOut.hidden = true;
    authReason.textContent = token()
      ? `The tracker refused the saved token (${err.message}). Enter the admin token again.`
      : 'This tracker protects its server table with an admin token. It is kept in this browser tab only.';
    setLive('error', 'Signed out');
    authToken.focus();
  }

  signOut.addEventListener('click', () => {
    sessionStorage.removeItem(TOKEN_KEY);
    signOut.hidden = true;
    refreshSoon(0);  // an open tracker still answers; a guarded one asks again
  });

  authForm.addEventListener('submit', (e) => {
    e.preventDefault();
    const value = authToken.value.trim();
    if (!value) return;
    sessionStorage.setItem(TOKEN_KEY, value);
    authToken.value = '';
    auth.hidden = true;
    stopped = false;
    refreshSoon(0);
  });

  // ---- refresh loop ----
  let timer = 0;
  let inFlight = false;
  let stopped = false;
  let again = false;

  function setLive(kind, text) {
    live.classList.toggle('is-live', kind === 'live');
    live.classList.toggle('is-error', kind === 'error');
    liveText.textContent = text;
  }

  function refreshSoon(ms) {
    clearTimeout(timer);
    if (!stopped) timer = setTimeout(refresh, ms);
  }

  async function refresh() {
    if (inFlight) { again = true; return; }
    inFlight = true;
    try {
      const data = await api('GET', '/v1/servers');
      const servers = (data && data.servers) || [];
      auth.hidden = true;
      dashboard.hidden = false;
      signOut.hidden = !token();
      renderTotals(servers, data && data.totals, data && data.repair);
      renderChart(servers);
      renderTable(servers);
      setLive('live', `Live · updated ${new Date().toLocaleTimeString()}`);
    } catch (e) {
      if (e.status === 401 || e.status === 403) {
        askForToken(e);
      } else {
        setLive('error', `${e.message} Retrying…`);
      }
    } finally {
      inFlight = false;
      if (again) { again = false; refreshSoon(0); } else { refreshSoon(REFRESH_MS); }
    }
  }

  takeTokenFromFragment();
  window.addEventListener('hashchange', () => { takeTokenFromFragment(); stopped = false; refreshSoon(0); });
  refresh();
})();
