// weights.js puts a model's weights on the GPU, once per worker: each
// matrix as a GPUMatrix in the dtype the model file stores it in, each
// vector as an f32 storage buffer. The engine describes its weights with
// weights() (wasm/gpu.go): a name, a shape, a dtype and where the bytes are
// in Go's memory, which is read in place, without a copy in JavaScript.

const U = globalThis.GPUBufferUsage; // undefined without WebGPU: used only once a device exists

const ELEMENT_BYTES = { f32: 4, f16: 2, int8: 1 };

/**
 * GPUMatrix is a (rows, cols) weight matrix on the GPU, (out, in) as
 * nn.Linear stores it. Each row is padded with zeros to K4 groups of four
 * columns (4*K4 >= cols), so that a kernel reads four weights at a time:
 * a vec4<f32>, two u32 of halves, or one u32 of four int8. int8 matrices
 * carry scales (rows, nb) as quant.Matrix does: w[r][c] = q *
 * scales[r*nb + c/block]; f32 and f16 ones have nb = block = 1.
 */
export class GPUMatrix {
  constructor(fields) {
    Object.assign(this, fields); // dtype, rows, cols, K4, nb, block, buffer, scales
  }

  destroy() {
    this.buffer.destroy();
    if (this.scales) this.scales.destroy();
  }
}

/** padded4 rounds n up to a multiple of 4. */
export const padded4 = (n) => Math.ceil(n / 4) * 4;

/**
 * uploadMatrix copies a matrix to the GPU: {dtype: "f32"|"f16"|"int8",
 * rows, cols, data: Uint8Array (rows*cols little-endian elements),
 * scales: Float32Array (int8), block (int8)}.
 */
export function uploadMatrix(device, { dtype, rows, cols, data, scales, block }) {
  const size = ELEMENT_BYTES[dtype];
  if (!size) throw new Error(`gpu: no kernel for weights of dtype ${dtype}`);
  if (data.byteLength !== rows * cols * size) throw new Error(`gpu: ${data.byteLength} bytes for a ${dtype} matrix (${rows}, ${cols})`);
  const K4 = padded4(cols) / 4;
  const rowBytes = 4 * K4 * size;
  const buffer = device.createBuffer({ size: Math.max(16, rows * rowBytes), usage: U.STORAGE | U.COPY_DST, mappedAtCreation: true });
  const dst = new Uint8Array(buffer.getMappedRange());
  if (rowBytes === cols * size) {
    dst.set(data);
  } else {
    for (let r = 0; r < rows; r++) dst.set(data.subarray(r * cols * size, (r + 1) * cols * size), r * rowBytes);
  }
  buffer.unmap();
  let nb = 1;
  let scaleBuf = null;
  if (dtype === 'int8') {
    nb = Math.ceil(cols / block);
    if (scales.length !== rows * nb) throw new Error(`gpu: ${scales.length} scales for an int8 matrix (${rows}, ${cols}) with block ${block}`);
    scaleBuf = uploadFloats(device, scales);
  } else {
    block = 1;
  }
  return new GPUMatrix({ dtype, rows, cols, K4, nb, block, buffer, scales: scaleBuf });
}

/** uploadFloats copies a Float32Array into a new storage buffer. */
export function uploadFloats(device, values, usage = 0) {
  const buffer = device.createBuffer({ size: Math.max(16, padded4(values.length) * 4), usage: U.STORAGE | U.COPY_DST | usage, mappedAtCreation: true });
  new Float32Array(buffer.getMappedRange(), 0, values.length).set(values);
  buffer.unmap();
  return buffer;
}

/**
 * goWeights reads the engine's weights, as api.weights() lists them
 * (wasm/gpu.go), as {name: {shape, dtype, data: Uint8Array, scales:
 * Float32Array, block}} with views of memory (the Go instance's
 * WebAssembly.Memory). The views are good only until Go runs again (its
 * memory may grow, which detaches the buffer): upload them at once, as
 * the encoders' constructors do.
 */
export function goWeights(list, memory) {
  if (list.error) throw new Error(list.error);
  const out = {};
  for (const t of list) {
    const buf = memory.buffer;
    out[t.name] = {
      shape: t.shape,
      dtype: t.dtype,
      block: t.block,
      data: new Uint8Array(buf, t.ptr, t.bytes),
      scales: t.scalesPtr !== undefined ? new Float32Array(buf, t.scalesPtr, t.scalesBytes / 4) : null,
    };
  }
  return out;
}

/**
 * Weights looks up a model's tensors by checkpoint name and uploads each
 * one the first time it is asked for: matrix(name) as a GPUMatrix,
 * vector(name) as an f32 buffer. A missing name or a wrong shape is an
 * error that names the tensor. tensors is goWeights' result (or the same
 * shape from a test); it must stay valid while the encoder is built.
 */
export class Weights {
  constructor(device, tensors) {
    this.device = device;
    this.tensors = tensors;
    this.uploaded = new Map();
    this.bytes = 0;
  }

  get(name) {
    const t = this.tensors[name];
    if (this.sealed) throw new Error(`gpu: tensor ${name} was asked for after the upload`);
    if (!t) throw new Error(`gpu: the model has no tensor ${name}`);
    return t;
  }

  matrix(name, rows, cols) {
    let m = this.uploaded.get(name);
    if (m) return m;
    const t = this.get(name);
    if (t.shape.length !== 2 || t.shape[0] !== rows || t.shape[1] !== cols) throw new Error(`gpu: tensor ${name} is [${t.shape}], want [${rows}, ${cols}]`);
    m = uploadMatrix(this.device, { dtype: t.dtype, rows, cols, data: t.data, scales: t.scales, block: t.block });
    this.bytes += m.buffer.size + (m.scales ? m.scales.size : 0);
    this.uploaded.set(name, m);
    return m;
  }

  vector(name, n) {
    let b = this.uploaded.get(name);
    if (b) return b;
    const t = this.get(name);
    if (t.dtype !== 'f32' || t.data.byteLength !== 4 * n) throw new Error(`gpu: tensor ${name} is ${t.dtype} [${t.shape}], want ${n} f32 values`);
    b = uploadFloats(this.device, new Float32Array(t.data.buffer, t.data.byteOffset, n));
    this.bytes += b.size;
    this.uploaded.set(name, b);
    return b;
  }

  /**
   * seal drops the tensors once everything is uploaded (goWeights' views
   * go stale when Go's memory grows); asking for another is then an error.
   */
  seal() {
    this.tensors = {};
    this.sealed = true;
  }

  destroy() {
    for (const b of this.uploaded.values()) b.destroy();
    this.uploaded.clear();
  }
}
