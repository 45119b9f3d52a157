// cards.js draws the video list: one card per video, with its thumbnails,
// its match timeline and its progress, redrawn once a frame.

import * as fmt from './format.js';
import { isDemoVideo, updateDemoUI } from './demos.js';
import { say } from './messages.js';
import { indexer } from './modelpanel.js';
import { $, state } from './page.js';
import { play } from './player.js';
import { addFiles, forgetPartial, momentThumb, removeVideo, resumeFromHandle, thumbURL } from './queue.js';
import { filters, strengthOf } from './search.js';

export const dirty = new Set();
let frameRequested = false;

export function scheduleRender() {
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

export function renderList() {
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

export function renderVideo(v) {
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
  // The best moment's most detailed frame, else one from the middle: a
  // first frame is often a blank or a title card.
  const frame = best ? momentThumb(v, best) : v.thumbs ? Math.floor(v.thumbs.length / 2) : 0;
  const src = thumbURL(v, frame) || thumbURL(v, 0) || (v.job && v.job.thumbs[0] ? jobThumb(v) : '');
  if (src && img.getAttribute('src') !== src) img.src = src;
  img.dataset.frame = thumbURL(v, frame) ? String(frame) : ''; // which frame it shows (tests)
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

export function hitOf(v) {
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

export function drawTimeline(v, hit) {
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

export function momentEnd(v, m) {
  return m.last + 1 < v.times.length ? v.times[m.last + 1] : v.duration;
}

export function renderProgress() {
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
