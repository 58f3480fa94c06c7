// Entry of every PDA page: reads the page's config, binds the login panel, and starts the
// page's own module. htmx navigates between the simple pages (hx-boost); the pick page is
// always a full load and then stays (its queue and view are in IndexedDB anyway).
import { pageConfig, refusal, t } from './text.js';
import { authHeaders, logout, session } from './auth.js';
import { attachScan } from './scan.js';
import { $, bindLogin, feedback, loginOpen, needLogin, showPending, showWho } from './ui.js';
import * as idb from './idb.js';

let scanField = null;

async function startWave(wave) {
  feedback('notice', t('starting', { wave }));
  let res;
  try {
    res = await fetch(`/api/v1/waves/${encodeURIComponent(wave)}/start`, {
      method: 'POST', headers: { ...authHeaders(), 'idempotency-key': idb.newKey() }, cache: 'no-store',
    });
  } catch {
    feedback('error', t('start_failed', { wave, detail: t('offline') }));
    return;
  }
  if (res.status === 401) { await needLogin(); return startWave(wave); }
  const body = await res.json().catch(() => ({}));
  if (!res.ok) { feedback('error', t('start_failed', { wave, detail: refusal(body.code || String(res.status)) })); return; }
  const s = session();
  await idb.dropView(s.operator); // the pick page fetches the node's view of the new wave
  location.href = '/pda/pick';
}

function pageScan(handler) {
  const input = $('scan');
  if (!input) return;
  scanField = attachScan(input, handler, { doubleReadMs: window.__pdaConfig.doubleReadMs, keepFocus: () => !loginOpen() });
}

async function commandOf(code) {
  const action = window.__pdaConfig.commands[code];
  if (action === 'logout') { await logout(); location.href = '/pda/login'; return null; }
  return action || null;
}

const PAGES = {
  async login() {
    $('login').hidden = false;
    const waitLogin = needLogin();
    document.body.dataset.ready = '1';
    await waitLogin;
    location.href = '/pda/waves';
  },
  async waves() {
    const list = $('wave-list');
    if (!session()) await needLogin();
    showWho();
    htmx.ajax('GET', '/pda/frag/waves', { target: list, swap: 'innerHTML' });
    list.addEventListener('click', (e) => {
      const b = e.target.closest('button[data-wave]');
      if (b) startWave(b.dataset.wave);
    });
    pageScan(async (code, t0) => {
      const action = await commandOf(code);
      const buttons = [...list.querySelectorAll('button[data-wave]')];
      const sel = list.querySelector('button[data-wave].selected') || buttons[0];
      if (action === 'confirm') {
        if (sel) startWave(sel.dataset.wave); else feedback('error', t('no_waves_selected'), t0);
      } else if (action === 'skip' && buttons.length) {
        const i = (buttons.indexOf(sel) + 1) % buttons.length;
        buttons.forEach((b, j) => b.classList.toggle('selected', j === i));
        buttons[i].focus();
        scanField.refocus();
      } else if (action) {
        feedback('notice', t('command_unavailable', { cmd: action }), t0);
      } else {
        const b = buttons.find((x) => x.dataset.wave === code);
        if (b) startWave(code); else feedback('error', t('unknown_item', { code }), t0);
      }
    });
  },
  async lookup() {
    if (!session()) await needLogin();
    showWho();
    pageScan(async (code, t0) => {
      const action = await commandOf(code);
      if (action) { feedback('notice', t('command_unavailable', { cmd: action }), t0); return; }
      $('lookup-q').textContent = code;
      htmx.ajax('GET', '/pda/frag/lookup?q=' + encodeURIComponent(code), { target: '#lookup-result', swap: 'innerHTML' });
    });
  },
  async pick() {
    const { initPick } = await import('./pick.js');
    await initPick();
  },
  async count() {
    const { initCount } = await import('./count.js');
    await initCount();
  },
  async inbound() { showWho(); pageScan(async (code) => { await commandOf(code); }); },
  async receive() {
    const { initDesk } = await import('./desk.js');
    await initDesk('inbound');
  },
  async returns() {
    const { initDesk } = await import('./desk.js');
    await initDesk('returns');
  },
  async home() { showWho(); pageScan(async (code) => { await commandOf(code); }); },
  async commands() {},
};

async function init() {
  window.__pdaConfig = pageConfig();
  bindLogin();
  showWho();
  showPending().catch(() => {});
  const page = document.getElementById('main')?.dataset.page;
  await (PAGES[page] || (async () => {}))();
  document.body.dataset.ready = '1';
}

// Fragments and boosted pages carry the operator's token (htmx sends no Authorization by
// itself); a 401 opens the login panel and the fragment is fetched again after it.
document.addEventListener('htmx:configRequest', (e) => Object.assign(e.detail.headers, authHeaders()));
document.addEventListener('htmx:responseError', async (e) => {
  if (e.detail.xhr.status === 401) {
    await needLogin();
    const el = e.detail.elt;
    if (el && el.id === 'wave-list') htmx.ajax('GET', '/pda/frag/waves', { target: el, swap: 'innerHTML' });
  }
});
document.addEventListener('htmx:afterSettle', (e) => {
  if (e.detail.boosted) init();
});
// The app shell's service worker (sw.js, docs/pda.md "Offline on the LAN"): only in a
// secure context (a LAN address over plain HTTP is none: no service worker at all) and when
// the node's setting is on; off, a worker left from before is removed with its caches.
async function serviceWorker(cfg) {
  if (!window.isSecureContext || !('serviceWorker' in navigator)) return;
  if (cfg) {
    await navigator.serviceWorker.register(cfg.url, { scope: cfg.scope });
    return;
  }
  for (const r of await navigator.serviceWorker.getRegistrations()) await r.unregister();
  for (const name of await caches.keys()) if (name.startsWith('pda-shell-')) await caches.delete(name);
}
serviceWorker(pageConfig().serviceWorker).catch(() => {}); // without it the page works all the same

if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
else init();
