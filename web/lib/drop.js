// drop.js turns what is dropped on the page, or picked with "Add a
// folder…", into files: dropped folders are walked to the bottom, with
// File System Access handles (DataTransferItem.getAsFileSystemHandle)
// where the browser has them, so that the page can keep them and play the
// videos after a reload, and with the older entries API
// (webkitGetAsEntry) elsewhere. Inside folders only videos are kept; the
// other files are listed as skipped, hidden files (.DS_Store) silently.

/** VIDEO_EXT matches the names of video files a browser may play. */
export const VIDEO_EXT = /\.(webm|mp4|m4v|mov|mkv|ogv|ogg|avi|mpe?g|3gp|ts|m2ts)$/i;

/** isVideo tells a video file by its type or, without one, its name. */
export function isVideo(file) {
  return (file.type || '').startsWith('video/') || VIDEO_EXT.test(file.name);
}

const hidden = (name) => name.startsWith('.');

/**
 * snapshot takes what a drop holds while its event runs (the browser
 * empties the list after it): per item its entry, the promise of its
 * handle and its File.
 */
export function snapshot(dt) {
  const out = [];
  for (const item of dt.items || []) {
    if (item.kind !== 'file') continue;
    let handle = null;
    try {
      if (item.getAsFileSystemHandle) handle = item.getAsFileSystemHandle().catch(() => null);
    } catch { /* no handle for this item */ }
    out.push({ entry: item.webkitGetAsEntry ? item.webkitGetAsEntry() : null, handle, file: item.getAsFile() });
  }
  if (!out.length) for (const file of dt.files || []) out.push({ entry: null, handle: null, file });
  return out;
}

/**
 * found makes what collect and fromFolderInput return: files ({file,
 * handle, path}) at the top level (any kind: the page decides what they
 * are); videos, those inside folders; skipped, the paths of the folders'
 * other files; folders, how many folders there were; sites, the chunked
 * site indexes among the folders (chunkedFolders).
 */
function found() {
  return { files: [], videos: [], skipped: [], folders: 0 };
}

/** collect walks a snapshot's folders; see found for what it returns. */
export async function collect(items) {
  const out = found();
  for (const it of items) {
    const h = it.handle ? await it.handle : null;
    if (h ? h.kind === 'directory' : it.entry && it.entry.isDirectory) {
      out.folders++;
      const sub = found();
      try {
        if (h) await walkHandle(h, h.name, sub);
        else await walkEntry(it.entry, sub);
      } catch (err) {
        if (!h || !it.entry) throw err;
        console.warn('clip4clip: walking the folder handle failed; reading its entry instead', err);
        Object.assign(sub, found());
        await walkEntry(it.entry, sub);
      }
      out.videos.push(...sub.videos);
      out.skipped.push(...sub.skipped);
      out.others = [...(out.others || []), ...(sub.others || [])];
      continue;
    }
    const file = it.file || (h ? await h.getFile() : null);
    if (file) out.files.push({ file, handle: h, path: file.name });
  }
  return sites(out);
}

function keep(out, file, handle, path) {
  if (hidden(file.name)) return;
  if (isVideo(file)) out.videos.push({ file, handle, path });
  else {
    out.skipped.push(path);
    (out.others || (out.others = [])).push({ file, path });
  }
}

// sites moves the chunked site indexes among out's other files to out.sites.
function sites(out) {
  out.sites = chunkedFolders(out, out.others || []);
  delete out.others;
  return out;
}

// walkHandle lists a FileSystemDirectoryHandle to the bottom, in name order.
async function walkHandle(dir, path, out) {
  const children = [];
  for await (const h of dir.values()) children.push(h);
  children.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const h of children) {
    if (hidden(h.name)) continue;
    if (h.kind === 'directory') await walkHandle(h, `${path}/${h.name}`, out);
    else keep(out, await h.getFile(), h, `${path}/${h.name}`);
  }
}

/**
 * walkEntry lists a FileSystemDirectoryEntry to the bottom, in name
 * order. It uses only isDirectory, name, fullPath, createReader()
 * .readEntries and file(), which is all a test's stand-in needs.
 */
export async function walkEntry(dir, out = found()) {
  const reader = dir.createReader();
  const children = [];
  for (;;) {
    // readEntries answers in batches (100 in Chromium) until an empty one.
    const batch = await new Promise((resolve, reject) => reader.readEntries(resolve, reject));
    if (!batch.length) break;
    children.push(...batch);
  }
  children.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const e of children) {
    if (hidden(e.name)) continue;
    if (e.isDirectory) await walkEntry(e, out);
    else keep(out, await new Promise((resolve, reject) => e.file(resolve, reject)), null, e.fullPath.replace(/^\//, ''));
  }
  return out;
}

// CHUNKED names the files of a chunked site index's folder (clip4clip index
// -chunked), relative to it.
const CHUNKED = /^(index\.c4m|[cf]\/[0-9a-f]{16}\.bin|videos-[0-9a-f]{16}\.json)$/;

/**
 * chunkedFolders takes out of out.skipped, the other files found, the
 * folders that are chunked site indexes (they hold index.c4m) and returns
 * them as [{name, files: Map name in the folder -> File}]. files is
 * [{file, path}] for every file out.skipped lists.
 */
export function chunkedFolders(out, files) {
  const roots = files.filter((f) => f.path === 'index.c4m' || f.path.endsWith('/index.c4m')).map((f) => f.path.slice(0, -'index.c4m'.length));
  const sites = [];
  for (const root of roots) {
    const m = new Map();
    for (const f of files) {
      if (f.path.startsWith(root) && CHUNKED.test(f.path.slice(root.length))) m.set(f.path.slice(root.length), f.file);
    }
    sites.push({ name: root.replace(/\/$/, '').split('/').pop() || 'index.c4m', files: m });
  }
  const taken = new Set(sites.flatMap((s) => [...s.files.values()]));
  out.skipped = files.filter((f) => !taken.has(f.file)).map((f) => f.path);
  return sites;
}

/**
 * fromFolderInput sorts the files of an <input webkitdirectory> pick
 * (each with its webkitRelativePath, folder/sub/name) as collect does.
 */
export function fromFolderInput(files) {
  const out = found();
  const tops = new Set();
  for (const file of files) {
    const path = file.webkitRelativePath || file.name;
    const parts = path.split('/');
    if (parts.length > 1) tops.add(parts[0]);
    if (parts.some(hidden)) continue;
    keep(out, file, null, path);
  }
  out.folders = Math.max(1, tops.size);
  return sites(out);
}

/**
 * summary says in one line what came of the folders: "Added 12 videos
 * from 2 folders; skipped 3 files that are not videos: notes.txt, …".
 */
export function summary(out, shown = 5) {
  const n = out.videos.length;
  const folders = `${out.folders} folder${out.folders === 1 ? '' : 's'}`;
  let s = n ? `Added ${n} video${n === 1 ? '' : 's'} from ${folders}` : `No videos in ${folders === '1 folder' ? 'the folder' : `the ${folders}`}`;
  const k = out.skipped.length;
  if (k) {
    const names = out.skipped.slice(0, shown).map((p) => p.split('/').pop());
    s += `; skipped ${k} file${k === 1 ? '' : 's'} that ${k === 1 ? 'is not a video' : 'are not videos'}: ${names.join(', ')}${k > shown ? `, and ${k - shown} more` : ''}`;
  }
  return `${s}.`;
}
