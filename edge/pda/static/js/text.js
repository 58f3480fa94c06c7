// Translated strings come from the server (edge/pda/messages.py) as JSON in the page.
let config = null;

export function pageConfig() {
  const el = document.getElementById('pda-config');
  config = el ? JSON.parse(el.textContent) : { text: {}, commands: {}, doubleReadMs: 100 };
  return config;
}

export function t(key, vars = {}) {
  const tpl = (config && config.text[key]) || key;
  return tpl.replace(/\{(\w+)\}/g, (m, name) => (name in vars ? String(vars[name]) : m));
}

// What a person can read of a scanned string: control characters as \xNN, long codes cut.
export function printable(code) {
  const shown = code.length > 40 ? code.slice(0, 40) + '…' : code;
  return shown.replace(/[\x00-\x1f\x7f]/g, (c) => '\\x' + c.charCodeAt(0).toString(16).padStart(2, '0'));
}

export function known(key) { return !!(config && config.text[key]); }

// The node's refusals and verdicts by their stable codes (docs/pda.md "Languages"): the
// node's own sentence is English; the operator reads the catalogue's. An unknown code
// still shows, by its code.
export function refusal(code) {
  return known('err_' + code) ? t('err_' + code) : t('err_other', { code });
}

export function nodeVerdict(body) {
  const kind = 'kind_' + String(body.kind || '').replace(/\./g, '_');
  if (known(kind)) return t(kind);
  if (body.verdict && known('verdict_' + body.verdict)) return t('verdict_' + body.verdict);
  return String(body.kind || body.verdict || '');
}

// A station's sentence (edge/stations/sentences.py): its parts, each a message id (the
// English, with {name} placeholders) and its parameters, said in the page's language from
// the table the server put in the page (config.said). A parameter may be a part itself (a
// word: a zone, a status) or a list of parts. An id the table lacks (a newer node) is said
// in English.
function sayPart(part) {
  if (part === null || typeof part !== 'object') return part == null ? '' : String(part);
  if (Array.isArray(part)) return part.map(sayPart).join(', ');
  const tpl = (config && config.said && config.said[part.msgid]) || String(part.msgid || '');
  const params = part.params || {};
  return tpl.replace(/\{(\w+)\}/g, (m, name) => (name in params ? sayPart(params[name]) : m));
}

export function said(parts) {
  // Chinese sentences follow each other without a space (the parts end in 。).
  const gap = config && String(config.locale || '').startsWith('zh') ? '' : ' ';
  return (parts || []).map(sayPart).join(gap);
}
