// reference.js holds the plain JavaScript references of the WebGPU
// kernels (kernels.js), in float64 over float32 inputs: the slow loops
// that check.js compares each kernel to, as quant's *Ref functions are
// for the Go kernels. Layouts are those of the kernels.

/** halfToFloat returns the value of IEEE half bits h. */
export function halfToFloat(h) {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * f * 2 ** -24;
  if (e === 31) return f ? NaN : s * Infinity;
  return s * (1 + f / 1024) * 2 ** (e - 15);
}

/**
 * dequantize returns a matrix {dtype, rows, cols, data: Uint8Array,
 * scales, block} as a Float32Array (rows, cols), as quant.Matrix.Float32.
 */
export function dequantize({ dtype, rows, cols, data, scales, block }) {
  const out = new Float32Array(rows * cols);
  if (dtype === 'f32') {
    out.set(new Float32Array(data.buffer, data.byteOffset, rows * cols));
  } else if (dtype === 'f16') {
    const h = new Uint16Array(data.buffer, data.byteOffset, rows * cols);
    for (let i = 0; i < h.length; i++) out[i] = halfToFloat(h[i]);
  } else if (dtype === 'int8') {
    const q = new Int8Array(data.buffer, data.byteOffset, rows * cols);
    const nb = Math.ceil(cols / block);
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++) out[r * cols + c] = q[r * cols + c] * scales[r * nb + Math.floor(c / block)];
    }
  } else {
    throw new Error(`dequantize: dtype ${dtype}`);
  }
  return out;
}

/** quickGELURef is x * sigmoid(1.702 x) in float64. */
export const quickGELURef = (x) => x / (1 + Math.exp(-1.702 * x));

/**
 * matmulRef returns x (M, K) @ w^T + bias (w (N, K) float32, bias (N) or
 * null) with epilogue epi (0 none, 1 QuickGELU, 2 added to prev (M, N)).
 */
export function matmulRef(x, w, bias, M, N, K, epi = 0, prev = null) {
  const out = new Float32Array(M * N);
  for (let m = 0; m < M; m++) {
    for (let n = 0; n < N; n++) {
      let s = 0;
      for (let k = 0; k < K; k++) s += x[m * K + k] * w[n * K + k];
      if (bias) s += bias[n];
      if (epi === 1) s = quickGELURef(s);
      if (epi === 2) s += prev[m * N + n];
      out[m * N + n] = s;
    }
  }
  return out;
}

/** layerNormRef normalises n rows of d (strided) with weight g and bias b. */
export function layerNormRef(x, g, b, n, d, eps = 1e-5, inStride = d, outStride = d, out = new Float32Array(n * outStride)) {
  for (let i = 0; i < n; i++) {
    let mean = 0;
    for (let k = 0; k < d; k++) mean += x[i * inStride + k];
    mean /= d;
    let v = 0;
    for (let k = 0; k < d; k++) v += (x[i * inStride + k] - mean) ** 2;
    const inv = 1 / Math.sqrt(v / d + eps);
    for (let k = 0; k < d; k++) out[i * outStride + k] = (x[i * inStride + k] - mean) * inv * g[k] + b[k];
  }
  return out;
}

/** attentionRef is multi-head softmax attention over qkv (B*T, 3W) into (B*T, W). */
export function attentionRef(qkv, B, T, W, H, causal) {
  const d = W / H;
  const out = new Float32Array(B * T * W);
  const scale = Math.fround(1 / Math.sqrt(d));
  const s = new Float64Array(T);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      for (let i = 0; i < T; i++) {
        const keys = causal ? i + 1 : T;
        let mx = -Infinity;
        for (let j = 0; j < keys; j++) {
          let acc = 0;
          for (let t = 0; t < d; t++) acc += Math.fround(qkv[(b * T + i) * 3 * W + h * d + t] * scale) * qkv[(b * T + j) * 3 * W + W + h * d + t];
          s[j] = acc;
          mx = Math.max(mx, acc);
        }
        let sum = 0;
        for (let j = 0; j < keys; j++) sum += (s[j] = Math.exp(s[j] - mx));
        for (let t = 0; t < d; t++) {
          let acc = 0;
          for (let j = 0; j < keys; j++) acc += (s[j] / sum) * qkv[(b * T + j) * 3 * W + 2 * W + h * d + t];
          out[(b * T + i) * W + h * d + t] = acc;
        }
      }
    }
  }
  return out;
}

/** patchesRef is the patch vectors of pix (B, 3, R, R) as kernels.js's patches lays them out. */
export function patchesRef(pix, B, R, P, Kp) {
  const G = R / P;
  const T = 1 + G * G;
  const out = new Float32Array(B * T * Kp);
  for (let b = 0; b < B; b++) {
    for (let gy = 0; gy < G; gy++) {
      for (let gx = 0; gx < G; gx++) {
        const row = (b * T + 1 + gy * G + gx) * Kp;
        let k = 0;
        for (let c = 0; c < 3; c++) {
          for (let ky = 0; ky < P; ky++) {
            for (let kx = 0; kx < P; kx++) out[row + k++] = pix[((b * 3 + c) * R + gy * P + ky) * R + gx * P + kx];
          }
        }
      }
    }
  }
  return out;
}

/** embedPatchesRef puts the class embedding at token 0 and adds pos (T, W) to x (B*T, W). */
export function embedPatchesRef(x, cls, pos, B, T, W) {
  const out = Float32Array.from(x);
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      for (let c = 0; c < W; c++) out[(b * T + t) * W + c] = (t === 0 ? cls[c] : x[(b * T + t) * W + c]) + pos[t * W + c];
    }
  }
  return out;
}

/** embedTokensRef is rows ids[i] of emb (vocab, W) plus pos row i % n. */
export function embedTokensRef(ids, emb, pos, n, W) {
  const out = new Float32Array(ids.length * W);
  ids.forEach((id, i) => {
    for (let c = 0; c < W; c++) out[i * W + c] = emb[id * W + c] + pos[(i % n) * W + c];
  });
  return out;
}

/** gatherRowsRef is rows[r] of src (., W). */
export function gatherRowsRef(rows, src, W) {
  const out = new Float32Array(rows.length * W);
  rows.forEach((r, i) => out.set(src.subarray(r * W, (r + 1) * W), i * W));
  return out;
}
