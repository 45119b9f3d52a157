// site.js lets the app search a site index (the file `clip4clip index`
// writes for the <clip-search> widget) beside its own videos, for this
// visit. A site index holds pooled moment features, not the frame
// features the app's engine indexes, so it runs in a worker of its own:
// the widget's (widget/clip-search-worker.js), loaded with the app's
// model, which must be the model the index was built with (the engine
// checks the model's ID).
//
// A chunked site index (clip4clip index -chunked) is a folder: the app is
// given its files (a dropped or picked folder holding index.c4m, see
// drop.js chunkedFolders) and the worker reads only the meta, then per
// query the chunks and fragments it needs. Its videos are known only as
// results name them: hitVideo makes the page's entry for each on first
// sight.

import { EngineWorker } from './pool.js';

let count = 0;

/** Site is one imported site index and the worker that searches it. */
export class Site {
  constructor(name, worker, site) {
    this.name = name;
    this.worker = worker;
    this.site = site; // {modelName, head, embedDim, fps, window, moments, videos: [{path, title, duration, width, height, moments, thumbs: [{time, jpeg}]}]}; chunked: {chunked: true, videos: count, ...}
    this.key = `site${++count}`;
    this.videos = []; // the page's entries for the videos (all, or for a chunked index those seen so far)
    this.byVideo = new Map(); // chunked: video number -> {v, thumbs: Map "fragment/thumb" -> index in v.thumbs}
  }

  /** videoCount is the number of videos the index holds. */
  get videoCount() {
    return this.site.chunked ? this.site.videos : this.site.videos.length;
  }

  /**
   * hitVideo returns the page's video of moment m (as search returns it)
   * and the index in its thumbs of the moment's thumbnail (-1: none); for
   * a chunked index, make(m) makes the entry the first time a video is
   * seen, and each thumbnail is added to it as results bring it.
   */
  hitVideo(m, make) {
    if (!this.site.chunked) return { v: this.videos[m.video], frame: m.thumb };
    let e = this.byVideo.get(m.video);
    if (!e) {
      e = { v: make(m), thumbs: new Map() };
      this.byVideo.set(m.video, e);
      this.videos.push(e.v);
    }
    let frame = -1;
    if (m.jpeg) {
      const key = `${m.fragment}/${m.thumb}`;
      frame = e.thumbs.get(key);
      if (frame === undefined) {
        frame = e.v.thumbs.length;
        e.v.thumbs.push(m.jpeg);
        e.thumbs.set(key, frame);
      }
    }
    return { v: e.v, frame };
  }

  /**
   * open loads file as a site index under the model in modelBlob: a Blob
   * (one file), or a Map of a chunked index's files by their names in its
   * folder. It throws an EngineError: kind "site" for a file that is not a
   * site index, "mismatch" for one built with another model.
   */
  static async open(file, name, modelBlob) {
    const worker = new EngineWorker(`site-${name}`, 'widget/clip-search-worker.js');
    try {
      await worker.call('start', { wasm: new URL('./', location.href).href });
      await worker.call('loadModel', { blob: modelBlob });
      const { site } = await worker.call('loadIndex', file instanceof Map ? { files: file } : { blob: file });
      return new Site(name, worker, site);
    } catch (err) {
      worker.terminate();
      throw err;
    }
  }

  /**
   * search returns the k best moments: [{video, moment, start, end, score
   * (cosine), thumb}] (chunked: with path, title, duration, moments,
   * fragment and jpeg), and the files of a chunked index that could not be
   * used (problems: messages naming them).
   */
  async search(text, k) {
    const r = await this.worker.call('search', { text, k });
    return Object.assign(r.results.moments, { problems: r.results.problems || [] });
  }

  terminate() {
    this.worker.terminate();
  }
}
