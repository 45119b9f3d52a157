// demos.js is the demo videos that ship with the page: their list, adding
// them, and the demo-world hints.

import * as fmt from './format.js';
import { errorText, say } from './messages.js';
import { isDemoModel, renderKeepNote } from './modelpanel.js';
import { $, state } from './page.js';
import { addFiles } from './queue.js';
import { runQuery } from './search.js';

// demos/index.json lists the demo videos of the synthetic world that the
// default model was trained on ({videos: [{file, type, lastModified}],
// examples: [captions]}). They are added like dropped files, as Files
// with a fixed lastModified, so that adding them again reuses their index.
export let demos = null;

export async function loadDemoList() {
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

export function isDemoVideo(v) {
  return !!demoOf(v);
}

// demoOf returns the entry of demos/index.json a video was indexed from, or null.
export function demoOf(v) {
  return (demos && demos.videos.find((d) => d.file === v.name && d.lastModified === v.lastModified)) || null;
}

// demoFile fetches a demo video (d: an entry of demos/index.json) from
// this page's server, as the File it was indexed from.
export async function demoFile(d) {
  const resp = await fetch(`demos/${d.file}`);
  if (!resp.ok) throw new Error(`${d.file}: the server answered ${resp.status} ${resp.statusText}`);
  const blob = await resp.blob();
  return new File([blob], d.file, { type: d.type || blob.type || 'video/webm', lastModified: d.lastModified });
}

export async function addDemos() {
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
export function updateDemoUI() {
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
