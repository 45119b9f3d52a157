// describe.js says in words which backend runs a model's encoders, from
// the workers' info.backend (worker.js): small, so that the page can
// import it without the GPU code.

/**
 * describeBackend is the page's line on the backend of a model's workers,
 * from the query worker's info and a frame worker's (or null): "WebGPU
 * (ADAPTER)" or "WebAssembly SIMD128", and why not WebGPU.
 */
export function describeBackend(query, frame) {
  const one = (info) => {
    const b = info.backend || { name: 'wasm' };
    if (b.name === 'webgpu') return `WebGPU (${b.adapter})`;
    const wasm = info.simd === 'none' ? 'plain WebAssembly (this browser has no WebAssembly SIMD)' : `WebAssembly ${info.simd}`;
    return b.reason ? `${wasm}; not WebGPU: ${b.reason}` : wasm;
  };
  const q = one(query);
  if (!frame) return q;
  const f = one(frame);
  return f === q ? q : `frames: ${f}; queries: ${q}`;
}
