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
