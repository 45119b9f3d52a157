// clip-search-worker.js runs the clip4clip engine (clip4clip.wasm) for one
// <clip-search> element, in a module Web Worker, so that encoding a query
// never blocks the host page. The element sends {id, op, args} and gets
// back {id, result} or {id, error, kind}. Every URL arrives absolute.
//
//   start {wasm}        load wasm_exec.js, simd/kernels.js and clip4clip.wasm from the base URL wasm
//   loadModel {url}     fetch a (text-only) model file and load it -> info (its id is the model identity)
//   loadIndex {url}     fetch a site index (clip4clip index), check it against the model -> its videos
//                       (both take {blob} instead: the app imports a site index from a file, lib/site.js);
//                       a chunked index (index -chunked) is its folder's URL (ending in /) or its
//                       index.c4m, or {files}: a Map of its files by name (a folder the app was given);
//                       only the meta is loaded here -> {chunked: true, videos: count, ...}
//   search {text, k}    encode the query and rank the index -> {query, results, timing}; over a
//                       chunked index it fetches the chunks and fragments the query needs, in
//                       parallel, each once (results.problems names those that failed, results.bytes
//                       counts what was fetched)
//   search {text, k}    encode the query and rank the index -> {query, results, timing}
//   rank {feature, k}   rank the index for a query feature (measurements)
//
// Nothing here needs SharedArrayBuffer or cross-origin isolation.

let api = null;

// chunked is the chunked site index loaded, or null: {meta, file(name) ->
// Promise<Uint8Array>, cache: Map name -> Promise, nprobe, fragments}.
let chunked = null;
const META = 'index.c4m';
const META_MAGIC = 'C4CMETA';

function magic(bytes) {
  return String.fromCharCode(...bytes.subarray(0, 7));
}

// fail is an error result like the Go side's {error, kind}.
function fail(message, kind = 'error') {
  return { error: String(message), kind };
}

// fetchBytes fetches url, naming what it is in errors: a 404 (or an HTML
// page where a file should be, as some hosts answer for missing files)
// becomes kind "fetch".
async function fetchBytes(url, what) {
  let resp;
  try {
    resp = await fetch(url);
  } catch (err) {
    throw Object.assign(new Error(`the ${what} (${url}) could not be fetched: ${err.message || err}`), { kind: 'fetch' });
  }
  if (!resp.ok) {
    throw Object.assign(new Error(`the ${what} (${url}) could not be loaded: HTTP ${resp.status}${resp.statusText ? ' ' + resp.statusText : ''}`), { kind: 'fetch' });
  }
  if ((resp.headers.get('Content-Type') || '').startsWith('text/html')) {
    throw Object.assign(new Error(`the ${what} (${url}) is an HTML page, not a clip4clip file: check the address`), { kind: 'fetch' });
  }
  return new Uint8Array(await resp.arrayBuffer());
}

const ops = {
  async start({ wasm }) {
    if (api) return true;
    let loadKernels;
    try {
      await import(new URL('wasm_exec.js', wasm).href); // defines globalThis.Go
      ({ loadKernels } = await import(new URL('simd/kernels.js', wasm).href));
    } catch (err) {
      throw Object.assign(new Error(`the search engine's scripts (wasm_exec.js, simd/kernels.js under ${wasm}) could not be loaded: ${err.message || err}`), { kind: 'worker' });
    }
    const go = new Go();
    // quant's WebAssembly SIMD kernels; where the browser lacks SIMD they
    // decline and Go's own run.
    const kernels = await loadKernels(go, { warn: (m) => console.warn(m) });
    Object.assign(go.importObject, kernels);
    const url = new URL('clip4clip.wasm', wasm).href;
    let instance;
    try {
      ({ instance } = await WebAssembly.instantiateStreaming(fetch(url), go.importObject));
    } catch {
      // instantiateStreaming needs application/wasm; fall back to bytes.
      const bytes = await fetchBytes(url, 'search engine');
      ({ instance } = await WebAssembly.instantiate(bytes, go.importObject));
    }
    go.run(instance).then(() => { self.clip4clipExited = true; });
    if (!self.clip4clip) throw new Error('clip4clip.wasm did not start');
    api = self.clip4clip;
    return true;
  },
  async loadModel({ url, blob }) {
    const t0 = performance.now();
    const info = api.loadModel(blob ? new Uint8Array(await blob.arrayBuffer()) : await fetchBytes(url, 'model'));
    if (info.error) return info;
    return { info: { id: info.id, embedDim: info.embedDim, context: info.context, textOnly: info.textOnly, meta: info.meta }, ms: performance.now() - t0 };
  },
  async loadIndex({ url, blob, files, nprobe, fragments }) {
    const t0 = performance.now();
    chunked = null;
    let bytes, file;
    if (files) {
      const meta = files.get(META);
      if (!meta) return fail(`the folder has no ${META}: it is not a chunked site index (clip4clip index -chunked)`, 'site');
      bytes = new Uint8Array(await meta.arrayBuffer());
      file = async (name) => {
        const f = files.get(name);
        if (!f) throw Object.assign(new Error(`${name} is missing from the folder`), { kind: 'fetch' });
        return new Uint8Array(await f.arrayBuffer());
      };
    } else {
      if (url && url.endsWith('/')) url += META;
      bytes = blob ? new Uint8Array(await blob.arrayBuffer()) : await fetchBytes(url, 'video index');
      if (url) file = (name) => fetchBytes(new URL(name, url).href, 'index file');
    }
    const t1 = performance.now();
    if (magic(bytes) === META_MAGIC) {
      if (!file) return fail(`this is the ${META} of a chunked site index: import its whole folder`, 'site');
      const site = api.loadSiteMeta(bytes);
      if (site.error) return site;
      chunked = { meta: site, file, cache: new Map(), nprobe: nprobe || site.nprobe, fragments: fragments || site.fragments };
      return { site, bytes: bytes.length, fetchMs: t1 - t0, ms: performance.now() - t0 };
    }
    const site = api.loadSite(bytes);
    if (site.error) return site;
    return { site, bytes: bytes.length, fetchMs: t1 - t0, ms: performance.now() - t0 };
  },
  async search({ text, k }) {
    const t0 = performance.now();
    const q = embedTerms(text);
    if (q.error) return q;
    const t1 = performance.now();
    const results = chunked ? await rankChunked(q.feature, k) : api.searchSite(q.feature, k);
    if (results.error) return results;
    return {
      query: { text, tokens: q.tokens, truncated: q.truncated, context: q.context },
      results,
      timing: { encodeMs: t1 - t0, rankMs: performance.now() - t1 },
    };
  },
  async rank({ feature, k }) {
    const t0 = performance.now();
    const results = chunked ? await rankChunked(feature, k) : api.searchSite(feature, k);
    if (results.error) return results;
    return { results, timing: { rankMs: performance.now() - t0 } };
  },
  embed({ text }) {
    const t0 = performance.now();
    const q = embedTerms(text);
    if (q.error) return q;
    return { feature: q.feature, truncated: q.truncated, tokens: q.tokens, timing: { encodeMs: performance.now() - t0 } };
  },
};

// fetchOnce fetches a file of the chunked index once: later asks share the
// promise (a failed fetch is forgotten, so a later query tries again).
function fetchOnce(name) {
  let p = chunked.cache.get(name);
  if (!p) {
    p = chunked.file(name).then((b) => ({ bytes: b, fresh: true }));
    chunked.cache.set(name, p);
    p.catch(() => chunked && chunked.cache.get(name) === p && chunked.cache.delete(name));
  }
  return p;
}

// addAll fetches the files the engine needs (in parallel) and hands each
// to it; a file that cannot be fetched or is refused (truncated, wrong
// hash) is named in problems and left out.
async function addAll(need, problems, stats) {
  await Promise.all(need.filter((f) => !f.have).map(async (f) => {
    try {
      const got = await fetchOnce(f.name);
      if (got.fresh) {
        got.fresh = false;
        stats.bytes += got.bytes.length;
        stats.files++;
      }
      const ok = api.siteAdd(f.name, f.list, got.bytes);
      if (ok.error) {
        chunked.cache.delete(f.name);
        problems.push(ok.error);
      }
    } catch (err) {
      problems.push(String(err && err.message ? err.message : err));
    }
  }));
}

// rankChunked runs a query over the chunked index: the chunks of its nprobe
// lists, then the fragments they rank best, then the exact ranking.
async function rankChunked(feature, k) {
  const { nprobe, fragments } = chunked;
  const problems = [];
  const stats = { bytes: 0, files: 0 };
  const t0 = performance.now();
  const chunks = api.siteNeed(feature, nprobe, 0);
  if (chunks.error) return chunks;
  await addAll(chunks, problems, stats);
  const t1 = performance.now();
  const frags = api.siteNeed(feature, nprobe, fragments);
  if (frags.error) return frags;
  await addAll(frags, problems, stats);
  const t2 = performance.now();
  const r = api.searchChunked(feature, k, nprobe, fragments);
  if (r.error) return r;
  return { ...r, videos: [], problems, bytes: stats.bytes, files: stats.files, chunks: chunks.length, fragments: frags.length,
    timing: { chunksMs: t1 - t0, fragmentsMs: t2 - t1, rankMs: performance.now() - t2 } };
}

// embedTerms embeds a query of terms ("red car -night", "2:beach sunset":
// the weighted sum of the terms' unit features, as the app and clip4clip
// search do); one plain term is embedQuery's.
function embedTerms(text) {
  const terms = api.parseQuery(text);
  if (terms.error) return terms;
  if (terms.length === 1 && terms[0].weight === 1) return api.embedQuery(terms[0].text);
  let sum = null, tokens = 0, truncated = false, context = 0;
  for (const t of terms) {
    const q = api.embedQuery(t.text);
    if (q.error) return q;
    let n = 0;
    for (const v of q.feature) n += v * v;
    n = Math.sqrt(n) || 1;
    sum = sum || new Float64Array(q.feature.length);
    for (let i = 0; i < sum.length; i++) sum[i] += (t.weight * q.feature[i]) / n;
    tokens = Math.max(tokens, q.tokens);
    truncated = truncated || q.truncated;
    context = q.context;
  }
  return { feature: Float32Array.from(sum), tokens, truncated, context };
}

function transferables(value, set = new Set()) {
  if (ArrayBuffer.isView(value)) set.add(value.buffer);
  else if (Array.isArray(value)) value.forEach((v) => transferables(v, set));
  else if (value && typeof value === 'object') Object.values(value).forEach((v) => transferables(v, set));
  return [...set];
}

// Requests run one at a time, in order: Go calls are synchronous anyway,
// and a load must finish before a search.
let queue = Promise.resolve();

self.onmessage = (event) => {
  queue = queue.then(() => handle(event.data));
};

async function handle({ id, op, args }) {
  let result;
  try {
    if (self.clip4clipExited) {
      result = fail('the search engine has stopped (out of memory?); reload the page', 'state');
    } else if (!(op in ops)) {
      result = fail(`unknown operation ${op}`, 'argument');
    } else if (!api && op !== 'start') {
      result = fail('the search engine is not started', 'state');
    } else {
      result = await ops[op](args || {});
    }
  } catch (err) {
    result = fail(err && err.message ? err.message : err, (err && err.kind) || (err && err.name === 'RangeError' ? 'memory' : 'error'));
  }
  if (result && typeof result.error === 'string') {
    self.postMessage({ id, error: result.error, kind: result.kind || 'error' });
    return;
  }
  self.postMessage({ id, result }, transferables(result));
}
