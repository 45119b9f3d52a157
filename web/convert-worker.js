// convert-worker.js downloads a CLIP checkpoint in Hugging Face layout (or
// reads files the person picked) and converts it to a clip4clip model file
// in the browser, with the Go converter of clip4clip.wasm (wasm/convert.go,
// the convert* functions). The weights are written to the origin private
// file system (OPFS) chunk by chunk as they arrive, hashed on the way, and
// the converter reads them back through a synchronous readAt, so a 600 MB
// checkpoint is never held in memory and converts while it downloads. A
// connection that drops resumes with a Range request; a page reload finds
// the part file and its record (download.json) and goes on from there,
// replaying the bytes on disk into the hash and the converter.
//
// The page sends {op: 'download', job} or {op: 'files', job} or
// {op: 'cancel'}; the worker answers with {type: 'status' | 'progress' |
// 'record' | 'done' | 'error' | 'canceled', ...}.

import { startEngine } from './lib/engine.js';
import { SHA256 } from './lib/sha256.js';

const DIR = 'clip4clip-convert'; // the OPFS directory of the download
const RECORD = 'download.json';
const OUT = 'model.c4c';
const CHUNK = 4 << 20; // bytes read back from disk at a time
const FLUSH = 16 << 20; // flush the part file every this many bytes
const SMALL = ['config.json', 'vocab.json', 'merges.txt'];
const WEIGHTS = ['model.safetensors', 'pytorch_model.bin'];

let engine = null;
let canceled = false;
let running = false;
let abort = null; // the AbortController of the fetch in flight

/** ConvertError is a failure with a kind the page words its message by. */
class ConvertError extends Error {
  constructor(kind, message, extra = {}) {
    super(message);
    this.kind = kind;
    Object.assign(this, extra);
  }
}

const post = (m) => self.postMessage(m);
const status = (text) => post({ type: 'status', text });

function checkCanceled() {
  if (canceled) throw new ConvertError('canceled', 'canceled');
}

// call runs a convert* function and throws its {error, kind} as a ConvertError.
function call(name, ...args) {
  if (typeof engine[name] !== 'function') {
    throw new ConvertError('noconverter', `this build of clip4clip.wasm has no in-browser converter (${name} is missing); rebuild it with ./build.sh`);
  }
  const r = engine[name](...args);
  if (r && typeof r === 'object' && typeof r.error === 'string') throw new ConvertError(r.kind || 'format', r.error);
  return r;
}

async function engineReady() {
  if (!engine) {
    status('Starting the converter…');
    engine = await startEngine();
  }
  return engine;
}

// ------------------------------------------------------------------- OPFS

async function opfsDir() {
  if (!navigator.storage || !navigator.storage.getDirectory) {
    throw new ConvertError('storage', 'this browser has no origin private file system (navigator.storage.getDirectory), which the download is written to');
  }
  const root = await navigator.storage.getDirectory();
  return root.getDirectoryHandle(DIR, { create: true });
}

async function openSync(dir, name) {
  const fh = await dir.getFileHandle(name, { create: true });
  return fh.createSyncAccessHandle();
}

async function writeRecord(dir, record) {
  const h = await openSync(dir, RECORD);
  try {
    const bytes = new TextEncoder().encode(JSON.stringify(record));
    h.truncate(0);
    h.write(bytes, { at: 0 });
    h.flush();
  } finally {
    h.close();
  }
}

async function readRecord(dir) {
  try {
    const f = await (await dir.getFileHandle(RECORD)).getFile();
    return JSON.parse(await f.text());
  } catch {
    return null;
  }
}

async function remove(dir, name) {
  try {
    await dir.removeEntry(name);
  } catch { /* not there */ }
}

function isQuota(err) {
  return err && (err.name === 'QuotaExceededError' || /quota/i.test(err.message || ''));
}

// writeAll writes u8 at offset at through a sync access handle.
function writeAll(h, u8, at) {
  let done = 0;
  while (done < u8.length) {
    const n = h.write(done ? u8.subarray(done) : u8, { at: at + done });
    if (n <= 0) throw new ConvertError('quota', 'the browser stopped accepting bytes for the download (storage full?)');
    done += n;
  }
}

// readAtHandle is the converter's readAt over a sync access handle.
function readAtHandle(h) {
  return (u8, offset) => {
    let done = 0;
    while (done < u8.length) {
      const n = h.read(done ? u8.subarray(done) : u8, { at: offset + done });
      if (n <= 0) throw new Error(`the part file ends at ${offset + done}, before ${offset + u8.length}`);
      done += n;
    }
  };
}

// --------------------------------------------------------------- fetching

// hubURL is where the hub serves a file of a repository at a revision.
function hubURL(job, file) {
  const rev = job.revision.split('/').map(encodeURIComponent).join('/');
  const repo = job.repo.split('/').map(encodeURIComponent).join('/');
  return `${job.hub.replace(/\/+$/, '')}/${repo}/resolve/${rev}/${encodeURIComponent(file)}`;
}

// request fetches url (following the hub's redirect to its file server)
// and turns a failure into a ConvertError: "network", "notfound",
// "gated", or "http".
async function request(job, file, headers = {}) {
  checkCanceled();
  abort = new AbortController();
  let resp;
  try {
    resp = await fetch(hubURL(job, file), { headers, signal: abort.signal, cache: 'no-store', credentials: 'omit' });
  } catch (err) {
    if (canceled) throw new ConvertError('canceled', 'canceled');
    throw new ConvertError('network', `could not reach ${job.hub} for ${file} (${err.message || err}): are you online?`, { file });
  }
  if (resp.ok) return resp;
  const where = `${job.repo}@${job.revision}`;
  if (resp.status === 404) throw new ConvertError('notfound', `${file} of ${where}: not found (404)`, { file, status: 404 });
  if (resp.status === 401 || resp.status === 403) {
    throw new ConvertError('gated', `${file} of ${where}: the hub answered ${resp.status} ${resp.statusText}`, { file, status: resp.status });
  }
  if (resp.status === 416) throw new ConvertError('range', `${file}: the server refused the range (${resp.status})`, { file, status: 416 });
  throw new ConvertError('http', `${file} of ${where}: the hub answered ${resp.status} ${resp.statusText}`, { file, status: resp.status });
}

// tree asks the hub's API for the files of the revision: the SHA-256 and
// size of each LFS file (lfs.oid, lfs.size), as {name: {sha256, size}}.
// The hub states them on its redirect too (X-Linked-Etag, X-Linked-Size),
// but fetch follows the redirect without showing it. A mirror without the
// API gives {}.
async function tree(job) {
  const rev = encodeURIComponent(job.revision);
  const repo = job.repo.split('/').map(encodeURIComponent).join('/');
  try {
    const resp = await fetch(`${job.hub.replace(/\/+$/, '')}/api/models/${repo}/tree/${rev}`, { cache: 'no-store', credentials: 'omit' });
    if (!resp.ok) return {};
    const out = {};
    for (const e of await resp.json()) {
      if (e && e.lfs && /^[0-9a-f]{64}$/.test(e.lfs.oid || '')) out[e.path] = { sha256: e.lfs.oid, size: e.lfs.size || e.size || 0 };
    }
    return out;
  } catch {
    return {};
  }
}

// linked reads the size and SHA-256 of the weights from a response:
// X-Linked-Etag where the response shows it (a hub that does not
// redirect), else an ETag that is a SHA-256 (a file server addressing LFS
// files by it, as the hub's LFS storage does); the size from X-Linked-Size,
// Content-Range or Content-Length. The hub's API (tree) is asked first.
function linked(resp) {
  const unquote = (t) => (t || '').replace(/^W\//, '').replace(/"/g, '').toLowerCase();
  const isSum = (t) => /^[0-9a-f]{64}$/.test(t);
  const tag = [unquote(resp.headers.get('X-Linked-Etag')), unquote(resp.headers.get('ETag'))].find(isSum) || '';
  let size = Number(resp.headers.get('X-Linked-Size')) || 0;
  const range = /\/(\d+)\s*$/.exec(resp.headers.get('Content-Range') || '');
  if (!size && range) size = Number(range[1]);
  if (!size && resp.status === 200 && !resp.headers.get('Content-Encoding')) size = Number(resp.headers.get('Content-Length')) || 0;
  return { size, sha256: tag };
}

async function small(job, file) {
  const resp = await request(job, file);
  const bytes = new Uint8Array(await resp.arrayBuffer());
  return { bytes, sha256: new SHA256().update(bytes).hex() };
}

// checkConfig refuses what is not a CLIP ViT by the names in config.json.
function checkConfig(job, bytes) {
  let config;
  try {
    config = JSON.parse(new TextDecoder().decode(bytes));
  } catch (err) {
    throw new ConvertError('notclip', `config.json of ${job.repo} is not JSON (${err.message})`);
  }
  const arch = Array.isArray(config.architectures) ? config.architectures : [];
  const type = config.model_type || '';
  const clip = type === 'clip' || arch.includes('CLIPModel');
  if (!clip || !config.vision_config || !config.text_config) {
    const names = `${arch.length ? `architectures ${arch.join(', ')}` : 'no architectures'}, model_type "${type || 'none'}"`;
    throw new ConvertError('notclip', `${job.repo} is not a CLIP ViT: its config.json names ${names}; this page converts CLIP models (CLIPModel, model_type "clip") with a vision and a text tower`);
  }
  return config;
}

// ---------------------------------------------------------------- download

/**
 * download fetches config.json, vocab.json, merges.txt and the weights
 * (model.safetensors, else pytorch_model.bin) of job.repo at job.revision
 * from job.hub, and converts them. With job.resume it continues the
 * download recorded in OPFS.
 */
async function download(job) {
  const dir = await opfsDir();
  let record = job.resume ? await readRecord(dir) : null;
  if (job.resume && !record) throw new ConvertError('state', 'there is no interrupted download to resume');
  if (record) Object.assign(job, { hub: record.hub, repo: record.repo, revision: record.revision, dtype: record.dtype });
  status(`Downloading config.json of ${job.repo}…`);
  const files = {};
  for (const name of SMALL) {
    files[name] = await small(job, name);
    if (name === 'config.json') checkConfig(job, files[name].bytes);
    post({ type: 'file', file: name, bytes: files[name].bytes.length });
  }
  await engineReady();
  const listed = await tree(job);

  // The weights: model.safetensors, else pytorch_model.bin.
  const name = record ? record.file : WEIGHTS[0];
  try {
    return await downloadWeights(job, dir, files, name, record, listed);
  } catch (err) {
    if (err.kind !== 'notfound' || err.file !== name || record || name !== WEIGHTS[0]) throw err;
    await remove(dir, `part-${name}`);
    return await downloadWeights(job, dir, files, WEIGHTS[1], null, listed); // an older repository: a PyTorch state dict only
  }
}

// downloadWeights downloads (or resumes) the weights file `name` into the
// part file while converting it.
async function downloadWeights(job, dir, files, name, record, listed) {
  const part = `part-${name}`;
  const ph = await openSync(dir, part);
  let began = false;
  try {
    let have = record ? ph.getSize() : 0;
    if (!record) ph.truncate(0);
    let resp = null; // null: every byte is on disk already
    if (!record || !record.size || have < record.size) {
      try {
        resp = await request(job, name, have ? { Range: `bytes=${have}-` } : {});
      } catch (err) {
        if (err.kind !== 'range') throw err;
        have = 0; // the file on the hub is shorter than ours: start over
        ph.truncate(0);
        resp = await request(job, name);
      }
    }
    if (resp && have && resp.status !== 206) { // the server ignored the range: start over
      have = 0;
      ph.truncate(0);
    }
    const stated = listed[name] || (resp ? linked(resp) : { size: record.size, sha256: record.sha256 });
    if (record && record.sha256 && stated.sha256 && record.sha256 !== stated.sha256) {
      // The file changed on the hub since the download began: start over.
      have = 0;
      ph.truncate(0);
      resp = await request(job, name);
    }
    const size = stated.size || (record && record.size) || 0;
    const sha256 = stated.sha256 || (record && record.sha256) || '';
    record = { hub: job.hub, repo: job.repo, revision: job.revision, dtype: job.dtype, file: name, size, sha256, started: (record && record.started) || new Date().toISOString() };
    await writeRecord(dir, record);
    post({ type: 'record', record });

    const meta = {
      source: `${job.repo}@${job.revision}`,
      source_repo: job.repo, source_revision: job.revision, source_hub: job.hub,
      'sha256:config.json': files['config.json'].sha256,
      'sha256:vocab.json': files['vocab.json'].sha256,
      'sha256:merges.txt': files['merges.txt'].sha256,
    };
    if (sha256) meta[`sha256:${name}`] = sha256;
    call('convertBegin', { dtype: job.dtype, block: 0, meta });
    began = true;
    for (const f of SMALL) call('convertFile', f, files[f].bytes);

    const conv = new Feeder(name, size, readAtHandle(ph));
    const hash = new SHA256();
    // Bytes already on disk from an earlier visit: hash and convert them
    // from the part file instead of downloading them again.
    if (have) {
      const buf = new Uint8Array(CHUNK);
      for (let at = 0; at < have; at += CHUNK) {
        checkCanceled();
        const n = Math.min(CHUNK, have - at);
        const u8 = n === CHUNK ? buf : buf.subarray(0, n);
        readAtHandle(ph)(u8, at);
        hash.update(u8);
        conv.feed(at + n);
        progress({ phase: 'disk', file: name, have: at + n, total: size, fromDisk: have, conv });
      }
    }
    // The network, resuming with a Range request when the connection drops.
    const fromDisk = have;
    let flushed = have;
    let tries = 0;
    while (resp) {
      const reader = resp.body.getReader();
      let cut = null;
      try {
        for (;;) {
          const { done, value } = await reader.read();
          checkCanceled();
          if (done) break;
          writeAll(ph, value, have);
          hash.update(value);
          have += value.length;
          if (have - flushed >= FLUSH) {
            ph.flush();
            flushed = have;
          }
          conv.feed(have);
          progress({ phase: 'download', file: name, have, total: size, fromDisk, conv });
          tries = 0;
        }
      } catch (err) {
        if (err instanceof ConvertError) throw err;
        if (isQuota(err)) throw new ConvertError('quota', `storage is full after ${have} bytes of ${name}: ${err.message}`);
        cut = err;
      }
      if (!size && cut) throw new ConvertError('cutoff', `the download of ${name} was cut off after ${have} bytes (${cut.message || cut}), and the hub did not say how large it is`, { have });
      if (!size || have >= size) break;
      // Cut off: ask for the rest.
      ph.flush();
      flushed = have;
      let next = null;
      while (!next) {
        if (++tries > job.retries) {
          throw new ConvertError('cutoff', `the download of ${name} was cut off at ${have} of ${size} bytes${cut ? ` (${cut.message || cut})` : ''}`, { have, size });
        }
        status(`The connection dropped at ${have} of ${size} bytes; resuming…`);
        await new Promise((r) => setTimeout(r, 250 * 2 ** Math.min(tries, 5)));
        checkCanceled();
        try {
          next = await request(job, name, { Range: `bytes=${have}-` });
        } catch (err) {
          if (err.kind !== 'network') throw err;
          cut = err;
        }
      }
      if (next.status !== 206) throw new ConvertError('cutoff', `the download of ${name} was cut off at ${have} of ${size} bytes and the server does not resume (it answered ${next.status} to a Range request)`, { have, size });
      resp = next;
    }
    ph.flush();
    // Verify before anything is built from it.
    const got = hash.hex();
    if (size && have !== size) {
      throw new ConvertError('mismatch', `${name} is ${have} bytes, but the hub says ${size}: the download is damaged and was not used`, { have, size });
    }
    if (sha256 && got !== sha256) {
      throw new ConvertError('mismatch', `${name} does not have the SHA-256 the hub states (got ${got.slice(0, 12)}…, expected ${sha256.slice(0, 12)}…): the download is damaged and was not used`);
    }
    conv.feed(have, true);
    while (conv.total && conv.done < conv.total) conv.feed(have);
    const hashes = { 'config.json': files['config.json'].sha256, 'vocab.json': files['vocab.json'].sha256, 'merges.txt': files['merges.txt'].sha256, [name]: got };
    const result = await finish(dir, hashes);
    ph.close();
    await remove(dir, part);
    await remove(dir, RECORD);
    return { ...result, source: { hub: job.hub, repo: job.repo, revision: job.revision, dtype: job.dtype, file: name, sha256: hashes, verified: !!sha256 } };
  } catch (err) {
    if (began) try { engine.convertAbort(); } catch { /* gone */ }
    if (err.kind === 'mismatch' || err.kind === 'notclip' || err.kind === 'format') {
      // Not worth resuming: the bytes on disk are wrong.
      try { ph.close(); } catch { /* closed */ }
      await remove(dir, part);
      await remove(dir, RECORD);
    }
    throw err;
  } finally {
    try { ph.close(); } catch { /* closed */ }
  }
}

let lastProgress = 0;

function progress({ phase, file, have, total, fromDisk, conv }) {
  const now = performance.now();
  if (now - lastProgress < 100 && have !== total) return;
  lastProgress = now;
  post({ type: 'progress', phase, file, have, total, fromDisk, tensors: conv.done, tensorsTotal: conv.total });
}

/**
 * Feeder drives convertWeights and convertStep as the bytes of the
 * weights file land: feed(available) converts what lies within them.
 */
class Feeder {
  constructor(name, size, readAt) {
    Object.assign(this, { name, size, readAt, need: 0, started: false, done: 0, total: 0 });
  }

  feed(available, last = false) {
    if (last && !this.size) this.size = available; // the hub did not say: now we know
    if (!this.size || available < this.need) return;
    if (!this.started) {
      const r = call('convertWeights', this.name, this.size, this.readAt, available);
      if (r.need !== undefined && r.tensors === undefined) {
        this.need = r.need;
        return;
      }
      this.started = true;
      this.total = r.tensors;
      this.need = 0;
    }
    if (this.done >= this.total && this.total) return;
    const s = call('convertStep', available);
    this.done = s.done;
    this.total = s.total;
    this.need = s.need || available + 1;
  }
}

// finish builds the model, checks it on the probes and writes it to OPFS.
async function finish(dir, hashes) {
  status('Checking the converted model on the probe inputs…');
  await remove(dir, OUT);
  const oh = await openSync(dir, OUT);
  let at = 0;
  let r;
  try {
    oh.truncate(0);
    r = call('convertFinish', (u8) => {
      writeAll(oh, u8, at);
      at += u8.length;
    });
    oh.flush();
  } catch (err) {
    oh.close();
    await remove(dir, OUT);
    if (isQuota(err)) throw new ConvertError('quota', `storage is full: the converted model could not be written (${err.message})`);
    throw err;
  }
  oh.close();
  return { out: OUT, bytes: at, info: r.info, probes: r.probes, warning: r.warning || '', sha256: r.sha256, id: r.id, hashes };
}

// ------------------------------------------------------------------ files

/**
 * convertFiles converts files the person has: a Hugging Face model folder's
 * config.json, vocab.json, merges.txt and model.safetensors or
 * pytorch_model.bin, or an OpenAI .pt with bpe_simple_vocab_16e6.txt.gz,
 * read with FileReaderSync.
 */
async function convertFiles(job) {
  const dir = await opfsDir();
  const reader = new FileReaderSync();
  const bytesOf = (f) => new Uint8Array(reader.readAsArrayBuffer(f));
  const by = (re) => job.files.find((f) => re.test(f.name));
  const weights = by(/\.safetensors$/i) || by(/^pytorch_model\.bin$/i) || by(/\.(pt|pth|bin)$/i);
  if (!weights) throw new ConvertError('files', 'no weights among the files: drop model.safetensors or pytorch_model.bin (with config.json, vocab.json, merges.txt), or an OpenAI .pt with bpe_simple_vocab_16e6.txt.gz');
  const config = by(/^config\.json$/i);
  const vocab = by(/^vocab\.json$/i);
  const merges = by(/^merges\.txt$/i) || by(/\.txt\.gz$/i) || by(/\.txt$/i);
  const hf = /\.safetensors$|^pytorch_model\.bin$/i.test(weights.name);
  const missing = hf ? [!config && 'config.json', !vocab && 'vocab.json', !merges && 'merges.txt'].filter(Boolean) : [!merges && 'bpe_simple_vocab_16e6.txt.gz'].filter(Boolean);
  if (missing.length) throw new ConvertError('files', `${weights.name} needs ${missing.join(', ')} beside it: drop or pick them together`);
  const hashes = {};
  const smallFiles = [config, vocab, merges].filter(Boolean);
  const small = smallFiles.map((f) => {
    const b = bytesOf(f);
    hashes[f.name] = new SHA256().update(b).hex();
    return [f.name, b];
  });
  if (config) checkConfig({ repo: weights.name }, small[0][1]);
  await engineReady();
  const meta = { source: hf ? `${weights.name} (Hugging Face files)` : weights.name, source_file: weights.name };
  for (const [n, h] of Object.entries(hashes)) meta[`sha256:${n}`] = h;
  call('convertBegin', { dtype: job.dtype, block: 0, meta });
  try {
    for (const [n, b] of small) call('convertFile', n, b);
    const size = weights.size;
    const hash = new SHA256();
    for (let at = 0; at < size; at += CHUNK) { // hashed first: a read error shows before converting
      checkCanceled();
      hash.update(bytesOf(weights.slice(at, at + CHUNK)));
      post({ type: 'progress', phase: 'read', file: weights.name, have: Math.min(size, at + CHUNK), total: size, tensors: 0, tensorsTotal: 0 });
    }
    hashes[weights.name] = hash.hex();
    const readAt = (u8, offset) => u8.set(bytesOf(weights.slice(offset, offset + u8.length)));
    const conv = new Feeder(weights.name, size, readAt);
    status(`Converting ${weights.name}…`);
    conv.feed(size, true);
    while (conv.total && conv.done < conv.total) conv.feed(size);
    const result = await finish(dir, hashes);
    return { ...result, source: { file: weights.name, dtype: job.dtype, sha256: hashes } };
  } catch (err) {
    try { engine.convertAbort(); } catch { /* gone */ }
    throw err;
  }
}

// -------------------------------------------------------------- messages

self.onmessage = async (e) => {
  const { op, job } = e.data;
  if (op === 'cancel') {
    canceled = true;
    if (abort) abort.abort();
    return;
  }
  if (running) {
    post({ type: 'error', kind: 'busy', message: 'a download is already running' });
    return;
  }
  running = true;
  canceled = false;
  try {
    const result = op === 'files' ? await convertFiles(job) : await download({ retries: 4, ...job });
    post({ type: 'done', result });
  } catch (err) {
    if (err.kind === 'canceled' || canceled) post({ type: 'canceled' });
    else post({ type: 'error', kind: err.kind || (isQuota(err) ? 'quota' : 'error'), message: err.message || String(err), have: err.have, size: err.size, status: err.status, file: err.file });
  } finally {
    running = false;
  }
};
