// encoder.js runs CLIP's image and text encoders on the GPU with the
// kernels of kernels.js: the forward passes of model/encoder.go and
// model/transformer.go (openai/CLIP clip/model.py), a batch of frames or
// captions per dispatch. Each encoder allocates its activations once for
// its largest batch and builds the steps of a forward pass once per batch
// shape; a call writes its input, runs the steps in one compute pass and
// reads the features back.

import { EPI_ADD, EPI_GELU, Kernels } from './kernels.js';
import { Weights, padded4 } from './weights.js';

const U = globalThis.GPUBufferUsage; // undefined without WebGPU: used only once a device exists

// Plans (the steps of a forward pass for one batch shape) kept per encoder.
const PLANS = 16;

// towerConfig returns a tower's part of a model's configuration
// (model.Config as the engine's info gives it), checked for the kernels.
function towerConfig(config, tower) {
  const c = config[tower];
  if (!c) throw new Error(`gpu: the model's configuration has no ${tower} tower`);
  if (c.width % 4 || c.width % c.heads) throw new Error(`gpu: a ${tower} width of ${c.width} with ${c.heads} heads (the kernels take widths in fours)`);
  return c;
}

class Encoder {
  constructor(device, tensors, { kernels = null } = {}) {
    this.device = device;
    this.kernels = kernels || new Kernels(device);
    this.weights = new Weights(device, tensors);
    this.plans = new Map();
    this.buffers = [];
    this.queue = Promise.resolve(); // one forward pass at a time
  }

  buffer(floats, usage = U.STORAGE) {
    const b = this.device.createBuffer({ size: Math.max(16, padded4(floats) * 4), usage });
    this.buffers.push(b);
    return b;
  }

  // blocks returns the steps of n residual attention blocks over x (rows,
  // W) with scratch h, qkv and mlp: x = x + attn(ln_1(x)); x = x +
  // mlp(ln_2(x)) (model.Block.forward).
  blocks(k, prefix, layers, { x, h, qkv, mlp }, B, T, W, H, causal) {
    const wt = this.weights;
    const M = B * T;
    const steps = [];
    for (let l = 0; l < layers; l++) {
      const p = `${prefix}${l}.`;
      steps.push(
        k.layerNorm({ x, g: wt.vector(p + 'ln_1.weight', W), b: wt.vector(p + 'ln_1.bias', W), dst: h, n: M, d: W }),
        k.matmul({ x: h, w: wt.matrix(p + 'attn.in_proj_weight', 3 * W, W), bias: wt.vector(p + 'attn.in_proj_bias', 3 * W), dst: qkv, M }),
        k.attention({ qkv, out: h, B, T, W, H, causal }),
        k.matmul({ x: h, w: wt.matrix(p + 'attn.out_proj.weight', W, W), bias: wt.vector(p + 'attn.out_proj.bias', W), dst: x, M, epi: EPI_ADD }),
        k.layerNorm({ x, g: wt.vector(p + 'ln_2.weight', W), b: wt.vector(p + 'ln_2.bias', W), dst: h, n: M, d: W }),
        k.matmul({ x: h, w: wt.matrix(p + 'mlp.c_fc.weight', 4 * W, W), bias: wt.vector(p + 'mlp.c_fc.bias', 4 * W), dst: mlp, M, epi: EPI_GELU }),
        k.matmul({ x: mlp, w: wt.matrix(p + 'mlp.c_proj.weight', W, 4 * W), bias: wt.vector(p + 'mlp.c_proj.bias', W), dst: x, M, epi: EPI_ADD }),
      );
    }
    return steps;
  }

  // plan returns the forward pass for key, built by make(kernels) the
  // first time and kept among the last PLANS used.
  plan(key, make) {
    let p = this.plans.get(key);
    if (p) {
      this.plans.delete(key);
    } else {
      const scope = this.kernels.scope();
      p = { scope, steps: make(scope) };
      if (this.plans.size >= PLANS) {
        const [oldest, old] = this.plans.entries().next().value;
        this.plans.delete(oldest);
        this.kernels.release(old.scope);
      }
    }
    this.plans.set(key, p);
    return p.steps;
  }

  // forward runs steps after writing the inputs ([buffer, typed array]
  // pairs) and resolves with the first `floats` values of out.
  forward(inputs, steps, out, floats) {
    const run = async () => {
      for (const [buf, data] of inputs) this.device.queue.writeBuffer(buf, 0, data);
      const enc = this.kernels.run(steps);
      enc.copyBufferToBuffer(out, 0, this.readback, 0, floats * 4);
      this.device.queue.submit([enc.finish()]);
      await this.readback.mapAsync(GPUMapMode.READ, 0, floats * 4);
      const result = new Float32Array(this.readback.getMappedRange(0, floats * 4)).slice();
      this.readback.unmap();
      return result;
    };
    const p = this.queue.then(run);
    this.queue = p.catch(() => {});
    return p;
  }

  /** bytes is the GPU memory the weights take. */
  get weightBytes() {
    return this.weights.bytes;
  }

  destroy() {
    for (const p of this.plans.values()) this.kernels.release(p.scope);
    this.plans.clear();
    for (const b of this.buffers) b.destroy();
    this.buffers = [];
    this.weights.destroy();
  }
}

/**
 * VisionEncoder is CLIP's VisionTransformer on the GPU: encode(pixels, B)
 * takes B preprocessed frames (B, 3, res, res) and resolves with their
 * features (B, embed), encode_image's output, not normalised. config is
 * model.Config; tensors are the model's weights by checkpoint name
 * (weights.js: goWeights). All weights are uploaded by the constructor.
 */
export class VisionEncoder extends Encoder {
  constructor(device, config, tensors, { maxBatch = 8, kernels } = {}) {
    super(device, tensors, { kernels });
    const v = towerConfig(config, 'vision');
    if (v.linear_patch !== '2d') throw new Error(`gpu: the ${v.linear_patch} patch embedding (conv2 over three frames) runs in WebAssembly only`);
    this.R = v.resolution;
    this.P = v.patch_size;
    this.W = v.width;
    this.H = v.heads;
    this.layers = v.layers;
    this.E = config.embed_dim;
    this.G = this.R / this.P;
    this.T = 1 + this.G * this.G;
    this.K = 3 * this.P * this.P;
    this.Kp = padded4(this.K);
    this.maxBatch = maxBatch;
    const { W, T, E, R } = this;
    const rows = maxBatch * T;
    this.pix = this.buffer(maxBatch * 3 * R * R, U.STORAGE | U.COPY_DST);
    this.patchBuf = this.buffer(rows * this.Kp);
    this.act = { x: this.buffer(rows * W), h: this.buffer(rows * W), qkv: this.buffer(rows * 3 * W), mlp: this.buffer(rows * 4 * W) };
    this.cls = this.buffer(maxBatch * W);
    this.out = this.buffer(maxBatch * E, U.STORAGE | U.COPY_SRC);
    this.readback = this.buffer(maxBatch * E, U.MAP_READ | U.COPY_DST);
    this.steps(1); // uploads every weight
    this.weights.seal();
  }

  steps(B) {
    return this.plan(B, (k) => {
      const { W, T, E, H, R, P, Kp } = this;
      const wt = this.weights;
      const { x, h } = this.act;
      return [
        // conv1 as a matrix over the patch vectors, class token, positions, ln_pre.
        k.patches({ pix: this.pix, out: this.patchBuf, B, R, P, Kp }),
        k.matmul({ x: this.patchBuf, w: wt.matrix('visual.conv1.weight', W, this.K), dst: h, M: B * T }),
        k.embedPatches({ x: h, cls: wt.vector('visual.class_embedding', W), pos: wt.vector('visual.positional_embedding', T * W), B, T, W }),
        k.layerNorm({ x: h, g: wt.vector('visual.ln_pre.weight', W), b: wt.vector('visual.ln_pre.bias', W), dst: x, n: B * T, d: W }),
        ...this.blocks(k, 'visual.transformer.resblocks.', this.layers, this.act, B, T, W, H, false),
        // ln_post on each frame's class token, then the projection.
        k.layerNorm({ x, g: wt.vector('visual.ln_post.weight', W), b: wt.vector('visual.ln_post.bias', W), dst: this.cls, n: B, d: W, inStride: T * W, outStride: W }),
        k.matmul({ x: this.cls, w: wt.matrix('visual.proj', E, W), dst: this.out, M: B }),
      ];
    });
  }

  /** encode resolves with the features (B, embed) of B frames' pixels (B, 3, res, res). */
  async encode(pixels, B) {
    const size = 3 * this.R * this.R;
    if (pixels.length < B * size) throw new Error(`gpu: ${pixels.length} values for ${B} frames of 3x${this.R}x${this.R}`);
    const out = new Float32Array(B * this.E);
    for (let at = 0; at < B; at += this.maxBatch) {
      const n = Math.min(this.maxBatch, B - at);
      const f = await this.forward([[this.pix, pixels.subarray(at * size, (at + n) * size)]], this.steps(n), this.out, n * this.E);
      out.set(f, at * this.E);
    }
    return out;
  }
}

/** eotIndex is where CLIP pools a caption: the first position of its largest id (model.EOTIndex). */
export function eotIndex(ids) {
  let best = 0;
  for (let i = 1; i < ids.length; i++) if (ids[i] > ids[best]) best = i;
  return best;
}

/**
 * TextEncoder is CLIP's text transformer on the GPU: encode(captions)
 * takes token id arrays (SOT and EOT included, padding optional) and
 * resolves with their features (captions, embed), encode_text's output,
 * not normalised. Only positions up to the last caption's end-of-text
 * token are computed: the mask is causal, so later ones cannot change the
 * result, and shorter captions of a batch are padded.
 */
export class TextEncoder extends Encoder {
  constructor(device, config, tensors, { maxBatch = 4, kernels } = {}) {
    super(device, tensors, { kernels });
    const t = towerConfig(config, 'text');
    this.W = t.width;
    this.H = t.heads;
    this.layers = t.layers;
    this.context = t.context;
    this.vocab = t.vocab_size;
    this.E = config.embed_dim;
    this.maxBatch = maxBatch;
    const rows = maxBatch * this.context;
    this.ids = this.buffer(rows, U.STORAGE | U.COPY_DST);
    this.rows = this.buffer(maxBatch, U.STORAGE | U.COPY_DST);
    this.act = { x: this.buffer(rows * this.W), h: this.buffer(rows * this.W), qkv: this.buffer(rows * 3 * this.W), mlp: this.buffer(rows * 4 * this.W) };
    this.eot = this.buffer(maxBatch * this.W);
    this.eotLN = this.buffer(maxBatch * this.W);
    this.out = this.buffer(maxBatch * this.E, U.STORAGE | U.COPY_SRC);
    this.readback = this.buffer(maxBatch * this.E, U.MAP_READ | U.COPY_DST);
    this.steps(1, 2); // uploads every weight
    this.weights.seal();
  }

  steps(B, n) {
    return this.plan(`${B}x${n}`, (k) => {
      const { W, H, E } = this;
      const wt = this.weights;
      const { x } = this.act;
      return [
        k.embedTokens({ ids: this.ids, emb: wt.matrix('token_embedding.weight', this.vocab, W), pos: wt.vector('positional_embedding', this.context * W), x, rows: B * n, n }),
        ...this.blocks(k, 'transformer.resblocks.', this.layers, this.act, B, n, W, H, true),
        // The end-of-text tokens, ln_final, the projection.
        k.gatherRows({ rows: this.rows, src: x, dst: this.eot, R: B, W }),
        k.layerNorm({ x: this.eot, g: wt.vector('ln_final.weight', W), b: wt.vector('ln_final.bias', W), dst: this.eotLN, n: B, d: W }),
        k.matmul({ x: this.eotLN, w: wt.matrix('text_projection', E, W), dst: this.out, M: B }),
      ];
    });
  }

  /** encode resolves with the features (captions, embed) of token id arrays. */
  async encode(captions) {
    const out = new Float32Array(captions.length * this.E);
    for (let at = 0; at < captions.length; at += this.maxBatch) {
      const batch = captions.slice(at, at + this.maxBatch);
      const eots = batch.map((ids) => {
        if (!ids.length || ids.length > this.context) throw new Error(`gpu: ${ids.length} tokens; the text encoder takes 1 to ${this.context}`);
        for (const id of ids) if (id < 0 || id >= this.vocab) throw new Error(`gpu: token id ${id} outside the vocabulary of ${this.vocab}`);
        return eotIndex(ids);
      });
      const B = batch.length;
      const n = Math.max(...eots) + 1;
      const ids = new Uint32Array(B * n);
      batch.forEach((c, b) => ids.set(Array.from(c).slice(0, n), b * n));
      const rows = new Uint32Array(eots.map((e, b) => b * n + e));
      const f = await this.forward([[this.ids, ids], [this.rows, rows]], this.steps(B, n), this.out, B * this.E);
      out.set(f, at * this.E);
    }
    return out;
  }
}
