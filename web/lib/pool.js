// pool.js starts the engine workers: one query worker (text, ranking, the
// index file) and a number of frame workers (image embedding), each with its
// own engine instance loaded from the same model Blob, and each with only
// the part of the model it uses: the query worker the text tower and the
// head ('text'), a frame worker the vision tower ('vision').

/** EngineError is an error reported by the engine, with its kind. */
export class EngineError extends Error {
  constructor(message, kind) {
    super(message);
    this.name = 'EngineError';
    this.kind = kind || 'error';
  }
}

/**
 * EngineWorker is one worker with a promise-based call(). script is the
 * worker's module: worker.js, or the widget's worker for a site index
 * (lib/site.js); both speak {id, op, args} -> {id, result | error, kind}.
 */
export class EngineWorker {
  constructor(name, script = 'worker.js') {
    this.name = name;
    this.worker = new Worker(script, { type: 'module', name });
    this.pending = new Map();
    this.next = 1;
    this.busy = 0;
    this.dead = null;
    this.worker.onmessage = (e) => {
      const { id, result, error, kind } = e.data;
      const p = this.pending.get(id);
      if (!p) return;
      this.pending.delete(id);
      this.busy--;
      if (error !== undefined) p.reject(new EngineError(error, kind));
      else p.resolve(result);
    };
    this.worker.onerror = (e) => {
      e.preventDefault();
      this.dead = new EngineError(`worker ${name} failed: ${e.message || 'unknown error'} (is clip4clip.wasm built? run ./build.sh)`, 'worker');
      for (const p of this.pending.values()) p.reject(this.dead);
      this.pending.clear();
    };
  }

  /** call runs op in the worker; transfer lists ArrayBuffers to move. */
  call(op, args, transfer = []) {
    if (this.dead) return Promise.reject(this.dead);
    const id = this.next++;
    this.busy++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ id, op, args }, transfer);
    });
  }

  terminate() {
    this.worker.terminate();
    this.dead = new EngineError(`worker ${this.name} was stopped`, 'stopped');
    for (const p of this.pending.values()) p.reject(this.dead);
    this.pending.clear();
  }
}

const MiB = 1024 * 1024;

/**
 * autoWorkers is how many frame workers to run: one per logical core
 * (navigator.hardwareConcurrency), at most 8, and no more than half the
 * device memory allows with the vision tower in each (the query worker
 * holds the rest of the model).
 */
export function autoWorkers(modelBytes) {
  const cores = navigator.hardwareConcurrency || 2;
  const memory = (navigator.deviceMemory || 4) * 1024 * MiB; // Chrome caps the hint at 8 GiB
  // A frame worker holds the vision tower, 57% of a ViT-B/32 file, the
  // query worker the rest; activations, Go's heap and the frames in
  // flight add about 64 MiB to each.
  const perWorker = 0.6 * modelBytes + 64 * MiB;
  const query = 0.4 * modelBytes + 64 * MiB;
  const byMemory = Math.floor((memory / 2 - query) / perWorker);
  return Math.max(1, Math.min(cores, 8, byMemory));
}

/**
 * GPU_FRAME_WORKERS is the most frame workers that run on WebGPU: they
 * share one GPU and each holds the vision tower there, so more would only
 * add preprocessing threads for the memory of another copy.
 */
export const GPU_FRAME_WORKERS = 2;

/**
 * Pool is the query worker and the frame workers of one model. backend
 * is 'auto', 'webgpu' or 'wasm' (worker.js's loadModel); each worker
 * reports in its info.backend what runs its encoders.
 */
export class Pool {
  constructor({ backend = 'auto', simd = '' } = {}) {
    this.backend = backend;
    // simd asks the engine workers for a kernel variant (relaxed, simd,
    // none; default auto: quant/simd/kernels.js times them): for measuring.
    this.script = simd ? `worker.js?simd=${encodeURIComponent(simd)}` : 'worker.js';
    this.query = null;
    this.frames = [];
    this.blob = null;
    this.framePart = 'vision';
    this.frameInfo = null; // a frame worker's info (its weightBytes are the vision tower's)
  }

  /**
   * load starts a query worker and loads blob into it (hashing it: the
   * model's identity), then `frames` frame workers. It throws an
   * EngineError (kind "format" for a file that is not a model, "text-only"
   * for a file without a vision tower) and leaves
   * the previous workers running if the model does not load.
   */
  async load(blob, frames) {
    const query = new EngineWorker('query', this.script);
    let loaded;
    try {
      loaded = await query.call('loadModel', { blob, hash: true, part: 'text', backend: this.backend });
    } catch (err) {
      query.terminate();
      throw err;
    }
    if (loaded.info.textOnly) {
      // Made for a site's search widget: it cannot embed a single frame.
      query.terminate();
      throw new EngineError('this file holds only the text side of a model (“clip4clip convert -text-only” makes such files for a static site’s search widget), so it cannot index videos. Load a whole model: the default one, “Get a real model”, or a .c4c file made without -text-only.', 'text-only');
    }
    this.terminate();
    this.query = query;
    this.blob = blob;
    this.onGPU = !!(loaded.info.backend && loaded.info.backend.name === 'webgpu');
    this.framePart = 'vision';
    await this.resize(frames);
    return loaded; // {info, id}
  }

  /**
   * resize runs n frame workers (at most GPU_FRAME_WORKERS when the query
   * worker runs on WebGPU), starting or stopping the difference. A frame
   * worker's batch is how many frames it takes per call (embedFrames).
   */
  async resize(n) {
    if (this.onGPU) n = Math.min(n, GPU_FRAME_WORKERS);
    while (this.frames.length > n) this.frames.pop().terminate();
    const started = [];
    while (this.frames.length < n) {
      const w = new EngineWorker(`frames-${this.frames.length + 1}`, this.script);
      w.batch = 1;
      w.ready = w.call('loadModel', { blob: this.blob, part: this.framePart, backend: this.backend }).then((r) => {
        this.frameInfo = r.info;
        w.batch = (r.info.backend && r.info.backend.batch) || 1;
        return r;
      });
      this.frames.push(w);
      started.push(w.ready);
    }
    await Promise.all(started);
  }

  terminate() {
    if (this.query) this.query.terminate();
    for (const w of this.frames) w.terminate();
    this.query = null;
    this.frames = [];
  }
}
