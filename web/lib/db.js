// db.js keeps the index in IndexedDB: one record per (model, video file)
// with the frame features, frame times and thumbnails, never the video.
//
// Record: {id: modelId + '/' + key, modelId, key, name, type, size,
// lastModified, duration, width, height, fps, window, times: Float64Array,
// features: Float32Array (frames * embedDim), thumbs: [ArrayBuffer JPEG],
// added: ms}.

const NAME = 'clip4clip';
const VERSION = 1;
const STORE = 'videos';

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
      };
      req.onsuccess = () => resolve(req.result);
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
