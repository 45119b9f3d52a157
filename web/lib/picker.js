// picker.js makes "Add videos…" open the File System Access picker
// (window.showOpenFilePicker) where the browser has one: the files picked
// come with their handles, which the page keeps (lib/handles.js) as it
// does a dropped folder's, so that the videos play after a reload with
// one permission click. Elsewhere (Firefox, Safari, a cross-origin frame)
// the button's own <input type=file> opens as before.

/** TYPES is what the picker offers: videos, with the All files choice kept. */
export const TYPES = [{
  description: 'Videos',
  accept: { 'video/*': ['.webm', '.mp4', '.m4v', '.mov', '.mkv', '.ogv'] },
}];

/** supported tells whether this browser has the File System Access picker. */
export function supported() {
  return typeof window.showOpenFilePicker === 'function';
}

/**
 * pick asks for videos with the picker; it gives what lib/drop.js's
 * collect gives ({files: [{file, handle, path}], videos: [], skipped: [],
 * folders: 0}), or null when the person closed the picker. Errors other
 * than that (no picker in this frame, a file that cannot be read) throw.
 */
export async function pick() {
  let picked;
  try {
    picked = await window.showOpenFilePicker({ multiple: true, types: TYPES, id: 'clip4clip-videos', startIn: 'videos' });
  } catch (err) {
    if (err && err.name === 'AbortError') return null;
    throw err;
  }
  const files = [];
  for (const handle of picked) {
    const file = await handle.getFile();
    files.push({ file, handle, path: file.name });
  }
  return { files, videos: [], skipped: [], folders: 0 };
}

/**
 * bind makes input (the <input type=file> inside "Add videos…") open the
 * picker instead, by keyboard or pointer alike: its click is taken over
 * while the user's activation is fresh, and the picked files go to
 * onPicked. Where the picker is missing, or refuses to open here
 * (SecurityError in a cross-origin frame), the input opens as it would
 * have, and its change event is the page's as before.
 */
export function bind(input, onPicked, onError) {
  let bypass = false;
  input.addEventListener('click', (e) => {
    if (bypass || !supported()) return;
    e.preventDefault();
    pick().then((found) => { if (found) onPicked(found); }, (err) => {
      if (err && (err.name === 'SecurityError' || err.name === 'NotAllowedError' || err.name === 'TypeError')) {
        console.warn('clip4clip: the File System Access picker is not allowed here; using the file input', err);
        bypass = true;
        try {
          input.click();
        } finally {
          bypass = false;
        }
        return;
      }
      onError(err);
    });
  });
}
