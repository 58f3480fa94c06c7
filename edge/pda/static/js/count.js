// Stocktake by scanner (docs/pda.md "Stocktake"; issue 14): a full count (every bin) or a
// partial one (the bins scanned before 确认); then scan a bin, then its items. Counting is
// blind: the page never has the node's expected stock, only what the counter counted.
// Like the pick page, it judges each scan at once from its own copy of the count, writes
// the action and the view it led to to IndexedDB in one transaction, and the same queue
// (queue.js) sends it to /api/v1/counts/* with its Idempotency-Key, in order.
import * as idb from './idb.js';
import { authHeaders, logout, session } from './auth.js';
import { Outbox } from './queue.js';
import { attachScan } from './scan.js';
import { $, feedback, loginOpen, needLogin, setNetwork, showPending, showWho } from './ui.js';
import { nodeVerdict, printable, refusal, t } from './text.js';

const VIEWS = 'counts';
const MAX_SCAN_CHARS = 4096; // longer is refused by the API (docs/pick-api.md)
const MAX_BARCODE_CHARS = 128; // longer is "unreadable" at the station
const TONE = { ok: 'ok', done: 'done', notice: 'notice', error: 'error' };
let view = null;
let gen = 0; // bumped by every local action: a node view fetched meanwhile is stale
let outbox = null;

function fresh(operator, binCodes) {
  return { operator, state: 'choose', scope: null, bins: [], chosen: [], visited: [], bin: null, counted: {}, binCodes: binCodes || {} };
}

function clone(v) {
  return { ...v, bins: [...v.bins], chosen: [...v.chosen], visited: [...v.visited], counted: { ...v.counted } };
}

function problemOf(code) {
  if (code.length > MAX_BARCODE_CHARS) return t('problem_long', { n: code.length });
  if (/[\x00-\x1f\x7f]/.test(code)) return t('problem_control');
  return null;
}

function total(v) { return Object.values(v.counted).reduce((a, n) => a + n, 0); }

// The station's rules (edge/stations/stocktake.py) for one scan while a count runs: a bin
// of the count opens it (again: scans add to it), another bin is refused, an item counts
// into the open bin. A code that is no bin counts as an item: the node resolves its SKU
// (an unknown barcode comes back as a problem).
export function judgeCountScan(v0, code) {
  const v = clone(v0);
  const bad = problemOf(code);
  if (bad) return { view: v0, kind: 'scan.unreadable', tone: 'error', text: t('unreadable', { problem: bad }) };
  const bin = v.binCodes[code];
  if (bin !== undefined) {
    if (!v.bins.includes(bin)) return { view: v0, kind: 'bin.out_of_scope', tone: 'error', text: t('count_bin_outside', { bin }) };
    const again = v.visited.includes(bin);
    if (!again) v.visited.push(bin);
    v.bin = bin;
    v.counted[bin] = v.counted[bin] || 0;
    return again
      ? { view: v, kind: 'bin.again', tone: 'notice', text: t('count_bin_again', { bin, n: v.counted[bin] }) }
      : { view: v, kind: 'bin.open', tone: 'ok', text: t('count_bin_open', { bin }) };
  }
  if (!v.bin) return { view: v0, kind: 'item.no_bin', tone: 'error', text: t('count_item_no_bin') };
  v.counted[v.bin] = (v.counted[v.bin] || 0) + 1;
  return { view: v, kind: 'item.counted', tone: 'ok', text: t('count_item', { n: v.counted[v.bin], bin: v.bin }) };
}

function agrees(local, kind) {
  const opens = ['bin.open', 'bin.again'];
  return local === kind || (opens.includes(local) && opens.includes(kind));
}

function render() {
  const choosing = view.state === 'choose';
  $('count-start').hidden = !choosing;
  $('count-task').hidden = choosing;
  $('chosen').textContent = view.chosen.join(' · ');
  $('progress').textContent = choosing ? '' : `${view.visited.length}/${view.bins.length}`;
  $('c-expect').textContent = t(view.bin ? 'count_scan_items' : 'count_scan_bin');
  $('c-bin').textContent = view.bin || '—';
  $('c-qty').textContent = view.bin ? String(view.counted[view.bin] || 0) : '';
  $('count-task').dataset.bin = view.bin || '';
}

async function renderProblems() {
  const open = (await idb.problems()).filter((p) => p.open && (!p.operator || p.operator === view.operator));
  $('problems').hidden = open.length === 0;
  $('problem-list').replaceChildren(...open.map((p) => {
    const li = document.createElement('li');
    li.textContent = p.text;
    return li;
  }));
}

async function problem(text, extra = {}) {
  await idb.addProblem({ text, operator: view.operator, ...extra });
  await renderProblems();
}

// One action: answered at once, then queued with the view it led to (one transaction).
async function act(op, { barcode = null, body = null, kind, tone, text, next }, t0) {
  feedback(TONE[tone] || 'error', text, t0);
  view = next;
  gen += 1;
  render();
  const item = { key: idb.newKey(), operator: view.operator, op, barcode, body, local: kind, at: Date.now() };
  await idb.enqueue(item, view, VIEWS);
  await showPending();
  outbox.pump();
}

function allBins() { return [...new Set(Object.values(view.binCodes))].sort(); }

async function start(scope, t0) {
  const bins = scope === 'full' ? allBins() : [...view.chosen].sort();
  if (!bins.length) { feedback('error', t('count_none_chosen'), t0); return; }
  const next = { ...fresh(view.operator, view.binCodes), state: 'counting', scope, bins };
  await act('count_start', {
    body: { scope, bins: scope === 'full' ? [] : bins }, kind: 'count.started', tone: 'ok',
    text: t('count_started', { n: bins.length }), next,
  }, t0);
}

async function command(action, t0) {
  if (action === 'logout') {
    await logout();
    feedback('notice', t('logged_out'), t0);
    location.href = '/pda/login';
    return;
  }
  const open = (await idb.problems()).filter((p) => p.open);
  if ((action === 'confirm' || action === 'skip') && open.length) {
    await idb.closeProblem(open[0].id);
    await renderProblems();
    feedback('notice', t('set_aside'), t0);
    return;
  }
  if (action === 'skip') { feedback('notice', t('cleared'), t0); return; }
  if (action === 'confirm' || action === 'finish') {
    if (view.state === 'choose') { await start('partial', t0); return; }
    const text = t('count_finished', { bins: view.visited.length, all: view.bins.length, n: total(view) });
    await act('count_finish', { kind: 'count.finished', tone: 'done', text, next: fresh(view.operator, view.binCodes) }, t0);
    return;
  }
  if (action === 'full' && view.state === 'choose') { await start('full', t0); return; }
  if (action === 'recount' && view.state === 'counting') {
    if (!view.bin) { feedback('error', t('count_recount_no_bin'), t0); return; }
    const next = clone(view);
    next.counted[view.bin] = 0;
    await act('count_recount', { kind: 'bin.recount', tone: 'notice', text: t('count_recounted', { bin: view.bin }), next }, t0);
    return;
  }
  if (action === 'abort' && view.state === 'counting') {
    await act('count_abort', { kind: 'count.aborted', tone: 'notice', text: t('count_aborted'), next: fresh(view.operator, view.binCodes) }, t0);
    return;
  }
  feedback('notice', t('command_unavailable', { cmd: action }), t0);
}

async function onScan(code, t0, doubleRead) {
  if (doubleRead) { feedback('notice', t('double_read', { code: printable(code) }), t0); return; }
  const cfg = window.__pdaConfig;
  if (cfg.commands[code]) { await command(cfg.commands[code], t0); return; }
  if (code.length > MAX_SCAN_CHARS) { feedback('error', t('too_long', { n: code.length }), t0); return; }
  if (view.state === 'choose') {
    // Choosing the bins of a partial count: on the page only, nothing is sent yet.
    const bin = view.binCodes[code];
    if (bin === undefined) { feedback('error', t('count_bin_unknown_here', { code: printable(code) }), t0); return; }
    const next = clone(view);
    const had = next.chosen.includes(bin);
    next.chosen = had ? next.chosen.filter((b) => b !== bin) : [...next.chosen, bin];
    view = next;
    gen += 1;
    render();
    feedback(had ? 'notice' : 'ok', t(had ? 'count_unchosen' : 'count_chosen', { bin, n: next.chosen.length }), t0);
    await idb.saveView(view, VIEWS);
    return;
  }
  const r = judgeCountScan(view, code);
  await act('count_scan', { barcode: code, kind: r.kind, tone: r.tone, text: r.text, next: r.view }, t0);
}

async function getJson(url) {
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), 5000);
  try {
    const res = await fetch(url, { headers: authHeaders(), cache: 'no-store', signal: ctl.signal });
    if (!res.ok) throw Object.assign(new Error(String(res.status)), { status: res.status });
    return await res.json();
  } finally {
    clearTimeout(timer);
  }
}

// The bins (codes and barcodes) to tell a bin scan from an item scan; kept with the view
// so a reload without the node still judges.
async function loadCodes() {
  try {
    const codes = await getJson('/pda/api/count-codes');
    view.binCodes = codes.bins;
    await idb.saveView(view, VIEWS);
    setNetwork(true);
  } catch (e) {
    if (e.status === 401) { await relogin(); return; }
    if (e.status === undefined) setNetwork(false);
  }
}

// The node's count replaces the page's when nothing of this operator waits in the queue.
async function syncFromNode() {
  const s = session();
  if (!s) return;
  if ((await idb.queued()).some((q) => q.operator === s.operator)) return;
  const before = gen;
  try {
    const node = await getJson('/api/v1/counts/current');
    if (gen !== before) return; // a scan came in meanwhile: the next drain syncs again
    if ((await idb.queued()).some((q) => q.operator === s.operator)) return;
    if (node.count_id === null) {
      if (view.state === 'counting') {
        await problem(t('count_lost'));
        view = fresh(s.operator, view.binCodes);
      }
    } else {
      const counted = {};
      for (const [bin, skus] of Object.entries(node.counted)) counted[bin] = Object.values(skus).reduce((a, n) => a + n, 0);
      view = { ...fresh(s.operator, view.binCodes), state: 'counting', scope: node.scope, bins: node.bins, visited: node.visited, bin: node.bin, counted };
    }
    await idb.saveView(view, VIEWS);
    render();
    setNetwork(true);
  } catch (e) {
    if (e.status === 401) { await relogin(); return; }
    if (e.status === undefined) setNetwork(false);
  }
}

async function relogin() {
  await needLogin(t('session_expired', { n: (await idb.queued()).length }));
  showWho();
  await showPending();
  outbox.pump();
  syncFromNode();
}

export async function initCount() {
  window.__pdaConfig = window.__pdaConfig || {};
  outbox = new Outbox({
    onConfirmed: async (item, body) => {
      if (item.op !== 'count_scan') return; // a pick's is the pick page's; start/finish carry no judgement
      if (!agrees(item.local, body.kind)) {
        await problem(t('mismatch', { code: printable(item.barcode), detail: nodeVerdict(body) }), { node: body.text });
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
  attachScan($('scan'), (code, t0, dbl) => onScan(code, t0, dbl), {
    doubleReadMs: window.__pdaConfig.doubleReadMs,
    keepFocus: () => !loginOpen(),
  });
  for (const b of document.querySelectorAll('[data-cmd]')) {
    b.addEventListener('click', () => command(b.dataset.cmd, performance.now()));
  }
  let s = session();
  if (!s) s = await needLogin();
  showWho();
  view = (await idb.loadView(s.operator, VIEWS)) || fresh(s.operator);
  if (Object.keys(view.binCodes).length) loadCodes(); else await loadCodes();
  render();
  await renderProblems();
  await showPending();
  document.body.dataset.ready = '1';
  outbox.pump();
  syncFromNode();
}
