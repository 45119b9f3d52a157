// reembed.js is about an index across a change of model: an index belongs
// to the model that made it (its embeddings mean nothing to another), so
// loading another model keeps it aside, and it comes back with its model.
// This module words that before the change, and after it gathers the
// videos the person still has (a File open in this page, a kept file
// handle, a demo video this page serves) to embed them with the new model.

import * as fmt from './format.js';

/**
 * keepSentence is what the page says before another model is loaded,
 * while count videos are indexed with the model named name ('' for none).
 */
export function keepSentence(count, name) {
  if (!count) return '';
  return `Your index of ${fmt.plural(count, 'video')} belongs to ${name}, the model that made it. Loading another model keeps it in this browser: it comes back when you load ${name} again. After the change, the page offers to embed the videos you still have with the new model.`;
}

/**
 * candidates lists the videos of the index being left that can be
 * embedded again: {key, name, file, handle, demo} for each video (not of
 * a site index) that is indexed or interrupted and has a File, a kept
 * handle, or is a demo video (demoOf(v) returns its entry of
 * demos/index.json, or null).
 */
export function candidates(videos, demoOf) {
  const out = [];
  for (const v of videos) {
    if (v.site || !(v.status === 'indexed' || v.status === 'interrupted')) continue;
    const demo = demoOf(v);
    if (v.file || v.handle || demo) out.push({ key: v.key, name: v.name, file: v.file || null, handle: v.handle || null, demo });
  }
  return out;
}

/**
 * gather gets the Files of candidates, in a click (a kept handle asks for
 * permission to read its file, which the browser allows only then):
 * open(key, handle) is handles.open with asking, demoFile(entry) fetches a
 * demo video. It returns {files, handleOf (File -> handle), missed: [{name,
 * why}]}.
 */
export async function gather(cands, { open, demoFile }) {
  const files = [];
  const handleOf = new Map();
  const missed = [];
  // The handles first, while the click's permission to ask lasts.
  for (const c of cands.filter((x) => !x.file && x.handle)) {
    const r = await open(c.key, c.handle);
    if (r.file) {
      files.push(r.file);
      handleOf.set(r.file, c.handle);
    } else if (!c.demo) {
      missed.push({ name: c.name, why: r.error });
    } else {
      c.handle = null; // the page's server has it
    }
  }
  for (const c of cands) {
    if (c.file) {
      files.push(c.file);
      if (c.handle) handleOf.set(c.file, c.handle);
    } else if (!c.handle && c.demo) {
      try {
        files.push(await demoFile(c.demo));
      } catch (err) {
        missed.push({ name: c.name, why: (err && err.message) || String(err) });
      }
    }
  }
  return { files, handleOf, missed };
}
