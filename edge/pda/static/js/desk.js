// Receiving (收货, 质检 QC, 上架 putaway) and returns (退货) on the handheld (docs/pda.md
// "Receiving and returns"). The node's receiving and returns stations judge every scan and
// key (edge/runtimes/handheld.py): this page decides nothing. It sends each scan or key
// through the same durable queue as the pick page (queue.js: IndexedDB first, then
// /api/v1/desks/{kind}/* with its own Idempotency-Key, in order), shows the node's verdict
// and the receipt the node answers with. Without the node, scans are kept in order and
// sent when it answers; the screen says so, and shows the last receipt the node confirmed.
import * as idb from './idb.js';
import { authHeaders, logout, session } from './auth.js';
import { Outbox } from './queue.js';
import { attachScan } from './scan.js';
import { $, feedback, loginOpen, needLogin, setNetwork, showPending, showWho } from './ui.js';
import { known, printable, refusal, said, t } from './text.js';

const VIEWS = 'desks';
const MAX_SCAN_CHARS = 4096; // longer is refused by the API (docs/pick-api.md)
// The station's light, as the page's tone (edge/stations/common.py Signal).
const TONE = { ok: 'ok', prompt: 'ok', complete: 'done', notice: 'notice', clear: 'notice' };
let kind = 'inbound';
let view = null;
let outbox = null;

function viewKey(operator) { return `${operator}|${kind}`; }

function verdictText(body) {
  const k = 'desk_' + String(body.kind || '').replace(/\./g, '_');
  return known(k) ? t(k) : t('desk_other');
}

function cell(text, cls) {
  const td = document.createElement('td');
  td.textContent = text;
  if (cls) td.className = cls;
  return td;
}

function render() {
  const node = view && view.node;
  const open = !!(node && node.receipt_id);
  $('desk-idle').hidden = open;
  $('desk-open').hidden = !open;
  const state = node ? node.state : 'idle';
  $('desk-open').dataset.state = state;
  for (const b of document.querySelectorAll('[data-when]')) {
    b.hidden = !b.dataset.when.split(' ').includes(state);
  }
  if (!open) return;
  $('d-doc').textContent = node.document;
  $('d-doc-kind').textContent = t('desk_doc_' + (node.document_kind || 'po'));
  $('d-source').textContent = node.source || '';
  $('d-receipt').textContent = node.receipt_id;
  $('d-stage').textContent = t('desk_state_' + state);
  $('d-reason').hidden = !node.reason;
  $('d-reason').textContent = node.reason ? t('desk_reason_armed', { reason: node.reason }) : '';
  $('d-lines').replaceChildren(...node.lines.map((ln) => {
    const tr = document.createElement('tr');
    tr.append(cell(ln.sku_code), cell(ln.name || ''), cell(String(ln.expected), 'num'),
      cell(String(ln.passed), 'num'), cell(String(ln.failed), ln.failed ? 'num bad' : 'num'));
    return tr;
  }));
  $('d-lines-more').textContent = node.lines_total > node.lines.length
    ? t('desk_lines_shown', { n: node.lines.length, all: node.lines_total }) : '';
  const put = node.putaway;
  $('d-putaway').hidden = !put;
  if (put) {
    $('d-put-what').textContent = `${put.qty} × ${put.sku_code}` + (put.reason ? ` (${put.reason})` : '');
    $('d-put-bin').textContent = put.bin || t('desk_any_bin');
    $('d-put-zone').textContent = put.zone ? t('desk_zone_' + put.zone) : '';
    $('d-put-progress').textContent = t('desk_placed', { n: node.placed, all: node.groups });
  }
}

async function renderProblems() {
  const s = session();
  const open = (await idb.problems()).filter((p) => p.open && (!p.operator || !s || p.operator === s.operator));
  $('problems').hidden = open.length === 0;
  $('problem-list').replaceChildren(...open.map((p) => {
    const li = document.createElement('li');
    li.textContent = p.text;
    return li;
  }));
}

// One scan or key: into the queue first (durable), then to the node.
async function send(op, { barcode = null, body = null }, t0) {
  const s = session();
  const item = { key: idb.newKey(), operator: s.operator, op: `${kind === 'inbound' ? 'receive' : 'returns'}_${op}`, barcode, body, at: Date.now() };
  await idb.enqueue(item, null, VIEWS);
  feedback('notice', t('desk_sent'), t0);
  await showPending();
  outbox.pump();
}

async function key(word, t0) { await send('key', { body: { key: word } }, t0); }

async function command(action, t0) {
  if (action === 'logout') {
    await logout();
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
  if (action === 'confirm' || action === 'finish') { await key('FINISH', t0); return; }
  if (action === 'abandon') { await key('ABANDON', t0); return; }
  feedback('notice', t('command_unavailable', { cmd: action }), t0);
}

async function onScan(code, t0, doubleRead) {
  if (doubleRead) { feedback('notice', t('double_read', { code: printable(code) }), t0); return; }
  const cfg = window.__pdaConfig;
  if (cfg.commands[code]) { await command(cfg.commands[code], t0); return; }
  if (code.length > MAX_SCAN_CHARS) { feedback('error', t('too_long', { n: code.length }), t0); return; }
  await send('scan', { barcode: code }, t0);
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

async function keep(node) {
  view = { ...view, node };
  await idb.saveView(view, VIEWS);
  render();
}

// The node's receipt replaces the page's when nothing of this operator waits in the queue.
async function syncFromNode() {
  const s = session();
  if (!s) return;
  if ((await idb.queued()).some((q) => q.operator === s.operator)) return;
  try {
    await keep(await getJson(`/api/v1/desks/${kind}/current`));
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

function bindButtons() {
  for (const b of document.querySelectorAll('[data-key]')) {
    b.addEventListener('click', () => key(b.dataset.key, performance.now()));
  }
  // A QC fail (or a damaged return) needs its reason: a listed one or the operator's own.
  for (const b of document.querySelectorAll('[data-reason]')) {
    b.addEventListener('click', () => key(`${$('desk-reasons').dataset.word}:${b.dataset.reason}`, performance.now()));
  }
  const form = $('reason-form');
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const text = $('reason-text').value.trim();
    if (!text) { feedback('error', t('desk_reason_empty')); return; }
    $('reason-text').value = '';
    key(`${$('desk-reasons').dataset.word}:${text}`, performance.now());
  });
}

export async function initDesk(deskKind) {
  kind = deskKind;
  window.__pdaConfig = window.__pdaConfig || {};
  outbox = new Outbox({
    onConfirmed: async (item, body) => {
      if (!body || !body.view) return;
      const tone = TONE[body.signal] || 'error';
      // The node's own sentence (figures, bins) beside the verdict's words, both in the
      // page's language: the sentence comes as message ids and parameters (body.said);
      // only an answer without them (a node older than the ids) shows its English text.
      const sentence = body.said && body.said.length ? said(body.said) : body.text;
      feedback(tone, sentence ? `${verdictText(body)} — ${sentence}` : verdictText(body));
      await keep(body.view);
      if (tone === 'error' && item.barcode != null) {
        $('last-refused').textContent = `${printable(item.barcode)}: ${verdictText(body)}`;
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
    keepFocus: () => !loginOpen() && document.activeElement !== $('reason-text'),
  });
  bindButtons();
  let s = session();
  if (!s) s = await needLogin();
  showWho();
  view = (await idb.loadView(viewKey(s.operator), VIEWS)) || { operator: viewKey(s.operator), node: null };
  render();
  await renderProblems();
  await showPending();
  document.body.dataset.ready = '1';
  outbox.pump();
  syncFromNode();
}
