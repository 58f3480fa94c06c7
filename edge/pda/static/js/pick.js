// The pick page (docs/pda.md): one current task in big type, judged here at once, queued
// durably, sent in order. The view of the wave lives in IndexedDB with the queue, so a
// reload or a browser restart resumes where the operator was, online or not.
import * as idb from './idb.js';
import { authHeaders, logout, session } from './auth.js';
import { Outbox } from './queue.js';
import { attachScan } from './scan.js';
import { agrees, judgeScan, judgeShort, judgeSubstitute, MAX_SCAN_CHARS, viewFrom } from './judge.js';
import { $, feedback, loginOpen, needLogin, setNetwork, showPending, showWho } from './ui.js';
import { nodeVerdict, printable, refusal, t } from './text.js';

const TONE = { ok: 'ok', complete: 'done', substitute: 'notice', short: 'notice', notice: 'notice' };
let view = null;
let gen = 0; // bumped by every local action: a node view fetched meanwhile is stale
let outbox = null;

function toneOf(verdict) { return TONE[verdict] || 'error'; }

function render() {
  const task = $('task');
  if (!view) {
    task.hidden = true;
    $('no-wave').hidden = false;
    return;
  }
  task.hidden = false;
  $('no-wave').hidden = true;
  const total = view.stops.length;
  const doneStops = view.stops.filter((s) => s.done).length;
  $('progress').textContent = `${doneStops}/${total}`;
  $('wave-name').textContent = view.wave;
  const stop = view.stops[view.index];
  if (!stop) {
    $('expect').textContent = t('done');
    $('t-bin').textContent = '—';
    $('t-sku').textContent = '';
    $('t-name').textContent = '';
    $('t-qty').textContent = '';
    task.dataset.expect = 'done';
    return;
  }
  const expect = { bin: 'scan_bin', item: 'scan_item', substitute: 'scan_substitute', serial: 'scan_serial_next' }[view.expect] || 'scan_bin';
  $('expect').textContent = t(expect);
  task.dataset.expect = view.expect || 'bin';
  $('t-bin').textContent = stop.bin;
  $('t-sku').textContent = stop.sku_code;
  $('t-name').textContent = stop.sku_name || view.codes.names[stop.sku_code] || '';
  $('t-qty').textContent = `${stop.picked + (stop.subs || 0)} / ${stop.qty}`;
}

async function renderProblems() {
  const open = (await idb.problems()).filter((p) => p.open && (!view || !p.operator || p.operator === view.operator));
  const box = $('problems');
  box.hidden = open.length === 0;
  const list = $('problem-list');
  list.replaceChildren(...open.map((p) => {
    const li = document.createElement('li');
    li.textContent = p.text;
    li.dataset.id = p.id;
    return li;
  }));
}

async function problem(text, extra = {}) {
  const s = session();
  await idb.addProblem({ text, operator: s && s.operator, ...extra });
  await renderProblems();
}

async function act(op, result, barcode, t0) {
  feedback(toneOf(result.verdict), result.text, t0);
  view = result.view;
  gen += 1;
  render();
  const item = { key: idb.newKey(), operator: view.operator, wave: view.wave, op, barcode, local: result.verdict, at: Date.now() };
  await idb.enqueue(item, view);
  await showPending();
  outbox.pump();
}

async function command(action, t0) {
  if (action === 'logout') {
    await logout();
    feedback('notice', t('logged_out'), t0);
    location.href = '/pda/login';
    return;
  }
  if (action === 'confirm' || action === 'skip') {
    const open = (await idb.problems()).filter((p) => p.open);
    if (open.length) {
      await idb.closeProblem(open[0].id);
      await renderProblems();
      feedback('notice', t('set_aside'), t0);
    } else if (view && view.done) {
      location.href = '/pda/waves';
    } else {
      feedback('notice', t('cleared'), t0);
    }
    return;
  }
  if (!view || view.done) { feedback('error', t(view ? 'wave_done_scan' : 'no_wave'), t0); return; }
  if (action === 'short') { await act('short', judgeShort(view), null, t0); return; }
  if (action === 'substitute') {
    const r = judgeSubstitute(view);
    if (r.refused) { feedback(toneOf(r.verdict), r.text, t0); return; }
    await act('substitute', r, null, t0);
  }
}

async function onScan(code, t0, doubleRead) {
  if (doubleRead) { feedback('notice', t('double_read', { code: printable(code) }), t0); return; }
  const cfg = window.__pdaConfig;
  if (cfg.commands[code]) { await command(cfg.commands[code], t0); return; }
  if (code.length > MAX_SCAN_CHARS) { feedback('error', t('too_long', { n: code.length }), t0); return; }
  if (!view) { feedback('error', t('no_wave'), t0); return; }
  if (view.done) { feedback('error', t('wave_done_scan'), t0); return; }
  await act('scan', judgeScan(view, code), code, t0);
}

async function getJson(url) {
  const res = await fetch(url, { headers: authHeaders(), cache: 'no-store' });
  if (res.status === 401) throw Object.assign(new Error('401'), { status: 401 });
  if (!res.ok) throw Object.assign(new Error(String(res.status)), { status: res.status, body: await res.json().catch(() => ({})) });
  return res.json();
}

// The node's state replaces the page's when nothing of this operator waits in the queue.
async function syncFromNode() {
  const s = session();
  if (!s) return;
  const mine = (await idb.queued()).filter((q) => q.operator === s.operator).length;
  if (mine) return;
  const before = gen;
  try {
    const current = await getJson('/api/v1/picks/current');
    if (current.wave === null) {
      if (gen !== before) return;
      if (view && !view.done) {
        await problem(t('no_wave'));
        view = null;
        await idb.dropView(s.operator);
      }
      render();
      return;
    }
    const wave = encodeURIComponent(current.wave);
    const [list, codes] = await Promise.all([getJson(`/api/v1/picks/${wave}`), getJson(`/pda/api/codes?wave=${wave}`)]);
    if (gen !== before) return; // a scan came in meanwhile: the next drain syncs again
    const stillMine = (await idb.queued()).filter((q) => q.operator === s.operator).length;
    if (stillMine) return;
    view = viewFrom(s.operator, list, current, codes);
    await idb.saveView(view);
    render();
    setNetwork(true);
  } catch (e) {
    if (e.status === 401) { await relogin(); return; }
    if (e.status === undefined) setNetwork(false);
  }
}

async function relogin() {
  const mine = (await idb.queued()).length;
  await needLogin(t('session_expired', { n: mine }));
  showWho();
  const s = session();
  view = (await idb.loadView(s.operator)) || null;
  render();
  await showPending();
  outbox.pump();
  syncFromNode();
}

export async function initPick() {
  window.__pdaConfig = window.__pdaConfig || {};
  outbox = new Outbox({
    onConfirmed: async (item, body) => {
      if (item.op.startsWith('count_')) return; // a stocktake's, judged by the count page
      for (const a of body.alerts || []) await problem(t('node_alert', { detail: nodeVerdict(a) }), { kind: a.kind, node: a.text });
      if (!agrees(item.local, body.verdict)) {
        await problem(t('mismatch', { code: item.barcode ? printable(item.barcode) : item.op, detail: nodeVerdict(body) }), { node: body.text });
      }
    },
    refusalText: (item, code) => t('rejected', { code: item.barcode ? printable(item.barcode) : item.op, detail: refusal(code) }),
    onRefused: async (item, text) => {
      feedback('error', text);
      await renderProblems();
    },
    onAuth: () => { if (!loginOpen()) relogin(); },
    onNetwork: setNetwork,
    onChange: async () => {
      const mine = await showPending();
      if (mine === 0) syncFromNode();
    },
  });
  const input = $('scan');
  attachScan(input, (code, t0, dbl) => onScan(code, t0, dbl), {
    doubleReadMs: window.__pdaConfig.doubleReadMs,
    keepFocus: () => !loginOpen(),
  });
  for (const b of document.querySelectorAll('[data-cmd]')) {
    b.addEventListener('click', () => command(b.dataset.cmd, performance.now()));
  }
  let s = session();
  if (!s) s = await needLogin();
  showWho();
  view = (await idb.loadView(s.operator)) || null;
  render();
  await renderProblems();
  await showPending();
  document.body.dataset.ready = '1';
  outbox.pump();
  syncFromNode();
}
