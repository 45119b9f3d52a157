// db.js keeps the index in IndexedDB: one record per (model, video file)
// with the frame features, frame times and thumbnails, never the video.
//
// Record: {id: modelId + '/' + key, modelId, key, name, type, size,
// lastModified, duration, width, height, fps, window, times: Float64Array,
// features: Float32Array (frames * embedDim), thumbs: [ArrayBuffer JPEG],
// added: ms}.
//
// Beside it (version 2): HANDLES, one File System Access handle per video
// file ({key: fileKey, handle: FileSystemFileHandle, name}), kept so that a
// result plays after a reload with one permission click; PARTIAL, the
// frames of a video whose indexing was interrupted ({id, modelId, key,
// name, type, size, lastModified, duration, width, height, fps, window,
// total, done: frames 0..done-1 embedded, times, features: Float32Array
// (done * embedDim), thumbs, added}), from which the next visit goes on.

const NAME = 'clip4clip';
const VERSION = 2;
const STORE = 'videos';
const HANDLES = 'handles';
const PARTIAL = 'partial';

let opening = null;

function open() {
  if (!opening) {
    opening = new Promise((resolve, reject) => {
      const req = indexedDB.open(NAME, VERSION);
      req.onupgradeneeded = () => {
        const db = req.result;
        if (!db.objectStoreNames.contains(STORE)) {
          const s = db.createObjectStore(STORE, { keyPath: 'id' });
          s.createIndex('byModel', 'modelId');
        }
        if (!db.objectStoreNames.contains(HANDLES)) db.createObjectStore(HANDLES, { keyPath: 'key' });
        if (!db.objectStoreNames.contains(PARTIAL)) {
          const s = db.createObjectStore(PARTIAL, { keyPath: 'id' });
          s.createIndex('byModel', 'modelId');
        }
      };
      // A newer version opened in another tab: let it upgrade.
      req.onsuccess = () => {
        req.result.onversionchange = () => { req.result.close(); opening = null; };
        resolve(req.result);
      };
      req.onerror = () => reject(req.error);
      req.onblocked = () => reject(new Error('the index database is blocked by another tab with an older version of this app; close it'));
    });
    opening.catch(() => { opening = null; });
  }
  return opening;
}

function done(tx) {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onabort = () => reject(tx.error || new DOMException('transaction aborted', 'AbortError'));
    tx.onerror = () => reject(tx.error);
  });
}

function result(req) {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

/** recordId is the primary key of a video's record under a model. */
export function recordId(modelId, key) {
  return `${modelId}/${key}`;
}

/** list returns every record made with the model, oldest first. */
export async function list(modelId) {
  const db = await open();
  const tx = db.transaction(STORE, 'readonly');
  const recs = await result(tx.objectStore(STORE).index('byModel').getAll(modelId));
  return recs.sort((a, b) => a.added - b.added);
}

/** get returns one record or undefined. */
export async function get(modelId, key) {
  const db = await open();
  return result(db.transaction(STORE, 'readonly').objectStore(STORE).get(recordId(modelId, key)));
}

/** put stores a record; it rejects with a QuotaExceededError when full. */
export async function put(rec) {
  const db = await open();
  const tx = db.transaction(STORE, 'readwrite');
  tx.objectStore(STORE).put({ ...rec, id: recordId(rec.modelId, rec.key) });
  return done(tx);
}

/** remove deletes a record. */
export async function remove(modelId, key) {
  const db = await open();
  const tx = db.transaction(STORE, 'readwrite');
  tx.objectStore(STORE).delete(recordId(modelId, key));
  return done(tx);
}

/** countOthers counts the records made with other models. */
export async function countOthers(modelId) {
  const db = await open();
  const store = db.transaction(STORE, 'readonly').objectStore(STORE);
  const [all, mine] = await Promise.all([result(store.count()), result(store.index('byModel').count(modelId))]);
  return all - mine;
}

/** isQuotaError reports whether err means storage is full. */
export function isQuotaError(err) {
  return !!err && (err.name === 'QuotaExceededError' || err.code === 22 || /quota/i.test(err.message || ''));
}

/** putHandle keeps a file's File System Access handle under its fileKey. */
export async function putHandle(key, handle) {
  const db = await open();
  const tx = db.transaction(HANDLES, 'readwrite');
  tx.objectStore(HANDLES).put({ key, handle, name: handle.name });
  return done(tx);
}

/** getHandle returns the handle kept for a fileKey, or undefined. */
export async function getHandle(key) {
  const db = await open();
  const rec = await result(db.transaction(HANDLES, 'readonly').objectStore(HANDLES).get(key));
  return rec && rec.handle;
}

/** removeHandle forgets a file's handle. */
export async function removeHandle(key) {
  const db = await open();
  const tx = db.transaction(HANDLES, 'readwrite');
  tx.objectStore(HANDLES).delete(key);
  return done(tx);
}

/** putPartial stores the frames embedded so far of an interrupted video. */
export async function putPartial(rec) {
  const db = await open();
  const tx = db.transaction(PARTIAL, 'readwrite');
  tx.objectStore(PARTIAL).put({ ...rec, id: recordId(rec.modelId, rec.key) });
  return done(tx);
}

/** listPartial returns the interrupted videos of a model, oldest first. */
export async function listPartial(modelId) {
  const db = await open();
  const recs = await result(db.transaction(PARTIAL, 'readonly').objectStore(PARTIAL).index('byModel').getAll(modelId));
  return recs.sort((a, b) => a.added - b.added);
}

/** getPartial returns an interrupted video's record or undefined. */
export async function getPartial(modelId, key) {
  const db = await open();
  return result(db.transaction(PARTIAL, 'readonly').objectStore(PARTIAL).get(recordId(modelId, key)));
}

/** removePartial deletes an interrupted video's record. */
export async function removePartial(modelId, key) {
  const db = await open();
  const tx = db.transaction(PARTIAL, 'readwrite');
  tx.objectStore(PARTIAL).delete(recordId(modelId, key));
  return done(tx);
}
