// engine.js starts the clip4clip engine (the Go program in clip4clip.wasm)
// in the worker that imports it: the engine workers (worker.js) and the
// convert worker (convert-worker.js) load the same binary this way.

import '../wasm_exec.js'; // defines globalThis.Go
import { loadKernels } from '../simd/kernels.js';

/**
 * startEngine instantiates clip4clip.wasm and resolves with its API,
 * globalThis.clip4clip. It sets self.clip4clipSIMD (the kernel variant's
 * name), self.clip4clipMemory (the instance's memory) and, when the Go
 * program ends, self.clip4clipExited. options.variant asks for a kernel
 * variant ("auto", the default, "pair", "relaxed", "simd" or "none": see
 * loadKernels); tests compare them.
 */
export async function startEngine(options = {}) {
  const go = new Go();
  // quant's matrix kernels are WebAssembly SIMD, imported by the engine as
  // clip4clip_simd; where the browser lacks SIMD they decline and Go's run.
  const kernels = await loadKernels(go, { warn: (m) => console.warn(m), variant: options.variant });
  Object.assign(go.importObject, kernels);
  self.clip4clipSIMD = () => ['none', 'SIMD128', 'relaxed SIMD', 'relaxed SIMD, paired int8'][kernels.clip4clip_simd.variant()];
  const url = new URL('../clip4clip.wasm', import.meta.url);
  let instance;
  try {
    ({ instance } = await WebAssembly.instantiateStreaming(fetch(url), go.importObject));
  } catch (err) {
    // instantiateStreaming needs application/wasm; fall back to bytes.
    const bytes = await (await fetch(url)).arrayBuffer();
    ({ instance } = await WebAssembly.instantiate(bytes, go.importObject));
  }
  self.clip4clipMemory = instance.exports.mem;
  go.run(instance).then(() => { self.clip4clipExited = true; });
  if (!self.clip4clip) throw new Error('clip4clip.wasm did not start');
  return self.clip4clip;
}
