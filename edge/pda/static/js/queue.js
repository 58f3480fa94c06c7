// Sending the queue to the node (docs/pda.md "Queue"): oldest first, one at a time, each
// with its own Idempotency-Key (a retry after a lost answer gets the node's first answer
// and commits nothing: docs/pick-api.md "Durability and retries"). It stops at the first
// network error and tries again with backoff and on the `online` event; a 401 waits for
// the operator to log in again; a 4xx refusal becomes a problem on screen, never a retry.
import * as idb from './idb.js';
import { session } from './auth.js';

const PATHS = {
  scan: '/api/v1/scan',
  short: '/api/v1/short',
  substitute: '/api/v1/substitute',
  // Stocktake by scanner (count.js; edge/api/counts.py)
  count_start: '/api/v1/counts/start',
  count_scan: '/api/v1/counts/scan',
  count_recount: '/api/v1/counts/recount',
  count_finish: '/api/v1/counts/finish',
  count_abort: '/api/v1/counts/abort',
  // Receiving and returns (desk.js; edge/api/desks.py)
  receive_scan: '/api/v1/desks/inbound/scan',
  receive_key: '/api/v1/desks/inbound/key',
  returns_scan: '/api/v1/desks/returns/scan',
  returns_key: '/api/v1/desks/returns/key',
};
const BACKOFF_MS = [500, 1000, 2000, 4000, 8000, 15000];
// The station takes the same code twice within 30 ms for a double read (edge/stations/
// pick.py); two real scans of one item replayed back to back are spaced past that.
const SAME_CODE_GAP_MS = 45;
const TIMEOUT_MS = 10000;

export class Outbox {
  constructor(hooks) {
    this.hooks = hooks; // onConfirmed(item, body), refusalText(item, code), onRefused(item, text), onAuth(), onNetwork(up), onChange()
    this.running = false;
    this.again = false;
    this.failures = 0;
    this.timer = null;
    this.lastSent = { barcode: null, at: 0 };
    window.addEventListener('online', () => this.pump());
  }

  schedule() {
    clearTimeout(this.timer);
    const wait = BACKOFF_MS[Math.min(this.failures, BACKOFF_MS.length - 1)];
    this.failures += 1;
    this.timer = setTimeout(() => this.pump(), wait);
  }

  async pump() {
    if (this.running) { this.again = true; return; }
    this.running = true;
    try {
      for (;;) {
        const s = session();
        if (!s) { this.hooks.onAuth(); break; }
        const item = (await idb.queued()).find((q) => q.operator === s.operator);
        if (!item) break;
        const res = await this.send(item, s.token);
        if (res === null) { this.hooks.onNetwork(false); this.schedule(); break; }
        this.hooks.onNetwork(true);
        if (res.status === 401) { this.hooks.onAuth(); break; }
        let body = null;
        try { body = await res.json(); } catch { body = null; }
        if (res.ok && body) {
          this.failures = 0;
          await idb.unqueue(item.id);
          this.hooks.onConfirmed(item, body);
          this.hooks.onChange();
          continue;
        }
        if (res.status >= 400 && res.status < 500 && res.status !== 408 && res.status !== 429) {
          const detail = body && typeof body.detail === 'string' ? body.detail
            : body && Array.isArray(body.detail) ? body.detail.map((d) => d.msg).join('; ')
            : String(res.status);
          // The page shows the catalogue's sentence for the node's stable code; the
          // node's own (English) sentence is kept with the problem for a lead.
          const code = (body && typeof body.code === 'string' && body.code)
            || (res.status === 422 ? 'invalid_request' : String(res.status));
          const text = this.hooks.refusalText(item, code);
          await idb.refuse(item, { status: res.status, code, detail, text, operator: item.operator });
          this.hooks.onRefused(item, text);
          this.hooks.onChange();
          continue;
        }
        this.schedule(); // 5xx, 408, 429: the node is there but not now
        break;
      }
    } catch (e) {
      console.error('queue', e);
      this.schedule();
    } finally {
      this.running = false;
      if (this.again) { this.again = false; this.pump(); }
    }
  }

  async send(item, token) {
    if (item.barcode != null && item.barcode === this.lastSent.barcode) {
      const gap = performance.now() - this.lastSent.at;
      if (gap < SAME_CODE_GAP_MS) await new Promise((r) => setTimeout(r, SAME_CODE_GAP_MS - gap));
    }
    const ctl = new AbortController();
    const timer = setTimeout(() => ctl.abort(), TIMEOUT_MS);
    try {
      const res = await fetch(PATHS[item.op], {
        method: 'POST',
        headers: {
          authorization: 'Bearer ' + token,
          'idempotency-key': item.key,
          'content-type': 'application/json',
        },
        body: item.barcode != null ? JSON.stringify({ barcode: item.barcode })
          : item.body ? JSON.stringify(item.body) : null,
        cache: 'no-store',
        signal: ctl.signal,
      });
      this.lastSent = { barcode: item.barcode != null ? item.barcode : null, at: performance.now() };
      return res;
    } catch {
      return null;
    } finally {
      clearTimeout(timer);
    }
  }
}
