// Distinct tones (Odoo's barcode app plays different beeps for success and error): a colour
// alone is not enough on a loud floor. Web Audio needs no files; the context starts on the
// first key press or tap (browsers allow sound only after a user gesture).
const TONES = {
  ok: [[1320, 0.07]],
  done: [[880, 0.09], [1320, 0.09], [1760, 0.14]],
  notice: [[660, 0.12]],
  error: [[220, 0.18], [0, 0.06], [220, 0.18]],
};
let ctx = null;

function audio() {
  if (!ctx) {
    const Ctor = window.AudioContext || window.webkitAudioContext;
    if (!Ctor) return null;
    try { ctx = new Ctor(); } catch { return null; }
  }
  if (ctx.state === 'suspended') ctx.resume().catch(() => {});
  return ctx;
}

export function play(name) {
  document.body.dataset.tone = name; // what was played, for the tests and the curious
  const ac = audio();
  if (!ac) return;
  let at = ac.currentTime;
  for (const [freq, len] of TONES[name] || []) {
    if (freq > 0) {
      const osc = ac.createOscillator();
      const gain = ac.createGain();
      osc.type = name === 'error' ? 'square' : 'sine';
      osc.frequency.value = freq;
      gain.gain.setValueAtTime(0.25, at);
      gain.gain.exponentialRampToValueAtTime(0.001, at + len);
      osc.connect(gain).connect(ac.destination);
      osc.start(at);
      osc.stop(at + len);
    }
    at += len;
  }
}
