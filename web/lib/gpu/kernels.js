// kernels.js holds the WGSL compute kernels of the WebGPU encoders and
// records their dispatches. Activations are flat float32 storage buffers,
// row-major, with the shape in each kernel's comment; weights are
// GPUMatrix values (weights.js) in f32, f16 or int8, which only the
// matrix loads below look at. Every kernel has a plain JavaScript
// reference in reference.js that check.js compares it to.
//
// Precision: f32 arithmetic and accumulation everywhere. f16 weights stay
// f16 in memory and are widened with unpack2x16float, core WGSL, so the
// same kernel runs with or without the shader-f16 feature (and exactly:
// every half is a float32). int8 weights are four to a u32, sign-extended
// with extractBits and multiplied by their row's (or block's) scale as a
// tile is loaded; activations are never quantized.

const U = globalThis.GPUBufferUsage; // undefined without WebGPU: used only once a device exists

/** ELEMENTWISE is the workgroup size of the one-thread-per-element kernels. */
const ELEMENTWISE = 64;

/** MAX_TOKENS bounds the sequence attention takes (its scores live in workgroup memory). */
export const MAX_TOKENS = 1024;

/** MAX_HEAD bounds the head width attention takes. */
export const MAX_HEAD = 256;

// weightDecl declares the weight matrix at binding wb (and int8 scales at
// sb) and loadW(n, k4): columns 4*k4 .. 4*k4+3 of row n as float32. A
// matrix's rows are padded to K4 groups of four columns (weights.js).
function weightDecl(dtype, wb, sb, m) {
  switch (dtype) {
    case 'f32':
      return `@group(0) @binding(${wb}) var<storage, read> w: array<vec4<f32>>;
fn loadW(n: u32, k4: u32) -> vec4<f32> { return w[n * ${m}.K4 + k4]; }`;
    case 'f16':
      return `@group(0) @binding(${wb}) var<storage, read> w: array<vec2<u32>>;
fn loadW(n: u32, k4: u32) -> vec4<f32> {
  let h = w[n * ${m}.K4 + k4];
  return vec4<f32>(unpack2x16float(h.x), unpack2x16float(h.y));
}`;
    case 'int8':
      // w[r][c] = q * scales[r * nb + c / block] (quant.Matrix); the
      // padding columns' index is clamped to the row's last block.
      return `@group(0) @binding(${wb}) var<storage, read> w: array<u32>;
@group(0) @binding(${sb}) var<storage, read> scales: array<f32>;
fn loadW(n: u32, k4: u32) -> vec4<f32> {
  let q = i32(w[n * ${m}.K4 + k4]);
  let s = n * ${m}.nb;
  let last = ${m}.nb - 1u;
  let k = 4u * k4;
  return vec4<f32>(
    f32(extractBits(q, 0u, 8u)) * scales[s + min(k / ${m}.block, last)],
    f32(extractBits(q, 8u, 8u)) * scales[s + min((k + 1u) / ${m}.block, last)],
    f32(extractBits(q, 16u, 8u)) * scales[s + min((k + 2u) / ${m}.block, last)],
    f32(extractBits(q, 24u, 8u)) * scales[s + min((k + 3u) / ${m}.block, last)]);
}`;
  }
  throw new Error(`gpu: no kernel for weights of dtype ${dtype}`);
}

// QuickGELU x * sigmoid(1.702 x) as x / (1 + e^(-1.702 x)); the exponent is
// clamped so that e^t stays finite (WGSL promises nothing past overflow),
// which changes no float32 result.
const QUICK_GELU = `fn quickGELU(x: f32) -> f32 { return x / (1.0 + exp(clamp(-1.702 * x, -80.0, 80.0))); }`;

// The epilogues of matmul.
export const EPI_NONE = 0; // dst = x W^T + b
export const EPI_GELU = 1; // dst = QuickGELU(x W^T + b)
export const EPI_ADD = 2; // dst += x W^T + b (the residual stream)

// matmul: dst (M, N) = x (M, 4*K4) @ W^T + bias, W (N, 4*K4) a GPUMatrix,
// then the epilogue. A workgroup of 16x16 threads computes a 64x64 tile
// of dst, each thread 4x4 outputs (rows ty + 16i, columns tx + 16j, so
// that neighbouring threads store neighbouring columns), over K in steps
// of 16 held in workgroup memory as vec4s.
function matmulCode(dtype) {
  let body = '';
  for (let i = 0; i < 4; i++) body += `    let a${i} = xs[(ty + ${16 * i}u) * 4u + kk];\n`;
  for (let j = 0; j < 4; j++) body += `    let b${j} = ws[(tx + ${16 * j}u) * 4u + kk];\n`;
  for (let i = 0; i < 4; i++) body += `    acc${i} += vec4<f32>(dot(a${i}, b0), dot(a${i}, b1), dot(a${i}, b2), dot(a${i}, b3));\n`;
  let store = '';
  for (let i = 0; i < 4; i++) store += `  store(m0 + ty + ${16 * i}u, n0 + tx, acc${i});\n`;
  return `
struct P { M: u32, N: u32, K4: u32, nb: u32, block: u32, epi: u32, bias: u32, pad: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;
${weightDecl(dtype, 2, 3, 'p')}
@group(0) @binding(4) var<storage, read> bias: array<f32>;
@group(0) @binding(5) var<storage, read_write> dst: array<f32>;
${QUICK_GELU}

var<workgroup> xs: array<vec4<f32>, 256>; // 64 rows of x, 16 columns
var<workgroup> ws: array<vec4<f32>, 256>; // 64 rows of W, 16 columns

fn store(m: u32, n0: u32, acc: vec4<f32>) {
  if (m >= p.M) { return; }
  for (var j = 0u; j < 4u; j++) {
    let n = n0 + 16u * j;
    if (n < p.N) {
      var v = acc[j];
      if (p.bias != 0u) { v += bias[n]; }
      let o = m * p.N + n;
      if (p.epi == ${EPI_GELU}u) {
        dst[o] = quickGELU(v);
      } else if (p.epi == ${EPI_ADD}u) {
        dst[o] = dst[o] + v;
      } else {
        dst[o] = v;
      }
    }
  }
}

@compute @workgroup_size(16, 16)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let tx = lid.x;
  let ty = lid.y;
  let li = ty * 16u + tx;
  let m0 = wid.y * 64u;
  let n0 = wid.x * 64u;
  let lr = li / 4u; // the tile row this thread loads
  let lk = li % 4u; // and its group of four columns
  var acc0 = vec4<f32>(0.0);
  var acc1 = vec4<f32>(0.0);
  var acc2 = vec4<f32>(0.0);
  var acc3 = vec4<f32>(0.0);
  for (var k0 = 0u; k0 < p.K4; k0 += 4u) {
    let k4 = k0 + lk;
    var xv = vec4<f32>(0.0);
    if (m0 + lr < p.M && k4 < p.K4) { xv = x[(m0 + lr) * p.K4 + k4]; }
    xs[li] = xv;
    var wv = vec4<f32>(0.0);
    if (n0 + lr < p.N && k4 < p.K4) { wv = loadW(n0 + lr, k4); }
    ws[li] = wv;
    workgroupBarrier();
    for (var kk = 0u; kk < 4u; kk++) {
${body}    }
    workgroupBarrier();
  }
${store}}
`;
}

// A tree sum (or max) over a workgroup of WG threads, in uniform control flow.
function reduceCode(wg) {
  return `
var<workgroup> red: array<f32, ${wg}>;
fn reduceSum(v: f32, lid: u32) -> f32 {
  red[lid] = v;
  workgroupBarrier();
  for (var s = ${wg / 2}u; s > 0u; s >>= 1u) {
    if (lid < s) { red[lid] += red[lid + s]; }
    workgroupBarrier();
  }
  let r = red[0];
  workgroupBarrier();
  return r;
}
fn reduceMax(v: f32, lid: u32) -> f32 {
  red[lid] = v;
  workgroupBarrier();
  for (var s = ${wg / 2}u; s > 0u; s >>= 1u) {
    if (lid < s) { red[lid] = max(red[lid], red[lid + s]); }
    workgroupBarrier();
  }
  let r = red[0];
  workgroupBarrier();
  return r;
}`;
}

// layerNorm: dst row i (at i*outStride) = LayerNorm of x row i (at
// i*inStride, d values) with weight g and bias b, one workgroup a row.
// As quant.LayerNorm: the moments are float32 sums of the row shifted by
// its first value x0, in two passes (mean, then the biased variance).
const LAYER_NORM = `
struct P { n: u32, d: u32, inStride: u32, outStride: u32, eps: f32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> g: array<f32>;
@group(0) @binding(3) var<storage, read> b: array<f32>;
@group(0) @binding(4) var<storage, read_write> dst: array<f32>;
${reduceCode(128)}
@compute @workgroup_size(128)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  let row = wid.x + wid.y * 65535u;
  if (row >= p.n) { return; } // the whole workgroup: uniform
  let base = row * p.inStride;
  let x0 = x[base];
  var s = 0.0;
  for (var k = lid; k < p.d; k += 128u) { s += x[base + k] - x0; }
  let mean = reduceSum(s, lid) / f32(p.d);
  var v = 0.0;
  for (var k = lid; k < p.d; k += 128u) {
    let t = x[base + k] - x0 - mean;
    v += t * t;
  }
  let inv = 1.0 / sqrt(reduceSum(v, lid) / f32(p.d) + p.eps);
  let out = row * p.outStride;
  for (var k = lid; k < p.d; k += 128u) {
    dst[out + k] = (x[base + k] - x0 - mean) * inv * g[k] + b[k];
  }
}
`;

// attention: out (B*T, W) = per batch b, head h and query i,
// softmax(q k^T / sqrt(d) [causal: keys j <= i]) v, over qkv (B*T, 3W) as
// in_proj writes it (q | k | v, head h at columns h*d). One workgroup per
// (i, h, b); q is scaled before the product, as nn.MultiheadAttention.
const ATTENTION = `
struct P { T: u32, W: u32, H: u32, causal: u32, scale: f32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> qkv: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
${reduceCode(64)}
var<workgroup> scores: array<f32, ${MAX_TOKENS}>; // the query's scores, then its weights
var<workgroup> q: array<f32, ${MAX_HEAD}>;   // the query, scaled
@compute @workgroup_size(64)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  let i = wid.x;
  let h = wid.y;
  let b = wid.z;
  let d = p.W / p.H;
  let w3 = 3u * p.W;
  let row0 = b * p.T; // the batch's first token
  let qoff = (row0 + i) * w3 + h * d;
  for (var t = lid; t < d; t += 64u) { q[t] = qkv[qoff + t] * p.scale; }
  workgroupBarrier();
  var keys = p.T;
  if (p.causal != 0u) { keys = i + 1u; }
  var mx = -3.0e38;
  for (var j = lid; j < keys; j += 64u) {
    let k = (row0 + j) * w3 + p.W + h * d;
    var acc = 0.0;
    for (var t = 0u; t < d; t++) { acc += q[t] * qkv[k + t]; }
    scores[j] = acc;
    mx = max(mx, acc);
  }
  mx = reduceMax(mx, lid);
  var sum = 0.0;
  for (var j = lid; j < keys; j += 64u) {
    let e = exp(scores[j] - mx);
    scores[j] = e;
    sum += e;
  }
  let inv = 1.0 / reduceSum(sum, lid);
  for (var t = lid; t < d; t += 64u) {
    var acc = 0.0;
    let v = row0 * w3 + 2u * p.W + h * d + t;
    for (var j = 0u; j < keys; j++) { acc += (scores[j] * inv) * qkv[v + j * w3]; }
    out[(row0 + i) * p.W + h * d + t] = acc;
  }
}
`;

// The one-thread-per-element kernels index with elementIndex: dispatches
// wider than 65535 workgroups wrap into y.
const ELEMENT_INDEX = `
fn elementIndex(gid: vec3<u32>, nwg: vec3<u32>) -> u32 { return gid.x + gid.y * nwg.x * ${ELEMENTWISE}u; }`;

// patches: out (B*T, Kp) = the patch vectors of pixels (B, 3, R, R), row
// b*T + 1 + (gy*G + gx) the patch at (gy, gx) in (c, ky, kx) order, K of
// them, zero-padded to Kp; row b*T (the class token's) is zero. conv1 is
// then a matmul over all B*T rows.
const PATCHES = `
struct P { total: u32, T: u32, Kp: u32, K: u32, R: u32, P: u32, G: u32, pad: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> pix: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
${ELEMENT_INDEX}
@compute @workgroup_size(${ELEMENTWISE})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let idx = elementIndex(gid, nwg);
  if (idx >= p.total) { return; }
  let row = idx / p.Kp;
  let k = idx % p.Kp;
  let b = row / p.T;
  let t = row % p.T;
  if (t == 0u || k >= p.K) {
    out[idx] = 0.0;
    return;
  }
  let pi = t - 1u;
  let gy = pi / p.G;
  let gx = pi % p.G;
  let pp = p.P * p.P;
  let c = k / pp;
  let ky = (k % pp) / p.P;
  let kx = k % p.P;
  out[idx] = pix[((b * 3u + c) * p.R + gy * p.P + ky) * p.R + gx * p.P + kx];
}
`;

// embedPatches: x (B*T, W) in place: the class embedding at token 0 of
// each frame, then the positional embedding pos (T, W) added to every
// token (VisionTransformer.forward before ln_pre).
const EMBED_PATCHES = `
struct P { total: u32, T: u32, W: u32, pad: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> cls: array<f32>;
@group(0) @binding(2) var<storage, read> pos: array<f32>;
@group(0) @binding(3) var<storage, read_write> x: array<f32>;
${ELEMENT_INDEX}
@compute @workgroup_size(${ELEMENTWISE})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let idx = elementIndex(gid, nwg);
  if (idx >= p.total) { return; }
  let c = idx % p.W;
  let t = (idx / p.W) % p.T;
  var v = x[idx];
  if (t == 0u) { v = cls[c]; }
  x[idx] = v + pos[t * p.W + c];
}
`;

// embedTokens: x (B*n, W) = row ids[i] of the token embedding (a GPUMatrix
// (vocab, W)) plus pos (context, W) row i % n: the text encoder's input.
// One thread per four columns.
function embedTokensCode(dtype) {
  return `
struct P { total: u32, n: u32, K4: u32, nb: u32, block: u32, pad0: u32, pad1: u32, pad2: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> ids: array<u32>;
${weightDecl(dtype, 2, 3, 'p')}
@group(0) @binding(4) var<storage, read> pos: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read_write> x: array<vec4<f32>>;
${ELEMENT_INDEX}
@compute @workgroup_size(${ELEMENTWISE})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let idx = elementIndex(gid, nwg);
  if (idx >= p.total) { return; }
  let c4 = idx % p.K4;
  let row = idx / p.K4;
  x[idx] = loadW(ids[row], c4) + pos[(row % p.n) * p.K4 + c4];
}
`;
}

// gatherRows: dst (R, W) row r = src row rows[r]: the end-of-text tokens
// the text encoder pools.
const GATHER_ROWS = `
struct P { total: u32, W: u32, pad0: u32, pad1: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> rows: array<u32>;
@group(0) @binding(2) var<storage, read> src: array<f32>;
@group(0) @binding(3) var<storage, read_write> dst: array<f32>;
${ELEMENT_INDEX}
@compute @workgroup_size(${ELEMENTWISE})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let idx = elementIndex(gid, nwg);
  if (idx >= p.total) { return; }
  dst[idx] = src[rows[idx / p.W] * p.W + idx % p.W];
}
`;

// The bindings of each kernel: u uniform, r read-only storage, w storage.
const LAYOUTS = {
  matmul: 'urrrrw',
  layerNorm: 'urrrw',
  attention: 'urw',
  patches: 'urw',
  embedPatches: 'urrw',
  embedTokens: 'urrrrw',
  gatherRows: 'urrw',
};

const BINDING = { u: 'uniform', r: 'read-only-storage', w: 'storage' };

/**
 * Kernels compiles the kernels for a device and makes dispatch steps:
 * {pipeline, bindGroup, groups: [x, y, z]}, recorded into a compute pass
 * by run(). Steps hold their bind groups, so a forward pass made once can
 * be run again and again.
 */
export class Kernels {
  constructor(device) {
    this.device = device;
    this.layouts = {};
    this.pipelines = new Map();
    this.uniforms = new Map();
    this.dummy = device.createBuffer({ size: 16, usage: U.STORAGE });
    for (const [name, kinds] of Object.entries(LAYOUTS)) {
      const bgl = device.createBindGroupLayout({
        entries: [...kinds].map((k, i) => ({ binding: i, visibility: GPUShaderStage.COMPUTE, buffer: { type: BINDING[k] } })),
      });
      this.layouts[name] = { bgl, pl: device.createPipelineLayout({ bindGroupLayouts: [bgl] }) };
    }
  }

  pipeline(kind, variant, code) {
    const key = `${kind}/${variant}`;
    let p = this.pipelines.get(key);
    if (!p) {
      const module = this.device.createShaderModule({ code, label: key });
      p = this.device.createComputePipeline({ layout: this.layouts[kind].pl, compute: { module, entryPoint: 'main' }, label: key });
      this.pipelines.set(key, p);
    }
    return p;
  }

  // uniform returns a uniform buffer holding words (u32 numbers, or
  // {f: value} for an f32), one per distinct content.
  uniform(words) {
    const key = words.map((w) => (typeof w === 'number' ? w : `f${w.f}`)).join(',');
    let buf = this.uniforms.get(key);
    if (!buf) {
      const n = Math.max(4, Math.ceil(words.length / 4) * 4);
      const data = new ArrayBuffer(4 * n);
      const u = new Uint32Array(data);
      const f = new Float32Array(data);
      words.forEach((w, i) => {
        if (typeof w === 'number') u[i] = w;
        else f[i] = w.f;
      });
      buf = this.device.createBuffer({ size: 4 * n, usage: U.UNIFORM | U.COPY_DST });
      this.device.queue.writeBuffer(buf, 0, data);
      this.uniforms.set(key, buf);
    }
    return buf;
  }

  step(kind, pipeline, buffers, groups) {
    const bindGroup = this.device.createBindGroup({
      layout: this.layouts[kind].bgl,
      entries: buffers.map((buffer, i) => ({ binding: i, resource: { buffer } })),
    });
    return { pipeline, bindGroup, groups };
  }

  // elementGroups is the grid of ELEMENTWISE-thread workgroups for n threads.
  elementGroups(n) {
    const groups = Math.ceil(n / ELEMENTWISE);
    if (groups <= 65535) return [Math.max(1, groups), 1, 1];
    return [65535, Math.ceil(groups / 65535), 1];
  }

  /** matmul: dst (M, w.rows) = x (M, 4*w.K4) @ w^T + bias, then epi. */
  matmul({ x, w, bias, dst, M, epi = EPI_NONE }) {
    const pipeline = this.pipeline('matmul', w.dtype, matmulCode(w.dtype));
    const u = this.uniform([M, w.rows, w.K4, w.nb, w.block, epi, bias ? 1 : 0, 0]);
    return this.step('matmul', pipeline, [u, x, w.buffer, w.scales || this.dummy, bias || this.dummy, dst],
      [Math.ceil(w.rows / 64), Math.ceil(M / 64), 1]);
  }

  /** layerNorm: n rows of d, read at row*inStride, written at row*outStride. */
  layerNorm({ x, g, b, dst, n, d, inStride = d, outStride = d, eps = 1e-5 }) {
    const pipeline = this.pipeline('layerNorm', '', LAYER_NORM);
    const u = this.uniform([n, d, inStride, outStride, { f: eps }]);
    return this.step('layerNorm', pipeline, [u, x, g, b, dst], [Math.min(n, 65535), Math.ceil(n / 65535), 1]);
  }

  /** attention over qkv (B*T, 3W) into out (B*T, W), H heads. */
  attention({ qkv, out, B, T, W, H, causal }) {
    const d = W / H;
    if (T > MAX_TOKENS || d > MAX_HEAD) throw new Error(`gpu: attention over ${T} tokens of head width ${d} (at most ${MAX_TOKENS} and ${MAX_HEAD})`);
    const pipeline = this.pipeline('attention', '', ATTENTION);
    const u = this.uniform([T, W, H, causal ? 1 : 0, { f: Math.fround(1 / Math.sqrt(d)) }]);
    return this.step('attention', pipeline, [u, qkv, out], [T, H, B]);
  }

  /** patches: pix (B, 3, R, R) into out (B*T, Kp) for conv1 (T = 1 + G*G). */
  patches({ pix, out, B, R, P, Kp }) {
    const G = R / P;
    const T = 1 + G * G;
    const total = B * T * Kp;
    const pipeline = this.pipeline('patches', '', PATCHES);
    const u = this.uniform([total, T, Kp, 3 * P * P, R, P, G, 0]);
    return this.step('patches', pipeline, [u, pix, out], this.elementGroups(total));
  }

  /** embedPatches: the class and positional embeddings into x (B*T, W). */
  embedPatches({ x, cls, pos, B, T, W }) {
    const total = B * T * W;
    const pipeline = this.pipeline('embedPatches', '', EMBED_PATCHES);
    const u = this.uniform([total, T, W, 0]);
    return this.step('embedPatches', pipeline, [u, cls, pos, x], this.elementGroups(total));
  }

  /** embedTokens: x (rows, W) from ids (rows) of sequences of n tokens. */
  embedTokens({ ids, emb, pos, x, rows, n }) {
    const total = rows * emb.K4;
    const pipeline = this.pipeline('embedTokens', emb.dtype, embedTokensCode(emb.dtype));
    const u = this.uniform([total, n, emb.K4, emb.nb, emb.block, 0, 0, 0]);
    return this.step('embedTokens', pipeline, [u, ids, emb.buffer, emb.scales || this.dummy, pos, x], this.elementGroups(total));
  }

  /** gatherRows: dst (R, W) row r = src row rows[r]. */
  gatherRows({ rows, src, dst, R, W }) {
    const total = R * W;
    const pipeline = this.pipeline('gatherRows', '', GATHER_ROWS);
    const u = this.uniform([total, W, 0, 0]);
    return this.step('gatherRows', pipeline, [u, rows, src, dst], this.elementGroups(total));
  }

  /** run records steps into one compute pass of a new command encoder and returns the encoder. */
  /**
   * scope returns these kernels with a uniform cache of their own, for
   * one forward pass's steps; release(scope) frees its uniform buffers.
   */
  scope() {
    const k = Object.create(this);
    k.uniforms = new Map();
    return k;
  }

  release(scope) {
    for (const b of scope.uniforms.values()) b.destroy();
    scope.uniforms.clear();
  }

  run(steps, encoder = this.device.createCommandEncoder()) {
    const pass = encoder.beginComputePass();
    for (const s of steps) {
      pass.setPipeline(s.pipeline);
      pass.setBindGroup(0, s.bindGroup);
      pass.dispatchWorkgroups(...s.groups);
    }
    pass.end();
    return encoder;
  }
}
