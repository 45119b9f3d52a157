// check.js compares every WebGPU kernel (kernels.js) with its JavaScript
// reference (reference.js) on seeded random data: one shared suite that
// each kernel and weight format must pass, as quant's tests do for the Go
// kernels. The e2e tests run it in headless Chromium on SwiftShader
// (TestWebGPUKernels); a worker runs a small part of it before it trusts
// its GPU (backend.js, startGPU), since a driver that miscompiles a kernel
// would otherwise give wrong features silently.

import { EPI_ADD, EPI_GELU, EPI_NONE, Kernels } from './kernels.js';
import { padded4, uploadFloats, uploadMatrix } from './weights.js';
import {
  attentionRef, dequantize, embedPatchesRef, embedTokensRef, gatherRowsRef, layerNormRef, matmulRef, patchesRef,
} from './reference.js';

const U = globalThis.GPUBufferUsage; // undefined without WebGPU: used only once a device exists

/** rng returns a seeded generator of uniform [0, 1) numbers (mulberry32). */
export function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** normals returns n N(0, std^2) float32 values (Box-Muller) plus mean. */
export function normals(rand, n, std = 1, mean = 0) {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = mean + std * Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
  return out;
}

/** floatToHalf rounds a float32 to IEEE half bits (nearest even). */
export function floatToHalf(v) {
  const f = new Float32Array([v]);
  const x = new Uint32Array(f.buffer)[0];
  const sign = (x >>> 16) & 0x8000;
  const e = (x >>> 23) & 0xff;
  let m = x & 0x7fffff;
  if (e === 0xff) return sign | 0x7c00 | (m ? 0x200 : 0);
  let he = e - 127 + 15;
  if (he >= 31) return sign | 0x7c00;
  if (he <= 0) {
    if (he < -10) return sign;
    m |= 0x800000;
    const shift = 14 - he;
    let h = m >>> shift;
    const rem = m & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && h & 1)) h++;
    return sign | h;
  }
  let h = (he << 10) | (m >>> 13);
  const rem = m & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && h & 1)) h++;
  return sign | h;
}

/**
 * randomMatrix returns a (rows, cols) weight matrix in the upload format
 * (weights.js) with N(0, 1/cols) values: f32, f16, or int8 with a scale
 * per block of `block` columns (0: per row).
 */
export function randomMatrix(rand, dtype, rows, cols, block = 0) {
  const v = normals(rand, rows * cols, 1 / Math.sqrt(cols));
  if (dtype === 'f32') return { dtype, rows, cols, data: new Uint8Array(v.buffer) };
  if (dtype === 'f16') return { dtype, rows, cols, data: new Uint8Array(Uint16Array.from(v, floatToHalf).buffer) };
  block = block > 0 ? block : cols;
  const nb = Math.ceil(cols / block);
  const q = new Int8Array(rows * cols);
  const scales = new Float32Array(rows * nb);
  for (let r = 0; r < rows; r++) {
    for (let b = 0; b < nb; b++) {
      const lo = r * cols + b * block;
      const hi = r * cols + Math.min((b + 1) * block, cols);
      let amax = 0;
      for (let i = lo; i < hi; i++) amax = Math.max(amax, Math.abs(v[i]));
      const s = Math.fround(amax / 127);
      scales[r * nb + b] = s;
      for (let i = lo; i < hi; i++) q[i] = s ? Math.max(-127, Math.min(127, Math.round(v[i] / s))) : 0;
    }
  }
  return { dtype, rows, cols, data: new Uint8Array(q.buffer), scales, block };
}

// Bench is a device and its kernels with helpers to move arrays in and
// out; destroy frees every buffer it made.
class Bench {
  constructor(device, kernels) {
    this.device = device;
    this.kernels = kernels;
    this.buffers = [];
  }

  input(values) {
    const b = uploadFloats(this.device, values instanceof Float32Array ? values : Float32Array.from(values), U.COPY_SRC);
    this.buffers.push(b);
    return b;
  }

  u32(values) {
    const b = this.device.createBuffer({ size: Math.max(16, padded4(values.length) * 4), usage: U.STORAGE | U.COPY_DST });
    this.device.queue.writeBuffer(b, 0, Uint32Array.from(values));
    this.buffers.push(b);
    return b;
  }

  output(n, init = null) {
    const b = init ? this.input(init) : this.device.createBuffer({ size: Math.max(16, padded4(n) * 4), usage: U.STORAGE | U.COPY_SRC });
    if (!init) this.buffers.push(b);
    return b;
  }

  matrix(m) {
    const g = uploadMatrix(this.device, m);
    this.buffers.push(g.buffer);
    if (g.scales) this.buffers.push(g.scales);
    return g;
  }

  async run(steps, out, n) {
    const rb = this.device.createBuffer({ size: Math.max(16, padded4(n) * 4), usage: U.MAP_READ | U.COPY_DST });
    this.buffers.push(rb);
    const enc = this.kernels.run(steps);
    enc.copyBufferToBuffer(out, 0, rb, 0, padded4(n) * 4);
    this.device.queue.submit([enc.finish()]);
    await rb.mapAsync(GPUMapMode.READ);
    const r = new Float32Array(rb.getMappedRange()).slice(0, n);
    rb.unmap();
    return r;
  }

  destroy() {
    for (const b of this.buffers) b.destroy();
  }
}

/** compare returns {maxDiff, maxRef, first} of got against want. */
export function compare(got, want) {
  let maxDiff = 0;
  let maxRef = 0;
  let at = 0;
  for (let i = 0; i < want.length; i++) {
    const d = Math.abs(got[i] - want[i]);
    if (!(d <= maxDiff)) {
      maxDiff = Number.isNaN(d) ? Infinity : d;
      at = i;
    }
    maxRef = Math.max(maxRef, Math.abs(want[i]));
  }
  if (got.length !== want.length) maxDiff = Infinity;
  return { maxDiff, maxRef, at, got: Array.from(got.slice(0, 4)), want: Array.from(want.slice(0, 4)) };
}

// TOLERANCE bounds |got - want| / max(1, max |want|): float32 sums in
// another order than the float64 reference's.
const TOLERANCE = 2e-5;

/**
 * The cases: each returns [got, want] for one kernel and variant. sizes
 * are chosen off the kernels' tiles (64 rows and columns, 16 of K, 128 and
 * 64 threads) and with columns that need padding.
 */
function cases(quick, dtypes) {
  const list = [];
  const mm = (dtype, block, M, N, K, epi, bias = true) => ({
    name: `matmul ${dtype}${dtype === 'int8' ? (block ? ` block ${block}` : ' per row') : ''} ${M}x${N}x${K}${['', ' QuickGELU', ' +='][epi]}${bias ? '' : ' no bias'}`,
    async run(t, rand) {
      const m = randomMatrix(rand, dtype, N, K, block);
      const x = normals(rand, M * K);
      const Kp = padded4(K);
      const xp = new Float32Array(M * Kp);
      for (let r = 0; r < M; r++) xp.set(x.subarray(r * K, (r + 1) * K), r * Kp);
      const b = bias ? normals(rand, N, 0.1) : null;
      const prev = epi === EPI_ADD ? normals(rand, M * N) : null;
      const dst = t.output(M * N, prev);
      const got = await t.run([t.kernels.matmul({ x: t.input(xp), w: t.matrix(m), bias: b && t.input(b), dst, M, epi })], dst, M * N);
      return [got, matmulRef(x, dequantize(m), b, M, N, K, epi, prev)];
    },
  });
  for (const dtype of dtypes) list.push(mm(dtype, 0, 70, 100, 68, EPI_NONE));
  if (!quick) {
    list.push(
      mm('f32', 0, 130, 200, 260, EPI_GELU), mm('f32', 0, 33, 65, 30, EPI_ADD), mm('f32', 0, 1, 40, 32, EPI_NONE, false),
      mm('f16', 0, 65, 129, 30, EPI_GELU), mm('f16', 0, 64, 64, 64, EPI_ADD),
      mm('int8', 8, 70, 100, 68, EPI_GELU), mm('int8', 6, 50, 70, 30, EPI_ADD), mm('int8', 32, 129, 64, 96, EPI_NONE, false), mm('int8', 0, 20, 33, 27, EPI_NONE),
    );
  }
  const ln = (n, d, inStride, outStride, shift, eps) => ({
    name: `layerNorm ${n}x${d}${inStride !== d ? ` strided ${inStride}->${outStride}` : ''}${shift ? ` around ${shift}` : ''} eps ${eps}`,
    async run(t, rand) {
      const x = normals(rand, n * inStride, 2, shift);
      const g = normals(rand, d, 0.1, 1);
      const b = normals(rand, d, 0.1);
      const dst = t.output(n * outStride);
      const got = await t.run([t.kernels.layerNorm({ x: t.input(x), g: t.input(g), b: t.input(b), dst, n, d, inStride, outStride, eps })], dst, n * outStride);
      const want = layerNormRef(x, g, b, n, d, eps, inStride, outStride);
      for (let i = 0; i < n; i++) for (let k = d; k < outStride; k++) want[i * outStride + k] = got[i * outStride + k]; // not written
      return [got, want];
    },
  });
  list.push(ln(7, 100, 100, 100, 0, 1e-5));
  if (!quick) list.push(ln(3, 512, 512, 512, 100, 1e-5), ln(4, 64, 200, 64, 0, 1e-5), ln(5, 300, 300, 300, 0, 1e-12));
  const att = (B, T, W, H, causal) => ({
    name: `attention B ${B} T ${T} W ${W} heads ${H}${causal ? ' causal' : ''}`,
    async run(t, rand) {
      const qkv = normals(rand, B * T * 3 * W);
      const out = t.output(B * T * W);
      const got = await t.run([t.kernels.attention({ qkv: t.input(qkv), out, B, T, W, H, causal })], out, B * T * W);
      return [got, attentionRef(qkv, B, T, W, H, causal)];
    },
  });
  list.push(att(2, 13, 32, 4, false), att(2, 13, 32, 4, true));
  if (!quick) list.push(att(1, 77, 128, 2, true), att(3, 50, 64, 1, false), att(1, 130, 64, 2, false));
  if (!quick) {
    for (const [B, R, P] of [[2, 16, 4], [1, 12, 3]]) {
      list.push({
        name: `patches B ${B} ${R}px patch ${P}`,
        async run(t, rand) {
          const pix = normals(rand, B * 3 * R * R);
          const Kp = padded4(3 * P * P);
          const G = R / P;
          const n = B * (1 + G * G) * Kp;
          const out = t.output(n, normals(rand, n)); // every value is written
          const got = await t.run([t.kernels.patches({ pix: t.input(pix), out, B, R, P, Kp })], out, n);
          return [got, patchesRef(pix, B, R, P, Kp)];
        },
      });
    }
    list.push({
      name: 'embedPatches B 2 T 5 W 8',
      async run(t, rand) {
        const [B, T, W] = [2, 5, 8];
        const x = normals(rand, B * T * W);
        const cls = normals(rand, W);
        const pos = normals(rand, T * W);
        const buf = t.output(x.length, x);
        const got = await t.run([t.kernels.embedPatches({ x: buf, cls: t.input(cls), pos: t.input(pos), B, T, W })], buf, x.length);
        return [got, embedPatchesRef(x, cls, pos, B, T, W)];
      },
    });
    for (const [dtype, block] of [['f32', 0], ['f16', 0], ['int8', 0], ['int8', 4]]) {
      list.push({
        name: `embedTokens ${dtype}${block ? ` block ${block}` : ''}`,
        async run(t, rand) {
          const [V, W, n] = [50, 16, 5];
          const emb = randomMatrix(rand, dtype, V, W, block);
          const pos = normals(rand, 8 * W);
          const ids = Array.from({ length: 2 * n }, () => Math.floor(rand() * V));
          const x = t.output(ids.length * W);
          const got = await t.run([t.kernels.embedTokens({ ids: t.u32(ids), emb: t.matrix(emb), pos: t.input(pos), x, rows: ids.length, n })], x, ids.length * W);
          return [got, embedTokensRef(ids, dequantize(emb), pos, n, W)];
        },
      });
    }
    list.push({
      name: 'gatherRows 3 of 10x12',
      async run(t, rand) {
        const src = normals(rand, 10 * 12);
        const rows = [7, 0, 9];
        const dst = t.output(3 * 12);
        const got = await t.run([t.kernels.gatherRows({ rows: t.u32(rows), src: t.input(src), dst, R: 3, W: 12 })], dst, 3 * 12);
        return [got, gatherRowsRef(rows, src, 12)];
      },
    });
  }
  return list;
}

/**
 * checkKernels runs the suite on device and resolves with one result per
 * case: {name, maxDiff, maxRef, tol, ok, got, want} (got and want: the
 * first values), or {name, error}. quick runs the few cases a worker's
 * self-check needs: one product per weight format in dtypes, LayerNorm
 * and attention. kernels (kernels.js) may be the encoders' own, which
 * then reuse the pipelines compiled here.
 */
export async function checkKernels(device, { quick = false, dtypes = ['f32', 'f16', 'int8'], kernels = new Kernels(device), seed = 1 } = {}) {
  const results = [];
  for (const [i, c] of cases(quick, dtypes).entries()) {
    const t = new Bench(device, kernels);
    try {
      device.pushErrorScope('validation');
      let got, want, err;
      try {
        [got, want] = await c.run(t, rng(seed + i));
      } finally {
        err = await device.popErrorScope();
      }
      if (err) throw new Error(err.message);
      const r = compare(got, want);
      const tol = TOLERANCE * Math.max(1, r.maxRef);
      results.push({ name: c.name, ...r, tol, ok: r.maxDiff <= tol });
    } catch (err) {
      results.push({ name: c.name, error: String(err && err.message ? err.message : err), ok: false });
    } finally {
      t.destroy();
    }
  }
  return results;
}
