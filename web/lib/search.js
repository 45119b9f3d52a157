// search.js runs queries (typed, or a frame's look-alikes) and shows the
// results: the moments list and the videos ranked.

import * as fmt from './format.js';
import * as match from './match.js';
import * as searchkeys from './searchkeys.js';
import { momentEnd, renderList, renderVideo } from './cards.js';
import { errorText } from './messages.js';
import { isDemoModel } from './modelpanel.js';
import { $, pool, state } from './page.js';
import { play } from './player.js';
import { momentThumb, thumbURL } from './queue.js';
import { searchSites } from './sites.js';

const SEARCH_DELAY = 200; // ms of quiet typing before a search
export const MOMENTS_SHOWN = 12;
const MOMENTS_PER_VIDEO = 3;

export let searchTimer = 0;
let typedAt = 0; // when the search shown next was asked for

// markTyped notes when a search is asked for (typing, Enter, the debug
// hook's timeSearch): the search's timing starts there.
export function markTyped(t = performance.now()) {
  typedAt = t;
}

export function onQueryInput() {
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
export function runQuery(text) {
  clearTimeout(searchTimer);
  typedAt = performance.now();
  $('#query').value = text;
  return search(text);
}

// search runs a query and shows its results; a later search supersedes
// it (state.searchPromise is the latest).
export function search(text, opts) {
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
export async function similar(v, frame) {
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
export function strengthOf(score) {
  const r = state.results;
  const cal = state.model && state.model.info.calibration;
  const g = r.uncalibrated ? null : match.grades(cal);
  const why = r.uncalibrated
    ? 'a query of several terms, or a moment, scores on another scale than the single captions the model is calibrated on'
    : !cal ? 'this model has no calibration (yet)' : 'this model’s calibration cannot tell its matches from mismatches';
  return match.describe(g, score, r.lo, r.hi, why);
}

export function filters() {
  return searchkeys.filterOf({ name: $('#filter-name'), min: $('#filter-min'), max: $('#filter-max'), days: $('#filter-days') });
}

export function renderResults() {
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
    img.src = thumbURL(v, momentThumb(v, m));
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
