// messages.js shows the page's messages (errors, warnings, notes) in
// #messages: the newest in full, the earlier ones folded into one line.

import * as fmt from './format.js';
import { $ } from './page.js';
import { plain } from './words.js';

/**
 * say shows a message: kind is "error", "warning" or "info"; details, the
 * technical text behind it, goes behind a "details" toggle.
 */
export function say(text, kind = 'info', { timeout = kind === 'info' ? 8000 : 0, details = '' } = {}) {
  const box = $('#messages');
  const el = document.createElement('div');
  el.className = `message ${kind}`;
  if (kind === 'error') el.setAttribute('role', 'alert');
  const p = document.createElement('p');
  const words = plain(text);
  p.textContent = words.text;
  if (words.changed || details) {
    // The original, for a bug report or the command line.
    const toggle = document.createElement('details');
    toggle.className = 'message-details';
    const summary = document.createElement('summary');
    summary.textContent = 'details';
    const code = document.createElement('code');
    code.textContent = details || text;
    toggle.append(summary, code);
    p.append(' ', toggle);
  }
  const close = document.createElement('button');
  close.type = 'button';
  close.className = 'icon-button';
  close.setAttribute('aria-label', 'Dismiss');
  close.textContent = '✕';
  close.onclick = () => {
    el.remove();
    foldMessages();
  };
  el.append(p, close);
  box.prepend(el);
  for (let ms = box.querySelectorAll('.message'); ms.length > 20; ms = box.querySelectorAll('.message')) ms[ms.length - 1].remove();
  foldMessages();
  if (timeout) {
    setTimeout(() => {
      el.remove();
      foldMessages();
    }, timeout);
  }
  if (kind === 'error') console.warn('clip4clip:', text);
  return el;
}

const SHOWN_MESSAGES = 2; // newest messages shown; the rest fold into one line

// foldMessages shows the newest messages and folds the others into one
// line that can show them or clear them all.
export function foldMessages() {
  const box = $('#messages');
  const all = [...box.querySelectorAll('.message')];
  let fold = $('.message-fold', box);
  all.forEach((m, i) => m.classList.toggle('folded', i >= SHOWN_MESSAGES && !box.classList.contains('unfolded')));
  if (all.length <= 1) {
    if (fold) fold.remove();
    box.classList.remove('unfolded');
    return;
  }
  if (!fold) {
    fold = document.createElement('div');
    fold.className = 'message-fold';
    const more = document.createElement('button');
    more.type = 'button';
    more.className = 'button ghost small more';
    more.onclick = () => {
      box.classList.toggle('unfolded');
      foldMessages();
    };
    const clear = document.createElement('button');
    clear.type = 'button';
    clear.className = 'button ghost small clear';
    clear.onclick = () => {
      for (const m of box.querySelectorAll('.message')) m.remove();
      foldMessages();
    };
    fold.append(more, clear);
  }
  box.append(fold); // always last
  const hidden = all.length - SHOWN_MESSAGES;
  const more = $('.more', fold);
  more.hidden = hidden <= 0;
  more.textContent = box.classList.contains('unfolded') ? 'Show fewer' : `${fmt.plural(hidden, 'earlier message')}: show`;
  $('.clear', fold).textContent = `Clear all ${all.length}`;
}

export function errorText(err) {
  return (err && err.message) || String(err);
}
