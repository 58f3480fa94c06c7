// The scan field (docs/pda.md "Scan input"). A handheld's scanner either types the code
// and Enter into the focused field (keyboard wedge) or injects the whole code as text
// (IME "direct fill"). The field is type=text inputmode=none: never readonly or hidden,
// which breaks IME injection; it takes the focus back whenever something else had it.
// A scanner's double read (the same code again within doubleReadMs) is dropped here.
// Scans go to the callback synchronously: never through htmx (a trigger keeps only the
// last event while a request is in flight).

export function attachScan(input, handler, { doubleReadMs = 100, keepFocus = () => true } = {}) {
  let last = { code: null, at: -1e9 };
  // The answer is on screen before the handler's queue write is on disk (the operator
  // never waits): `busy` counts the handlers not yet done, for whoever must wait for the
  // write — a test that reloads or checks the queue right after a scan.
  const pda = (window.__pda = window.__pda || { timings: [], shown: [] });
  pda.busy = pda.busy || 0;
  function onScan(code, t0, dbl) {
    const r = handler(code, t0, dbl);
    if (r && typeof r.then === 'function') {
      pda.busy += 1;
      r.catch((e) => console.error('scan', e)).finally(() => { pda.busy -= 1; });
    }
  }

  function take(raw, t0) {
    const code = raw.replace(/[\r\n]+$/, '');
    input.value = '';
    if (!code) return;
    if (code === last.code && t0 - last.at < doubleReadMs) {
      last.at = t0;
      onScan(code, t0, true);
      return;
    }
    last = { code, at: t0 };
    onScan(code, t0, false);
  }

  input.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' || e.key === 'Tab') {
      e.preventDefault();
      take(input.value, performance.now());
    }
  });
  // IME injection: one input event carrying the whole code (typed keys carry one
  // character each). A trailing newline, if the IME sends one, ends it too.
  input.addEventListener('input', (e) => {
    const data = e.data || '';
    if ((e.inputType === 'insertText' || e.inputType === 'insertReplacementText') && data.length > 1) {
      take(input.value, performance.now());
    } else if (/[\r\n]$/.test(input.value)) {
      take(input.value, performance.now());
    }
  });

  const refocus = () => {
    if (keepFocus() && document.activeElement !== input) input.focus({ preventScroll: true });
  };
  input.addEventListener('blur', () => setTimeout(refocus, 0));
  document.addEventListener('visibilitychange', refocus);
  window.addEventListener('focus', refocus);
  document.addEventListener('click', (e) => {
    if (!e.target.closest('input, select, textarea')) setTimeout(refocus, 0);
  });
  refocus();
  return { refocus };
}
