// bench.js drives bench.html: it starts the app's engine workers
// (lib/pool.js: a query worker with the model's text side and N frame
// workers with its vision tower), and times image embedding with 1..N
// frame workers at once, a query from text to ranked scores, and the
// memory of each worker's WebAssembly instance. Results go to the page and
// to window.__bench ({done, error, ...}). ?backend= picks what runs the
// encoders, as in the app: auto (WebGPU on a hardware adapter, else
// WebAssembly SIMD), webgpu (any adapter, a software one too) or wasm; the
// page reports which ran, on which adapter. A frame worker on WebGPU takes
// its frames in batches (embedFrames), as the app's indexer gives them.

import { Pool } from './lib/pool.js';
import { describeBackend } from './lib/gpu/describe.js';

const params = new URLSearchParams(location.search);
const modelURL = params.get('model') || 'models/default.c4c';
const workerCounts = (params.get('workers') || '1,2').split(',').map(Number).filter((n) => n > 0);
const framesPerRun = Number(params.get('frames') || 16);
const [frameW, frameH] = (params.get('size') || '224').split('x').map(Number).concat([0]).map((v, i, a) => v || a[0]);
const query = params.get('query') || 'a man riding a red bicycle down the busy street';
const backend = params.get('backend') || 'auto';

const out = document.getElementById('out');
const bench = (window.__bench = { done: false, model: modelURL, frame: `${frameW}x${frameH}`, backendAsked: backend, runs: [] });
const log = (line) => {
  out.textContent = (out.textContent === 'running…' ? '' : out.textContent) + line + '\n';
};

// call runs op in worker w (an EngineWorker) and resolves with its result.
const call = (w, op, args, transfer = []) => w.call(op, args, transfer);

// frame is a deterministic colourful RGBA image (the content does not
// change the cost).
function frame(k) {
  const px = new Uint8ClampedArray(frameW * frameH * 4);
  for (let y = 0; y < frameH; y++) {
    for (let x = 0; x < frameW; x++) {
      const i = 4 * (y * frameW + x);
      px[i] = (x * 7 + k * 31) & 255;
      px[i + 1] = (y * 5 + k * 17) & 255;
      px[i + 2] = ((x ^ y) + k) & 255;
      px[i + 3] = 255;
    }
  }
  return px;
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? (s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2) : NaN;
};

async function run() {
  const t0 = performance.now();
  const blob = await (await fetch(modelURL)).blob();
  bench.modelBytes = blob.size;
  log(`model ${modelURL}: ${(blob.size / 1e6).toFixed(1)} MB, fetched in ${(performance.now() - t0).toFixed(0)} ms`);
  const maxWorkers = Math.max(...workerCounts);
  const pool = new Pool({ backend, simd: params.get('simd') || '' });
  const t = performance.now();
  const { info } = await pool.load(blob, maxWorkers);
  bench.loadMs = performance.now() - t;
  const fb = pool.frameInfo.backend || { name: 'wasm' };
  bench.info = { simd: info.simd, embedDim: info.embedDim, resolution: info.resolution };
  // backend: what runs the frame workers' encoders (the measured frames/s); queryBackend: the query worker's.
  bench.backend = { name: fb.name, adapter: fb.adapter || null, reason: fb.reason || null, batch: fb.batch || 1, gpuBytes: fb.gpuBytes || 0, check: fb.check || null };
  bench.queryBackend = info.backend || { name: 'wasm' };
  bench.backendText = describeBackend(info, pool.frameInfo);
  const workers = pool.frames;
  log(`backend: ${bench.backendText}`);
  log(`the query worker (${(info.weightBytes / 1e6).toFixed(0)} MB of weights) and ${workers.length} frame worker(s) (${(pool.frameInfo.weightBytes / 1e6).toFixed(0)} MB each${fb.gpuBytes ? `, and ${(fb.gpuBytes / 1e6).toFixed(0)} MB each on the GPU` : ''}) loaded the model in ${bench.loadMs.toFixed(0)} ms`);
  if (workers.length < maxWorkers) log(`(${workers.length} frame workers on WebGPU, which they share, not ${maxWorkers})`);
  const batch = Math.max(...workers.map((w) => w.batch || 1));
  const frames = Array.from({ length: framesPerRun + batch * workers.length }, (_, k) => frame(k));
  // embedBatch runs frames [from, from + n) in worker w, one call.
  const embedBatch = (w, from, n) => {
    const fs = frames.slice(from, from + n).map((f) => ({ rgba: f.slice().buffer, width: frameW, height: frameH }));
    return n === 1 ? call(w, 'embedFrame', fs[0], [fs[0].rgba]) : call(w, 'embedFrames', { frames: fs }, fs.map((f) => f.rgba));
  };
  // Warm up every worker once with a whole batch (first-call allocations,
  // JIT tiers, the GPU's pipelines).
  await Promise.all(workers.map((w, i) => embedBatch(w, i * batch, w.batch || 1)));

  log(`\nworkers  frames  wall ms  frames/s  ms per frame in a worker (median${batch > 1 ? ` of calls of up to ${batch} frames` : ''})`);
  for (const n of workerCounts.map((c) => Math.min(c, workers.length)).filter((c, i, a) => a.indexOf(c) === i)) {
    const perFrame = [];
    let k = 0;
    const start = performance.now();
    await Promise.all(workers.slice(0, n).map(async (w) => {
      for (;;) {
        const mine = k;
        const take = Math.min(w.batch || 1, framesPerRun - mine);
        if (take <= 0) return;
        k += take;
        const t = performance.now();
        await embedBatch(w, mine, take);
        perFrame.push((performance.now() - t) / take);
      }
    }));
    const wall = performance.now() - start;
    const r = { workers: n, frames: framesPerRun, wallMs: wall, fps: (1000 * framesPerRun) / wall, msPerFrame: median(perFrame), batch };
    bench.runs.push(r);
    log(`${String(n).padStart(7)}  ${String(framesPerRun).padStart(6)}  ${wall.toFixed(0).padStart(7)}  ${r.fps.toFixed(2).padStart(8)}  ${r.msPerFrame.toFixed(1)}`);
  }

  // A query against two 60-frame videos, as the app's query worker does it:
  // embed the text, then rank every video and its moments.
  const q = pool.query;
  const dim = bench.info.embedDim;
  for (let v = 0; v < 2; v++) {
    const feats = new Float32Array(60 * dim).map((_, i) => Math.sin(i * 0.37 + v));
    await call(q, 'addVideo', { key: `v${v}`, features: feats, frames: 60 });
  }
  const times = [], embed = [], rank = [];
  let tokens = 0;
  for (let i = 0; i < 7; i++) {
    const t = performance.now();
    const r = await call(q, 'search', { text: query, moments: 3 });
    times.push(performance.now() - t);
    embed.push(r.timing.embedMs);
    rank.push(r.timing.rankMs);
    tokens = r.query.tokens;
  }
  bench.query = { text: query, tokens, ms: median(times.slice(2)), embedMs: median(embed.slice(2)), rankMs: median(rank.slice(2)) };
  log(`\nquery "${query}" (${tokens} tokens with start and end): ${bench.query.ms.toFixed(1)} ms from text to ranked scores (embed ${bench.query.embedMs.toFixed(1)}, rank ${bench.query.rankMs.toFixed(2)}; median of 5 after 2 warm-ups)`);

  bench.memory = [];
  bench.goHeap = [];
  bench.memoryWorkers = [];
  bench.gpuMemory = []; // GPU memory of each worker's weights
  for (const w of [pool.query, ...workers]) {
    const m = await call(w, 'memory');
    bench.memory.push(m.wasmBytes);
    bench.goHeap.push(m.go.heapAlloc);
    bench.gpuMemory.push(m.gpuBytes || 0);
    bench.memoryWorkers.push(w.name);
  }
  const mb = (b) => `${(b / 1e6).toFixed(0)} MB`;
  log(`wasm memory per worker: ${bench.memory.map((b, i) => `${bench.memoryWorkers[i]} ${mb(b)} (Go heap in use ${mb(bench.goHeap[i])}${bench.gpuMemory[i] ? `, ${mb(bench.gpuMemory[i])} of weights on the GPU` : ''})`).join(', ')}`);
  pool.terminate();
}

run().then(
  () => { bench.done = true; },
  (err) => { bench.error = String(err && err.message ? err.message : err); bench.done = true; log(`error: ${bench.error}`); },
);
