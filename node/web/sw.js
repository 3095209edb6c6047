/* sw.js - the service worker that keeps the officers' pages working on a
 * tablet away from the office LAN. It keeps the pages, the libraries and
 * the look-ups the forms need (session, code lists, areas) in the
 * browser's cache: online, every GET goes to the node first and the cache
 * is refreshed; offline, the cache answers. Writes (POST) are never
 * touched here: app.js keeps offline forms as drafts in IndexedDB and
 * sends each once, with its Idempotency-Key, when the node answers again. */
'use strict';

const CACHE = 'sikhnas-v2';
const SHELL = ['/', '/index.html', '/app.css', '/app.js', '/case.js', '/officers.js', '/dash.js',
               '/map.js', '/offline.js', '/manifest.webmanifest', '/icon.svg'];
/* API reads a form needs offline; other reads are online only */
const API_KEPT = /^\/api\/v1\/(session|codes|areas)(\?|$)/;

self.addEventListener('install', e => {
  e.waitUntil(caches.open(CACHE).then(c => c.addAll(SHELL)).then(() => self.skipWaiting()));
});

self.addEventListener('activate', e => {
  e.waitUntil(caches.keys().then(keys => Promise.all(keys.filter(k => k !== CACHE).map(k => caches.delete(k))))
    .then(() => self.clients.claim()));
});

self.addEventListener('fetch', e => {
  const req = e.request;
  const url = new URL(req.url);
  if (req.method !== 'GET' || url.origin !== self.location.origin) return;
  const api = url.pathname.startsWith('/api/');
  if (api && !API_KEPT.test(url.pathname + url.search)) return;
  e.respondWith(fetch(req).then(res => {
    if (res.ok) {
      const copy = res.clone();
      caches.open(CACHE).then(c => c.put(api ? req : url.pathname === '/' ? '/index.html' : req, copy));
    }
    return res;
  }).catch(() => caches.match(api ? req : url.pathname === '/' ? '/index.html' : req, { ignoreSearch: !api })
    .then(hit => hit ? fromCache(hit) : new Response(JSON.stringify({ error: { code: 'offline', message: 'offline' } }),
      { status: 503, headers: { 'Content-Type': 'application/json', 'X-Sikhnas-Offline': '1' } }))));
});

/* A kept answer, marked so that the page knows the node was out of reach. */
function fromCache(hit) {
  const h = new Headers(hit.headers);
  h.set('X-Sikhnas-Offline', '1');
  return hit.blob().then(b => new Response(b, { status: hit.status, statusText: hit.statusText, headers: h }));
}
