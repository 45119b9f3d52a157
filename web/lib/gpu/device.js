// device.js finds a WebGPU adapter and opens a device for the encoders,
// or says why there is none. Works in a window and in a worker.

/**
 * GPUUnavailable is thrown when WebGPU cannot run the encoders; its
 * message says why, for the page to show.
 */
export class GPUUnavailable extends Error {
  constructor(message) {
    super(message);
    this.name = 'GPUUnavailable';
  }
}

/** adapterName describes an adapter: "vendor architecture (description)". */
export function adapterName(adapter) {
  const i = adapter.info || {};
  const name = [i.vendor, i.architecture].filter(Boolean).join(' ') || 'unknown adapter';
  const more = [i.description, i.device].filter((s) => s && s !== i.architecture)[0];
  return (more ? `${name} (${more})` : name) + (i.isFallbackAdapter ? ', software' : '');
}

/**
 * openDevice requests an adapter and a device with the adapter's largest
 * buffers (a ViT's token embedding is more than WebGPU's default 128 MiB
 * binding in f32) and resolves with {device, adapter, name, fallback,
 * shaderF16}. A fallback adapter (a software rasteriser such as
 * SwiftShader: isFallbackAdapter) is refused unless allowFallback, since
 * the WebAssembly SIMD kernels beat it; tests allow it. It throws
 * GPUUnavailable when there is no WebGPU or no adapter.
 */
export async function openDevice({ allowFallback = false } = {}) {
  if (typeof navigator === 'undefined' || !navigator.gpu) throw new GPUUnavailable('this browser has no WebGPU (navigator.gpu)');
  let adapter;
  try {
    adapter = await navigator.gpu.requestAdapter({ powerPreference: 'high-performance' });
  } catch (err) {
    throw new GPUUnavailable(`requestAdapter failed: ${err.message || err}`);
  }
  if (!adapter) throw new GPUUnavailable('WebGPU offers no adapter here');
  const fallback = !!(adapter.info && adapter.info.isFallbackAdapter);
  if (fallback && !allowFallback) throw new GPUUnavailable(`the only WebGPU adapter is a software one (${adapterName(adapter)}), slower than WebAssembly SIMD (?backend=webgpu uses it anyway)`);
  const l = adapter.limits;
  let device;
  try {
    device = await adapter.requestDevice({
      requiredLimits: {
        maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
        maxBufferSize: l.maxBufferSize,
      },
    });
  } catch (err) {
    throw new GPUUnavailable(`requestDevice failed: ${err.message || err}`);
  }
  return { device, adapter, name: adapterName(adapter), fallback, shaderF16: adapter.features.has('shader-f16') };
}
