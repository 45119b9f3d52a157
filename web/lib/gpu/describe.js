// describe.js says in words which backend runs a model's encoders, from
// the workers' info.backend (worker.js): small, so that the page can
// import it without the GPU code.

/**
 * describeBackend is the page's line on the backend of a model's workers,
 * from the query worker's info and a frame worker's (or null): "WebGPU
 * (ADAPTER)" or "WebAssembly SIMD128", and why not WebGPU.
 */
export function describeBackend(query, frame) {
  const wasm = (info) => (info.simd === 'none' ? 'plain WebAssembly (this browser has no WebAssembly SIMD)' : `WebAssembly ${info.simd}`);
  const one = (info) => {
    const b = info.backend || { name: 'wasm' };
    if (b.name === 'webgpu') return `WebGPU (${b.adapter})`;
    return b.reason ? `${wasm(info)}; not WebGPU: ${b.reason}` : wasm(info);
  };
  const q = one(query);
  if (!frame) return q;
  const f = one(frame);
  if (f === q) return q;
  // Both on WebAssembly for the same reason, each worker with the SIMD
  // variant its own timing chose (quant/simd/kernels.js).
  const qb = query.backend || { name: 'wasm' };
  const fb = frame.backend || { name: 'wasm' };
  if (qb.name !== 'webgpu' && fb.name !== 'webgpu' && qb.reason === fb.reason && query.simd !== 'none' && frame.simd !== 'none') {
    const simd = `WebAssembly (frames ${frame.simd}, queries ${query.simd})`;
    return qb.reason ? `${simd}; not WebGPU: ${qb.reason}` : simd;
  }
  return `frames: ${f}; queries: ${q}`;
}
