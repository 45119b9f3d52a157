// backend.js runs an engine worker's encoders on WebGPU where it can:
// startGPU opens a device, uploads the weights of the worker's part of the
// model once, checks the kernels and the whole encoders against the
// engine's own WebAssembly ones, and answers what embedFrame and
// embedQuery answer. Anything that fails leaves the worker on WebAssembly
// SIMD with the reason, for the page to show. Preprocessing (the bicubic
// resize) and tokenization stay in Go.

import { GPUUnavailable, openDevice } from './device.js';
import { checkKernels } from './check.js';
import { TextEncoder, VisionEncoder } from './encoder.js';
import { goWeights } from './weights.js';
import { Kernels } from './kernels.js';

/** FRAME_BATCH is how many frames a frame worker runs per dispatch on the GPU. */
export const FRAME_BATCH = 8;

/** SELF_CHECK_COSINE is the lowest cosine to the WebAssembly encoders' features the GPU may give. */
export const SELF_CHECK_COSINE = 0.99;

const cosine = (a, b) => {
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < a.length; i++) {
    ab += a[i] * b[i];
    aa += a[i] * a[i];
    bb += b[i] * b[i];
  }
  return ab / Math.sqrt(aa * bb);
};

// checkFrame is a deterministic RGBA frame for the self-check: gradients
// and a square, so that every patch differs.
function checkFrame(w, h) {
  const px = new Uint8Array(4 * w * h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = 4 * (y * w + x);
      const sq = x > w / 4 && x < w / 2 && y > h / 3 && y < (2 * h) / 3;
      px[i] = sq ? 240 : (x * 255) / w;
      px[i + 1] = sq ? 30 : (y * 255) / h;
      px[i + 2] = ((x ^ y) * 7) & 255;
      px[i + 3] = 255;
    }
  }
  return px;
}

/**
 * GPUBackend is a worker's encoders on a device: vision (a frame
 * worker's or a whole model's) and text (the query worker's), either
 * null when the part lacks that tower.
 */
class GPUBackend {
  constructor(api, gpu, info) {
    this.api = api;
    this.device = gpu.device;
    this.adapter = gpu.name;
    this.fallback = gpu.fallback;
    this.shaderF16 = gpu.shaderF16;
    this.embedDim = info.embedDim;
    this.vision = null;
    this.text = null;
    this.lost = null; // why the device was lost, once it was
    gpu.device.lost.then((l) => {
      this.lost = `the GPU device was lost (${l.reason}${l.message ? `: ${l.message}` : ''})`;
    });
    // An error outside an error scope means a result may be wrong: stop
    // using the GPU (worker.js falls back to WebAssembly).
    gpu.device.addEventListener('uncapturederror', (e) => {
      this.lost = this.lost || `the GPU reported an error (${e.error && e.error.message})`;
    });
  }

  /**
   * embedFrames preprocesses RGBA frames [{rgba, width, height}] in Go
   * and encodes them in batches: (n, embed), or the engine's error object
   * for a frame it refuses.
   */
  async embedFrames(frames) {
    const res = this.vision.R;
    const size = 3 * res * res;
    const pixels = new Float32Array(frames.length * size);
    for (const [i, f] of frames.entries()) {
      const p = this.api.pixels(f.rgba instanceof ArrayBuffer ? new Uint8Array(f.rgba) : f.rgba, f.width, f.height);
      if (p.error) return p;
      pixels.set(p, i * size);
    }
    return this.vision.encode(pixels, frames.length);
  }

  /** embedQuery is the engine's embedQuery with the text encoder on the GPU. */
  async embedQuery(text) {
    const t = this.api.tokenize(text);
    if (t.error) return t;
    const feature = await this.text.encode([t.ids]);
    return { feature, ids: Array.from(t.ids), tokens: t.ids.length, truncated: t.truncated, context: t.context };
  }

  /** describe is what info.backend says of a worker on the GPU. */
  describe(check) {
    return {
      name: 'webgpu',
      adapter: this.adapter,
      software: this.fallback,
      shaderF16: this.shaderF16,
      batch: this.vision ? this.vision.maxBatch : 1,
      gpuBytes: (this.vision ? this.vision.weightBytes : 0) + (this.text ? this.text.weightBytes : 0),
      check,
    };
  }

  destroy() {
    if (this.vision) this.vision.destroy();
    if (this.text) this.text.destroy();
    this.device.destroy();
  }
}

/**
 * startGPU builds the GPU encoders of the model the engine (api) has just
 * loaded and checks them: the quick kernel suite against its references,
 * then one frame and one caption against the engine's own features
 * (cosine >= SELF_CHECK_COSINE). It resolves with a GPUBackend or throws
 * GPUUnavailable saying why not. memory is the instance's
 * WebAssembly.Memory; allowFallback accepts a software adapter.
 */
export async function startGPU(api, info, memory, { allowFallback = false, frameBatch = FRAME_BATCH } = {}) {
  const part = info.part || 'all';
  const wantVision = part !== 'text' && !info.textOnly;
  const wantText = part !== 'vision';
  const ms = {}; // how long each stage took
  let t0 = performance.now();
  const lap = (what) => {
    const t = performance.now();
    ms[what] = Math.round(t - t0);
    t0 = t;
  };
  const gpu = await openDevice({ allowFallback });
  lap('device');
  const b = new GPUBackend(api, gpu, info);
  try {
    const list = api.weights();
    if (list.error) throw new Error(list.error);
    const kernels = new Kernels(gpu.device);
    // The products in the weight formats this model has, on the kernels the encoders will use.
    const dtypes = [...new Set(list.filter((t) => t.matrix).map((t) => t.dtype))];
    const results = await checkKernels(gpu.device, { quick: true, dtypes, kernels });
    lap('kernels');
    const bad = results.find((r) => !r.ok);
    if (bad) throw new GPUUnavailable(`the GPU failed its self-check: ${bad.name} ${bad.error || `is off by ${bad.maxDiff.toPrecision(3)}`}`);
    gpu.device.pushErrorScope('validation');
    gpu.device.pushErrorScope('out-of-memory');
    // The weights are views of Go's memory, good until Go runs again:
    // both encoders upload theirs before anything else calls Go.
    const tensors = goWeights(list, memory);
    try {
      if (wantVision) b.vision = new VisionEncoder(gpu.device, info.config, tensors, { maxBatch: frameBatch, kernels });
      if (wantText) b.text = new TextEncoder(gpu.device, info.config, tensors, { maxBatch: 1, kernels });
    } catch (err) {
      throw new GPUUnavailable(`the GPU encoders cannot run this model: ${err.message || err}`);
    }
    lap('upload');
    const check = {};
    if (b.vision) {
      const [w, h] = [info.resolution + 13, info.resolution];
      const rgba = checkFrame(w, h);
      const want = api.embedFrame(rgba, w, h);
      if (want.error) throw new Error(want.error);
      const got = await b.embedFrames([{ rgba, width: w, height: h }]);
      if (got.error) throw new Error(got.error);
      check.image = cosine(got, want);
    }
    if (b.text) {
      const want = api.embedQuery('a red square moves to the left on a blue background');
      if (want.error) throw new Error(want.error);
      check.text = cosine((await b.embedQuery('a red square moves to the left on a blue background')).feature, want.feature);
    }
    lap('check');
    const oom = await gpu.device.popErrorScope();
    const invalid = await gpu.device.popErrorScope();
    if (oom || invalid) throw new GPUUnavailable(`the GPU refused the encoders: ${(oom || invalid).message}`);
    for (const [what, c] of Object.entries(check)) {
      if (!(c >= SELF_CHECK_COSINE)) throw new GPUUnavailable(`the GPU's ${what} features differ from WebAssembly's (cosine ${Number(c).toFixed(4)} < ${SELF_CHECK_COSINE})`);
    }
    return { backend: b, check: { ...check, ms } };
  } catch (err) {
    b.destroy();
    if (err instanceof GPUUnavailable) throw err;
    throw new GPUUnavailable(`the GPU encoders failed: ${err.message || err}`);
  }
}
