// sw.js keeps the app shell so that the page works offline after the
// first visit: the files listed in FILES and nothing else. Network first
// (the server answers with cheap 304s), the cache when offline. Everything
// else goes to the network untouched: site indexes, videos and any other
// file on the site are the user's data, never kept here. Model files are
// not handled either: the page keeps them with the Cache API itself
// (lib/models.js, cache clip4clip-models-v1), and checkpoints come from
// another origin, the hub (lib/getmodel.js). The demo videos (about 60 kB,
// listed in demos/index.json) ship with the app and are kept, so that "Try
// the demo videos" works offline.
//
// The cache is named after the build: build.sh writes version.js, a hash
// of the app's files. A new build is a new version.js, so the browser
// installs this worker again (it compares imported scripts too), and
// activate deletes the caches of other versions.
'use strict';

try {
  importScripts('version.js'); // sets self.CLIP4CLIP_BUILD
} catch (err) {
  console.warn('clip4clip sw: no version.js (not built with build.sh?)', err);
}
const SHELL = 'clip4clip-shell-' + (self.CLIP4CLIP_BUILD || 'dev');
const FILES = [
  './',
  'index.html',
  'style.css',
  'app.js',
  'lib/badvideo.js',
  'lib/cards.js',
  'lib/db.js',
  'lib/decoder.js',
  'lib/demos.js',
  'lib/demux.js',
  'lib/drop.js',
  'lib/engine.js',
  'lib/format.js',
  'lib/getmodel.js',
  'lib/handles.js',
  'lib/indexer.js',
  'lib/match.js',
  'lib/messages.js',
  'lib/modelpanel.js',
  'lib/models.js',
  'lib/page.js',
  'lib/picker.js',
  'lib/player.js',
  'lib/pool.js',
  'lib/queue.js',
  'lib/reembed.js',
  'lib/sampler.js',
  'lib/search.js',
  'lib/searchkeys.js',
  'lib/sha256.js',
  'lib/site.js',
  'lib/sites.js',
  'lib/toast.js',
  'lib/transfer.js',
  'lib/words.js',
  'lib/gpu/backend.js',
  'lib/gpu/check.js',
  'lib/gpu/describe.js',
  'lib/gpu/device.js',
  'lib/gpu/encoder.js',
  'lib/gpu/kernels.js',
  'lib/gpu/reference.js',
  'lib/gpu/weights.js',
  'widget/clip-search-worker.js',
  'worker.js',
  'convert-worker.js',
  'wasm_exec.js',
  'clip4clip.wasm',
  'simd/kernels.js',
  'simd/kernels_relaxed.wasm',
  'simd/kernels_simd.wasm',
  'favicon.svg',
  'demos/index.json',
  'demos/demo0.webm',
  'demos/demo1.webm',
  'demos/demo2.webm',
];

// shell holds the absolute URLs of FILES, the cache's only keys.
const shell = new Set(FILES.map((f) => new URL(f, self.registration.scope).href));

self.addEventListener('install', (event) => {
  event.waitUntil((async () => {
    const cache = await caches.open(SHELL);
    // One missing file must not keep the others out. no-cache: a new
    // version must not be filled from the HTTP cache's copies of the old.
    await Promise.all(FILES.map((f) => cache.add(new Request(f, { cache: 'no-cache' })).catch((err) => console.warn('clip4clip sw: not cached', f, err))));
    await self.skipWaiting();
  })());
});

self.addEventListener('activate', (event) => {
  event.waitUntil((async () => {
    for (const key of await caches.keys()) {
      if (key.startsWith('clip4clip-shell-') && key !== SHELL) await caches.delete(key);
    }
    await self.clients.claim();
  })());
});

self.addEventListener('fetch', (event) => {
  const req = event.request;
  if (req.method !== 'GET' || req.headers.has('range')) return;
  // The shell file under its URL without the query string (the page is
  // opened with ?hub= and the like), or not ours to keep.
  const url = new URL(req.url);
  url.search = url.hash = '';
  const key = url.href;
  if (!shell.has(key)) {
    // Another page of the site (the widget's example, the site's own):
    // the network's answer, or offline a page that says so, never the
    // app's page in its place.
    if (req.mode === 'navigate') event.respondWith(fetch(req).catch(() => offlinePage(url.pathname)));
    return;
  }
  event.respondWith((async () => {
    const cache = await caches.open(SHELL);
    try {
      const resp = await fetch(req);
      if (resp.ok && resp.type === 'basic') {
        event.waitUntil(cache.put(key, resp.clone()).catch(() => {}));
      }
      return resp;
    } catch (err) {
      const hit = await cache.match(key);
      if (hit) return hit;
      throw err;
    }
  })());
});

// offlinePage is the answer, offline, to a navigation outside the app: a
// 503 that says what is kept and links to the app.
function offlinePage(path) {
  const esc = (x) => x.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]);
  const app = new URL('./', self.registration.scope).pathname;
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="dark light"><title>Offline</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem}code{word-break:break-all}</style></head>
<body><h1 id="offline">You are offline</h1>
<p><code>${esc(path)}</code> could not be loaded: this browser has no connection to the site, and keeps only the clip4clip app for offline use, not the site's other pages.</p>
<p>Connect again and reload, or <a href="${esc(app)}">open clip4clip</a>, which works offline.</p></body></html>`;
  return new Response(html, { status: 503, statusText: 'Offline', headers: { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' } });
}
