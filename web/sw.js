// sw.js keeps the app shell so that the page works offline after the
// first visit. Network first (the server answers with cheap 304s), the
// cache when offline. Model files are not handled here: the page keeps
// them with the Cache API itself (lib/models.js), and checkpoints come
// from another origin, the hub (lib/getmodel.js). The demo videos (about
// 60 kB, listed in demos/index.json) are kept too, so that "Try the demo
// videos" works offline.
'use strict';

const SHELL = 'clip4clip-shell-v4';
const FILES = [
  './',
  'index.html',
  'style.css',
  'app.js',
  'lib/db.js',
  'lib/engine.js',
  'lib/format.js',
  'lib/getmodel.js',
  'lib/indexer.js',
  'lib/models.js',
  'lib/pool.js',
  'lib/sampler.js',
  'lib/sha256.js',
  'lib/site.js',
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

self.addEventListener('install', (event) => {
  event.waitUntil((async () => {
    const cache = await caches.open(SHELL);
    // One missing file must not keep the others out.
    await Promise.all(FILES.map((f) => cache.add(f).catch((err) => console.warn('clip4clip sw: not cached', f, err))));
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
  const url = new URL(req.url);
  if (req.method !== 'GET' || url.origin !== location.origin) return;
  if (url.pathname.endsWith('.c4c') || url.pathname.includes('/model-cache/')) return;
  if (req.headers.has('range')) return;
  event.respondWith((async () => {
    const cache = await caches.open(SHELL);
    try {
      const resp = await fetch(req);
      if (resp.ok && resp.type === 'basic') {
        // Keep the page under its path without the query string.
        const key = req.mode === 'navigate' ? new Request(url.origin + url.pathname) : req;
        cache.put(key, resp.clone()).catch(() => {});
      }
      return resp;
    } catch (err) {
      const hit = await cache.match(req, { ignoreSearch: true });
      if (hit) return hit;
      if (req.mode === 'navigate') {
        const page = await cache.match('./') || await cache.match('index.html');
        if (page) return page;
      }
      throw err;
    }
  })());
});
