// worker.js runs one clip4clip engine (the Go program in clip4clip.wasm)
// in a module Web Worker. The page sends {id, op, args} and gets back
// {id, result} or {id, error, kind}; large arrays travel as transferables.
// Go calls are synchronous: this worker is busy while one runs, which is
// why embedding never happens on the page's own thread.

import { startEngine } from './lib/engine.js';

const ready = startEngine({ variant: new URL(self.location.href).searchParams.get('simd') || 'auto' });

// gpu is this worker's encoders on WebGPU (lib/gpu/backend.js) once a
// model loaded with them, else null: the engine's WebAssembly runs.
let gpu = null;
let gpuReason = ''; // why gpu is null

// useBackend sets up the encoders of the model just loaded on WebGPU
// unless want is 'wasm' ('webgpu' accepts a software adapter, 'auto' does
// not) and returns what info.backend says. The GPU code loads only where
// the browser has WebGPU.
async function useBackend(api, info, want) {
  if (gpu) gpu.destroy();
  gpu = null;
  gpuReason = '';
  if (want === 'wasm') gpuReason = 'WebAssembly was asked for (backend=wasm)';
  else if (!self.navigator.gpu) gpuReason = 'this browser has no WebGPU';
  else {
    try {
      const { startGPU } = await import('./lib/gpu/backend.js');
      const { backend, check } = await startGPU(api, info, self.clip4clipMemory, { allowFallback: want === 'webgpu' });
      gpu = backend;
      return backend.describe(check);
    } catch (err) {
      gpuReason = err && err.message ? err.message : String(err);
    }
  }
  return { name: 'wasm', batch: 1, reason: gpuReason };
}

// onGPU runs f on the GPU encoders when they hold the tower (vision or
// text) and the device still works; after a failure this worker stays on
// WebAssembly, and orElse runs.
async function onGPU(tower, f, orElse) {
  if (gpu && gpu[tower] && !gpu.lost) {
    try {
      return await f(gpu);
    } catch (err) {
      gpuReason = `the GPU failed: ${err && err.message ? err.message : err}`;
      console.warn(`clip4clip worker: ${gpuReason}; going on with WebAssembly`);
      gpu.destroy();
      gpu = null;
    }
  } else if (gpu && gpu.lost) {
    gpuReason = gpu.lost;
    console.warn(`clip4clip worker: ${gpuReason}; going on with WebAssembly`);
    gpu.destroy();
    gpu = null;
  }
  return orElse();
}

// embedQuery is the engine's embedQuery, on the GPU where it runs.
function embedQuery(api, text) {
  return onGPU('text', (g) => g.embedQuery(text), () => api.embedQuery(text));
}

// embedTerms embeds a query's terms (api.parseQuery) and sums their unit
// features by weight, in float64; one term of weight 1 is embedQuery's.
async function embedTerms(api, text) {
  const terms = api.parseQuery(text);
  if (terms.error) return terms;
  if (terms.length === 1 && terms[0].weight === 1) return { ...(await embedQuery(api, terms[0].text)), terms };
  let sum = null, tokens = 0, truncated = false, context = 0;
  for (const t of terms) {
    const q = await embedQuery(api, t.text);
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
  return { feature: Float32Array.from(sum), tokens, truncated, context, ids: [], terms };
}

// Errors become {error, kind} like the Go side's.
function fail(message, kind = 'error') {
  return { error: String(message), kind };
}

function transferables(value, set = new Set()) {
  if (ArrayBuffer.isView(value)) set.add(value.buffer);
  else if (Array.isArray(value)) value.forEach((v) => transferables(v, set));
  else if (value && typeof value === 'object') Object.values(value).forEach((v) => transferables(v, set));
  return [...set];
}

// PIECE is how much of the model file is read at a time: the worker never
// holds the whole file, only the part of the model it needs, in Go's memory.
const PIECE = 4 << 20;

async function read(blob, from, to) {
  return new Uint8Array(await blob.slice(from, to).arrayBuffer());
}

// readRange passes the bytes [from, to) of blob to take(bytes, offset),
// piece by piece, all read into one buffer of PIECE bytes (a BYOB reader
// of the Blob's byte stream). A new buffer per piece would be garbage that
// an idle worker keeps: every byte of the model read stayed in memory
// until the next full collection (300 MB with ViT-B/32's three workers).
// Browsers without byte streams for Blobs read a buffer per piece.
async function readRange(blob, from, to, take) {
  let reader;
  try {
    reader = blob.slice(from, to).stream().getReader({ mode: 'byob' });
  } catch {
    for (let at = from; at < to; at += PIECE) {
      const r = take(await read(blob, at, Math.min(at + PIECE, to)), at);
      if (r.error) return r;
    }
    return true;
  }
  let buffer = new ArrayBuffer(PIECE);
  for (let at = from; ;) {
    const { done, value } = await reader.read(new Uint8Array(buffer));
    if (done) return true;
    buffer = value.buffer; // the same memory, handed back
    const r = take(value, at);
    if (r.error) {
      reader.cancel();
      return r;
    }
    at += value.length;
  }
}

const ops = {
  // loadModel loads the part of a model Blob this worker needs: 'text'
  // (the query worker: text tower and head), 'vision' (a frame worker) or
  // 'all'. Go plans which byte ranges that takes from the file's header
  // (modelBegin); they are read in pieces and copied into Go's buffer.
  // With hash it reads every byte and returns the file's SHA-256 as id (the
  // model's identity, which keys the index).
  // backend is 'auto' (WebGPU on a hardware adapter, else WebAssembly
  // SIMD), 'webgpu' (a software adapter too) or 'wasm'; info.backend says
  // which runs, and why not WebGPU.
  async loadModel(api, { blob, hash = false, part = 'all', backend = 'auto' }) {
    const n = api.headerSize(await read(blob, 0, 16));
    if (n.error) return n;
    const plan = api.modelBegin(await read(blob, 0, Math.min(n, blob.size)), blob.size, part, !!hash);
    if (plan.error) return plan;
    const { reads } = plan;
    for (let i = 0; i < reads.length; i += 2) {
      const r = await readRange(blob, reads[i], reads[i + 1], (bytes, at) => api.modelWrite(bytes, at));
      if (r.error) return r;
    }
    const loaded = api.modelEnd();
    if (loaded.error) return loaded;
    const { info } = loaded;
    info.simd = self.clip4clipSIMD();
    info.backend = await useBackend(api, info, backend);
    return { info, id: hash ? loaded.sha256 : null };
  },
  embedFrame(api, { rgba, width, height }) {
    return onGPU('vision', (g) => g.embedFrames([{ rgba, width, height }]), () => api.embedFrame(new Uint8Array(rgba), width, height));
  },
  // embedFrames embeds several frames [{rgba, width, height}] in one call,
  // one batch on the GPU: (n, embed).
  embedFrames(api, { frames }) {
    return onGPU('vision', (g) => g.embedFrames(frames), () => {
      let out = null;
      for (const [i, f] of frames.entries()) {
        const r = api.embedFrame(new Uint8Array(f.rgba), f.width, f.height);
        if (r.error) return r;
        out = out || new Float32Array(frames.length * r.length);
        out.set(r, i * r.length);
      }
      return out || new Float32Array(0);
    });
  },
  embedQuery(api, { text }) {
    return embedQuery(api, text);
  },
  // backend says what runs the encoders now: info.backend at load, or
  // WebAssembly with the reason after the GPU failed.
  backend() {
    return gpu ? gpu.describe() : { name: 'wasm', batch: 1, reason: gpuReason };
  },
  // search embeds the query and ranks every added video in one call.
  // A query of several terms ("red car -night", "2:beach sunset") is the
  // weighted sum of its terms' unit features (engine.ParseQuery's rule).
  async search(api, { text, moments }) {
    const t0 = performance.now();
    const q = await embedTerms(api, text);
    if (q.error) return q;
    const t1 = performance.now();
    const hits = api.search(q.feature, moments);
    if (hits.error) return hits;
    return {
      query: { tokens: q.tokens, truncated: q.truncated, context: q.context, ids: q.ids, feature: q.feature, terms: q.terms },
      hits,
      timing: { embedMs: t1 - t0, rankMs: performance.now() - t1 },
    };
  },
  // similar ranks every video against the moment centred on frame of key
  // ("more like this"), that moment left out.
  similar(api, { key, frame, moments }) {
    const t0 = performance.now();
    const hits = api.similar(key, frame, moments);
    if (hits.error) return hits;
    return { hits, timing: { embedMs: 0, rankMs: performance.now() - t0 } };
  },
  addVideo(api, { key, features, frames }) {
    return api.addVideo(key, features, frames);
  },
  removeVideo(api, { key }) {
    return api.removeVideo(key);
  },
  clearVideos(api) {
    return api.clearVideos();
  },
  setWindow(api, { frames }) {
    return api.setWindow(frames);
  },
  videoFeature(api, { features, frames }) {
    return api.videoFeature(features, frames);
  },
  score(api, { query, features, n }) {
    return api.score(query, features, n);
  },
  // calibrationSet (a frame worker) draws and embeds the probe clips of
  // the model's calibration, calibrate (the query worker) scores them,
  // setCalibration gives it one the page kept (lib/match.js).
  calibrationSet(api) {
    return api.calibrationSet();
  },
  calibrate(api, { set, features }) {
    return api.calibrate(set, features);
  },
  setCalibration(api, { json }) {
    return api.setCalibration(json);
  },
  encodeIndex(api, { index }) {
    return api.encodeIndex(index);
  },
  decodeIndex(api, { bytes }) {
    return api.decodeIndex(new Uint8Array(bytes));
  },
  memory(api) {
    return { wasmBytes: self.clip4clipMemory ? self.clip4clipMemory.buffer.byteLength : null, go: api.memStats(), simd: self.clip4clipSIMD(), gpuBytes: gpu ? gpu.describe().gpuBytes : 0 };
  },
};

self.onmessage = async (event) => {
  const { id, op, args } = event.data;
  let result;
  try {
    const api = await ready;
    if (self.clip4clipExited) {
      result = fail('the engine in this worker has stopped (out of memory?); reload the page', 'state');
    } else if (!(op in ops)) {
      result = fail(`unknown operation ${op}`, 'argument');
    } else {
      result = await ops[op](api, args || {});
    }
  } catch (err) {
    result = fail(err && err.message ? err.message : err, err && err.name === 'RangeError' ? 'memory' : 'error');
  }
  if (result && result.error !== undefined && typeof result.error === 'string') {
    self.postMessage({ id, error: result.error, kind: result.kind || 'error' });
    return;
  }
  // A frame's pixels go back to the page once Go has copied them: left
  // here they are garbage that an idle worker keeps (3.7 MB a 720p frame,
  // every frame, until a full collection); the page's collector runs.
  const given = op === 'embedFrame' ? [args && args.rgba] : op === 'embedFrames' && args && args.frames ? args.frames.map((f) => f.rgba) : [];
  const spent = given.filter((b) => b instanceof ArrayBuffer && !b.detached);
  self.postMessage({ id, result, spent }, [...transferables(result), ...spent]);
};
