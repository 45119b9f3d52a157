// player.js plays a moment of a video in the player dialog, and the notes
// on a card when its file must be chosen again.

import * as fmt from './format.js';
import * as handles from './handles.js';
import { renderVideo } from './cards.js';
import { demoFile, demos, isDemoVideo } from './demos.js';
import { say } from './messages.js';
import { $, state } from './page.js';
import { addFiles } from './queue.js';
import { similar } from './search.js';
import { playSiteVideo } from './sites.js';

let playerURL = null;

/**
 * play shows v from start in the player. A video restored from an earlier
 * visit has no file yet: with a kept handle it asks (within this click)
 * to read it; otherwise, or if that fails, it says so next to from, the
 * card clicked, with a button to pick the file.
 */
export async function play(v, start, end, from = v.el) {
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
export function note(card, text, kind = 'warning', button = null) {
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
export function clearNote(v) {
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

export function closePlayer() {
  if ($('#player').open) $('#player').close(); // the close event cleans up
}

// onPlayerClosed runs however the dialog closed (button, Esc, backdrop).
export function onPlayerClosed() {
  const video = $('#player-video');
  video.pause();
  video.removeAttribute('src');
  video.load();
  if (playerURL) URL.revokeObjectURL(playerURL);
  playerURL = null;
}
