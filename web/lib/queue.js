// queue.js is the indexing queue: videos added, restored from IndexedDB,
// their progress and partial embeddings, and removal with undo.

import * as db from './db.js';
import * as drop from './drop.js';
import * as fmt from './format.js';
import * as getmodel from './getmodel.js';
import * as handles from './handles.js';
import { dirty, renderList, renderProgress, renderVideo, scheduleRender } from './cards.js';
import { errorText, say } from './messages.js';
import { convertFiles, indexer, useModel } from './modelpanel.js';
import { $, debug, pool, state } from './page.js';
import { clearNote, note } from './player.js';
import { renderResults, search } from './search.js';
import { importSiteIndex } from './sites.js';
import { toast } from './toast.js';
import { importIndex, updateStorageNote } from './transfer.js';

const UNDO_MS = 6000; // a removed video can be brought back this long

export function newVideo(fields) {
  return {
    key: '', name: '', type: '', size: 0, lastModified: 0, duration: 0, width: 0, height: 0,
    fps: state.fps, window: state.model ? state.model.info.window : 4,
    times: null, thumbs: [], features: null, persisted: false,
    file: null, handle: null, partial: null, status: 'queued', job: null, error: null, el: null, urls: new Map(), added: Date.now(),
    ...fields,
  };
}

export function thumbURL(v, i) {
  if (!v.thumbs || !v.thumbs[i]) return '';
  let u = v.urls.get(i);
  if (!u) {
    u = URL.createObjectURL(new Blob([v.thumbs[i]], { type: 'image/jpeg' }));
    v.urls.set(i, u);
  }
  return u;
}

// momentThumb is the frame whose thumbnail stands for moment m of v: the
// most detailed of the moment's frames (the largest JPEG), nearest the
// window's centre among equals. The centre itself can be blank: a window
// that best matches "a ring appears" is often centred just before it does.
export function momentThumb(v, m) {
  if (!v.thumbs) return m.frame;
  let best = m.frame, size = v.thumbs[m.frame] ? v.thumbs[m.frame].byteLength : -1;
  for (let i = m.first; i <= m.last; i++) {
    const b = v.thumbs[i] ? v.thumbs[i].byteLength : -1;
    if (b > size || (b === size && Math.abs(i - m.frame) < Math.abs(best - m.frame))) [best, size] = [i, b];
  }
  return best;
}

export function dropVideo(v) {
  for (const u of v.urls.values()) URL.revokeObjectURL(u);
  v.urls.clear();
  if (v.el) v.el.remove();
  state.videos.delete(v.key);
  state.order = state.order.filter((k) => k !== v.key);
}

export async function restoreIndex({ quietOthers = false } = {}) {
  for (const v of [...state.videos.values()]) dropVideo(v);
  state.results = null;
  renderResults();
  const m = state.model;
  let recs = [];
  try {
    recs = await db.list(m.id);
  } catch (err) {
    say(`The saved index could not be read: ${errorText(err)}`, 'error');
  }
  await pool.query.call('clearVideos', {});
  recs = await commitStaleDeletes(m.id, recs);
  let partial = [];
  try {
    partial = await db.listPartial(m.id);
  } catch (err) {
    console.warn('clip4clip: the interrupted indexing could not be read', err);
  }
  for (const rec of recs) {
    const v = newVideo({ ...rec, status: 'indexed', persisted: true, features: debug ? rec.features : null, handle: await handles.find(rec.key) });
    v.permission = await handles.permission(v.handle);
    state.videos.set(v.key, v);
    state.order.push(v.key);
    await pool.query.call('addVideo', { key: v.key, features: rec.features, frames: rec.times.length });
    renderVideo(v);
  }
  const resumable = [];
  for (const rec of partial) {
    if (state.videos.has(rec.key)) continue; // indexed since
    const v = newVideo({ ...rec, times: null, features: null, status: 'interrupted', partial: rec, handle: await handles.find(rec.key) });
    v.permission = await handles.permission(v.handle);
    state.videos.set(v.key, v);
    state.order.push(v.key);
    renderVideo(v);
    if (v.handle && (await handles.granted(v.handle))) resumable.push(v);
  }
  renderList();
  if (recs.length) say(`Restored the index of ${fmt.plural(recs.length, 'video')} from this browser.`, 'info', { timeout: 5000 });
  if (partial.length) say(`${fmt.plural(partial.length, 'video')} ${partial.length === 1 ? 'was' : 'were'} not finished indexing last time: ${resumable.length === partial.length ? 'going on from where it stopped' : 'add the same files again (or click Go on beside each) to go on from where it stopped, without embedding the saved frames again'}.`, 'info', { timeout: 10000 });
  for (const v of resumable) resumeFromHandle(v, false);
  try {
    const others = await db.countOthers(m.id);
    if (others && !quietOthers) say(`${fmt.plural(others, 'video')} indexed with other models ${others === 1 ? 'is' : 'are'} kept but not shown; load that model to search ${others === 1 ? 'it' : 'them'}.`, 'info');
  } catch { /* counted only to inform */ }
  updateStorageNote();
}

let askedPersist = false;

/**
 * addFiles adds dropped or picked files: models, indexes and checkpoint
 * files go where they belong, videos are indexed, or relinked to their
 * saved index (same fileKey), or go on from their interrupted indexing.
 * handleOf maps a File to its File System Access handle, kept for later
 * visits.
 */
export async function addFiles(files, { sayReused = true, handleOf = null } = {}) {
  files = [...files];
  if (!files.length) return;
  if (state.loading) await state.loading; // videos dropped while the model loads wait for it
  const modelsDropped = files.filter((f) => /\.c4c$/i.test(f.name));
  const indexes = files.filter((f) => /\.(c4ci|idx)$/i.test(f.name));
  const checkpoint = files.filter((f) => getmodel.isCheckpointFile(f) && !indexes.includes(f));
  files = files.filter((f) => !modelsDropped.includes(f) && !indexes.includes(f) && !checkpoint.includes(f));
  if (checkpoint.length) convertFiles(checkpoint);
  if (modelsDropped.length) await useModel(modelsDropped[0], modelsDropped[0].name, 'drop');
  for (const f of indexes) await importIndex(f);
  if (!files.length) return;
  if (!state.model || !indexer) {
    say('Load a model first: videos are embedded with it.', 'error');
    return;
  }
  if (!askedPersist && navigator.storage && navigator.storage.persist) {
    askedPersist = true;
    navigator.storage.persist().catch(() => {});
  }
  const info = state.model.info;
  for (const file of files) {
    const key = fmt.fileKey(file);
    const handle = (handleOf && handleOf.get(file)) || null;
    if (handle) handles.keep(key, handle);
    if (pendingDeletes.has(key)) await undoRemove(key); // removed a moment ago: bring it back
    const have = state.videos.get(key);
    if (have && (have.status === 'indexed')) {
      have.file = file;
      if (handle) have.handle = handle;
      clearNote(have);
      state.reused++;
      if (sayReused) say(`“${file.name}” is already indexed: its index is reused, not computed again.`, 'info', { timeout: 5000 });
      renderVideo(have);
      continue;
    }
    if (have && ['queued', 'reading', 'embedding'].includes(have.status)) continue;
    // An interrupted indexing goes on from its saved frames, at its rate.
    const resume = have && have.status === 'interrupted' ? have.partial : null;
    if (have) dropVideo(have);
    const fps = resume ? resume.fps : state.fps;
    const v = newVideo({ key, name: file.name, type: file.type, size: file.size, lastModified: file.lastModified, file, handle: handle || (have && have.handle), fps, window: info.window, added: resume ? resume.added : Date.now() });
    v.job = indexer.add(file, key, fps, info.embedDim, resume);
    state.videos.set(key, v);
    state.order.push(key);
    renderVideo(v);
  }
  renderList();
  renderProgress();
}

/**
 * addDropped adds what a drop or a folder pick held (lib/drop.js): the
 * files at the top as addFiles does, and the videos inside folders, with
 * one line on what was added and skipped.
 */
export async function addDropped(found) {
  const handleOf = new Map();
  for (const f of [...found.files, ...found.videos]) if (f.handle && f.handle.kind === 'file') handleOf.set(f.file, f.handle);
  const files = [...found.files.map((f) => f.file), ...found.videos.map((f) => f.file)];
  for (const s of found.sites || []) await importSiteIndex(s.files, s.name); // chunked site indexes (lib/site.js)
  if (found.folders && (found.videos.length || found.skipped.length || !(found.sites || []).length)) {
    say(drop.summary(found), found.videos.length ? 'info' : 'warning', { timeout: found.skipped.length || !found.videos.length ? 0 : 8000 });
  }
  if (files.length) await addFiles(files, { handleOf });
}

// savePartial keeps the frames of a job embedded so far (from the first,
// job.prefix of them), for the next visit to go on from: one write at a
// time per job, the latest prefix last.
export function savePartial(job) {
  const v = state.videos.get(job.key);
  if (!v || v.job !== job || !state.model || !job.prefix || job.prefix >= job.total) return;
  if (job.saving) {
    job.saveAgain = true;
    return;
  }
  const n = job.prefix;
  const d = job.embedDim;
  const rec = {
    modelId: state.model.id, key: v.key, name: v.name, type: v.type, size: v.size, lastModified: v.lastModified,
    duration: job.duration, width: job.width, height: job.height, fps: job.fps, window: v.window,
    total: job.total, done: n, features: job.features.slice(0, n * d), thumbs: job.thumbs.slice(0, n), added: v.added,
  };
  job.saving = db.putPartial(rec).then(() => {
    job.saved = n;
  }, (err) => console.warn(`clip4clip: the frames of “${v.name}” embedded so far could not be kept`, err)).finally(() => {
    job.saving = null;
    if (job.saveAgain && ['reading', 'embedding'].includes(job.status)) {
      job.saveAgain = false;
      savePartial(job);
    } else if (!['reading', 'embedding'].includes(job.status)) {
      job.saveAgain = false;
    }
  });
}

// forgetPartial drops a video's interrupted indexing, after any write of it.
export async function forgetPartial(key, job) {
  if (job && job.saving) await job.saving;
  try {
    await db.removePartial(state.model.id, key);
  } catch { /* nothing kept */ }
}

// resumeFromHandle goes on with an interrupted indexing from the file's
// kept handle; ask (in a click) asks for permission to read it.
export async function resumeFromHandle(v, ask) {
  const r = await handles.open(v.key, v.handle, { ask });
  if (r.file) return addFiles([r.file], { sayReused: false });
  if (ask) note(v.el, `“${v.name}” could not be opened: ${r.error}. Add the file again (drop it or use Add videos) to go on.`, 'warning');
  return null;
}

export function onProgress(job) {
  if (job) {
    const v = state.videos.get(job.key);
    if (v && v.job === job) {
      v.status = job.status;
      if (job.total) Object.assign(v, { duration: job.duration, width: job.width, height: job.height });
      dirty.add(v);
    }
  }
  scheduleRender();
}

export async function onJobDone(job) {
  const v = state.videos.get(job.key);
  if (!v || v.job !== job) return;
  Object.assign(v, {
    duration: job.duration, width: job.width, height: job.height,
    times: job.times, thumbs: job.thumbs, features: job.features, fps: job.fps,
  });
  if (job.debugFrames) v.debugFrames = job.debugFrames;
  // Every frame is embedded, but until the query worker holds the features
  // and storage has them the page is still indexing: the card stays
  // active, state().indexing and the leave-page guard stay on.
  v.status = 'embedding';
  state.finishing++;
  try {
    try {
      await pool.query.call('addVideo', { key: v.key, features: job.features, frames: job.total });
    } catch (err) {
      say(`“${v.name}” was embedded but cannot be searched: ${errorText(err)}`, 'error');
    }
    // Indexed once the query worker holds it: a search from now on finds it.
    v.status = 'indexed';
    try {
      await db.put(record(v));
      v.persisted = true;
      if (!debug) v.features = null; // it lives in IndexedDB now
      forgetPartial(v.key, job);
    } catch (err) {
      v.persisted = false;
      if (db.isQuotaError(err)) say(`Storage is full: the index of “${v.name}” could not be saved in this browser. It stays searchable until you close this page; free space (or remove videos) and add it again to keep it.`, 'error');
      else say(`The index of “${v.name}” could not be saved: ${errorText(err)}`, 'error');
    }
  } finally {
    state.finishing--;
  }
  renderVideo(v);
  scheduleRender();
  if (state.query) search(state.query, { quiet: true });
  updateStorageNote();
}

export function onJobFailed(job) {
  const v = state.videos.get(job.key);
  if (!v || v.job !== job) return;
  v.status = 'failed';
  v.error = errorText(job.error);
  forgetPartial(v.key, job);
  say(`Could not index “${v.name}”: ${v.error}.`, 'error', { details: (job.error && job.error.detail) || '' });
  renderVideo(v);
  scheduleRender();
}

let idleTimer = 0;
export function onIdle() {
  clearTimeout(idleTimer);
  idleTimer = setTimeout(() => {
    if (!indexer.busy) {
      indexer.forget();
      renderProgress();
    }
  }, 1500);
  scheduleRender();
}

export function record(v) {
  return {
    modelId: state.model.id, key: v.key, name: v.name, type: v.type, size: v.size, lastModified: v.lastModified,
    duration: v.duration, width: v.width, height: v.height, fps: v.fps, window: v.window,
    times: v.times, features: v.features, thumbs: v.thumbs, added: v.added,
  };
}

// pendingDeletes are the videos removed a moment ago, which Undo brings
// back: key -> {v, at (its place in the list), toast}. Their records stay
// in IndexedDB until the time runs out or the page is hidden; the list of
// them in localStorage (PENDING_KEY) lets the next visit finish a removal
// the closing page could not.
export const pendingDeletes = new Map();
const PENDING_KEY = 'clip4clip.pendingDeletes';

function notePending() {
  const list = [...pendingDeletes.values()].map(({ v, modelId }) => ({ modelId, key: v.key }));
  try {
    if (list.length) localStorage.setItem(PENDING_KEY, JSON.stringify(list));
    else localStorage.removeItem(PENDING_KEY);
  } catch { /* the removal still happens in this visit */ }
}

/**
 * removeVideo takes a video out of the list and the search at once; an
 * indexed (or interrupted) one can be brought back with Undo for
 * UNDO_MS, its saved index deleted only after.
 */
export async function removeVideo(v) {
  const undoable = (v.status === 'indexed' || v.status === 'interrupted') && !v.site;
  const modelId = state.model.id;
  if (v.job && indexer) indexer.cancel(v.key);
  const at = state.order.indexOf(v.key);
  if (v.el) v.el.remove();
  state.videos.delete(v.key);
  state.order = state.order.filter((k) => k !== v.key);
  if (undoable) {
    const t = toast(`Removed “${v.name}” from the index.`, {
      action: 'Undo',
      ms: UNDO_MS,
      onAction: () => undoRemove(v.key),
      onTimeout: () => finishRemove(v.key),
    });
    t.el.dataset.key = v.key;
    pendingDeletes.set(v.key, { v, at, modelId, toast: t });
    notePending();
  }
  renderList();
  try {
    if (v.status === 'indexed') await pool.query.call('removeVideo', { key: v.key });
  } catch (err) {
    say(`Removing “${v.name}” failed: ${errorText(err)}`, 'error');
  }
  if (state.results) {
    state.results.hits = state.results.hits.filter((h) => h.key !== v.key);
    renderResults();
  }
  if (!undoable) await commitRemove(v, modelId);
}

// finishRemove deletes a removed video's saved index for good. A page
// being hidden (unloading) keeps the note in localStorage: its deletes
// may not get to finish, and the next visit does them again.
export function finishRemove(key, { unloading = false } = {}) {
  const p = pendingDeletes.get(key);
  if (!p) return Promise.resolve();
  pendingDeletes.delete(key);
  p.toast.dismiss();
  const done = unloading ? commitRemove(p.v, p.modelId) : commitRemove(p.v, p.modelId).then(notePending);
  return done;
}

async function commitRemove(v, modelId) {
  for (const u of v.urls.values()) URL.revokeObjectURL(u);
  v.urls.clear();
  try {
    await Promise.all([db.remove(modelId, v.key), db.removePartial(modelId, v.key), handles.forget(v.key)]);
  } catch (err) {
    say(`Removing “${v.name}” from this browser failed: ${errorText(err)}`, 'error');
  }
  updateStorageNote();
}

/** undoRemove brings a video removed a moment ago back, as it was. */
async function undoRemove(key) {
  const p = dropPendingRemove(key);
  if (!p) return;
  const { v } = p;
  if (state.videos.has(key) || !state.model || state.model.id !== p.modelId) return;
  state.videos.set(key, v);
  state.order.splice(Math.min(p.at < 0 ? state.order.length : p.at, state.order.length), 0, key);
  if (v.status === 'indexed') {
    try {
      const features = v.features || (await db.get(p.modelId, key)).features;
      await pool.query.call('addVideo', { key, features, frames: v.times.length });
    } catch (err) {
      say(`“${v.name}” is back but cannot be searched: ${errorText(err)}`, 'error');
    }
  }
  $('#videos').append(v.el);
  renderVideo(v);
  renderList();
  if (state.query) search(state.query, { quiet: true });
}

// dropPendingRemove forgets a removal without deleting anything, and
// returns it (undefined if there was none): the video comes back another
// way (undoRemove, or an imported index that writes its record).
export function dropPendingRemove(key) {
  const p = pendingDeletes.get(key);
  if (!p) return undefined;
  pendingDeletes.delete(key);
  p.toast.dismiss();
  notePending();
  return p;
}

// commitStaleDeletes finishes the removals an earlier visit left pending
// (closed within UNDO_MS of them) and returns the records left.
let staleDone = false;
async function commitStaleDeletes(modelId, recs) {
  if (staleDone) return recs; // once a visit: later ones are this visit's own
  staleDone = true;
  let stale = [];
  try {
    stale = JSON.parse(localStorage.getItem(PENDING_KEY) || '[]');
  } catch { /* none */ }
  if (!stale.length) return recs;
  const gone = new Set();
  for (const { modelId: m, key } of stale) {
    await Promise.all([db.remove(m, key), db.removePartial(m, key), handles.forget(key)]).catch(() => {});
    if (m === modelId) gone.add(key);
  }
  try {
    localStorage.removeItem(PENDING_KEY);
  } catch { /* done */ }
  return recs.filter((r) => !gone.has(r.key));
}
