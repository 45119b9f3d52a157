// fallback-worker.js checks that a worker's GPU self-check (lib/gpu/
// backend.js startGPU) refuses encoders whose features disagree with the
// engine's: it loads a model, then runs startGPU against an engine whose
// embedFrame (or embedQuery) answers a wrong feature, and reports the
// reasons startGPU gave, and what a faithful engine gives.
import { startEngine } from '../lib/engine.js';
import { startGPU } from '../lib/gpu/backend.js';

const attempt = async (api, info) => {
  try {
    const { backend, check } = await startGPU(api, info, self.clip4clipMemory, { allowFallback: true });
    backend.destroy();
    return { ok: true, check };
  } catch (err) {
    return { ok: false, name: err.name, reason: err.message };
  }
};

self.onmessage = async ({ data }) => {
  try {
    const api = await startEngine();
    const info = api.loadModel(new Uint8Array(await (await fetch(data.model)).arrayBuffer()));
    if (info.error) throw new Error(info.error);
    const faithful = await attempt(api, info);
    // The same engine, with one answer turned around.
    const wrongImage = await attempt({ ...api, embedFrame: (...a) => api.embedFrame(...a).map((v, i) => (i % 2 ? v : -v)) }, info);
    const wrongText = await attempt({ ...api, embedQuery: (t) => ({ ...api.embedQuery(t), feature: api.embedQuery(t).feature.map((v) => -v) }) }, info);
    self.postMessage({ faithful, wrongImage, wrongText });
  } catch (err) {
    self.postMessage({ error: String(err && err.stack ? err.stack : err) });
  }
};
