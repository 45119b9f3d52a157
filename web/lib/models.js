// models.js finds the model to start with and keeps model files in the
// Cache API so that a reload (or going offline) does not ask again.
//
// A model converted in the page (lib/getmodel.js) is stored the same way,
// with where it came from (origin: hub, repo, revision, the SHA-256 of each
// downloaded file, dtype, the probe cosines).
//
// Order at start: the model used last (if its file is still cached), else
// the default model next to the page (models/default.c4c) if the server
// has one, else nothing: the page asks for a file.

/** DEFAULT_URL is where a bundled default model would be. */
export const DEFAULT_URL = 'models/default.c4c';

const CACHE = 'clip4clip-models-v1';
const LAST = 'clip4clip.model';
const MAGIC = 'C4CMODEL';

function cacheURL(id) {
  return new URL(`model-cache/${id}.c4c`, location.href).href;
}

async function openCache() {
  if (!('caches' in self)) return null;
  try {
    return await caches.open(CACHE);
  } catch {
    return null; // e.g. storage disabled for this site
  }
}

/** looksLikeModel checks the first bytes of a Blob for the model magic. */
export async function looksLikeModel(blob) {
  const head = new Uint8Array(await blob.slice(0, 8).arrayBuffer());
  return String.fromCharCode(...head) === MAGIC;
}

/** last returns what remember() stored: {url, name, id, source, origin} or null. */
export function last() {
  try {
    return JSON.parse(localStorage.getItem(LAST) || 'null');
  } catch {
    return null;
  }
}

/**
 * startup returns {blob, name, source, url} for the model to load first,
 * or null. source is "cache" (the model used last), "default" (fetched or
 * revalidated) or "default-cache" (the default, served from the cache
 * because the network failed). defaultMissing tells the caller the server
 * has no default model.
 */
export async function startup() {
  const cache = await openCache();
  const prev = last();
  const wasDefault = prev && (prev.source === 'default' || prev.source === 'default-cache');
  if (cache && prev && prev.url && !wasDefault) {
    const hit = await cache.match(prev.url);
    if (hit) return { blob: await hit.blob(), name: prev.name, source: 'cache', url: prev.url, origin: prev.origin };
  }
  const def = await fetchDefault(cache);
  return def;
}

/** hasDefault reports whether the server has a default model. */
export async function hasDefault() {
  try {
    const resp = await fetch(DEFAULT_URL, { method: 'HEAD', cache: 'no-store' });
    return resp.ok && !(resp.headers.get('Content-Type') || '').startsWith('text/html');
  } catch {
    return false;
  }
}

/** fetchDefault revalidates or downloads the default model. */
export async function fetchDefault(cache) {
  if (cache === undefined) cache = await openCache();
  const url = new URL(DEFAULT_URL, location.href).href;
  const cached = cache ? await cache.match(url) : undefined;
  let resp;
  try {
    const headers = {};
    const tag = cached && cached.headers.get('ETag');
    if (tag) headers['If-None-Match'] = tag;
    resp = await fetch(url, { cache: 'no-store', headers });
  } catch {
    if (cached) return { blob: await cached.blob(), name: 'default.c4c', source: 'default-cache', url };
    return { missing: true };
  }
  if (resp.status === 304 && cached) {
    return { blob: await cached.blob(), name: 'default.c4c', source: 'default', url };
  }
  if (!resp.ok || (resp.headers.get('Content-Type') || '').startsWith('text/html')) {
    if (cached) return { blob: await cached.blob(), name: 'default.c4c', source: 'default-cache', url };
    return { missing: true };
  }
  if (cache) {
    try {
      await cache.put(url, resp.clone());
    } catch (err) {
      console.warn('clip4clip: the default model could not be cached', err);
    }
  }
  return { blob: await resp.blob(), name: 'default.c4c', source: 'default', url };
}

/**
 * store caches a model file under its SHA-256 before it is loaded (a
 * converted model: nothing else keeps it), and returns the cached Blob,
 * read back from the cache. It rejects with a QuotaExceededError when
 * storage is full; the models already cached stay.
 */
export async function store(blob, id) {
  const cache = await openCache();
  if (!cache) return blob;
  const url = cacheURL(id);
  await cache.put(url, new Response(blob, { headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': String(blob.size) } }));
  const hit = await cache.match(url);
  return hit ? hit.blob() : blob;
}

/** unstore removes a model store() cached that was not used after all. */
export async function unstore(id) {
  const cache = await openCache();
  if (cache) await cache.delete(cacheURL(id));
}

/**
 * remember caches a model the person picked (under its hash) and makes it
 * the one loaded next time, with origin (where a converted model came
 * from), if any. Only then are other picked models dropped. It rejects
 * with a QuotaExceededError when storage is full; the model then stays
 * loaded for this visit only.
 */
export async function remember(blob, name, id, source, origin = null) {
  let url = new URL(DEFAULT_URL, location.href).href;
  if (source !== 'default' && source !== 'default-cache') {
    url = cacheURL(id);
    const cache = await openCache();
    if (cache) {
      if (!(await cache.match(url))) {
        await cache.put(url, new Response(blob, { headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': String(blob.size) } }));
      }
      // Keep one picked model besides the default: they are large.
      for (const req of await cache.keys()) {
        if (req.url !== url && req.url.includes('/model-cache/')) await cache.delete(req);
      }
    }
  }
  localStorage.setItem(LAST, JSON.stringify({ url, name, id, source, origin }));
}

/** forget makes the next start look for the default model again. */
export function forget() {
  localStorage.removeItem(LAST);
}
