// app.js starts the page: it wires the page's controls to the modules in
// lib/ (the model panel, the indexing queue, search and results, the
// player, export and import) and keeps window.__clip4clip, the hook for
// tests and measurements. The engine itself runs in workers (lib/pool.js);
// nothing here embeds.

import * as db from './lib/db.js';
import * as drop from './lib/drop.js';
import * as fmt from './lib/format.js';
import * as getmodel from './lib/getmodel.js';
import * as models from './lib/models.js';
import * as picker from './lib/picker.js';
import * as searchkeys from './lib/searchkeys.js';
import { drawTimeline, hitOf, momentEnd, renderProgress } from './lib/cards.js';
import { addDemos, loadDemoList } from './lib/demos.js';
import { errorText, say } from './lib/messages.js';
import { beforeChoosing, convertF16, convertFiles, fillWorkerSelect, getter, indexer, initGetter, isDemoModel, openGetModel, showModelDetails, startDownload, startModel, useModel, workerCount } from './lib/modelpanel.js';
import { $, debug, params, pool, state } from './lib/page.js';
import { closePlayer, onPlayerClosed } from './lib/player.js';
import { addDropped, addFiles, finishRemove, forgetPartial, pendingDeletes, savePartial } from './lib/queue.js';
import { markTyped, onQueryInput, renderResults, search, searchTimer } from './lib/search.js';
import { addIndex, encodeIndex, exportIndex, importIndex } from './lib/transfer.js';

// -------------------------------------------------------------- debug hook

// indexingNow: frames are being read or embedded, or an embedded video is
// still going into the search index and storage.
function indexingNow() {
  return !!(indexer && indexer.busy) || state.finishing > 0;
}

// window.__clip4clip is for tests and measurements; debugEmbeddings has
// the RGBA bytes of each frame only with ?debug=1.
window.__clip4clip = {
  debug,
  thumbSizes(key) { // the byte size of each of a video's thumbnails
    const v = state.videos.get(key);
    return v && v.thumbs ? Array.from(v.thumbs, (t) => (t ? t.byteLength : 0)) : [];
  },
  state() {
    return {
      model: state.model && { id: state.model.id, name: state.model.name, source: state.model.source, info: state.model.info, origin: state.model.origin, demoWorld: isDemoModel() },
      convert: getter ? getter.state() : null,
      ready: state.ready,
      workers: pool.frames.length,
      frameModel: pool.frameInfo && { part: pool.frameInfo.part, weightBytes: pool.frameInfo.weightBytes, simd: pool.frameInfo.simd, backend: pool.frameInfo.backend },
      indexing: indexingNow(),
      stats: indexer ? indexer.stats() : null,
      reused: state.reused,
      embedded: indexer ? indexer.totalDone : 0, // frames embedded in this visit
      pendingDeletes: [...pendingDeletes.keys()],
      videos: state.order.map((k) => {
        const v = state.videos.get(k);
        return {
          key: v.key, name: v.name, status: v.status, frames: v.times ? v.times.length : 0, decodeWith: v.job ? v.job.decodeWith : null, done: v.job ? v.job.done : null, total: v.job ? v.job.total : null, error: v.error, persisted: v.persisted, hasFile: !!v.file,
          hasHandle: !!v.handle, permission: v.permission || null, start: v.job ? v.job.start : null, prefix: v.job ? v.job.prefix : null, saved: v.job ? v.job.saved || 0 : null, partial: v.partial ? { done: v.partial.done, total: v.partial.total } : null,
        };
      }),
      sites: state.sites.map((st) => ({ name: st.name, videos: st.videos.length, moments: st.site.moments })),
      results: state.results && {
        text: state.results.text, query: state.results.query ? { tokens: state.results.query.tokens, truncated: state.results.query.truncated } : null,
        hits: state.results.hits.map((h) => ({ key: h.key, score: h.score, whole: h.whole, timeline: Array.from(h.timeline), moments: h.moments })),
        site: state.results.site.map(({ v, m }) => ({ key: v.key, name: v.name, path: v.path, start: v.times[m.first], end: momentEnd(v, m), score: m.score })),
      },
      lastSearch: state.lastSearch,
    };
  },
  async debugEmbeddings() {
    const recs = state.model ? await db.list(state.model.id) : [];
    const byKey = new Map(recs.map((r) => [r.key, r]));
    return state.order.map((k) => {
      const v = state.videos.get(k);
      const rec = byKey.get(k);
      const features = v.features || (rec && rec.features);
      return {
        key: v.key, name: v.name, width: v.width, height: v.height, duration: v.duration,
        times: v.times ? Array.from(v.times) : [],
        embedDim: state.model.info.embedDim,
        features: features ? fmt.base64(new Uint8Array(features.buffer, features.byteOffset, features.byteLength)) : null,
        frames: v.debugFrames ? v.debugFrames.map((f) => ({ t: f.t, width: f.width, height: f.height, rgba: fmt.base64(f.rgba) })) : null,
      };
    });
  },
  async queryFeature(text) {
    const q = await pool.query.call('embedQuery', { text });
    return { ids: q.ids, truncated: q.truncated, feature: fmt.base64(new Uint8Array(q.feature.buffer)) };
  },
  async exportIndexBytes() {
    const b = await encodeIndex();
    return b ? fmt.base64(b) : null;
  },
  async importIndexBytes(b64, name = 'imported.c4ci') {
    const bytes = fmt.unbase64(b64);
    const x = await pool.query.call('decodeIndex', { bytes: bytes.buffer }, [bytes.buffer]);
    return addIndex(x, name);
  },
  async setWorkers(n) {
    state.workers = String(n);
    await pool.resize(workerCount(state.model.size));
    return pool.frames.length;
  },
  setFPS(fps) {
    state.fps = fps;
  },
  pause() {
    indexer.pause();
  },
  // timeSearch runs a search as Enter does and times it to the rendered results.
  async timeSearch(text) {
    const t0 = performance.now();
    markTyped(t0);
    $('#query').value = text;
    // Until the results shown are of the last search started (the page
    // searches again when a video finishes indexing).
    for (let p = search(text); ; p = state.searchPromise) {
      await p;
      if (p === state.searchPromise) break;
    }
    return { ms: performance.now() - t0, ...state.lastSearch };
  },
  // getModel starts a download as the dialog's button does: {repo, revision, dtype, hub}.
  getModel(job) {
    return getter.download({ revision: 'main', dtype: 'int8', hub: $('#convert-hub').value.trim() || getmodel.HUB, ...job });
  },
  // modelBytes returns the loaded model file, base64.
  async modelBytes() {
    return fmt.base64(new Uint8Array(await pool.blob.arrayBuffer()));
  },
  async memory() {
    const out = {};
    if (performance.memory) out.jsHeap = { used: performance.memory.usedJSHeapSize, total: performance.memory.totalJSHeapSize };
    if (self.crossOriginIsolated && performance.measureUserAgentSpecificMemory) {
      try {
        out.uaSpecific = (await performance.measureUserAgentSpecificMemory()).bytes;
      } catch (err) {
        out.uaSpecificError = errorText(err);
      }
    }
    const workers = [pool.query, ...pool.frames].filter(Boolean);
    out.wasm = await Promise.all(workers.map((w) => w.call('memory', {}).then((m) => m.wasmBytes).catch(() => null)));
    return out;
  },
};

// -------------------------------------------------------------------- wire

function wire() {
  initGetter();
  getmodel.renderCatalogue($('#catalogue'));
  $('#convert-hub').value = params.get('hub') || getmodel.HUB;
  $('#get-model-open').onclick = openGetModel;
  for (const b of document.querySelectorAll('.get-model-link')) b.onclick = openGetModel;
  $('#get-model-close').onclick = () => $('#get-model').close();
  $('#get-model-form').addEventListener('submit', (e) => {
    e.preventDefault();
    startDownload();
  });
  $('#repo-other').addEventListener('focus', () => { $('#get-model-form').querySelector('input[name=repo][value=""]').checked = true; });
  for (const id of ['#checkpoint-files', '#checkpoint-folder']) {
    $(id).onchange = (e) => {
      convertFiles(e.target.files);
      e.target.value = '';
    };
  }
  $('#convert-cancel').onclick = () => getter.cancel();
  $('#convert-resume-go').onclick = () => getter.download({ resume: true });
  $('#convert-resume-discard').onclick = async () => {
    await getmodel.discard();
    getter.offerResume();
    say('The interrupted download was discarded.', 'info', { timeout: 4000 });
  };
  $('#model-warning-f16').onclick = convertF16;
  $('#model-more').onclick = () => showModelDetails($('#model-details').hidden);
  $('#model-pick-label').addEventListener('click', beforeChoosing);
  $('#model-file').onchange = async (e) => {
    const f = e.target.files[0];
    e.target.value = '';
    if (f) await useModel(f, f.name, 'file');
  };
  $('#model-default').onclick = async () => {
    const def = await models.fetchDefault();
    if (def && def.blob) await useModel(def.blob, def.name, def.source);
    else say('No default model is bundled with this page yet.', 'warning');
  };
  $('#video-files').onchange = (e) => {
    addFiles(e.target.files);
    e.target.value = '';
  };
  // With the File System Access picker the picked files keep handles.
  picker.bind($('#video-files'), addDropped, (err) => say(`Adding the picked videos failed: ${errorText(err)}`, 'error'));
  addFolderPicker();
  // The picker offers site indexes (.idx, for the widget) too.
  $('#import-file').accept = '.c4ci,.idx,application/octet-stream';
  $('#import-file').onchange = (e) => {
    const f = e.target.files[0];
    e.target.value = '';
    if (f) importIndex(f);
  };
  $('#export').onclick = () => exportIndex();
  $('#demo-try').onclick = () => addDemos();
  $('#demo-add').onclick = () => addDemos();
  $('#query').addEventListener('input', onQueryInput);
  searchkeys.bindKeys($('#query'), [$('#moments'), $('#weaker-moments')]);
  for (const id of ['#filter-name', '#filter-min', '#filter-max', '#filter-days']) $(id).addEventListener('input', () => renderResults());
  $('#query').addEventListener('keydown', (e) => {
    if (e.key === 'Enter') {
      clearTimeout(searchTimer);
      markTyped();
      search($('#query').value);
    }
  });
  $('#pause').onclick = () => {
    if (!indexer) return;
    if (indexer.paused) indexer.resume();
    else indexer.pause();
    renderProgress();
  };
  $('#cancel-all').onclick = () => {
    if (!indexer) return;
    const jobs = indexer.active();
    indexer.cancel();
    for (const j of jobs) forgetPartial(j.key, j);
  };
  const fps = $('#fps');
  fps.value = String(state.fps);
  fps.onchange = () => {
    state.fps = Number(fps.value);
    localStorage.setItem('clip4clip.fps', fps.value);
    say('New videos will be sampled at the new rate; indexed ones keep theirs.', 'info', { timeout: 4000 });
  };
  fillWorkerSelect(0);
  $('#workers').onchange = async (e) => {
    state.workers = e.target.value;
    localStorage.setItem('clip4clip.workers', state.workers);
    if (state.model && !(indexer && indexer.busy)) {
      await pool.resize(workerCount(state.model.size));
      say(`${fmt.plural(pool.frames.length, 'embedding worker')} ready.`, 'info', { timeout: 3000 });
    }
  };
  $('#player-close').onclick = closePlayer;
  $('#player').addEventListener('close', onPlayerClosed);
  $('#player').addEventListener('click', (e) => { if (e.target === $('#player')) closePlayer(); });

  // Drag and drop anywhere.
  let depth = 0;
  const overlay = $('#drop-overlay');
  const hasFiles = (e) => e.dataTransfer && [...e.dataTransfer.types].includes('Files');
  document.addEventListener('dragenter', (e) => {
    if (!hasFiles(e)) return;
    e.preventDefault();
    depth++;
    overlay.hidden = false;
  });
  document.addEventListener('dragover', (e) => {
    if (hasFiles(e)) e.preventDefault();
  });
  document.addEventListener('dragleave', () => {
    depth = Math.max(0, depth - 1);
    if (!depth) overlay.hidden = true;
  });
  document.addEventListener('drop', (e) => {
    if (!hasFiles(e)) return;
    e.preventDefault();
    depth = 0;
    overlay.hidden = true;
    // Folders are walked (lib/drop.js); the items must be taken now.
    const items = drop.snapshot(e.dataTransfer);
    drop.collect(items).then(addDropped, (err) => say(`Reading what was dropped failed: ${errorText(err)}`, 'error'));
  });
  // Indexing keeps its place: the page asks before closing while it runs
  // (the frames embedded so far are kept every few frames, and now).
  window.addEventListener('beforeunload', (e) => {
    if (!indexingNow()) return;
    if (indexer) for (const j of indexer.active()) savePartial(j);
    e.preventDefault();
    e.returnValue = '';
  });
  window.addEventListener('pagehide', () => {
    for (const key of [...pendingDeletes.keys()]) finishRemove(key, { unloading: true });
  });
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'hidden' && indexer) for (const j of indexer.active()) savePartial(j);
  });
  window.addEventListener('resize', () => {
    if (state.results) for (const v of state.videos.values()) if (hitOf(v)) drawTimeline(v, hitOf(v));
  });
  window.addEventListener('unhandledrejection', (e) => {
    if (db.isQuotaError(e.reason)) {
      e.preventDefault();
      say('Storage is full: free some space or remove videos from the index.', 'error');
    }
  });
}

// addFolderPicker puts "Add a folder…" beside "Add videos…": an
// <input webkitdirectory>, for browsers and people that do not drop.
function addFolderPicker() {
  const label = document.createElement('label');
  label.className = 'button ghost';
  label.id = 'video-folder-label';
  label.textContent = 'Add a folder…';
  const input = document.createElement('input');
  input.id = 'video-folder';
  input.type = 'file';
  input.webkitdirectory = true;
  input.multiple = true;
  input.className = 'visually-hidden';
  input.onchange = () => {
    const found = drop.fromFolderInput([...input.files]);
    input.value = '';
    addDropped(found);
  };
  label.append(input);
  $('#video-pick-label').before(label);
}

async function registerServiceWorker() {
  const note = $('#offline-note');
  if (!('serviceWorker' in navigator)) return;
  try {
    // updateViaCache none: a host's HTTP caching must not hide a new
    // sw.js or version.js (the build's name, which renames the cache).
    await navigator.serviceWorker.register('sw.js', { updateViaCache: 'none' });
    await navigator.serviceWorker.ready;
    note.textContent = 'The app works offline once loaded.';
  } catch (err) {
    console.warn('clip4clip: no service worker', err);
  }
}

wire();
registerServiceWorker();
loadDemoList();
startModel().catch((err) => say(`Starting failed: ${errorText(err)}`, 'error'));
