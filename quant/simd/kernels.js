// kernels.js links clip4clip's WebAssembly SIMD kernels (matrix products,
// element-wise ops) into a Go js/wasm program. Package quant declares the
// functions of the import module "clip4clip_simd" with //go:wasmimport, so
// every host that runs a Go binary using quant must provide that module;
// this file does, for the browser and for Node (tools/wasmexec):
//
//	import { loadKernels } from "./kernels.js";
//	const go = new Go();                               // wasm_exec.js
//	Object.assign(go.importObject, await loadKernels(go));
//	const { instance } = await WebAssembly.instantiateStreaming(fetch("main.wasm"), go.importObject);
//	go.run(instance);
//
// The kernel module (kernels_relaxed.wasm where the engine has relaxed
// SIMD, else kernels_simd.wasm) imports the Go instance's memory, so it is
// instantiated on the first kernel call, synchronously: fine in a worker
// and in Node; Chrome refuses synchronous instantiation of modules over
// 4 KB on the main thread, so run the Go program in a worker. Where the
// engine has no SIMD at all, every kernel returns 0 and Go runs its own.

const files = { relaxed: "kernels_relaxed.wasm", simd: "kernels_simd.wasm" };
// pair is the relaxed module with its paired int8 kernel (linear_i8_pair:
// x in 6 bits, products summed in i16; see gen.mjs's mkI8) as linear_i8.
const codes = { none: 0, simd: 1, relaxed: 2, pair: 3 };
const i8name = { simd: "linear_i8", relaxed: "linear_i8", pair: "linear_i8_pair" };

// defaultLoad fetches a file beside this script (read from disk in Node).
async function defaultLoad(name) {
  const url = new URL(name, import.meta.url);
  if (url.protocol === "file:" && typeof process !== "undefined" && process.versions?.node) {
    const { readFile } = await import("node:fs/promises");
    return readFile(url);
  }
  const resp = await fetch(url);
  if (!resp.ok) throw new Error(`clip4clip kernels: ${url}: HTTP ${resp.status}`);
  return resp.arrayBuffer();
}

// selfTest runs small products with ragged shapes, and the element-wise
// kernels, through a fresh instance of module (in a memory of its own) and
// checks them: an engine can accept a module and still miscompile it.
// Node 20's baseline compiler (Liftoff) does with
// --experimental-wasm-relaxed-simd: i32x4.relaxed_dot_i8x16_i7x16_add_s
// clobbers a register, so all but the first row of a block come out wrong.
// x holds integers whose quantisation is exact for the relaxed kernel (each
// row spans -27..100, one step per unit) and within 0.2% for SIMD128.
export function selfTest(module) {
  return selfTestKernels(module, "linear_i8");
}

// selfTestPair checks the relaxed module's paired int8 kernel the same way,
// on x spanning -20..43 (63 units: exact in its 63 steps).
export function selfTestPair(module) {
  return WebAssembly.Module.exports(module).some((e) => e.name === "linear_i8_pair") && selfTestKernels(module, "linear_i8_pair");
}

function selfTestKernels(module, linearI8) {
  const pair = linearI8 === "linear_i8_pair";
  const n = 5, inn = 37, out = 6;
  const mem = new WebAssembly.Memory({ initial: 1 });
  const k = new WebAssembly.Instance(module, { go: { mem } }).exports;
  const [W8, W16, W32, S, X, B, D, SC] = [0, 512, 1024, 2048, 2304, 3328, 3584, 4096];
  const f32 = new Float32Array(mem.buffer), i8 = new Int8Array(mem.buffer), u16 = new Uint16Array(mem.buffer);
  const x = (i, c) => (c === 0 ? (pair ? -20 : -27) : c === 1 ? (pair ? 43 : 100) : ((i * 7 + c * 3) % 50) - 20);
  const w = (j, c) => ((j * 5 + c) % 9) - 4;
  // halfBits: IEEE half of a small integer (|v| <= 4).
  const halfBits = (v) => (v === 0 ? 0 : (v < 0 ? 0x8000 : 0) | ((15 + Math.floor(Math.log2(Math.abs(v)))) << 10) | ((Math.abs(v) / 2 ** Math.floor(Math.log2(Math.abs(v))) - 1) * 1024));
  for (let j = 0; j < out; j++) {
    for (let c = 0; c < inn; c++) {
      i8[W8 + j * inn + c] = w(j, c);
      u16[W16 / 2 + j * inn + c] = halfBits(w(j, c));
      f32[W32 / 4 + j * inn + c] = w(j, c);
    }
    f32[S / 4 + j] = 0.5;
    f32[B / 4 + j] = j / 4;
  }
  for (let i = 0; i < n; i++) for (let c = 0; c < inn; c++) f32[X / 4 + i * inn + c] = x(i, c);
  const runs = [
    [1, 1, () => k.linear_f32(W32, X, D, B, n, inn, out, 0, out)],
    [1, 1, () => k.linear_f16(W16, X, D, B, n, inn, out, 0, out, SC)],
    [0.5, 1, () => k[linearI8](W8, S, 1, inn, X, D, B, n, inn, out, 0, out, SC)],
    [1, 0, () => k.matmul_t(X, inn, W32, inn, D, out, n, out, inn)],
  ];
  // dots_i8: W8 rows by an int16 copy of x's first row, exact.
  const Q = 6144, DI = 7168;
  for (let c = 0; c < inn; c++) u16[Q / 2 + c] = x(0, c) * 300 & 0xffff;
  if (k.dots_i8(W8, inn, Q, DI, out) !== 1) return false;
  const i32 = new Int32Array(mem.buffer);
  for (let j = 0; j < out; j++) {
    let want = 0;
    for (let c = 0; c < inn; c++) want += w(j, c) * x(0, c) * 300;
    if (i32[DI / 4 + j] !== want) return false;
  }
  for (const [scale, bias, run] of runs) {
    f32.fill(NaN, D / 4, D / 4 + n * out);
    if (run() !== 1) return false;
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < out; j++) {
        let want = 0, mag = 0;
        for (let c = 0; c < inn; c++) {
          want += x(i, c) * w(j, c) * scale;
          mag += Math.abs(x(i, c) * w(j, c) * scale);
        }
        if (!(Math.abs(f32[D / 4 + i * out + j] - want - (bias * j) / 4) <= 2e-3 * mag)) return false;
      }
    }
  }
  return selfTestElementwise(k, f32);
}

// selfTestElementwise checks the element-wise kernels on 2 rows of 19
// values (4 lanes and a ragged end) from byte 8192 of the test memory: x
// at E, a second operand (add's src, layer_norm's w) at F, layer_norm's b
// at G.
function selfTestElementwise(k, f32) {
  const m = 19, E = 8192, F = E + 8 * m, G = F + 8 * m;
  const v = (i) => ((i * 7) % 19) - 9 + i / 16; // -9 .. 10.2
  const rows = (i) => [...Array(m).keys()].map((c) => v(Math.floor(i / m) * m + c));
  const checks = [
    [() => k.exp(E, 2 * m), (i) => Math.exp(v(i))],
    [() => k.quick_gelu(E, 2 * m), (i) => v(i) / (1 + Math.exp(-1.702 * v(i)))],
    [() => k.add(E, F, 2 * m), (i) => v(i) + 1.5],
    [() => k.softmax(E, m), (i) => (i < m ? Math.exp(v(i)) / rows(i).reduce((s, c) => s + Math.exp(c), 0) : v(i))],
    [
      () => k.layer_norm(E, E, 2, m, F, G, 1e-5),
      (i) => {
        const xs = rows(i), mean = xs.reduce((s, c) => s + c, 0) / m;
        const vr = xs.reduce((s, c) => s + (c - mean) ** 2, 0) / m;
        return ((v(i) - mean) / Math.sqrt(vr + 1e-5)) * 1.5 + 0.25;
      },
    ],
  ];
  for (const [run, want] of checks) {
    for (let i = 0; i < 2 * m; i++) [f32[E / 4 + i], f32[F / 4 + i], f32[G / 4 + i]] = [v(i), 1.5, 0.25];
    if (run() !== 1) return false;
    for (let i = 0; i < 2 * m; i++) {
      if (!(Math.abs(f32[E / 4 + i] - want(i)) <= 1e-5 * Math.abs(want(i)) + 1e-30)) return false;
    }
  }
  return true;
}

// timeInt8 returns the best of a few timings (ms) of module's int8 product
// on a ViT-B-like shape (16 tokens, 768 in, 256 out: 3.1M multiply-adds),
// in a memory of its own. The int8 product is most of an int8 model's
// time, and the one where the variants differ most: relaxed SIMD's
// i8 x i7 dot is one instruction where the engine lowers it well and
// three or more where it does not (x86 without AVX-VNNI), so which is
// faster depends on the CPU, not on what the engine validates.
export function timeInt8(module, reps = 5, linearI8 = "linear_i8") {
  const n = 16, inn = 768, out = 256;
  const W = 0, S = W + out * inn, X = S + 4 * out, D = X + 4 * n * inn, SC = D + 4 * n * out;
  const mem = new WebAssembly.Memory({ initial: Math.ceil((SC + 2 * n * inn + 8 * n + 32 + 8 * inn + 48 + 65536) / 65536) });
  const k = new WebAssembly.Instance(module, { go: { mem } }).exports;
  const i8 = new Int8Array(mem.buffer), f32 = new Float32Array(mem.buffer);
  for (let i = 0; i < out * inn; i++) i8[W + i] = ((i * 37) % 255) - 127;
  for (let j = 0; j < out; j++) f32[S / 4 + j] = 1 / 127;
  for (let i = 0; i < n * inn; i++) f32[X / 4 + i] = Math.sin(i);
  const run = () => k[linearI8](W, S, 1, inn, X, D, 0, n, inn, out, 0, out, SC);
  run(); // compile tiers, caches
  // 8 calls a sample (about 1-2 ms): a worker's clock may tick in 0.1 ms.
  let best = Infinity;
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    for (let i = 0; i < 8; i++) run();
    best = Math.min(best, (performance.now() - t0) / 8);
  }
  return best;
}

// simdMargin is how much faster SIMD128 must time than relaxed SIMD to be
// chosen. The timed product is small enough to sit in cache, where the two
// can tie (x86 without AVX-VNNI lowers the relaxed dot to three
// instructions); in a model, relaxed SIMD reads 8-bit weights as they are
// while SIMD128 widens each block to 16 bits first, and on the bench page
// (random ViT-B/32, int8, AMD EPYC Zen 3 with AVX2, two runs each) relaxed
// SIMD gave 3.59-3.66 frames/s against 3.34-3.36 with one worker and
// 6.10-6.63 against 5.89-6.00 with two. Its activations are 7-bit
// (SIMD128's 16): cosine to f32 0.99985 against 0.99999 on the default
// model's int8 image features (e2e TestInt8PathsAgree), which is noise
// beside int8 weights themselves.
const simdMargin = 0.85;

// pairMargin is how much faster the paired int8 kernel must time than
// relaxed SIMD's own to be chosen: it quantises x to 6 bits instead of 7.
// It gains where the engine lowers i32x4.relaxed_dot_i8x16_i7x16_add_s to
// two multiplies and an add (x86 without AVX-VNNI: pmaddubsw, pmaddwd),
// since it needs three multiplies per two k steps instead of four; with
// AVX-VNNI that dot is one instruction and the plain kernel wins.
const pairMargin = 0.9;

/**
 * loadKernels returns the import object patch {clip4clip_simd: {...}} for
 * the Go instance that go (a wasm_exec.js Go) will run.
 *
 * options.variant: "auto" (default: of the variants the engine validates
 *   and computes right (selfTest), the fastest on this CPU by timeInt8:
 *   relaxed SIMD, its paired int8 kernel only when it takes under
 *   pairMargin of relaxed SIMD's time, SIMD128 only under simdMargin of the
 *   better of those; none if nothing runs), "pair", "relaxed", "simd" or
 *   "none" (Go's own kernels).
 *   A variant the engine cannot run falls back to the next one down.
 * options.load: async (file name) => bytes, to fetch the .wasm files from
 *   elsewhere (default: beside this script).
 * options.warn: called with a message when a module fails its self-test
 *   (default console.warn).
 *
 * The returned module also has variant() -> 0 none, 1 simd, 2 relaxed, 3 pair,
 * use(code) -> 1 if that variant is available (and now selected), else 0
 * (Go's tests and benchmarks switch variants with it), and info: {chosen,
 * available, timings: {simd, relaxed, pair} ms of timeInt8 when auto timed them}.
 */
export async function loadKernels(go, options = {}) {
  const load = options.load ?? defaultLoad;
  const want = options.variant ?? "auto";
  if (want !== "auto" && !(want in codes)) throw new Error(`clip4clip kernels: unknown variant ${want}`);

  // Compile every variant the engine validates; its own module is the probe.
  const modules = {};
  for (const v of ["relaxed", "simd"]) {
    if (want !== "auto" && codes[v] > codes[want]) continue;
    let bytes;
    try {
      bytes = new Uint8Array(await load(files[v]));
    } catch (e) {
      throw new Error(`clip4clip kernels: loading ${files[v]}: ${e.message}`);
    }
    if (!WebAssembly.validate(bytes)) continue;
    const module = await WebAssembly.compile(bytes);
    if (selfTest(module)) modules[v] = module;
    else (options.warn ?? console.warn)(`clip4clip kernels: ${files[v]} computes wrong results in this engine; not using it`);
    if (v === "relaxed" && modules.relaxed && (want === "auto" || want === "pair")) {
      if (selfTestPair(module)) modules.pair = module;
      else (options.warn ?? console.warn)(`clip4clip kernels: ${files[v]}'s paired int8 kernel computes wrong results in this engine; not using it`);
    }
  }

  let current = want === "pair" && modules.pair ? "pair" : modules.relaxed ? "relaxed" : modules.simd ? "simd" : "none";
  const timings = {};
  if (want === "auto" && modules.relaxed) {
    // Interleaved, so that a burst of load hits each alike.
    const timed = ["simd", "relaxed", "pair"].filter((v) => modules[v]);
    for (let r = 0; r < 2; r++) {
      for (const v of timed) timings[v] = Math.min(timings[v] ?? Infinity, timeInt8(modules[v], 3, i8name[v]));
    }
    if (timings.pair < pairMargin * timings.relaxed) current = "pair";
    if (timings.simd < simdMargin * timings[current]) current = "simd";
  }
  let mem = null; // the Go memory the kernels were instantiated with
  let inst = new Map(); // module -> kernel exports, for mem

  // k returns the current kernel's exports, instantiating it with the Go
  // instance's memory the first time (and again if go runs a new instance).
  function k() {
    const m = go._inst.exports.mem;
    if (m !== mem) {
      mem = m;
      inst = new Map();
    }
    const module = modules[current];
    if (!inst.has(module)) inst.set(module, new WebAssembly.Instance(module, { go: { mem } }).exports);
    return inst.get(module);
  }

  return {
    clip4clip_simd: {
      linear_f32: (w, x, dst, bias, n, inn, out, lo, hi) =>
        current === "none" ? 0 : k().linear_f32(w, x, dst, bias, n, inn, out, lo, hi),
      linear_f16: (w, x, dst, bias, n, inn, out, lo, hi, scratch) =>
        current === "none" ? 0 : k().linear_f16(w, x, dst, bias, n, inn, out, lo, hi, scratch),
      linear_i8: (w, scales, nb, block, x, dst, bias, n, inn, out, lo, hi, scratch) =>
        current === "none" ? 0 : k()[i8name[current]](w, scales, nb, block, x, dst, bias, n, inn, out, lo, hi, scratch),
      matmul_t: (a, lda, b, ldb, dst, ldd, m, n, kk) =>
        current === "none" ? 0 : k().matmul_t(a, lda, b, ldb, dst, ldd, m, n, kk),
      dots_i8: (w, cols, q, dst, rows) => (current === "none" ? 0 : k().dots_i8(w, cols, q, dst, rows)),
      exp: (p, n) => (current === "none" ? 0 : k().exp(p, n)),
      quick_gelu: (p, n) => (current === "none" ? 0 : k().quick_gelu(p, n)),
      softmax: (p, n) => (current === "none" ? 0 : k().softmax(p, n)),
      layer_norm: (dst, x, n, d, w, b, eps) => (current === "none" ? 0 : k().layer_norm(dst, x, n, d, w, b, eps)),
      add: (dst, src, n) => (current === "none" ? 0 : k().add(dst, src, n)),
      variant: () => codes[current],
      info: { chosen: current, available: Object.keys(modules), timings },
      use: (code) => {
        const v = Object.keys(codes).find((name) => codes[name] === code);
        if (v === undefined || (v !== "none" && !modules[v])) return 0;
        current = v;
        return 1;
      },
    },
  };
}
