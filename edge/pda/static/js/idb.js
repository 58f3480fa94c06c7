// The handheld's durable state in IndexedDB (docs/pda.md "Queue"): the queue of actions
// not yet confirmed by the node, the problems the node refused, and each operator's view
// of the wave. Writes that matter use durability "strict": complete means on disk.
const NAME = 'guanjia-pda';
let opening = null;

export function db() {
  if (!opening) {
    opening = new Promise((resolve, reject) => {
      // Version 2 adds `counts` (each operator's view of a stocktake, count.js), version 3
      // `desks` (each operator's last receipt the node confirmed, desk.js); an upgrade
      // keeps the queue and the problems.
      const req = indexedDB.open(NAME, 3);
      req.onupgradeneeded = () => {
        const d = req.result;
        const has = (n) => d.objectStoreNames.contains(n);
        if (!has('queue')) d.createObjectStore('queue', { keyPath: 'id', autoIncrement: true });
        if (!has('problems')) d.createObjectStore('problems', { keyPath: 'id', autoIncrement: true });
        if (!has('state')) d.createObjectStore('state', { keyPath: 'operator' });
        if (!has('counts')) d.createObjectStore('counts', { keyPath: 'operator' });
        if (!has('desks')) d.createObjectStore('desks', { keyPath: 'operator' });
      };
      req.onsuccess = () => {
        // A newer page (another tab after an upgrade) wants the database: let it go, and
        // open it again at the next use, rather than block its upgrade.
        req.result.onversionchange = () => { req.result.close(); opening = null; };
        resolve(req.result);
      };
      req.onerror = () => reject(req.error);
    });
  }
  return opening;
}

function done(tx) {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error || new Error('transaction aborted'));
  });
}

function result(req) {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

// One transaction: the action joins the queue and the view it led to is saved, or neither.
export async function enqueue(item, view, views = 'state') {
  const d = await db();
  const tx = d.transaction(['queue', views], 'readwrite', { durability: 'strict' });
  const id = result(tx.objectStore('queue').add(item));
  if (view) tx.objectStore(views).put(view);
  await done(tx);
  return id;
}

export async function queued() {
  const d = await db();
  return result(d.transaction('queue').objectStore('queue').getAll());
}

export async function unqueue(id) {
  const d = await db();
  const tx = d.transaction('queue', 'readwrite', { durability: 'strict' });
  tx.objectStore('queue').delete(id);
  await done(tx);
}

// A refused action leaves the queue for the problems list in one transaction: kept, shown,
// never sent again.
export async function refuse(item, problem) {
  const d = await db();
  const tx = d.transaction(['queue', 'problems'], 'readwrite', { durability: 'strict' });
  tx.objectStore('queue').delete(item.id);
  tx.objectStore('problems').add({ ...problem, item, at: Date.now(), open: true });
  await done(tx);
}

export async function addProblem(problem) {
  const d = await db();
  const tx = d.transaction('problems', 'readwrite', { durability: 'strict' });
  tx.objectStore('problems').add({ ...problem, at: Date.now(), open: true });
  await done(tx);
}

export async function problems() {
  const d = await db();
  return result(d.transaction('problems').objectStore('problems').getAll());
}

export async function closeProblem(id) {
  const d = await db();
  const tx = d.transaction('problems', 'readwrite');
  const store = tx.objectStore('problems');
  const p = await result(store.get(id));
  if (p) store.put({ ...p, open: false });
  await done(tx);
}

export async function loadView(operator, views = 'state') {
  const d = await db();
  return result(d.transaction(views).objectStore(views).get(operator));
}

export async function saveView(view, views = 'state') {
  const d = await db();
  const tx = d.transaction(views, 'readwrite');
  tx.objectStore(views).put(view);
  await done(tx);
}

export async function dropView(operator) {
  const d = await db();
  const tx = d.transaction('state', 'readwrite');
  tx.objectStore('state').delete(operator);
  await done(tx);
}

// Idempotency keys: crypto.getRandomValues works on plain HTTP, crypto.randomUUID does
// not (a LAN address is not a secure context).
export function newKey() {
  const b = new Uint8Array(16);
  crypto.getRandomValues(b);
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}
