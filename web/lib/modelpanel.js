// modelpanel.js is the model line and its details: finding and loading a
// model (the cached one, the default, a chosen file, one converted here),
// what it knows, and the note before another model is chosen.

import * as db from './db.js';
import * as fmt from './format.js';
import * as getmodel from './getmodel.js';
import * as handles from './handles.js';
import * as match from './match.js';
import * as models from './models.js';
import * as reembed from './reembed.js';
import * as searchkeys from './searchkeys.js';
import { demoFile, demoOf, updateDemoUI } from './demos.js';
import { describeBackend } from './gpu/describe.js';
import { Indexer } from './indexer.js';
import { errorText, foldMessages, say } from './messages.js';
import { $, debug, params, pool, state } from './page.js';
import { EngineError, autoWorkers } from './pool.js';
import { addFiles, onIdle, onJobDone, onJobFailed, onProgress, restoreIndex, savePartial } from './queue.js';
import { renderResults, runQuery } from './search.js';
import { dropSites } from './sites.js';

export let indexer = null;
export let getter = null; // the "Get a real model" downloads (lib/getmodel.js), made by initGetter

// initGetter makes getter; wire() calls it first.
export function initGetter() {
  getter = new getmodel.Getter({ say, onResult: useConverted, retries: params.has('retries') ? Number(params.get('retries')) : 4 });
}

export function workerCount(modelBytes) {
  const auto = autoWorkers(modelBytes);
  const n = state.workers === 'auto' ? auto : Math.max(1, Math.min(16, Number(state.workers) || auto));
  return n;
}

export function fillWorkerSelect(modelBytes) {
  const sel = $('#workers');
  const auto = modelBytes ? autoWorkers(modelBytes) : navigator.hardwareConcurrency || 2;
  sel.textContent = '';
  const opt = (value, text) => {
    const o = document.createElement('option');
    o.value = value;
    o.textContent = text;
    sel.append(o);
  };
  opt('auto', `Automatic (${auto})`);
  for (let i = 1; i <= Math.min(8, Math.max(2, navigator.hardwareConcurrency || 2)); i++) opt(String(i), String(i));
  sel.value = state.workers;
  if (sel.value !== state.workers) sel.value = 'auto';
}

export async function startModel() {
  $('#model-status').textContent = 'Looking for a model…';
  let found;
  try {
    found = await models.startup();
  } catch (err) {
    found = null;
    say(`Could not read the model cache: ${errorText(err)}`, 'warning');
  }
  if (found && found.blob) {
    await useModel(found.blob, found.name, found.source, found.origin);
  } else {
    noModel(found && found.missing);
  }
  getter.offerResume();
}

function noModel(defaultMissing) {
  $('#model-status').textContent = 'No model loaded';
  $('#model-about').textContent = `${defaultMissing
    ? 'No default model is bundled with this page yet: choose a clip4clip model file (.c4c, made with `clip4clip convert`) from your computer. It is read here and never uploaded; it is kept in this browser for next time.'
    : 'Choose a clip4clip model file (.c4c) from your computer.'} Or “Get a real model”: this page downloads a CLIP from Hugging Face and converts it here, once.`;
  $('#model-facts').hidden = true;
  $('#model-pick-label span').textContent = 'Choose a model file…';
  $('#model-pick-label').classList.add('primary');
  showModelDetails(true); // with no model, how to get one is the first thing to read
}

/**
 * useModel loads a model Blob in fresh workers. On failure the page keeps
 * the model it had.
 */
export function useModel(blob, name, source, origin = null) {
  const p = loadModel(blob, name, source, origin).finally(() => {
    if (state.loading === p) state.loading = null;
  });
  state.loading = p;
  return p;
}

async function loadModel(blob, name, source, origin) {
  const status = $('#model-status');
  const before = [...status.childNodes];
  status.textContent = `Loading ${name} (${fmt.bytes(blob.size)})…`;
  if (blob.size < 16 || !(await models.looksLikeModel(blob))) {
    status.replaceChildren(...before);
    if (blob.size === 0) say(`“${name}” is empty (0 bytes): the download or copy did not finish. Get the model file again.`, 'error');
    else if (blob.size < 16) say(`“${name}” is only ${blob.size} bytes: too short to be a model file (a cut-off download?). Get the model file again.`, 'error');
    else say(`“${name}” is not a clip4clip model file: it does not start the way a model file starts. Pick a .c4c file made by this app or by “clip4clip convert”.`, 'error');
    if (!state.model) noModel(true);
    return false;
  }
  if (indexer && indexer.busy) {
    indexer.cancel();
    say('Indexing was stopped to switch models.', 'warning');
  }
  let loaded;
  try {
    loaded = await pool.load(blob, workerCount(blob.size));
  } catch (err) {
    status.replaceChildren(...before);
    const kind = err instanceof EngineError ? err.kind : '';
    const what = kind === 'format' ? 'is not a usable clip4clip model file' : kind === 'text-only' ? 'cannot be this page’s model' : 'could not be loaded';
    say(`“${name}” ${what}: ${errorText(err)}`, 'error');
    if (!state.model) noModel(true);
    return false;
  }
  state.ready = false;
  // The index of the model before, if another: it stays in the database
  // (by model) and comes back with that model.
  const prev = state.model && state.model.id !== loaded.id ? state.model : null;
  const prevVideos = prev ? [...state.videos.values()].filter((v) => !v.site && v.status === 'indexed').length : 0;
  state.model = { id: loaded.id, name, size: blob.size, source, info: loaded.info, origin };
  dropSites(); // they were checked against the previous model
  try {
    await models.remember(blob, name, loaded.id, source, origin);
  } catch (err) {
    if (db.isQuotaError(err)) say('Storage is full: the model could not be kept in this browser, so you will need to choose it again next visit. Free some space or remove videos from the index.', 'warning');
    else console.warn('clip4clip: caching the model failed', err);
  }
  indexer = new Indexer(pool, { debug, decode: params.get('decode') || 'auto' }); // ?decode=seek: no WebCodecs; ?decode=all: WebCodecs decodes every frame (for measuring)
  indexer.addEventListener('progress', (e) => onProgress(e.detail));
  indexer.addEventListener('done', (e) => onJobDone(e.detail));
  indexer.addEventListener('failed', (e) => onJobFailed(e.detail));
  indexer.addEventListener('idle', () => onIdle());
  indexer.addEventListener('checkpoint', (e) => savePartial(e.detail));
  if ($('#model-keep-ask')) $('#model-keep-ask').hidden = true;
  renderModel();
  startCalibration(loaded);
  fillWorkerSelect(blob.size);
  // The videos of the index left that the person still has, to offer
  // embedding them with this model (collected before the list is emptied).
  const cands = prev ? reembed.candidates(state.videos.values(), demoOf) : [];
  await restoreIndex({ quietOthers: prevVideos > 0 });
  if (prevVideos) offerReembed(prev, prevVideos, cands.filter((c) => !(state.videos.has(c.key) && state.videos.get(c.key).status === 'indexed')));
  $('#query').disabled = false;
  const asked = searchkeys.queryFromHash();
  if (asked && !state.results) runQuery(asked);
  $('#model-default').hidden = true;
  if (source !== 'default' && source !== 'default-cache') {
    models.hasDefault().then((yes) => { $('#model-default').hidden = !yes; });
  }
  state.ready = true;
  return true;
}

/**
 * offerReembed says, after another model is loaded, that the index of n
 * videos of prev is kept and comes back with it, and offers a button that
 * queues cands (lib/reembed.js: the videos of it still at hand and not in
 * this model's index) for indexing with this model.
 */
function offerReembed(prev, n, cands) {
  const name = state.model.name;
  const these = n === 1 ? 'that video' : 'those videos';
  let text = `${name} is loaded. Your index of ${fmt.plural(n, 'video')} belongs to ${prev.name}, the model that made it: it is kept in this browser, and comes back when you load ${prev.name} again (an index made with ${name} is kept the same way).`;
  if (!cands.length) text += ` To search ${these} with ${name}, add ${n === 1 ? 'it' : 'them'} again.`;
  else if (cands.length < n) text += ` ${fmt.plural(cands.length, 'of them is', 'of them are')} still at hand and can be embedded with ${name}; add the others again to search them.`;
  else text += ` To search ${these} with ${name}, embed ${n === 1 ? 'it' : 'them'} again:`;
  const el = say(text, 'warning', { timeout: 0 });
  el.classList.add('model-switch');
  if (!cands.length) return;
  const b = document.createElement('button');
  b.type = 'button';
  b.className = 'button small primary reembed';
  b.textContent = `Embed ${cands.length === 1 ? `“${cands[0].name}”` : `${cands.length} videos`} with ${name}`;
  b.onclick = async () => {
    b.disabled = true;
    const modelId = state.model.id;
    const got = await reembed.gather(cands, { open: (key, h) => handles.open(key, h, { ask: true }), demoFile });
    if (!state.model || state.model.id !== modelId) return; // another model since
    el.remove();
    foldMessages();
    if (got.files.length) await addFiles(got.files, { sayReused: false, handleOf: got.handleOf });
    const missed = got.missed.map((m) => `“${m.name}” (${m.why})`).join(', ');
    if (got.files.length) say(`${fmt.plural(got.files.length, 'video')} queued for indexing with ${name}.${missed ? ` Not at hand: ${missed}; add ${got.missed.length === 1 ? 'it' : 'them'} again.` : ''}`, 'info', { timeout: missed ? 0 : 6000 });
    else say(`None of the videos could be read again: ${missed}. Add them again to search them with ${name}.`, 'warning');
  };
  $('p', el).append(' ', b);
}

/**
 * startCalibration gets the model's calibration (lib/match.js: what a weak
 * match is) in the background when its file has none, and shows the
 * results again with it.
 */
function startCalibration(loaded) {
  match.calibrate(pool, loaded.id, loaded.info).then((cal) => {
    if (!cal || !state.model || state.model.id !== loaded.id) return;
    state.model.info.calibration = cal;
    if (state.results) renderResults();
  }).catch((err) => console.warn('clip4clip: the model could not be calibrated; no result is marked weak', err));
}

/**
 * isDemoModel tells whether a model is the one trained on the demo world:
 * the default model next to the page (models/default.c4c), or any model
 * whose metadata says it was trained on the synthetic data (`clip4clip
 * train -data synth:...` records train_data).
 */
export function isDemoModel(m = state.model) {
  if (!m) return false;
  if (m.source === 'default' || m.source === 'default-cache') return true;
  const meta = (m.info && m.info.meta) || {};
  return /^synth/i.test(meta.train_data || '') || /synth/i.test(meta.trained_on || '');
}

/** showModelDetails opens or closes the model line's details (#model-details). */
export function showModelDetails(open) {
  $('#model-more').setAttribute('aria-expanded', String(open));
  $('#model-details').hidden = !open;
}

/**
 * modelKnows says in a few words what a model can find: the demo-world
 * model only its shapes, a model trained here its training data, any
 * other (a CLIP converted from Hugging Face or OpenAI) real scenes.
 */
function modelKnows(m) {
  if (isDemoModel(m)) return 'knows only the demo world';
  const meta = (m.info && m.info.meta) || {};
  if (meta.train_data) return `trained on ${meta.train_data}`;
  return 'CLIP: real-world scenes';
}

/**
 * renderModel draws the model line (#model-status: the name and what it
 * knows) and its details (#model-about: where it came from and what it
 * knows, in sentences; #model-facts: the file's facts).
 */
function renderModel() {
  const m = state.model;
  if (!m) return;
  const info = m.info;
  const meta = info.meta || {};
  const status = $('#model-status');
  status.textContent = '';
  const name = document.createElement('strong');
  name.className = 'model-name';
  name.textContent = m.name;
  const knows = document.createElement('span');
  knows.className = 'model-knows';
  knows.textContent = modelKnows(m);
  status.append(name, ' · ', knows);
  $('#model-more').title = `${m.name}: ${modelKnows(m)}. Show or hide its details.`;
  $('#query').placeholder = isDemoModel(m) ? 'e.g. a red star moves left' : 'e.g. a dog running on the beach';

  const where = {
    cache: 'kept in this browser from an earlier visit',
    default: 'the default model bundled with this page',
    'default-cache': 'the default model, from this browser’s cache (offline)',
    file: 'chosen from your computer',
    drop: 'dropped on the page',
    converted: 'converted in this browser',
  }[m.source] || m.source;
  const about = $('#model-about');
  about.textContent = '';
  const strong = document.createElement('strong');
  strong.textContent = `Loaded ${m.name}`;
  about.append(strong, ` — ${where}. `);
  if (isDemoModel(m)) {
    const demo = document.createElement('strong');
    demo.textContent = 'It knows only the demo world:';
    about.append(demo, ' it was trained on synthetic clips of simple shapes, their colours and their motions, never on real scenes. Try it on the demo videos; to search your own videos, “Get a real model” (a CLIP from Hugging Face, converted here) or load one converted with `clip4clip convert`.');
  }
  if (info.headNote) about.append(` Note: ${info.headNote}.`);
  const rows = [
    ['Source', meta.source || (meta.train_data ? `trained with ${meta.created_by || 'clip4clip train'} on ${meta.train_data}${/^synth/i.test(meta.train_data) ? ' (the synthetic shapes world)' : ''}` : 'not recorded')],
    ['Weights', `${meta.dtype || 'unknown dtype'}: the text side's ${fmt.bytes(info.weightBytes)} in the query worker${pool.frameInfo ? `, the vision tower's ${fmt.bytes(pool.frameInfo.weightBytes)} in each frame worker` : ''}`],
    ['Architecture', `ViT ${info.config.vision.layers}×${info.config.vision.width}, patch ${info.config.vision.patch_size}, text ${info.config.text.layers}×${info.config.text.width}`],
    ['Embedding', `${info.embedDim} dimensions, images ${info.resolution}×${info.resolution}`],
    ['Similarity head', info.head === info.modelHead ? info.head : `${info.head} (the file carries ${info.modelHead})`],
    ['Query length', `up to ${info.context - 2} tokens (context ${info.context}${info.maxWords ? `; trained on ${info.maxWords}` : ''})`],
    ['Moments', `${info.window} frames each`],
    ['Backend', describeBackend(info, pool.frameInfo)],
    ['Identity', `SHA-256 ${m.id.slice(0, 16)}…`],
  ];
  rows.splice(1, 0, ...originRows(m.origin));
  for (const [k, v] of Object.entries(meta)) {
    if (k !== 'source' && k !== 'dtype' && !k.startsWith('sha256:') && !k.startsWith('source_')) rows.push([k.replace(/_/g, ' '), v]);
  }
  const facts = $('#model-facts');
  facts.textContent = '';
  for (const [k, v] of rows) {
    const dt = document.createElement('dt');
    dt.textContent = k;
    const dd = document.createElement('dd');
    dd.textContent = v;
    facts.append(dt, dd);
  }
  facts.hidden = false;
  const warn = m.origin && m.origin.warning;
  $('#model-warning').hidden = !warn;
  if (warn) {
    $('#model-warning-text').textContent = `Warning: ${warn}`;
    $('#model-warning-f16').hidden = m.origin.dtype === 'f16' || !(m.origin.repo || lastCheckpointFiles);
  }
  $('#model-pick-label span').textContent = 'Change model…';
  $('#model-pick-label').classList.remove('primary');
  showModelDetails(false);
  updateDemoUI();
}

/**
 * originRows are the model card's rows on where a converted model came
 * from: the hub, repository and revision, each downloaded file's SHA-256,
 * and the cosines of the converted model to the f32 weights on the
 * converter's probe inputs.
 */
function originRows(o) {
  if (!o) return [];
  const rows = [];
  const when = o.convertedAt ? ` on ${o.convertedAt.slice(0, 10)}` : '';
  if (o.repo) rows.push(['Downloaded from', `${o.repo} at revision ${o.revision}, from ${o.hub}; converted to ${o.dtype} in this browser${when}`]);
  else rows.push(['Converted from', `${o.file} (your files), to ${o.dtype} in this browser${when}`]);
  const sums = Object.entries(o.sha256 || {}).map(([f, h]) => `${f} ${h}`);
  if (sums.length) rows.push(['File SHA-256', `${sums.join(' · ')}${o.repo ? (o.verified ? ' (the weights matched the hub’s stated hash)' : ' (the hub stated no hash to check against)') : ''}`]);
  const p = o.probes;
  if (p) {
    const list = (xs) => (xs || []).map((x) => x.toFixed(5)).join(', ');
    rows.push(['Probe cosines', `to the f32 weights: images ${list(p.image)}; texts ${list(p.text)}; lowest ${Number(p.min).toFixed(5)}`]);
  }
  return rows;
}

// lastCheckpointFiles are the files last converted from the person's own
// checkpoint, kept for "Convert to f16 instead" in this visit.
let lastCheckpointFiles = null;

/**
 * useConverted stores the model the convert worker made (in OPFS) in the
 * browser and loads it. The model in use stays until the new one is both
 * stored and loaded: storage full or a model that does not load leave it.
 */
async function useConverted(r, job) {
  const file = await getmodel.output(r.out);
  const origin = { ...r.source, probes: r.probes, warning: r.warning || '', convertedAt: new Date().toISOString(), bytes: r.bytes };
  const stem = job.op === 'files' ? r.source.file.replace(/\.[^.]*$/, '') : r.source.repo.split('/').pop();
  const name = `${stem}-${r.source.dtype}.c4c`;
  const key = r.sha256 || r.id || `converted-${Date.now()}`;
  if (window.__clip4clip.beforeStore) await window.__clip4clip.beforeStore(); // tests: fill the storage here
  let blob;
  try {
    blob = await models.store(file, key);
  } catch (err) {
    if (db.isQuotaError(err)) {
      await models.unstore(key).catch(() => {});
      say(`Storage is full: the converted model (${fmt.bytes(file.size)}) could not be stored in this browser. The model in use and your video index are unchanged. Free some space (remove videos from the index, or other sites' data) and convert again.`, 'error');
      return false;
    }
    throw err;
  }
  if (!(await useModel(blob, name, 'converted', origin))) {
    await models.unstore(key).catch(() => {});
    return false;
  }
  const p = r.probes;
  say(`${name} is ready${p ? ` (lowest probe cosine to f32: ${Number(p.min).toFixed(4)})` : ''}. It is kept in this browser and loads by itself next time, offline too. Add your videos again: an index belongs to the model that made it.`, r.warning ? 'warning' : 'info', { timeout: 12000 });
  return true;
}

/** openGetModel shows the "Get a real model" dialog. */
export function openGetModel() {
  const d = $('#get-model');
  if (!d.open) d.showModal();
}

export function startDownload() {
  const picked = $('#get-model-form').querySelector('input[name=repo]:checked');
  const repo = (picked && picked.value) || $('#repo-other').value.trim();
  const job = { repo, revision: $('#convert-revision').value.trim() || 'main', dtype: $('#convert-dtype').value, hub: $('#convert-hub').value.trim() || getmodel.HUB };
  if (getter.download(job)) $('#get-model').close();
}

export function convertFiles(files) {
  files = [...files].filter(getmodel.isCheckpointFile);
  if (!files.length) return;
  if (getter.files(files, $('#convert-dtype').value)) {
    lastCheckpointFiles = files;
    if ($('#get-model').open) $('#get-model').close();
  }
}

// convertF16 converts the loaded model's source again, to f16.
export function convertF16() {
  const o = state.model && state.model.origin;
  if (!o) return;
  if (o.repo) getter.download({ hub: o.hub, repo: o.repo, revision: o.revision, dtype: 'f16' });
  else if (lastCheckpointFiles) getter.files(lastCheckpointFiles, 'f16');
}

// ------------------------------------------------- before another model

/** indexedCount is the videos of this model's index (not of site indexes). */
function indexedCount() {
  let n = 0;
  for (const v of state.videos.values()) if (!v.site && (v.status === 'indexed' || v.status === 'interrupted')) n++;
  return n;
}

/**
 * renderKeepNote says, where another model is chosen (the model's
 * details with “Use the default model”, the Get a real model dialog),
 * that the index belongs to this model and is kept (lib/reembed.js).
 */
export function renderKeepNote() {
  const text = state.model ? reembed.keepSentence(indexedCount(), state.model.name) : '';
  for (const [id, where] of [['model-keep', '#model-details .row'], ['get-model-keep', '#get-model .privacy']]) {
    let p = document.getElementById(id);
    if (!p) {
      p = document.createElement('p');
      p.id = id;
      p.className = 'hint keep-note';
      const at = $(where);
      if (id === 'model-keep') at.before(p);
      else at.after(p);
    }
    p.textContent = text;
    p.hidden = !text;
  }
}

let keepSeen = false; // the note before choosing a model file was shown in this visit

/**
 * beforeChoosing is the model file button's click: while videos are
 * indexed, the first click of a visit shows, beside the button, that the
 * index is kept, with the button to choose the file (the picker opens
 * from a click only).
 */
export function beforeChoosing(e) {
  const n = indexedCount();
  if (keepSeen || !n || !state.model || e.target.id === 'model-file') return;
  e.preventDefault();
  keepSeen = true;
  let box = $('#model-keep-ask');
  if (!box) {
    box = document.createElement('div');
    box.id = 'model-keep-ask';
    box.className = 'callout keep-ask';
    box.setAttribute('role', 'status');
    const p = document.createElement('p');
    const row = document.createElement('div');
    row.className = 'row';
    const choose = document.createElement('label');
    choose.className = 'button primary';
    choose.htmlFor = 'model-file';
    choose.textContent = 'Choose the model file…';
    choose.onclick = () => { box.hidden = true; };
    const cancel = document.createElement('button');
    cancel.type = 'button';
    cancel.className = 'button ghost';
    cancel.textContent = 'Cancel';
    cancel.onclick = () => { box.hidden = true; };
    row.append(choose, cancel);
    box.append(p, row);
    $('#model-panel .model-line').after(box);
  }
  $('p', box).textContent = reembed.keepSentence(n, state.model.name);
  box.hidden = false;
}
