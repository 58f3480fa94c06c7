// The pick page's own judgement of a scan, at once and without the network: the same
// rules as the node's station (edge/stations/pick.py: bin then items, a stop ends at its
// quantity or short, substitute takes the next item in place of the wanted SKU). The node
// stays the authority: its answer is compared with this one when the scan is sent, and a
// difference is shown as a problem (pick.js). Pure: (view, input) -> new view + verdict.
import { t, printable } from './text.js';

export const MAX_SCAN_CHARS = 4096; // longer is refused by the API (docs/pick-api.md)
const MAX_BARCODE_CHARS = 128; // longer is "unreadable" at the station

function problemOf(code) {
  if (code.length > MAX_BARCODE_CHARS) return t('problem_long', { n: code.length });
  if (/[\x00-\x1f\x7f]/.test(code)) return t('problem_control');
  return null;
}

function clone(view) {
  return { ...view, stops: view.stops.map((s) => ({ ...s })) };
}

function got(stop) { return stop.picked + (stop.subs || 0); }

function say(view, verdict, text, tone) { return { view, verdict, text, tone }; }

function endStop(view, short) {
  const stop = view.stops[view.index];
  stop.done = true;
  stop.short = short && got(stop) < stop.qty;
  view.index += 1;
  while (view.index < view.stops.length && view.stops[view.index].qty === 0) {
    view.stops[view.index].done = true;
    view.index += 1;
  }
  if (view.index >= view.stops.length) {
    view.expect = null;
    view.done = true;
    return say(view, 'complete', t('complete', { wave: view.wave }), 'done');
  }
  view.expect = 'bin';
  const next = view.stops[view.index].bin;
  const vars = { bin: stop.bin, got: got(stop), qty: stop.qty, next };
  return stop.short
    ? say(view, 'short', t('stop_short', vars), 'notice')
    : say(view, 'ok', t('stop_done', vars), 'ok');
}

export function judgeScan(view0, code) {
  const view = clone(view0);
  const stop = view.stops[view.index];
  const shown = printable(code);
  const bad = problemOf(code);
  if (bad) return say(view, 'unreadable', t('unreadable', { problem: bad }), 'error');
  const bin = view.codes.bins[code];
  if (bin !== undefined || (view.expect === 'bin' && view.codes.items[code] === undefined)) {
    if (bin === stop.bin) {
      if (view.expect !== 'bin') {
        return say(view, 'notice', t('bin_again', { bin: stop.bin, got: got(stop), qty: stop.qty }), 'notice');
      }
      view.expect = 'item';
      return say(view, 'ok', t('bin_ok', { bin: stop.bin, qty: stop.qty, sku: stop.sku_code }), 'ok');
    }
    if (view.expect !== 'bin') {
      return say(view, 'wrong_bin', t('mid_stop_bin', { code: shown, bin: stop.bin }), 'error');
    }
    return bin !== undefined
      ? say(view, 'wrong_bin', t('wrong_bin', { code: shown, bin: stop.bin }), 'error')
      : say(view, 'unknown', t('unknown_bin', { code: shown, bin: stop.bin }), 'error');
  }
  if (view.expect === 'bin') return say(view, 'bin_first', t('bin_first', { bin: stop.bin }), 'error');
  const sku = view.codes.items[code];
  if (view.expect === 'serial') {
    // A transfer's serial-tracked unit: this scan is its serial, not an item (the node
    // refuses a serial picked twice: a difference shows as a problem).
    if (sku !== undefined) return say(view, 'wrong_item', t('serial_expected', { sku: stop.sku_code }), 'error');
    // A serial is one unit: picked once on the transfer (the node's list, GET
    // /api/v1/picks/current `serials`, and this page's since), refused at once as there.
    if ((view.serials || []).includes(code)) return say(view, 'wrong_item', t('serial_twice', { serial: shown }), 'error');
    view.serials = [...(view.serials || []), code];
    stop.picked += 1;
    view.expect = 'item';
    if (got(stop) < stop.qty) return say(view, 'ok', t('item_ok', { sku: stop.sku_code, got: got(stop), qty: stop.qty }), 'ok');
    return endStop(view, false);
  }
  if (sku === stop.sku_code && (view.codes.serial || []).includes(sku)) {
    view.expect = 'serial';
    return say(view, 'serial', t('scan_serial', { sku }), 'ok');
  }
  if (sku === stop.sku_code) {
    stop.picked += 1;
  } else if (view.expect === 'substitute') {
    // Any item the node knows may stand in; the page knows only the wave's barcodes, so
    // the node's answer decides (a refusal shows as a problem).
    stop.subs = (stop.subs || 0) + 1;
  } else if (sku === undefined) {
    return say(view, 'unknown', t('unknown_item', { code: shown }), 'error');
  } else {
    return say(view, 'wrong_item', t('wrong_item', { code: shown, sku: stop.sku_code }), 'error');
  }
  if (got(stop) < stop.qty) {
    const sub = view.expect === 'substitute' && sku !== stop.sku_code;
    view.expect = 'item';
    return sub
      ? say(view, 'ok', t('substitute_ok', { code: shown, sku: stop.sku_code }), 'ok')
      : say(view, 'ok', t('item_ok', { sku: stop.sku_code, got: got(stop), qty: stop.qty }), 'ok');
  }
  return endStop(view, false);
}

export function judgeShort(view0) {
  return endStop(clone(view0), true);
}

// Substitute is refused by the node at the bin and when already on (docs/pick-api.md):
// refused here too, so it is never queued to become a problem.
export function judgeSubstitute(view0) {
  const view = clone(view0);
  const stop = view.stops[view.index];
  if (view.expect === 'bin') return { refused: true, ...say(view, 'bin_first', t('sub_bin_first', { bin: stop.bin }), 'error') };
  if (view.expect === 'substitute') return { refused: true, ...say(view, 'notice', t('already_substituting'), 'notice') };
  view.expect = 'substitute';
  return say(view, 'substitute', t('substitute', { sku: stop.sku_code }), 'notice');
}

// Node verdicts that mean the same as the page's for what happens next: both leave the
// wave as it was (the page knows only the wave's barcodes: an item of another SKU is
// "unknown" here and "wrong_item" there).
const SAME = [['unknown', 'wrong_item', 'wrong_bin', 'bin_first', 'unreadable', 'notice', 'duplicate']];

export function agrees(local, node) {
  if (local === node) return true;
  return SAME.some((group) => group.includes(local) && group.includes(node));
}

// The view the page keeps from the node's pick list (GET /api/v1/picks/{wave}), its
// current stop (GET /api/v1/picks/current) and the wave's barcodes (GET /pda/api/codes).
export function viewFrom(operator, list, current, codes) {
  const stops = list.stops.map((s) => ({
    index: s.index, bin: s.bin, bin_barcode: s.bin_barcode, sku_code: s.sku_code,
    sku_name: s.sku_name, qty: s.qty, picked: s.picked,
    subs: Object.values(s.substitutes || {}).reduce((a, b) => a + b, 0),
    short: s.short, done: s.done,
  }));
  const index = current.stop ? current.stop.index : stops.length;
  return {
    operator, wave: list.wave, stops, index,
    expect: current.expect, done: current.stop === null && list.state === 'done',
    codes: { bins: codes.bins, items: codes.items, names: codes.names, serial: codes.serial || [] },
    serials: current.serials || [],
  };
}
