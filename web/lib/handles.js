// handles.js keeps the File System Access handles of the videos (from a
// drop, DataTransferItem.getAsFileSystemHandle, or "Add videos…" with
// showOpenFilePicker, lib/picker.js) in IndexedDB, so that
// after a reload a video plays, or its interrupted indexing goes on, with
// one permission click instead of picking the file again. Browsers without
// handles (Firefox, Safari) never get here: the page asks for the files
// again and matches them by fileKey (name, size, date).

import * as db from './db.js';
import { fileKey } from './format.js';

/** supported tells whether this browser gives handles for dropped files. */
export function supported() {
  return typeof DataTransferItem !== 'undefined' && 'getAsFileSystemHandle' in DataTransferItem.prototype;
}

/** keep stores a file handle under its file's key; failing is not fatal. */
export async function keep(key, handle) {
  if (!handle || handle.kind !== 'file') return;
  try {
    await db.putHandle(key, handle);
  } catch (err) {
    console.warn('clip4clip: the file handle could not be kept', err);
  }
}

/** find returns the handle kept for a key, or null. */
export async function find(key) {
  try {
    return (await db.getHandle(key)) || null;
  } catch {
    return null;
  }
}

/** forget drops a key's handle. */
export async function forget(key) {
  try {
    await db.removeHandle(key);
  } catch { /* nothing kept */ }
}

/** permission says, without asking, 'granted', 'prompt' or 'denied' for a handle, or null without one. */
export async function permission(handle) {
  if (!handle) return null;
  try {
    return await handle.queryPermission({ mode: 'read' });
  } catch {
    return 'prompt';
  }
}

/** granted tells, without asking, whether the handle may be read now. */
export async function granted(handle) {
  try {
    return (await handle.queryPermission({ mode: 'read' })) === 'granted';
  } catch {
    return false;
  }
}

/**
 * open reads the file behind a handle for key. With ask it asks for
 * permission, which the browser allows only within a click (a user
 * gesture), so call it first thing in one. It returns {file} for the
 * same file, or {error} in words: permission refused, the file gone, or
 * changed since it was indexed (another name, size or date).
 */
export async function open(key, handle, { ask = false } = {}) {
  let perm;
  try {
    perm = await handle.queryPermission({ mode: 'read' });
    if (perm !== 'granted' && ask) perm = await handle.requestPermission({ mode: 'read' });
  } catch (err) {
    return { error: `the browser did not let the page ask to read it (${err.message})` };
  }
  if (perm !== 'granted') return { error: ask ? 'reading it was not allowed' : 'reading it needs your permission', needsClick: !ask };
  let file;
  try {
    file = await handle.getFile();
  } catch (err) {
    return { error: `it could not be read (moved or deleted? ${err.message})`, gone: true };
  }
  if (fileKey(file) !== key) return { error: 'it changed since it was indexed (its size or date differ)', changed: file };
  return { file };
}
