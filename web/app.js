// app.js is the page: model loading, adding videos, indexing progress,
// search and results, the index in IndexedDB, export and import. The
// engine itself runs in workers (lib/pool.js); nothing here embeds.

import * as db from './lib/db.js';
import * as drop from './lib/drop.js';
import * as fmt from './lib/format.js';
import * as getmodel from './lib/getmodel.js';
import * as handles from './lib/handles.js';
import * as match from './lib/match.js';
import * as models from './lib/models.js';
import * as picker from './lib/picker.js';
import * as reembed from './lib/reembed.js';
import * as searchkeys from './lib/searchkeys.js';
import { describeBackend } from './lib/gpu/describe.js';
import { Indexer } from './lib/indexer.js';
import { errorText, foldMessages, say } from './lib/messages.js';
import { $, debug, params, pool, state } from './lib/page.js';
import { EngineError, autoWorkers } from './lib/pool.js';
import { Site } from './lib/site.js';
import { toast } from './lib/toast.js';

const SEARCH_DELAY = 200; // ms of quiet typing before a search
const MOMENTS_SHOWN = 12;
const MOMENTS_PER_VIDEO = 3;
const UNDO_MS = 6000; // a removed video can be brought back this long

let indexer = null;
let getter = null; // the "Get a real model" downloads (lib/getmodel.js), made in wire()

// ------------------------------------------------------------------- model

function workerCount(modelBytes) {
  const auto = autoWorkers(modelBytes);
  const n = state.workers === 'auto' ? auto : Math.max(1, Math.min(16, Number(state.workers) || auto));
  return n;
}

function fillWorkerSelect(modelBytes) {
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

async function startModel() {
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
function useModel(blob, name, source, origin = null) {
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
  indexer = new Indexer(pool, { debug, decode: params.get('decode') || 'auto' }); // ?decode=seek: no WebCodecs
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
function isDemoModel(m = state.model) {
  if (!m) return false;
  if (m.source === 'default' || m.source === 'default-cache') return true;
  const meta = (m.info && m.info.meta) || {};
  return /^synth/i.test(meta.train_data || '') || /synth/i.test(meta.trained_on || '');
}

/** showModelDetails opens or closes the model line's details (#model-details). */
function showModelDetails(open) {
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
function openGetModel() {
  const d = $('#get-model');
  if (!d.open) d.showModal();
}

function startDownload() {
  const picked = $('#get-model-form').querySelector('input[name=repo]:checked');
  const repo = (picked && picked.value) || $('#repo-other').value.trim();
  const job = { repo, revision: $('#convert-revision').value.trim() || 'main', dtype: $('#convert-dtype').value, hub: $('#convert-hub').value.trim() || getmodel.HUB };
  if (getter.download(job)) $('#get-model').close();
}

function convertFiles(files) {
  files = [...files].filter(getmodel.isCheckpointFile);
  if (!files.length) return;
  if (getter.files(files, $('#convert-dtype').value)) {
    lastCheckpointFiles = files;
    if ($('#get-model').open) $('#get-model').close();
  }
}

// convertF16 converts the loaded model's source again, to f16.
function convertF16() {
  const o = state.model && state.model.origin;
  if (!o) return;
  if (o.repo) getter.download({ hub: o.hub, repo: o.repo, revision: o.revision, dtype: 'f16' });
  else if (lastCheckpointFiles) getter.files(lastCheckpointFiles, 'f16');
}

// ------------------------------------------------------------------- demos

// demos/index.json lists the demo videos of the synthetic world that the
// default model was trained on ({videos: [{file, type, lastModified}],
// examples: [captions]}). They are added like dropped files, as Files
// with a fixed lastModified, so that adding them again reuses their index.
let demos = null;

async function loadDemoList() {
  try {
    const resp = await fetch('demos/index.json');
    if (!resp.ok) return null;
    const d = await resp.json();
    if (!d || !Array.isArray(d.videos) || !d.videos.length) return null;
    demos = d;
  } catch {
    return null; // no demos with this page: nothing to offer
  }
  const list = $('#examples .examples-list');
  list.textContent = '';
  for (const text of demos.examples || []) {
    const li = document.createElement('li');
    const b = document.createElement('button');
    b.type = 'button';
    b.className = 'example';
    b.textContent = text;
    b.onclick = () => runQuery(text);
    li.append(b);
    list.append(li);
  }
  updateDemoUI();
  return demos;
}

function isDemoVideo(v) {
  return !!demoOf(v);
}

// demoOf returns the entry of demos/index.json a video was indexed from, or null.
function demoOf(v) {
  return (demos && demos.videos.find((d) => d.file === v.name && d.lastModified === v.lastModified)) || null;
}

// demoFile fetches a demo video (d: an entry of demos/index.json) from
// this page's server, as the File it was indexed from.
async function demoFile(d) {
  const resp = await fetch(`demos/${d.file}`);
  if (!resp.ok) throw new Error(`${d.file}: the server answered ${resp.status} ${resp.statusText}`);
  const blob = await resp.blob();
  return new File([blob], d.file, { type: d.type || blob.type || 'video/webm', lastModified: d.lastModified });
}

async function addDemos() {
  const buttons = [$('#demo-try'), $('#demo-add')];
  for (const b of buttons) b.disabled = true;
  try {
    if (!demos && !(await loadDemoList())) throw new Error('this page has no list of demo videos (demos/index.json)');
    const files = await Promise.all(demos.videos.map(demoFile));
    const before = state.reused;
    await addFiles(files, { sayReused: false });
    const reused = state.reused - before;
    if (reused) say(reused === files.length ? 'The demo videos are already indexed: their index is reused.' : `${fmt.plural(reused, 'demo video')} ${reused === 1 ? 'is' : 'are'} already indexed: ${reused === 1 ? 'its' : 'their'} index is reused.`, 'info', { timeout: 5000 });
  } catch (err) {
    say(`The demo videos could not be loaded: ${errorText(err)}`, 'error');
  } finally {
    for (const b of buttons) b.disabled = false;
  }
}

/**
 * updateDemoUI shows the demo button (prominently while the index is
 * empty), the example queries once a demo video is indexed, and the notice
 * about what the demo-world model knows once videos of your own meet it.
 */
function updateDemoUI() {
  const vs = [...state.videos.values()];
  const empty = vs.length === 0;
  // While the index is empty the add panel is the page's welcome: what
  // the app does, the two ways in, and that nothing leaves the machine.
  $('#add-panel').classList.toggle('first', empty);
  $('#add-title').textContent = empty ? 'Find any moment in your videos by describing it' : 'Add videos';
  $('#videos-panel').hidden = empty;
  $('#demo-callout').hidden = !demos || !empty;
  $('#demo-add').hidden = !demos || empty;
  // The examples come with the demo videos' cards (in the click that
  // adds them), not when they finish: appearing later they pushed the page
  // down under the reader (a layout shift of 0.13 on a phone).
  const demoShown = vs.some((v) => isDemoVideo(v) && v.status !== 'canceled' && v.status !== 'failed');
  $('#examples').hidden = !demos || !demoShown || !(demos.examples || []).length;
  $('#examples-next').textContent = isDemoModel()
    ? 'Then try your own words: a shape, its colour and size, what it does (appears, moves, spins, turns purple…). Click a moment to play it. Real scenes need a real model.'
    : 'Then describe a scene in your own words, or add videos of your own.';
  const own = vs.some((v) => !isDemoVideo(v) && v.status !== 'canceled');
  $('#demo-model-note').hidden = !(own && isDemoModel());
  renderKeepNote();
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
function renderKeepNote() {
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
function beforeChoosing(e) {
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

// ------------------------------------------------------------------ videos

function newVideo(fields) {
  return {
    key: '', name: '', type: '', size: 0, lastModified: 0, duration: 0, width: 0, height: 0,
    fps: state.fps, window: state.model ? state.model.info.window : 4,
    times: null, thumbs: [], features: null, persisted: false,
    file: null, handle: null, partial: null, status: 'queued', job: null, error: null, el: null, urls: new Map(), added: Date.now(),
    ...fields,
  };
}

function thumbURL(v, i) {
  if (!v.thumbs || !v.thumbs[i]) return '';
  let u = v.urls.get(i);
  if (!u) {
    u = URL.createObjectURL(new Blob([v.thumbs[i]], { type: 'image/jpeg' }));
    v.urls.set(i, u);
  }
  return u;
}

function dropVideo(v) {
  for (const u of v.urls.values()) URL.revokeObjectURL(u);
  v.urls.clear();
  if (v.el) v.el.remove();
  state.videos.delete(v.key);
  state.order = state.order.filter((k) => k !== v.key);
}

async function restoreIndex({ quietOthers = false } = {}) {
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
async function addFiles(files, { sayReused = true, handleOf = null } = {}) {
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
async function addDropped(found) {
  const handleOf = new Map();
  for (const f of [...found.files, ...found.videos]) if (f.handle && f.handle.kind === 'file') handleOf.set(f.file, f.handle);
  const files = [...found.files.map((f) => f.file), ...found.videos.map((f) => f.file)];
  if (found.folders) {
    say(drop.summary(found), found.videos.length ? 'info' : 'warning', { timeout: found.skipped.length || !found.videos.length ? 0 : 8000 });
  }
  if (files.length) await addFiles(files, { handleOf });
}

// savePartial keeps the frames of a job embedded so far (from the first,
// job.prefix of them), for the next visit to go on from: one write at a
// time per job, the latest prefix last.
function savePartial(job) {
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
async function forgetPartial(key, job) {
  if (job && job.saving) await job.saving;
  try {
    await db.removePartial(state.model.id, key);
  } catch { /* nothing kept */ }
}

// resumeFromHandle goes on with an interrupted indexing from the file's
// kept handle; ask (in a click) asks for permission to read it.
async function resumeFromHandle(v, ask) {
  const r = await handles.open(v.key, v.handle, { ask });
  if (r.file) return addFiles([r.file], { sayReused: false });
  if (ask) note(v.el, `“${v.name}” could not be opened: ${r.error}. Add the file again (drop it or use Add videos) to go on.`, 'warning');
  return null;
}

function onProgress(job) {
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

async function onJobDone(job) {
  const v = state.videos.get(job.key);
  if (!v || v.job !== job) return;
  Object.assign(v, {
    duration: job.duration, width: job.width, height: job.height,
    times: job.times, thumbs: job.thumbs, features: job.features, fps: job.fps,
  });
  if (job.debugFrames) v.debugFrames = job.debugFrames;
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
  renderVideo(v);
  scheduleRender();
  if (state.query) search(state.query, { quiet: true });
  updateStorageNote();
}

function onJobFailed(job) {
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
function onIdle() {
  clearTimeout(idleTimer);
  idleTimer = setTimeout(() => {
    if (!indexer.busy) {
      indexer.forget();
      renderProgress();
    }
  }, 1500);
  scheduleRender();
}

function record(v) {
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
const pendingDeletes = new Map();
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
async function removeVideo(v) {
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
function finishRemove(key, { unloading = false } = {}) {
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
  const p = pendingDeletes.get(key);
  if (!p) return;
  pendingDeletes.delete(key);
  p.toast.dismiss();
  notePending();
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

// dropPendingRemove forgets a removal without deleting anything: the
// video comes back another way (an imported index writes its record).
function dropPendingRemove(key) {
  const p = pendingDeletes.get(key);
  if (!p) return;
  pendingDeletes.delete(key);
  p.toast.dismiss();
  notePending();
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

// --------------------------------------------------------------- rendering

const dirty = new Set();
let frameRequested = false;

function scheduleRender() {
  if (frameRequested) return;
  frameRequested = true;
  requestAnimationFrame(() => {
    frameRequested = false;
    for (const v of dirty) renderVideo(v);
    dirty.clear();
    renderProgress();
    updateDemoUI();
  });
}

function renderList() {
  $('#videos-empty').hidden = state.videos.size > 0;
  const list = $('#videos');
  let keys = state.order;
  if (state.results && state.results.hits.length) {
    const rank = new Map(state.results.hits.map((h, i) => [h.key, i]));
    keys = [...state.order].sort((a, b) => (rank.has(a) ? rank.get(a) : 1e9) - (rank.has(b) ? rank.get(b) : 1e9));
  }
  const keep = filters().keep; // the search filters hide the videos they leave out
  for (const k of keys) {
    const v = state.videos.get(k);
    if (v && v.el) {
      v.el.hidden = !keep(v);
      list.append(v.el);
    }
  }
  $('#videos-title').textContent = state.results && state.results.hits.length ? 'Videos, best match first' : 'Your videos';
  renderRelink();
  updateDemoUI();
}

/**
 * renderRelink says, above the video list, which files of the saved index
 * this visit has not got (nor a handle for): picked again, they are
 * matched by name, size and date and play, without indexing again.
 */
function renderRelink() {
  let box = $('#relink');
  const missing = [...state.videos.values()].filter((v) => !v.site && !v.file && !v.handle && !isDemoVideo(v) && (v.status === 'indexed' || v.status === 'interrupted'));
  if (!missing.length) {
    if (box) box.hidden = true;
    return;
  }
  if (!box) {
    box = document.createElement('div');
    box.id = 'relink';
    box.className = 'relink';
    const p = document.createElement('p');
    const label = document.createElement('label');
    label.className = 'button small';
    label.textContent = 'Choose the files…';
    const input = document.createElement('input');
    input.id = 'relink-files';
    input.type = 'file';
    input.multiple = true;
    input.accept = 'video/*,.webm,.mp4,.mov,.mkv,.ogv';
    input.className = 'visually-hidden';
    input.onchange = () => {
      relinkFiles(input.files);
      input.value = '';
    };
    label.append(input);
    box.append(p, label);
    $('#videos').before(box);
  }
  box.hidden = false;
  const names = missing.slice(0, 6).map((v) => v.name).join(', ') + (missing.length > 6 ? `, and ${missing.length - 6} more` : '');
  $('p', box).textContent = `To play ${missing.length === 1 ? 'this video' : `these ${missing.length} videos`} (or go on indexing), choose ${missing.length === 1 ? 'its file' : 'their files'} again: ${names}. They are matched by name, size and date, and not indexed again.`;
}

// relinkFiles links picked files to the saved videos with the same
// fileKey; files that match none are added as new videos.
async function relinkFiles(files) {
  files = [...files];
  const known = files.filter((f) => state.videos.has(fmt.fileKey(f)));
  const unknown = files.length - known.length;
  await addFiles(files, { sayReused: false });
  say(`Linked ${fmt.plural(known.length, 'file')} to ${known.length === 1 ? 'its' : 'their'} saved index${unknown ? `; ${fmt.plural(unknown, 'other file')} matched no saved video (name, size or date differ) and ${unknown === 1 ? 'is' : 'are'} indexed as new` : ''}.`, 'info', { timeout: 6000 });
}

function renderVideo(v) {
  if (!v.el) {
    v.el = $('#video-card').content.firstElementChild.cloneNode(true);
    v.el.dataset.key = v.key;
    $('.remove', v.el).onclick = () => removeVideo(v);
    $('.cancel', v.el).onclick = () => {
      if (!indexer) return;
      const job = v.job;
      indexer.cancel(v.key);
      forgetPartial(v.key, job);
    };
    $('.thumb-button', v.el).onclick = () => {
      const hit = hitOf(v);
      const m = hit && hit.moments[0];
      play(v, m ? v.times[m.first] : 0);
    };
    const canvas = $('.timeline', v.el);
    canvas.onclick = (e) => {
      const t = timelineTime(v, canvas, e);
      if (t !== null) play(v, t);
    };
    canvas.onmousemove = (e) => {
      const t = timelineTime(v, canvas, e);
      const hit = hitOf(v);
      if (t === null || !hit) return;
      const j = frameAt(v, t);
      const s = strengthOf(hit.timeline[j]);
      canvas.title = `${fmt.time(t)} · ${s.level === 'relative' ? '' : `${s.word.toLowerCase()}, `}score ${hit.timeline[j].toFixed(1)} · click to play`;
    };
    $('#videos').append(v.el);
  }
  const el = v.el;
  el.dataset.status = v.status;
  $('.name', el).textContent = v.name;
  $('.name', el).title = v.name;
  const facts = [];
  if (v.duration) facts.push(fmt.time(v.duration));
  if (v.width) facts.push(`${v.width}×${v.height}`);
  facts.push(fmt.bytes(v.size));
  if (v.times) facts.push(`${fmt.plural(v.times.length, 'frame')} at ${v.fps} fps`);
  if (v.partial && v.status === 'interrupted') facts.push(`${v.partial.done} of ${fmt.plural(v.partial.total, 'frame')} at ${v.fps} fps embedded`);
  if ((v.status === 'indexed' || v.status === 'interrupted') && !v.file) facts.push(!v.handle ? 'file not loaded in this visit' : v.permission === 'granted' ? 'file kept: plays at a click' : 'file kept: plays once you allow reading it (one click)');
  $('.meta', el).textContent = facts.join(' · ');

  const hit = hitOf(v);
  const best = hit && hit.moments[0];
  const img = $('.thumb', el);
  // The best moment's frame, else one from the middle: a first frame is
  // often a blank or a title card.
  const middle = v.thumbs ? Math.floor(v.thumbs.length / 2) : 0;
  const src = thumbURL(v, best ? best.frame : middle) || thumbURL(v, 0) || (v.job && v.job.thumbs[0] ? jobThumb(v) : '');
  if (src && img.getAttribute('src') !== src) img.src = src;
  img.alt = best ? `Best moment of ${v.name}, at ${fmt.spokenTime(v.times[best.first])}` : `A frame of ${v.name}`;
  $('.thumb-button', el).setAttribute('aria-label', best ? `Play ${v.name} from ${fmt.time(v.times[best.first])}` : `Play ${v.name}`);
  const badge = $('.score-badge', el);
  badge.hidden = !hit;
  if (hit) {
    const s = strengthOf(hit.score);
    const rank = state.results.hits.indexOf(hit) + 1;
    badge.textContent = s.level === 'relative' ? `#${rank}` : s.word;
    badge.dataset.level = s.level;
    badge.dataset.score = String(hit.score);
    badge.title = `${s.title} The video's score is the better of the whole video's (${hit.whole.toFixed(1)}) and its best moment's.`;
    const play = $('.thumb-button', el);
    play.setAttribute('aria-label', `${play.getAttribute('aria-label')}, ${s.level === 'relative' ? `ranked ${rank}` : s.word.toLowerCase()}`);
  }

  const prog = $('.video-progress', el);
  const active = ['queued', 'reading', 'embedding'].includes(v.status);
  prog.hidden = !active;
  const status = $('.status', el);
  status.className = 'status';
  if (active) {
    const job = v.job;
    const bar = $('progress', prog);
    bar.max = Math.max(1, job.total);
    bar.value = job.done;
    const parts = [];
    if (v.status === 'queued') parts.push('waiting');
    else if (!job.total) parts.push('opening…');
    else parts.push(`${job.done} / ${job.total} frames`);
    const r = job.rate();
    // While paused, a rate and a time left would be of the time before.
    if (indexer.paused) parts.push('paused');
    else if (r) parts.push(fmt.rate(r), fmt.eta((job.total - job.done) / r));
    $('.stats', prog).textContent = parts.filter(Boolean).join(' · ');
    bar.setAttribute('aria-label', `Indexing ${v.name}`);
    status.textContent = '';
  } else if (v.status === 'failed') {
    status.textContent = `Not indexed: ${v.error}`;
    status.classList.add('error');
  } else if (v.status === 'interrupted') {
    status.textContent = `Indexing stopped at frame ${v.partial.done} of ${v.partial.total} last time. ${v.handle ? 'Go on from there, or add' : 'Add'} the file again to go on from there; the saved frames are not embedded again.`;
    status.classList.add('warning');
    if (v.handle) {
      const b = document.createElement('button');
      b.type = 'button';
      b.className = 'button small resume';
      b.textContent = 'Go on';
      b.onclick = () => resumeFromHandle(v, true);
      status.append(' ', b);
    }
  } else if (v.status === 'canceled') {
    status.textContent = 'Canceled. Add the file again to index it.';
    status.classList.add('warning');
  } else if (v.status === 'indexed' && !v.persisted) {
    status.textContent = 'Not saved in this browser (storage full): searchable until you close the page.';
    status.classList.add('warning');
  } else {
    status.textContent = '';
  }

  const wrap = $('.timeline-wrap', el);
  wrap.hidden = !hit;
  if (hit) {
    $('.t1', wrap).textContent = fmt.time(v.duration);
    drawTimeline(v, hit);
  }
}

function jobThumb(v) {
  const buf = v.job.thumbs[0];
  if (!v.urls.has(0)) v.urls.set(0, URL.createObjectURL(new Blob([buf], { type: 'image/jpeg' })));
  return v.urls.get(0);
}

function hitOf(v) {
  if (!state.results) return null;
  return state.results.byKey.get(v.key) || null;
}

function frameAt(v, t) {
  let j = 0;
  while (j + 1 < v.times.length && v.times[j + 1] <= t) j++;
  return j;
}

function timelineTime(v, canvas, e) {
  if (!v.duration) return null;
  const r = canvas.getBoundingClientRect();
  return Math.max(0, Math.min(v.duration, ((e.clientX - r.left) / r.width) * v.duration));
}

// A perceptual dark-to-bright ramp (close to "inferno") for scores.
const RAMP = [[12, 10, 40], [87, 16, 110], [188, 55, 84], [249, 142, 9], [252, 255, 164]];

function rampColor(x) {
  x = Math.max(0, Math.min(1, x)) * (RAMP.length - 1);
  const i = Math.min(RAMP.length - 2, Math.floor(x));
  const f = x - i;
  const c = RAMP[i].map((a, k) => Math.round(a + (RAMP[i + 1][k] - a) * f));
  return `rgb(${c[0]},${c[1]},${c[2]})`;
}

function drawTimeline(v, hit) {
  const canvas = $('.timeline', v.el);
  const dpr = window.devicePixelRatio || 1;
  const w = Math.max(1, Math.round((canvas.clientWidth || 300) * dpr));
  const h = Math.round(28 * dpr);
  if (canvas.width !== w) canvas.width = w;
  if (canvas.height !== h) canvas.height = h;
  const ctx = canvas.getContext('2d');
  const { lo, hi } = state.results;
  const span = hi - lo || 1;
  const n = v.times.length;
  const x = (t) => (t / v.duration) * w;
  ctx.clearRect(0, 0, w, h);
  for (let j = 0; j < n; j++) {
    const a = x(v.times[j]);
    const b = j + 1 < n ? x(v.times[j + 1]) : w;
    ctx.fillStyle = rampColor((hit.timeline[j] - lo) / span);
    ctx.fillRect(Math.floor(a), 0, Math.ceil(b - a) + 1, h);
  }
  // The best moments, outlined.
  ctx.lineWidth = Math.max(1, 1.5 * dpr);
  ctx.strokeStyle = 'rgba(255,255,255,0.9)';
  for (const m of hit.moments) {
    const a = x(v.times[m.first]);
    const b = m.last + 1 < n ? x(v.times[m.last + 1]) : w;
    ctx.strokeRect(a + ctx.lineWidth / 2, ctx.lineWidth / 2, b - a - ctx.lineWidth, h - ctx.lineWidth);
  }
  const best = hit.moments[0];
  canvas.setAttribute('aria-label', best
    ? `Relevance over time for ${v.name}: highest from ${fmt.spokenTime(v.times[best.first])} to ${fmt.spokenTime(momentEnd(v, best))}`
    : `Relevance over time for ${v.name}`);
}

function momentEnd(v, m) {
  return m.last + 1 < v.times.length ? v.times[m.last + 1] : v.duration;
}

function renderProgress() {
  const panel = $('#progress-panel');
  if (!indexer) {
    panel.hidden = true;
    return;
  }
  const s = indexer.stats();
  const shown = indexer.jobs.some((j) => j.status !== 'canceled');
  panel.hidden = !shown;
  if (!shown) return;
  const bar = $('#overall-bar');
  bar.max = Math.max(1, s.total);
  bar.value = s.done;
  const parts = [`${s.done} / ${s.total} frames`];
  if (s.videos) parts.push(`${fmt.plural(s.videos, 'video')} to go`);
  else parts.push('all done');
  if (s.paused) parts.push('paused');
  else if (s.rate && s.videos) parts.push(fmt.rate(s.rate), fmt.eta(s.eta));
  $('#overall-stats').textContent = parts.filter(Boolean).join(' · ');
  $('#pause').textContent = s.paused ? 'Resume' : 'Pause';
  $('#pause').disabled = !s.videos;
  $('#cancel-all').disabled = !s.videos;
  $('#progress-title').textContent = s.videos ? (s.paused ? 'Indexing paused' : 'Indexing') : 'Indexing finished';
  $('#workers').disabled = s.videos > 0;
}

// ------------------------------------------------------------------ search

let searchTimer = 0;
let typedAt = 0;

function onQueryInput() {
  typedAt = performance.now();
  clearTimeout(searchTimer);
  const text = $('#query').value;
  if (!text.trim()) {
    state.query = '';
    state.searchSeq++;
    state.results = null;
    $('#query-note').textContent = '';
    searchkeys.keepQueryInHash('');
    renderResults();
    return;
  }
  searchTimer = setTimeout(() => search(text), SEARCH_DELAY);
}

/** runQuery puts text in the search box and searches, as Enter does. */
function runQuery(text) {
  clearTimeout(searchTimer);
  typedAt = performance.now();
  $('#query').value = text;
  return search(text);
}

// search runs a query and shows its results; a later search supersedes
// it (state.searchPromise is the latest).
function search(text, opts) {
  const p = searchNow(text, opts);
  state.searchPromise = p;
  return p;
}

async function searchNow(text, { quiet = false } = {}) {
  const note = $('#query-note');
  if (!text.trim()) {
    note.textContent = 'The query is empty: type a few words that describe a scene, e.g. “a red car on a bridge”.';
    note.className = 'note warning';
    return;
  }
  if (!state.model) {
    note.textContent = 'Load a model first.';
    return;
  }
  const seq = ++state.searchSeq;
  const started = typedAt || performance.now();
  state.query = text;
  let r;
  try {
    r = await pool.query.call('search', { text, moments: MOMENTS_PER_VIDEO });
  } catch (err) {
    if (seq !== state.searchSeq) return;
    note.className = 'note error';
    note.textContent = err.kind === 'empty' ? 'The query is empty: type a few words that describe a scene.' : `Search failed: ${errorText(err)}`;
    return;
  }
  if (seq !== state.searchSeq) return; // a newer query is on its way
  const site = await searchSites(text);
  if (seq !== state.searchSeq) return;
  setResults(r, site, text, !!(r.query.terms && (r.query.terms.length > 1 || r.query.terms[0].weight < 0)));
  searchkeys.keepQueryInHash(text);
  const ms = performance.now() - started;
  state.lastSearch = { text, tokens: r.query.tokens, truncated: r.query.truncated, msFromTyping: ms, delayMs: SEARCH_DELAY, ...r.timing };
  const used = r.query.tokens - 2;
  note.className = r.query.truncated ? 'note warning' : 'note';
  const terms = r.query.terms && r.query.terms.length > 1
    ? `${r.query.terms.map((t) => `${t.weight < 0 ? '−' : '+'}${Math.abs(t.weight) === 1 ? '' : `${Math.abs(t.weight)}×`}“${t.text}”`).join(' ')} · `
    : '';
  note.textContent = r.query.truncated
    ? `Your query is longer than the model reads: it reads ${used} word pieces (a long or unusual word takes several), so only the start of your query was used. Shorten it to search with all of it.`
    : `${terms}${fmt.plural(used, 'word piece')} · ${fmt.plural(r.hits.length, 'video')} ranked in ${Math.round(r.timing.embedMs + r.timing.rankMs)} ms`;
  if (notEnglish(text)) {
    note.className = 'note warning';
    note.textContent += ` · ${isDemoModel() ? 'This model knows only English words about its demo world' : 'CLIP models read English only'}: other scripts and emoji turn into many small pieces that mean little to it. Describe the scene in English.`;
  }
  if (!quiet && !r.hits.length && !site.length) note.textContent += state.videos.size ? ' · no video has finished indexing yet' : ' · add videos to search them';
}

// notEnglish tells whether a query has letters of another script or
// emoji: CLIP's vocabulary (and the default model's) is of English
// captions, so they become byte pieces with little meaning.
function notEnglish(text) {
  return /[^\p{Script=Latin}\p{N}\p{P}\p{Zs}\s+\-:.]/u.test(text);
}

// setResults keeps a search's results and shows them; lo and hi, the
// score range the bars scale to, skip the -Infinity of a moment left out
// ("more like this").
function setResults(r, site, text, uncalibrated = false) {
  let lo = Infinity;
  let hi = -Infinity;
  for (const h of r.hits) for (const s of h.timeline) if (Number.isFinite(s)) { lo = Math.min(lo, s); hi = Math.max(hi, s); }
  for (const { m } of site) { lo = Math.min(lo, m.score); hi = Math.max(hi, m.score); }
  state.results = { ...r, site, text, lo, hi, uncalibrated, byKey: new Map(r.hits.map((h) => [h.key, h])) };
  renderResults();
}

// similar searches with the moment centred on frame of v: "more like this".
async function similar(v, frame) {
  const note = $('#query-note');
  const seq = ++state.searchSeq;
  let r;
  try {
    r = await pool.query.call('similar', { key: v.key, frame, moments: MOMENTS_PER_VIDEO });
  } catch (err) {
    if (seq !== state.searchSeq) return;
    note.className = 'note error';
    note.textContent = `More like this failed: ${errorText(err)}`;
    return;
  }
  if (seq !== state.searchSeq) return;
  const start = v.times[frame];
  const text = `More like “${v.name}” at ${fmt.time(start)}`;
  setResults(r, [], text, true);
  note.className = 'note';
  note.textContent = `${text} · that moment left out · ${fmt.plural(r.hits.length, 'video')} ranked in ${Math.round(r.timing.rankMs)} ms`;
  $('#moments-panel').scrollIntoView({ block: 'nearest' });
}

/**
 * strengthOf says how well a result of score matches (lib/match.js
 * describe): in words scaled to the model's calibration, or, for a query
 * of several terms or a moment (another scale), or without a calibration
 * that tells, relative to the search's other results.
 */
function strengthOf(score) {
  const r = state.results;
  const cal = state.model && state.model.info.calibration;
  const g = r.uncalibrated ? null : match.grades(cal);
  const why = r.uncalibrated
    ? 'a query of several terms, or a moment, scores on another scale than the single captions the model is calibrated on'
    : !cal ? 'this model has no calibration (yet)' : 'this model’s calibration cannot tell its matches from mismatches';
  return match.describe(g, score, r.lo, r.hi, why);
}

function filters() {
  return searchkeys.filterOf({ name: $('#filter-name'), min: $('#filter-min'), max: $('#filter-max'), days: $('#filter-days') });
}

function renderResults() {
  const r = state.results;
  const keep = filters().keep;
  const panel = $('#moments-panel');
  const list = $('#moments');
  list.textContent = '';
  for (const v of state.videos.values()) renderVideo(v);
  renderList();
  if (!r || (!r.hits.length && !r.site.length)) {
    match.show([], -Infinity, null, '');
    panel.hidden = true;
    return;
  }
  const all = r.site.filter(({ v }) => keep(v));
  for (const h of r.hits) {
    const v = state.videos.get(h.key);
    if (!v || !v.times || !keep(v)) continue;
    for (const m of h.moments) all.push({ v, m });
  }
  all.sort((a, b) => b.m.score - a.m.score);
  const shown = all.slice(0, MOMENTS_SHOWN);
  const cards = [];
  for (const [rank, { v, m }] of shown.entries()) {
    const li = $('#moment-card').content.firstElementChild.cloneNode(true);
    const start = v.times[m.first];
    const end = momentEnd(v, m);
    li.dataset.key = v.key;
    li.dataset.start = String(start);
    li.dataset.end = String(end);
    const img = $('.thumb', li);
    img.src = thumbURL(v, m.frame);
    img.alt = '';
    $('.moment-range', li).textContent = fmt.range(start, end);
    $('.moment-name', li).textContent = v.site ? `${v.name} (${v.site.name})` : v.name;
    li.dataset.score = String(m.score);
    const s = strengthOf(m.score);
    const score = $('.moment-score', li);
    score.dataset.level = s.level;
    score.title = s.title;
    $('.value', score).textContent = s.word;
    $('.bar', score).style.setProperty('--frac', String(Math.min(1, Math.max(0.04, s.frac))));
    const button = $('.moment-button', li);
    button.setAttribute('aria-label', `Moment ${rank + 1}: ${v.name}, ${fmt.spokenTime(start)} to ${fmt.spokenTime(end)}${s.level === 'relative' ? '' : `, ${s.word.toLowerCase()}`}. Play.`);
    button.onclick = () => play(v, start, end, li);
    const like = $('.more-like', li);
    if (v.site) like.remove(); // a site's moments are not in the engine
    else {
      like.onclick = () => similar(v, m.frame);
      like.setAttribute('aria-label', `More like moment ${rank + 1}: ${v.name}, ${fmt.spokenTime(start)} to ${fmt.spokenTime(end)}`);
    }
    list.append(li);
    cards.push({ li, score: m.score });
  }
  const best = Math.max(...r.hits.map((h) => h.score), ...r.site.map(({ m }) => m.score));
  // The calibration is of one caption against moments: a query of several
  // terms, or a moment as the query, scores on another scale.
  match.show(cards, best, r.uncalibrated ? null : state.model, r.text);
  panel.hidden = false;
}

// ------------------------------------------------------------------ player

let playerURL = null;

/**
 * play shows v from start in the player. A video restored from an earlier
 * visit has no file yet: with a kept handle it asks (within this click)
 * to read it; otherwise, or if that fails, it says so next to from, the
 * card clicked, with a button to pick the file.
 */
async function play(v, start, end, from = v.el) {
  if (!v.file && v.site) return playSiteVideo(v, start, end);
  if (!v.file && isDemoVideo(v)) {
    // The page serves the demo videos itself: fetch it again rather than
    // ask for a file the person never had.
    try {
      const f = await demoFile(demos.videos.find((d) => d.file === v.name && d.lastModified === v.lastModified));
      if (fmt.fileKey(f) === v.key) {
        v.file = f;
        renderVideo(v);
      }
    } catch (err) {
      console.warn('clip4clip: fetching the demo video again', err);
    }
  }
  if (!v.file && v.handle) {
    const r = await handles.open(v.key, v.handle, { ask: true });
    v.permission = await handles.permission(v.handle);
    if (r.file) {
      v.file = r.file;
      clearNote(v);
      renderVideo(v);
    } else {
      return askForFile(v, start, end, from, `“${v.name}” could not be opened from where it was dropped: ${r.error}.`);
    }
  }
  if (!v.file) return askForFile(v, start, end, from, `To play “${v.name}”, choose its file again: it is recognised by name, size and date, and not indexed again. The page never keeps a copy of your videos.`);
  const dialog = $('#player');
  const video = $('#player-video');
  if (playerURL) URL.revokeObjectURL(playerURL);
  playerURL = URL.createObjectURL(v.file);
  video.src = playerURL;
  $('#player-title').textContent = v.name;
  $('#player-note').textContent = end !== undefined ? `Moment ${fmt.range(start, end)}` : `From ${fmt.time(start)}`;
  video.onloadedmetadata = () => {
    video.currentTime = start;
    video.play().catch(() => {});
  };
  video.onerror = () => {
    $('#player-note').textContent = `This browser cannot play “${v.name}”.`;
  };
  // More like the frame on screen: the moment centred on the sampled
  // frame nearest the current time.
  const like = $('#player-like');
  like.hidden = !v.times || !v.times.length || v.status !== 'indexed';
  like.onclick = () => {
    const t = video.currentTime;
    let frame = 0;
    for (let i = 1; i < v.times.length; i++) if (Math.abs(v.times[i] - t) < Math.abs(v.times[frame] - t)) frame = i;
    closePlayer();
    similar(v, frame);
  };
  if (!dialog.open) dialog.showModal();
}

// notes are the notes shown in cards about files to choose again.
const notes = new Set();

/**
 * note shows text in card (a video's or a moment's), where the click
 * was, instead of at the top of the page; a later one replaces it.
 * button, if given, is [label, onclick].
 */
function note(card, text, kind = 'warning', button = null) {
  if (!card) return say(text, kind);
  let el = card.querySelector(':scope .card-note');
  if (!el) {
    el = document.createElement('div');
    el.className = 'card-note';
    el.setAttribute('role', 'status');
    (card.querySelector('.video-body') || card).append(el);
  }
  el.className = `card-note ${kind}`;
  el.textContent = '';
  const p = document.createElement('p');
  p.textContent = text;
  el.append(p);
  if (button) {
    const b = document.createElement('button');
    b.type = 'button';
    b.className = 'button small';
    b.textContent = button[0];
    b.onclick = button[1];
    el.append(b);
  }
  notes.add(el);
  el.scrollIntoView({ block: 'nearest' });
  return el;
}

// clearNote removes the notes about v's file (it has one now).
function clearNote(v) {
  for (const el of notes) {
    const card = el.closest('[data-key]');
    if (card && card.dataset.key === v.key) {
      el.remove();
      notes.delete(el);
    }
  }
}

// askForFile says next to the card clicked that v's file is needed, with
// a button to choose it: the same file (fileKey) is linked and plays.
function askForFile(v, start, end, from, text) {
  const input = document.createElement('input');
  input.type = 'file';
  input.accept = 'video/*,.webm,.mp4,.mov,.mkv,.ogv';
  input.className = 'visually-hidden relink-file';
  input.dataset.key = v.key;
  input.onchange = async () => {
    const f = input.files[0];
    input.remove();
    if (!f) return;
    if (fmt.fileKey(f) !== v.key) {
      askForFile(v, start, end, from, `“${f.name}” is not the file “${v.name}” was indexed from (${f.name !== v.name ? 'another name' : 'its size or date differ'}): choose that one, or add this one with Add videos to index it.`);
      return;
    }
    await addFiles([f], { sayReused: false });
    const now = state.videos.get(v.key) || v;
    now.file = f;
    clearNote(now);
    play(now, start, end, from);
  };
  const el = note(from, text, 'warning', [`Choose “${v.name}”…`, () => input.click()]);
  el.append(input);
}

function closePlayer() {
  if ($('#player').open) $('#player').close(); // the close event cleans up
}

// onPlayerClosed runs however the dialog closed (button, Esc, backdrop).
function onPlayerClosed() {
  const video = $('#player-video');
  video.pause();
  video.removeAttribute('src');
  video.load();
  if (playerURL) URL.revokeObjectURL(playerURL);
  playerURL = null;
}

// ---------------------------------------------------------- export/import

async function allRecords() {
  const recs = await db.list(state.model.id);
  const saved = new Set(recs.map((r) => r.key));
  for (const v of state.videos.values()) {
    if (v.status === 'indexed' && !saved.has(v.key) && v.features) recs.push(record(v));
  }
  return recs;
}

async function exportIndex() {
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

async function encodeIndex() {
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

// SITE_MAGIC starts a site index (clip4clip index), which the embeddable
// widget searches; this app's own index files start with C4CINDEX.
const SITE_MAGIC = 'C4CSITE';

async function isSiteIndex(file) {
  const head = new Uint8Array(await file.slice(0, SITE_MAGIC.length).arrayBuffer());
  return String.fromCharCode(...head) === SITE_MAGIC;
}

async function importIndex(file) {
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

// importSiteIndex opens a site index (made by `clip4clip index` for the
// <clip-search> widget) in a worker of its own, with this page's model,
// and searches its moments beside the videos for this visit. Its videos
// live on the site; they play once their files are chosen.
async function importSiteIndex(file) {
  const widget = 'Publish it on your site beside a text-only model (clip4clip convert -text-only) with the search widget (widget/clip-search.js; see embed-example/).';
  if (!state.model) {
    say(`“${file.name}” is a site index for the embeddable search widget. To search it here, load the model it was built with first. ${widget}`, 'error');
    return { added: 0, skipped: 0, error: 'model' };
  }
  let site;
  try {
    site = await Site.open(file, file.name, pool.blob);
  } catch (err) {
    say(`The site index “${file.name}” could not be imported: ${errorText(err).replace(/^siteindex: /, '')}`, 'error');
    return { added: 0, skipped: 0, error: err.kind };
  }
  for (const old of state.sites.filter((s) => s.name === site.name)) dropSite(old);
  const x = site.site;
  site.videos = x.videos.map((sv, i) => newVideo({
    key: `${site.key}|${i}`, name: sv.title, path: sv.path, site,
    duration: sv.duration, width: sv.width, height: sv.height, fps: 1 / x.window, window: 1,
    times: Array.from({ length: sv.moments }, (_, j) => j * x.window),
    thumbs: sv.thumbs.map((t) => t.jpeg), status: 'indexed',
  }));
  state.sites.push(site);
  say(`Imported the site index “${file.name}”: ${fmt.plural(x.videos.length, 'video')}, ${fmt.plural(x.moments, 'moment')} of ${x.window} s, searched beside your videos until you leave this page. Its videos stay on the site: to play one, choose its file when asked. ${widget}`, 'info', { timeout: 15000 });
  if (state.query) search(state.query, { quiet: true });
  return { added: x.videos.length, skipped: 0, site: true };
}

// searchSites asks every imported site index for its best moments, as
// {v, m} entries for the Moments list (m in the app's frame terms: one
// "frame" per moment, the thumbnail nearest it, the score scaled as the
// engine's logits are).
async function searchSites(text) {
  const out = [];
  const scale = state.model.info.logitScale;
  for (const site of state.sites) {
    try {
      for (const m of await site.search(text, MOMENTS_SHOWN)) {
        out.push({ v: site.videos[m.video], m: { frame: m.thumb, first: m.moment, last: m.moment, score: scale * m.score } });
      }
    } catch (err) {
      if (err.kind !== 'empty') say(`Searching the site index “${site.name}” failed: ${errorText(err)}`, 'error');
    }
  }
  return out;
}

function dropSite(site) {
  site.terminate();
  for (const v of site.videos || []) for (const u of v.urls.values()) URL.revokeObjectURL(u);
  state.sites = state.sites.filter((s) => s !== site);
}

function dropSites() {
  for (const site of [...state.sites]) dropSite(site);
}

// playSiteVideo plays a site index's video from a file: one added to the
// page with the same name, or one the person chooses now.
function playSiteVideo(v, start, end) {
  const base = v.path.split(/[?#]/)[0].split('/').pop();
  const have = [...state.videos.values()].find((o) => o.file && o.name === base);
  if (have) {
    v.file = have.file;
    return play(v, start, end);
  }
  const input = document.createElement('input');
  input.type = 'file';
  input.accept = 'video/*,.webm,.mp4,.mov,.mkv,.ogv';
  input.onchange = () => {
    const f = input.files[0];
    if (!f) return;
    if (f.name !== base) say(`You chose “${f.name}” for “${base}”; playing it anyway.`, 'warning');
    v.file = f;
    play(v, start, end);
  };
  say(`“${v.name}” is on the site the index “${v.site.name}” was made for (${v.path}); choose that file to play it.`, 'info');
  input.click();
}

async function addIndex(x, name) {
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

async function updateStorageNote() {
  if (!navigator.storage || !navigator.storage.estimate) return;
  try {
    const e = await navigator.storage.estimate();
    $('#storage-note').textContent = `This site uses ${fmt.bytes(e.usage)} of the ${fmt.bytes(e.quota)} the browser allows it (models, index and app).`;
  } catch { /* informational */ }
}

// -------------------------------------------------------------- debug hook

// window.__clip4clip is for tests and measurements; debugEmbeddings has
// the RGBA bytes of each frame only with ?debug=1.
window.__clip4clip = {
  debug,
  state() {
    return {
      model: state.model && { id: state.model.id, name: state.model.name, source: state.model.source, info: state.model.info, origin: state.model.origin, demoWorld: isDemoModel() },
      convert: getter ? getter.state() : null,
      ready: state.ready,
      workers: pool.frames.length,
      frameModel: pool.frameInfo && { part: pool.frameInfo.part, weightBytes: pool.frameInfo.weightBytes, simd: pool.frameInfo.simd, backend: pool.frameInfo.backend },
      indexing: !!(indexer && indexer.busy),
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
    typedAt = t0;
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
  getter = new getmodel.Getter({ say, onResult: useConverted, retries: params.has('retries') ? Number(params.get('retries')) : 4 });
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
      typedAt = performance.now();
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
    if (!indexer || !indexer.busy) return;
    for (const j of indexer.active()) savePartial(j);
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
