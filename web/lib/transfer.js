// transfer.js exports the index to a file and imports one (this app's
// .c4ci, or a site index, which lib/sites.js takes).

import * as db from './db.js';
import * as fmt from './format.js';
import { renderList, renderVideo } from './cards.js';
import { errorText, say } from './messages.js';
import { $, debug, pool, state } from './page.js';
import { dropPendingRemove, dropVideo, newVideo, record } from './queue.js';
import { search } from './search.js';
import { importSiteIndex, isSiteIndex } from './sites.js';

async function allRecords() {
  const recs = await db.list(state.model.id);
  const saved = new Set(recs.map((r) => r.key));
  for (const v of state.videos.values()) {
    if (v.status === 'indexed' && !saved.has(v.key) && v.features) recs.push(record(v));
  }
  return recs;
}

export async function exportIndex() {
  if (!state.model) return say('Load a model first.', 'error');
  const bytes = await encodeIndex();
  if (!bytes) return;
  const blob = new Blob([bytes], { type: 'application/octet-stream' });
  const a = document.createElement('a');
  a.href = URL.createObjectURL(blob);
  const day = new Date().toISOString().slice(0, 10);
  a.download = `clip4clip-index-${day}.c4ci`;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10000);
  say(`Exported the index (${fmt.bytes(bytes.length)}): embeddings, frame times and thumbnails, no video.`, 'info');
}

export async function encodeIndex() {
  const recs = await allRecords();
  if (!recs.length) {
    say('There is nothing to export yet: no video is indexed with this model.', 'warning');
    return null;
  }
  const index = {
    modelId: state.model.id, modelName: state.model.name, embedDim: state.model.info.embedDim,
    videos: recs.map((r) => ({ ...r, thumbs: r.thumbs.map((t) => new Uint8Array(t)) })),
  };
  try {
    return await pool.query.call('encodeIndex', { index });
  } catch (err) {
    say(`Export failed: ${errorText(err)}`, 'error');
    return null;
  }
}

export async function importIndex(file) {
  if (await isSiteIndex(file)) return importSiteIndex(file);
  if (!state.model) return say('Load a model first: an index belongs to the model that made it.', 'error');
  let x;
  try {
    const buf = await file.arrayBuffer();
    x = await pool.query.call('decodeIndex', { bytes: buf }, [buf]);
  } catch (err) {
    return say(`“${file.name}” could not be imported: ${errorText(err)}`, 'error');
  }
  return addIndex(x, file.name);
}
export async function addIndex(x, name) {
  if (x.modelId !== state.model.id) {
    say(`“${name}” was made with another model (${x.modelName || 'unknown'}, id ${x.modelId.slice(0, 12)}…), not the loaded ${state.model.name}; its embeddings would not match. Load that model, then import it.`, 'error');
    return { added: 0, skipped: 0, error: 'model' };
  }
  let added = 0;
  let skipped = 0;
  for (const xv of x.videos) {
    dropPendingRemove(xv.key);
    if (state.videos.has(xv.key) && state.videos.get(xv.key).status === 'indexed') {
      skipped++;
      continue;
    }
    const thumbs = xv.thumbs.map((t) => t.buffer.slice(t.byteOffset, t.byteOffset + t.byteLength));
    const v = newVideo({ ...xv, thumbs, status: 'indexed', features: xv.features, added: Date.now() + added });
    if (state.videos.has(v.key)) dropVideo(state.videos.get(v.key));
    state.videos.set(v.key, v);
    state.order.push(v.key);
    try {
      await pool.query.call('addVideo', { key: v.key, features: v.features, frames: v.times.length });
      await db.put(record(v));
      v.persisted = true;
      if (!debug) v.features = null;
    } catch (err) {
      if (db.isQuotaError(err)) say(`Storage is full: “${v.name}” was imported for this visit only.`, 'error');
      else say(`Importing “${v.name}” failed: ${errorText(err)}`, 'error');
    }
    renderVideo(v);
    added++;
  }
  renderList();
  say(`Imported ${fmt.plural(added, 'video')} from “${name}”${skipped ? ` (${skipped} already indexed)` : ''}.`, 'info');
  if (state.query) search(state.query, { quiet: true });
  updateStorageNote();
  return { added, skipped };
}

export async function updateStorageNote() {
  if (!navigator.storage || !navigator.storage.estimate) return;
  try {
    const e = await navigator.storage.estimate();
    $('#storage-note').textContent = `This site uses ${fmt.bytes(e.usage)} of the ${fmt.bytes(e.quota)} the browser allows it (models, index and app).`;
  } catch { /* informational */ }
}
