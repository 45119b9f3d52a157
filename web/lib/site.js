// site.js lets the app search a site index (the file `clip4clip index`
// writes for the <clip-search> widget) beside its own videos, for this
// visit. A site index holds pooled moment features, not the frame
// features the app's engine indexes, so it runs in a worker of its own:
// the widget's (widget/clip-search-worker.js), loaded with the app's
// model, which must be the model the index was built with (the engine
// checks the model's ID).

import { EngineWorker } from './pool.js';

let count = 0;

/** Site is one imported site index and the worker that searches it. */
export class Site {
  constructor(name, worker, site) {
    this.name = name;
    this.worker = worker;
    this.site = site; // {modelName, head, embedDim, fps, window, moments, videos: [{path, title, duration, width, height, moments, thumbs: [{time, jpeg}]}]}
    this.key = `site${++count}`;
  }

  /**
   * open loads file (a Blob) as a site index under the model in modelBlob.
   * It throws an EngineError: kind "site" for a file that is not a site
   * index, "mismatch" for one built with another model.
   */
  static async open(file, name, modelBlob) {
    const worker = new EngineWorker(`site-${name}`, 'widget/clip-search-worker.js');
    try {
      await worker.call('start', { wasm: new URL('./', location.href).href });
      await worker.call('loadModel', { blob: modelBlob });
      const { site } = await worker.call('loadIndex', { blob: file });
      return new Site(name, worker, site);
    } catch (err) {
      worker.terminate();
      throw err;
    }
  }

  /** search returns the k best moments: [{video, moment, start, end, score (cosine), thumb}]. */
  async search(text, k) {
    const r = await this.worker.call('search', { text, k });
    return r.results.moments;
  }

  terminate() {
    this.worker.terminate();
  }
}
