// The operator's session: the pick API's bearer token (docs/pick-api.md), kept in
// localStorage so a reload or a browser restart stays signed in until the token expires.
const KEY = 'guanjia-pda.session';

export function session() {
  try { return JSON.parse(localStorage.getItem(KEY)); } catch { return null; }
}

export function forget() { localStorage.removeItem(KEY); }

export async function login(operator, pin) {
  let res;
  try {
    res = await fetch('/api/v1/login', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ operator, pin }),
      cache: 'no-store',
    });
  } catch {
    return { error: 'offline' };
  }
  let body = {};
  try { body = await res.json(); } catch { /* an empty or non-JSON refusal */ }
  if (res.ok) {
    const s = { token: body.token, operator: body.operator, name: body.name || body.operator };
    localStorage.setItem(KEY, JSON.stringify(s));
    return { session: s };
  }
  const retry = Number(res.headers.get('retry-after') || 0);
  const code = typeof body.code === 'string' ? body.code : res.status === 422 ? 'bad_credentials' : 'error';
  return { error: code, retry, detail: typeof body.detail === 'string' ? body.detail : String(res.status) };
}

export async function logout() {
  const s = session();
  forget();
  if (!s) return;
  try {
    await fetch('/api/v1/logout', { method: 'POST', headers: { authorization: 'Bearer ' + s.token } });
  } catch { /* the token expires by itself */ }
}

export function authHeaders() {
  const s = session();
  return s ? { authorization: 'Bearer ' + s.token } : {};
}
