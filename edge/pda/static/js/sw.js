// The PDA's service worker (docs/pda.md "Offline on the LAN"): keeps the app shell — the
// pages, which hold no operator data, and the static files — so a reload while the node is
// unreachable still opens the page, which then resumes from its IndexedDB queue.
// Served by the node at /pda/sw.js (edge/pda/routes.py), which puts `SHELL` in front of
// this file: { version, pages: [...], files: [...] }. Only registered in a secure context
// when the node's `pda_service_worker` setting is on.
//
// Never cached: the JSON API (/api/, /pda/api/) and the fragments (/pda/frag/: the
// operator's data, fetched with the bearer token). The IndexedDB queue is the only offline
// store of scans; a scan is never answered from a cache.
/* global SHELL */
const PREFIX = 'pda-shell-';
const CACHE = PREFIX + SHELL.version;
// A page from the network unless it takes longer than this; then the cached shell.
const PAGE_TIMEOUT_MS = 3000;

self.addEventListener('install', (event) => {
  event.waitUntil((async () => {
    const cache = await caches.open(CACHE);
    // `reload`: past the HTTP cache, so the shell cached is the one of this version.
    await cache.addAll([...SHELL.pages, ...SHELL.files].map((u) => new Request(u, { cache: 'reload' })));
    await self.skipWaiting();
  })());
});

self.addEventListener('activate', (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) {
      if (name.startsWith(PREFIX) && name !== CACHE) await caches.delete(name);
    }
    // Control the page that registered us at once (it then survives a reload offline).
    await self.clients.claim();
  })());
});

function networkOnly(path) {
  return path.startsWith('/api/') || path.startsWith('/pda/api/') || path.startsWith('/pda/frag/')
    || path === '/pda/sw.js' || path === '/metrics';
}

async function staticFile(request) {
  const cache = await caches.open(CACHE);
  const hit = await cache.match(request);
  if (hit) return hit;
  const res = await fetch(request);
  if (res.ok && res.type === 'basic') await cache.put(request, res.clone());
  return res;
}

async function cachedPage(cache, request) {
  return (await cache.match(request)) || (await cache.match(request, { ignoreSearch: true }));
}

async function page(event) {
  const { request } = event;
  const cache = await caches.open(CACHE);
  const fromNetwork = fetch(request).then(async (res) => {
    if (res.ok && res.type === 'basic') await cache.put(request, res.clone());
    return res;
  });
  event.waitUntil(fromNetwork.then(() => {}, () => {}));
  let timer;
  const slow = new Promise((resolve) => { timer = setTimeout(resolve, PAGE_TIMEOUT_MS, null); });
  try {
    const res = await Promise.race([fromNetwork, slow]);
    if (res) return res;
    return (await cachedPage(cache, request)) || (await fromNetwork);
  } catch (err) {
    const hit = await cachedPage(cache, request);
    if (hit) return hit;
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

self.addEventListener('fetch', (event) => {
  const { request } = event;
  if (request.method !== 'GET') return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin || networkOnly(url.pathname)) return; // the network, untouched
  if (url.pathname.startsWith('/pda/static/')) event.respondWith(staticFile(request));
  // Pages: a navigation or htmx's boosted request for one (the same HTML either way).
  else if (url.pathname === '/pda' || url.pathname.startsWith('/pda/')) event.respondWith(page(event));
});
