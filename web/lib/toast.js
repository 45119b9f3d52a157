// toast.js shows a short note at the bottom of the window, in view
// wherever the page is scrolled, with one action button (e.g. "Undo").

let box = null;

function container() {
  if (!box) {
    box = document.createElement('div');
    box.id = 'toasts';
    box.className = 'toasts';
    box.setAttribute('role', 'status');
    box.setAttribute('aria-live', 'polite');
    document.body.append(box);
  }
  return box;
}

/**
 * toast shows text with a button labelled action for ms milliseconds.
 * onAction runs when the button is pressed, onTimeout when the time runs
 * out; either way the toast goes. It returns {el, dismiss()}: dismiss
 * removes it and runs neither.
 */
export function toast(text, { action = '', onAction = null, onTimeout = null, ms = 6000 } = {}) {
  const el = document.createElement('div');
  el.className = 'toast';
  const p = document.createElement('p');
  p.textContent = text;
  el.append(p);
  let timer = 0;
  const dismiss = () => {
    clearTimeout(timer);
    el.remove();
  };
  if (action) {
    const b = document.createElement('button');
    b.type = 'button';
    b.className = 'button small';
    b.textContent = action;
    b.onclick = () => {
      dismiss();
      if (onAction) onAction();
    };
    el.append(b);
  }
  timer = setTimeout(() => {
    el.remove();
    if (onTimeout) onTimeout();
  }, ms);
  container().append(el);
  return { el, dismiss };
}
