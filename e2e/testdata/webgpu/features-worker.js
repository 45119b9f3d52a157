// features-worker.js loads a model file into the engine (clip4clip.wasm),
// builds the WebGPU encoders from the engine's weights (lib/gpu) and
// encodes the fixture's preprocessed images (pixels.f32: (n, 3, res, res)
// float32) and token ids (ids.json) on the GPU, two images per dispatch to
// cover batching. It answers {adapter, image, text} (base64 float32) or
// {error}.
import { startEngine } from '../lib/engine.js';
import { openDevice } from '../lib/gpu/device.js';
import { goWeights } from '../lib/gpu/weights.js';
import { TextEncoder, VisionEncoder } from '../lib/gpu/encoder.js';

const b64 = (f) => {
  const u = new Uint8Array(f.buffer, f.byteOffset, f.byteLength);
  let s = '';
  for (let i = 0; i < u.length; i += 0x8000) s += String.fromCharCode(...u.subarray(i, i + 0x8000));
  return btoa(s);
};

self.onmessage = async ({ data }) => {
  try {
    const api = await startEngine();
    const info = api.loadModel(new Uint8Array(await (await fetch(data.model)).arrayBuffer()));
    if (info.error) throw new Error(info.error);
    const { device, name } = await openDevice({ allowFallback: true });
    device.pushErrorScope('validation');
    const tensors = goWeights(api.weights(), self.clip4clipMemory);
    const vision = new VisionEncoder(device, info.config, tensors, { maxBatch: 2 });
    const text = new TextEncoder(device, info.config, tensors, { maxBatch: 4 });
    const pixels = new Float32Array(await (await fetch(data.pixels)).arrayBuffer());
    const res = info.config.vision.resolution;
    const n = pixels.length / (3 * res * res);
    const image = await vision.encode(pixels, n);
    const ids = await (await fetch(data.ids)).json();
    const txt = await text.encode(ids);
    const err = await device.popErrorScope();
    if (err) throw new Error(err.message);
    self.postMessage({ adapter: name, images: n, image: b64(image), text: b64(txt), gpuBytes: vision.weightBytes + text.weightBytes });
  } catch (err) {
    self.postMessage({ error: String(err && err.stack ? err.stack : err) });
  }
};
