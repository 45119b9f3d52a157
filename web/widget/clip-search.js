// clip-search.js is an embeddable text-to-video search box for a static
// site: one script tag and one element.
//
//   <script type="module" src="widget/clip-search.js"></script>
//   <clip-search index="videos.idx" model="text.c4c"></clip-search>
//
// The site's videos are indexed ahead, natively (`clip4clip index`); the
// visitor's browser loads a text-only model (`clip4clip convert
// -text-only`), encodes what they type in WebAssembly, in a Web Worker, and
// ranks the moments of the prebuilt index. Plain static hosting is enough:
// no special headers, no SharedArrayBuffer.
//
// Attributes (URLs relative to the page):
//   index        the site index file (required), or a chunked index's folder
//                (`clip4clip index -chunked`: its URL ending in /, or its index.c4m),
//                of which a query fetches only the chunks and fragments it needs
//   nprobe       chunked index: lists probed a query (default: the index's; more
//                finds more of the exact results, fetching more)
//   fragments    chunked index: stretches of video re-ranked a query (default: the index's)
//   model        the text-only model file (required); the index must have
//                been built with the model it was cut from
//   k            how many moments to list (default 8)
//   placeholder  the search box's placeholder
//   wasm         the folder holding clip4clip.wasm, wasm_exec.js and simd/
//                (default: the folder above this script's)
//   delay        ms of quiet typing before searching (default 250)
//
// Styling: the element's box is `display: block`; inside it these custom
// properties (set them on clip-search or any ancestor) are used:
//   --clip-search-font          font family (default: inherit)
//   --clip-search-fg            text colour (default: inherit)
//   --clip-search-muted         secondary text colour
//   --clip-search-bg            background of the box
//   --clip-search-surface       background of the input and results
//   --clip-search-border        border colour
//   --clip-search-accent        score bars, the selected result, buttons
//   --clip-search-focus         focus ring colour (default: the accent)
//   --clip-search-error         error text colour
//   --clip-search-radius        corner radius (default 8px)
//   --clip-search-thumb-width   result thumbnail width (default 96px)
//   --clip-search-thumb-aspect  its aspect ratio (default 16 / 9; the frame is cropped to fill it)
//   --clip-search-max-height    results list height before it scrolls
// and ::part(input), ::part(results), ::part(result), ::part(player)
// reach the main pieces.
//
// Keyboard: type to search (or Enter); Down arrow moves into the results,
// Up/Down/Home/End move through them, Enter or Space plays the moment,
// Escape goes back to the search box.
//
// The model and the index (for a chunked one, its small meta file) load
// while the page is idle (requestIdleCallback), not in the way of its own
// loading.
//
// Events: clip-search-ready {videos, moments}, clip-search-results
// {query, results}, clip-search-error {message, kind}, clip-search-play
// {src, start, end}. el.search(text) searches now and resolves to the
// results; el.state() describes the element (for tests).

const WORKER = new URL('clip-search-worker.js', import.meta.url);
const DEFAULT_WASM = new URL('../', import.meta.url);
const MAX_QUERY = 1000; // characters; a model reads a few dozen tokens

const STYLE = `
:host { display: block; font-family: var(--clip-search-font, inherit); color: var(--clip-search-fg, inherit);
  --_accent: var(--clip-search-accent, #3b6fd8); --_radius: var(--clip-search-radius, 8px);
  --_border: var(--clip-search-border, color-mix(in srgb, currentColor 25%, transparent));
  --_muted: var(--clip-search-muted, color-mix(in srgb, currentColor 65%, transparent));
  --_surface: var(--clip-search-surface, transparent); --_focus: var(--clip-search-focus, var(--_accent)); }
:host([hidden]) { display: none; }
.box { background: var(--clip-search-bg, transparent); border-radius: var(--_radius); }
form { display: flex; gap: .5em; margin: 0; }
input { flex: 1; min-width: 0; font: inherit; color: inherit; background: var(--_surface); padding: .6em .8em;
  border: 1px solid var(--_border); border-radius: var(--_radius); }
input:disabled { opacity: .6; }
input:focus-visible, li:focus-visible, button:focus-visible, video:focus-visible { outline: 3px solid var(--_focus); outline-offset: 2px; }
.status { margin: .4em 0; min-height: 1.2em; font-size: .85em; color: var(--_muted); }
.error { margin: .4em 0; padding: .5em .7em; border-radius: var(--_radius); border: 1px solid var(--clip-search-error, #c0392b);
  color: var(--clip-search-error, #c0392b); font-size: .9em; }
.error[hidden], .status:empty { display: none; }
ol { list-style: none; margin: .4em 0 0; padding: 0; max-height: var(--clip-search-max-height, 28em); overflow: auto; }
ol:empty { display: none; }
li { display: grid; grid-template-columns: var(--clip-search-thumb-width, 96px) 1fr; gap: .3em .8em; align-items: center;
  padding: .4em; margin: 2px 3px; border-radius: var(--_radius); cursor: pointer; background: var(--_surface); }
li:hover, li[aria-selected="true"] { background: color-mix(in srgb, var(--_accent) 14%, var(--_surface)); }
.thumb { width: 100%; aspect-ratio: var(--clip-search-thumb-aspect, 16 / 9); object-fit: contain; border-radius: calc(var(--_radius) / 2); background: var(--_border); display: block; }
.meta { min-width: 0; display: flex; flex-direction: column; gap: .2em; }
.title { font-weight: 600; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.time { font-size: .85em; color: var(--_muted); font-variant-numeric: tabular-nums; }
.bar { height: 4px; border-radius: 2px; background: var(--_border); overflow: hidden; }
.bar > span { display: block; height: 100%; background: var(--_accent); }
.player { margin-top: .6em; }
.player[hidden] { display: none; }
video { width: 100%; max-height: 60vh; border-radius: var(--_radius); background: #000; display: block; }
.player-bar { display: flex; justify-content: space-between; align-items: center; gap: .5em; margin-top: .3em; font-size: .85em; color: var(--_muted); }
button { font: inherit; color: inherit; background: transparent; border: 1px solid var(--_border); border-radius: var(--_radius); padding: .2em .7em; cursor: pointer; }
.sr { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
`;

/** time formats seconds as m:ss (h:mm:ss past an hour). */
export function time(s) {
  if (!Number.isFinite(s)) return '–';
  s = Math.max(0, Math.floor(s + 1e-6));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, '0');
  return h ? `${h}:${String(m).padStart(2, '0')}:${sec}` : `${m}:${sec}`;
}

/** ClipSearchError is an error from the engine worker, with its kind. */
class ClipSearchError extends Error {
  constructor(message, kind) {
    super(message);
    this.name = 'ClipSearchError';
    this.kind = kind || 'error';
  }
}

/** Engine is the element's worker with a promise-based call(). */
class Engine {
  constructor() {
    this.pending = new Map();
    this.next = 1;
    this.dead = null;
    this.worker = Engine.spawn();
    this.worker.onmessage = (e) => {
      const { id, result, error, kind } = e.data;
      const p = this.pending.get(id);
      if (!p) return;
      this.pending.delete(id);
      if (error !== undefined) p.reject(new ClipSearchError(error, kind));
      else p.resolve(result);
    };
    this.worker.onerror = (e) => {
      e.preventDefault();
      this.fail(new ClipSearchError(`the search worker failed: ${e.message || 'it could not be started'}`, 'worker'));
    };
  }

  // spawn starts the worker beside this script; where the script comes
  // from another origin (a CDN), through a same-origin blob that imports it.
  static spawn() {
    try {
      return new Worker(WORKER, { type: 'module', name: 'clip-search' });
    } catch (err) {
      if (err.name !== 'SecurityError') throw err;
      const blob = new Blob([`import ${JSON.stringify(WORKER.href)};`], { type: 'text/javascript' });
      return new Worker(URL.createObjectURL(blob), { type: 'module', name: 'clip-search' });
    }
  }

  call(op, args) {
    if (this.dead) return Promise.reject(this.dead);
    const id = this.next++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ id, op, args });
    });
  }

  fail(err) {
    this.dead = err;
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }

  terminate() {
    this.worker.terminate();
    this.fail(new ClipSearchError('the search worker was stopped', 'stopped'));
  }
}

let uid = 0;

/** ClipSearch is the <clip-search> element. */
export class ClipSearch extends HTMLElement {
  static observedAttributes = ['index', 'model', 'wasm', 'placeholder', 'k'];

  constructor() {
    super();
    this.uid = ++uid;
    const root = this.attachShadow({ mode: 'open' });
    const id = (s) => `clip-search-${this.uid}-${s}`;
    root.innerHTML = `<style>${STYLE}</style>
<div class="box" part="box">
  <form role="search" part="form">
    <input part="input" type="search" autocomplete="off" spellcheck="false" maxlength="${MAX_QUERY}"
      aria-label="Search the videos" aria-controls="${id('results')}" aria-describedby="${id('status')}" disabled>
  </form>
  <p class="status" id="${id('status')}" role="status" aria-live="polite"></p>
  <p class="error" role="alert" hidden></p>
  <ol class="results" id="${id('results')}" part="results" role="listbox" aria-label="Matching moments"></ol>
  <div class="player" part="player" hidden>
    <video controls playsinline preload="metadata" aria-label="Video player"></video>
    <div class="player-bar"><span class="now"></span><button type="button" class="close">Close player</button></div>
  </div>
</div>`;
    this.$ = (sel) => root.querySelector(sel);
    this.input = this.$('input');
    this.list = this.$('ol');
    this.video = this.$('video');
    this.engine = null;
    this.site = null; // {videos, moments, ...} from the worker
    this.indexURL = null;
    this.thumbURLs = new Map(); // "video/thumb" -> blob URL
    this.results = null; // the shown results
    this.lastQuery = null; // {text, tokens, truncated, context, timing}
    this.seq = 0; // searches asked for
    this.inflight = null; // the text being searched
    this.queued = null; // the newest text typed while one was in flight
    this.timer = 0;
    this.loading = null;
    this.errorKind = null;

    this.$('form').addEventListener('submit', (e) => {
      e.preventDefault();
      this.searchNow(this.input.value);
    });
    this.input.addEventListener('input', () => {
      clearTimeout(this.timer);
      this.timer = setTimeout(() => this.searchNow(this.input.value), this.delay);
    });
    this.input.addEventListener('keydown', (e) => {
      if (e.key === 'ArrowDown' && this.list.children.length) {
        e.preventDefault();
        this.focusResult(0);
      }
    });
    this.list.addEventListener('keydown', (e) => this.onListKey(e));
    this.list.addEventListener('click', (e) => {
      const li = e.target.closest('li');
      if (li) {
        this.focusResult(Number(li.dataset.rank));
        this.play(Number(li.dataset.rank));
      }
    });
    this.$('.close').addEventListener('click', () => this.closePlayer());
    this.seekTo = null; // where to start once the player's video has loaded
    this.video.addEventListener('loadedmetadata', () => this.seek());
  }

  get k() {
    const k = Number(this.getAttribute('k'));
    return Number.isInteger(k) && k > 0 ? Math.min(k, 100) : 8;
  }

  get delay() {
    const d = this.hasAttribute('delay') ? Number(this.getAttribute('delay')) : NaN;
    return Number.isFinite(d) && d >= 0 ? d : 250;
  }

  connectedCallback() {
    this.input.placeholder = this.getAttribute('placeholder') || 'Describe a scene…';
    if (this.loading) return;
    // Preload while the page idles (at most a second later).
    const idle = self.requestIdleCallback || ((f) => setTimeout(f, 1));
    this.loading = new Promise((resolve) => idle(resolve, { timeout: 1000 }))
      .then(() => (this.isConnected && !this.engine ? this.load() : this.loading));
  }

  disconnectedCallback() {
    // A node moved in the document is disconnected and connected again in
    // one task; stop only when it is really gone.
    queueMicrotask(() => {
      if (this.isConnected) return;
      clearTimeout(this.timer);
      if (this.engine) this.engine.terminate();
      this.engine = null;
      this.loading = null;
      for (const u of this.thumbURLs.values()) URL.revokeObjectURL(u);
      this.thumbURLs.clear();
    });
  }

  attributeChangedCallback(name, old, value) {
    if (old === value) return;
    if (name === 'placeholder') this.input.placeholder = value || 'Describe a scene…';
    else if (name === 'k' && this.input.value.trim()) this.searchNow(this.input.value);
    else if ((name === 'index' || name === 'model' || name === 'wasm') && this.loading) this.load();
  }

  // ------------------------------------------------------------ loading

  /** load (re)starts the worker and loads the model and the index. */
  load() {
    if (this.engine) this.engine.terminate();
    for (const u of this.thumbURLs.values()) URL.revokeObjectURL(u);
    this.thumbURLs.clear();
    this.site = null;
    this.results = null;
    this.list.textContent = '';
    this.input.disabled = true;
    this.showError(null);
    const engine = new Engine();
    this.engine = engine;
    this.loading = this.start(engine).catch((err) => {
      if (engine !== this.engine) return; // replaced meanwhile
      this.setStatus('');
      this.showError(err);
    });
    return this.loading;
  }

  async start(engine) {
    const model = this.getAttribute('model');
    const index = this.getAttribute('index');
    if (!model || !index) {
      throw new ClipSearchError(`<clip-search> needs both a model and an index attribute (model="text.c4c" index="videos.idx")`, 'argument');
    }
    const modelURL = new URL(model, document.baseURI).href;
    const indexURL = new URL(index, document.baseURI).href;
    const wasm = this.getAttribute('wasm');
    let base = wasm ? new URL(wasm, document.baseURI) : DEFAULT_WASM;
    if (!base.pathname.endsWith('/')) base = new URL(base.href + '/');
    this.setStatus('Loading the search engine…');
    const t0 = performance.now();
    await engine.call('start', { wasm: base.href });
    this.setStatus('Loading the model…');
    const m = await engine.call('loadModel', { url: modelURL });
    this.setStatus('Loading the video index…');
    const opt = (name) => {
      const n = Number(this.getAttribute(name));
      return Number.isInteger(n) && n > 0 ? n : undefined;
    };
    const x = await engine.call('loadIndex', { url: indexURL, nprobe: opt('nprobe'), fragments: opt('fragments') });
    if (engine !== this.engine) return;
    this.model = m.info;
    this.site = x.site;
    this.indexURL = indexURL;
    this.timing = { modelMs: m.ms, indexMs: x.ms, indexFetchMs: x.fetchMs, indexBytes: x.bytes, totalMs: performance.now() - t0 };
    this.input.disabled = false;
    const nv = this.videoCount();
    this.setStatus(`Search ${nv} ${nv === 1 ? 'video' : 'videos'} by describing a scene.`);
    this.emit('clip-search-ready', { videos: nv, moments: this.site.moments });
    if (this.input.value.trim()) this.searchNow(this.input.value);
  }

  // ------------------------------------------------------------- search

  /** search searches for text now and resolves to the shown results. */
  async search(text) {
    this.input.value = text;
    await this.loading;
    return this.searchNow(text);
  }

  // searchNow runs a search, coalescing: while one is in flight only the
  // newest text typed is kept, and run when it finishes.
  async searchNow(text) {
    clearTimeout(this.timer);
    text = String(text).slice(0, MAX_QUERY);
    if (!this.site || !this.engine) return null;
    if (!text.trim()) {
      this.seq++;
      this.queued = null;
      this.show(null);
      this.setStatus('');
      this.showError(null);
      return null;
    }
    if (this.inflight !== null) {
      this.queued = text;
      return this.waitIdle();
    }
    const seq = ++this.seq;
    this.inflight = text;
    let out = null;
    try {
      const r = await this.engine.call('search', { text, k: this.k });
      if (seq === this.seq) {
        // Another query's results: the video playing was of the last ones.
        if (this.lastText !== undefined && text !== this.lastText) this.hidePlayer();
        this.lastText = text;
        this.lastQuery = { ...r.query, timing: r.timing };
        this.showError(null);
        this.show(r.results);
        this.lastQuery.bytes = r.results.bytes;
        this.lastQuery.files = r.results.files;
        const problems = r.results.problems || [];
        if (problems.length) {
          // Part of a chunked index is missing or corrupt: say so, show the rest.
          const more = problems.length > 1 ? ` (and ${problems.length - 1} more)` : '';
          this.showError(new ClipSearchError(`${problems[0]}${more}`, 'chunk'), false);
        }
        const n = r.results.moments.length;
        let note = n ? '' : 'No matching moments.';
        if (r.query.truncated) {
          note = `Your description is longer than the model reads: only its first ${r.query.context - 2} words and word pieces were used. Shorten it for better results.`;
        }
        this.setStatus(note || `${n} ${n === 1 ? 'moment' : 'moments'} found.`);
        this.emit('clip-search-results', { query: r.query, results: r.results });
        out = r.results;
      }
    } catch (err) {
      if (seq === this.seq) {
        if (err.kind === 'empty') this.show(null);
        else this.showError(err, false);
      }
    } finally {
      this.inflight = null;
      this.settle();
    }
    if (this.queued !== null) {
      const next = this.queued;
      this.queued = null;
      return this.searchNow(next);
    }
    return out;
  }

  // waitIdle resolves once no search is in flight or queued.
  waitIdle() {
    return new Promise((resolve) => {
      this.idle = this.idle || [];
      this.idle.push(resolve);
    }).then(() => this.results);
  }

  settle() {
    if (this.queued !== null || this.inflight !== null || !this.idle) return;
    const waiting = this.idle;
    this.idle = null;
    waiting.forEach((f) => f());
  }

  // ------------------------------------------------------------ results

  videoCount() {
    return this.site.chunked ? this.site.videos : this.site.videos.length;
  }

  // momentURL is a chunked result's thumbnail (the JPEG comes with it).
  momentThumb(m) {
    if (!m.jpeg) return null;
    const key = `${m.fragment}/${m.thumb}`;
    let u = this.thumbURLs.get(key);
    if (!u) {
      u = URL.createObjectURL(new Blob([m.jpeg], { type: 'image/jpeg' }));
      this.thumbURLs.set(key, u);
    }
    return u;
  }

  thumbURL(vi, ti) {
    const v = this.site.videos[vi];
    if (!v || !v.thumbs || ti < 0 || ti >= v.thumbs.length) return null;
    const key = `${vi}/${ti}`;
    let u = this.thumbURLs.get(key);
    if (!u) {
      u = URL.createObjectURL(new Blob([v.thumbs[ti].jpeg], { type: 'image/jpeg' }));
      this.thumbURLs.set(key, u);
    }
    return u;
  }

  videoURL(path) {
    return new URL(path, this.indexURL).href;
  }

  show(results) {
    this.results = results;
    this.list.textContent = '';
    if (!results) return;
    const moments = results.moments.slice(0, this.k);
    const top = moments.length ? Math.max(moments[0].score, 1e-6) : 1;
    moments.forEach((m, rank) => {
      const v = this.site.chunked ? m : this.site.videos[m.video];
      const title = v.title || v.path.split('/').pop();
      const li = document.createElement('li');
      li.setAttribute('role', 'option');
      li.setAttribute('part', 'result');
      li.setAttribute('aria-selected', 'false');
      li.tabIndex = rank === 0 ? 0 : -1;
      li.id = `clip-search-${this.uid}-r${rank}`;
      Object.assign(li.dataset, { rank, video: m.video, moment: m.moment, start: m.start, end: m.end, src: this.videoURL(v.path) });
      const pct = Math.round(100 * Math.min(1, Math.max(0, m.score / top)));
      li.setAttribute('aria-label', `${title}, ${time(m.start)} to ${time(m.end)}, score ${m.score.toFixed(2)}`);
      const img = document.createElement('img');
      img.className = 'thumb';
      img.alt = '';
      const u = this.site.chunked ? this.momentThumb(m) : this.thumbURL(m.video, m.thumb);
      if (u) img.src = u;
      const meta = document.createElement('div');
      meta.className = 'meta';
      const t = document.createElement('span');
      t.className = 'title';
      t.textContent = title;
      const tm = document.createElement('span');
      tm.className = 'time';
      tm.textContent = `${time(m.start)}–${time(m.end)}`;
      const bar = document.createElement('span');
      bar.className = 'bar';
      bar.title = `score ${m.score.toFixed(3)}`;
      const fill = document.createElement('span');
      fill.style.width = `${pct}%`;
      bar.append(fill);
      meta.append(t, tm, bar);
      li.append(img, meta);
      this.list.append(li);
    });
  }

  focusResult(i) {
    const items = [...this.list.children];
    if (!items.length) return;
    i = Math.max(0, Math.min(items.length - 1, i));
    items.forEach((li, j) => {
      li.tabIndex = j === i ? 0 : -1;
      li.setAttribute('aria-selected', String(j === i));
    });
    items[i].focus();
    items[i].scrollIntoView({ block: 'nearest' });
  }

  onListKey(e) {
    const li = e.target.closest('li');
    if (!li) return;
    const i = Number(li.dataset.rank);
    const n = this.list.children.length;
    switch (e.key) {
      case 'ArrowDown': this.focusResult(i + 1); break;
      case 'ArrowUp': if (i === 0) this.input.focus(); else this.focusResult(i - 1); break;
      case 'Home': this.focusResult(0); break;
      case 'End': this.focusResult(n - 1); break;
      case 'Enter': case ' ': this.play(i); break;
      case 'Escape': this.input.focus(); break;
      default: return;
    }
    e.preventDefault();
  }

  // ------------------------------------------------------------- player

  /** play plays result i from its start in the inline player. */
  play(i) {
    const li = this.list.children[i];
    if (!li) return;
    const src = li.dataset.src;
    const start = Number(li.dataset.start);
    const end = Number(li.dataset.end);
    const v = this.video;
    this.$('.player').hidden = false;
    const title = li.querySelector('.title').textContent;
    this.$('.now').textContent = `${title}, ${time(start)}–${time(end)}`;
    v.setAttribute('aria-label', `Video player: ${title} from ${time(start)}`);
    this.seekTo = start;
    if (v.getAttribute('src') !== src) {
      v.src = src; // loadedmetadata seeks
    } else if (v.readyState >= 1) {
      this.seek();
    }
    this.emit('clip-search-play', { src, start, end });
  }

  // seek starts the player at the moment asked for last.
  seek() {
    if (this.seekTo === null) return;
    this.video.currentTime = this.seekTo;
    this.seekTo = null;
    this.video.play().catch(() => { /* autoplay refused: the controls are there */ });
  }

  // hidePlayer stops and hides the inline player, leaving the focus.
  hidePlayer() {
    this.video.pause();
    this.$('.player').hidden = true;
  }

  closePlayer() {
    this.hidePlayer();
    const cur = this.list.querySelector('li[tabindex="0"]');
    (cur || this.input).focus();
  }

  // ----------------------------------------------------------- messages

  setStatus(text) {
    this.$('.status').textContent = text;
  }

  // showError shows err's message (null hides it); fatal errors keep the
  // search box disabled.
  showError(err, fatal = true) {
    const box = this.$('.error');
    if (!err) {
      box.hidden = true;
      box.textContent = '';
      this.errorKind = null;
      return;
    }
    box.textContent = message(err);
    box.hidden = false;
    this.errorKind = err.kind || 'error';
    if (fatal) this.input.disabled = true;
    this.emit('clip-search-error', { message: box.textContent, kind: this.errorKind });
  }

  emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail, bubbles: true, composed: true }));
  }

  /** state describes the element, for tests and measurements. */
  state() {
    return {
      ready: !!this.site && !this.input.disabled,
      videos: this.site ? this.videoCount() : 0,
      chunked: !!(this.site && this.site.chunked),
      moments: this.site ? this.site.moments : 0,
      model: this.model || null,
      timing: this.timing || null,
      status: this.$('.status').textContent,
      error: this.$('.error').hidden ? null : this.$('.error').textContent,
      errorKind: this.errorKind,
      query: this.lastQuery,
      results: this.results && [...this.list.children].map((li) => ({
        video: Number(li.dataset.video), moment: Number(li.dataset.moment), start: Number(li.dataset.start), end: Number(li.dataset.end),
        src: li.dataset.src, title: li.querySelector('.title').textContent, thumb: !!li.querySelector('img').getAttribute('src'),
      })),
      player: this.$('.player').hidden ? null : { src: this.video.currentSrc || this.video.src, currentTime: this.video.currentTime, paused: this.video.paused },
    };
  }

  /** measure times ranking the index for the current query's feature n times, in the worker. */
  async measure(text, n = 20) {
    const q = await this.engine.call('embed', { text });
    const runs = [];
    for (let i = 0; i < n; i++) {
      const t0 = performance.now();
      const r = await this.engine.call('rank', { feature: q.feature, k: this.k });
      runs.push({ rankMs: r.timing.rankMs, roundTripMs: performance.now() - t0 });
    }
    return { encodeMs: q.timing.encodeMs, runs };
  }
}

// message words an engine error for the visitor.
function message(err) {
  // The engine's messages start with their Go package; visitors need not see it.
  const text = ((err && err.message) || String(err)).replace(/^(siteindex|engine|model|weights|bpe): /, '');
  switch (err && err.kind) {
    case 'fetch': return `Search is unavailable: ${text}.`;
    case 'format': return `Search is unavailable: the model file could not be read: ${text}`;
    case 'site': return `Search is unavailable: the video index could not be read: ${text}`;
    case 'mismatch': return `Search is unavailable: ${text}`;
    case 'chunk': return `Part of the video index could not be loaded, so some matches may be missing: ${text}`;
    case 'worker': return `Search is unavailable: ${text}. Check the wasm attribute (the folder with clip4clip.wasm).`;
    default: return `Search failed: ${text}`;
  }
}

if (!customElements.get('clip-search')) customElements.define('clip-search', ClipSearch);
