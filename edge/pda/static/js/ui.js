// What every page shares: the header (operator, network, pending count), the login panel,
// and the feedback line (colour + text + tone; a colour alone is not enough).
import * as idb from './idb.js';
import { login, session } from './auth.js';
import { play } from './tones.js';
import { refusal, t } from './text.js';

export const $ = (id) => document.getElementById(id);

// Timings of scan -> feedback (performance.now() from the Enter key to the DOM update,
// and to the next frame): read by the browser tests (docs/benchmarks.md).
window.__pda = window.__pda || { timings: [], shown: [] };

export function feedback(kind, text, t0) {
  const el = $('feedback');
  if (!el) return;
  el.className = 'feedback ' + kind;
  el.textContent = text;
  const tone = { ok: 'ok', done: 'done', notice: 'notice', error: 'error' }[kind] || 'notice';
  play(tone);
  window.__pda.shown.push({ kind, text });
  if (t0 !== undefined) {
    const dom = performance.now() - t0;
    requestAnimationFrame(() => window.__pda.timings.push({ dom, frame: performance.now() - t0 }));
  }
}

export function setNetwork(up) {
  const el = $('net');
  if (!el) return;
  el.textContent = up ? '' : t('offline');
  el.className = up ? 'net' : 'net down';
}

export async function showPending() {
  const el = $('pending');
  if (!el) return 0;
  const s = session();
  const all = await idb.queued();
  const mine = all.filter((q) => s && q.operator === s.operator).length;
  const others = {};
  for (const q of all) if (!s || q.operator !== s.operator) others[q.operator] = (others[q.operator] || 0) + 1;
  let text = all.length ? t('pending', { n: all.length }) : t('all_sent');
  for (const [op, n] of Object.entries(others)) text += ' · ' + t('other_operator', { op, n });
  el.textContent = text;
  el.dataset.count = String(all.length);
  el.className = all.length ? 'pending waiting' : 'pending';
  return mine;
}

export function showWho() {
  const s = session();
  const el = $('who');
  if (el) el.textContent = s ? s.name : '';
}

// The login panel: a page calls needLogin() on a 401 or without a session; the promise
// resolves once the operator is signed in (the queue waits meanwhile, nothing is dropped).
let waiting = null;

export function needLogin(reason) {
  const panel = $('login');
  if (!panel) return Promise.resolve();
  panel.hidden = false;
  document.body.classList.add('login-open');
  const msg = $('login-msg');
  if (reason && msg) msg.textContent = reason;
  const op = $('login-operator');
  const s = session();
  if (op && !op.value && s) op.value = s.operator;
  (op && !op.value ? op : $('login-pin'))?.focus();
  if (!waiting) {
    let resolve;
    waiting = new Promise((r) => { resolve = r; });
    waiting.resolve = resolve;
  }
  return waiting;
}

export function loginOpen() {
  const panel = $('login');
  return !!panel && !panel.hidden;
}

export function bindLogin() {
  const form = $('login-form');
  if (!form || form.dataset.bound) return;
  form.dataset.bound = '1';
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const msg = $('login-msg');
    const pin = $('login-pin');
    const r = await login($('login-operator').value.trim(), pin.value);
    pin.value = '';
    if (r.session) {
      $('login').hidden = true;
      document.body.classList.remove('login-open');
      msg.textContent = '';
      showWho();
      if (waiting) { const w = waiting; waiting = null; w.resolve(r.session); }
      return;
    }
    const texts = {
      offline: () => t('login_offline'),
      bad_credentials: () => t('bad_credentials'),
      locked: () => t('locked', { min: Math.max(1, Math.ceil(r.retry / 60)) }),
      too_many_attempts: () => t('too_many_attempts', { s: Math.ceil(r.retry) }),
      busy: () => t('busy'),
    };
    msg.textContent = (texts[r.error] || (() => t('login_failed', { detail: refusal(r.error) })))();
    msg.className = 'login-msg error';
    play('error');
    pin.focus();
  });
}
