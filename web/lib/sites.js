// sites.js is the site indexes imported for this visit (lib/site.js opens
// one): importing them, searching them beside the videos and playing their
// videos from files.

import * as fmt from './format.js';
import { errorText, say } from './messages.js';
import { pool, state } from './page.js';
import { play } from './player.js';
import { newVideo } from './queue.js';
import { MOMENTS_SHOWN, search } from './search.js';
import { Site } from './site.js';

// SITE_MAGIC starts a site index (clip4clip index), which the embeddable
// widget searches; this app's own index files start with C4CINDEX.
const SITE_MAGIC = 'C4CSITE';

export async function isSiteIndex(file) {
  const head = new Uint8Array(await file.slice(0, SITE_MAGIC.length).arrayBuffer());
  return String.fromCharCode(...head) === SITE_MAGIC;
}

// importSiteIndex opens a site index (made by `clip4clip index` for the
// <clip-search> widget) in a worker of its own, with this page's model,
// and searches its moments beside the videos for this visit. Its videos
// live on the site; they play once their files are chosen.
export async function importSiteIndex(file, name = file.name) {
  const widget = 'Publish it on your site beside a text-only model (clip4clip convert -text-only) with the search widget (widget/clip-search.js; see embed-example/).';
  if (!state.model) {
    say(`“${name}” is a site index for the embeddable search widget. To search it here, load the model it was built with first. ${widget}`, 'error');
    return { added: 0, skipped: 0, error: 'model' };
  }
  let site;
  try {
    site = await Site.open(file, name, pool.blob);
  } catch (err) {
    say(`The site index “${name}” could not be imported: ${errorText(err).replace(/^siteindex: /, '')}`, 'error');
    return { added: 0, skipped: 0, error: err.kind };
  }
  for (const old of state.sites.filter((s) => s.name === site.name)) dropSite(old);
  const x = site.site;
  if (!x.chunked) site.videos = x.videos.map((sv, i) => newVideo({
    key: `${site.key}|${i}`, name: sv.title, path: sv.path, site,
    duration: sv.duration, width: sv.width, height: sv.height, fps: 1 / x.window, window: 1,
    times: Array.from({ length: sv.moments }, (_, j) => j * x.window),
    thumbs: sv.thumbs.map((t) => t.jpeg), status: 'indexed',
  }));
  state.sites.push(site);
  say(`Imported the site index “${name}”: ${fmt.plural(site.videoCount, 'video')}, ${fmt.plural(x.moments, 'moment')} of ${x.window} s, searched beside your videos until you leave this page. Its videos stay on the site: to play one, choose its file when asked. ${widget}`, 'info', { timeout: 15000 });
  if (state.query) search(state.query, { quiet: true });
  return { added: site.videoCount, skipped: 0, site: true };
}

// searchSites asks every imported site index for its best moments, as
// {v, m} entries for the Moments list (m in the app's frame terms: one
// "frame" per moment, the thumbnail nearest it, the score scaled as the
// engine's logits are). A chunked index's files that could not be used
// are said as a warning; the moments of the rest are shown.
export async function searchSites(text) {
  const out = [];
  const scale = state.model.info.logitScale;
  for (const site of state.sites) {
    try {
      const moments = await site.search(text, MOMENTS_SHOWN);
      for (const m of moments) {
        const { v, frame } = site.hitVideo(m, (h) => newVideo({
          key: `${site.key}|${h.video}`, name: h.title, path: h.path, site, duration: h.duration, width: h.width, height: h.height,
          fps: 1 / site.site.window, window: 1, times: Array.from({ length: h.moments }, (_, j) => j * site.site.window), thumbs: [], status: 'indexed',
        }));
        out.push({ v, m: { frame, first: m.moment, last: m.moment, score: scale * m.score } });
      }
      if (moments.problems.length) say(`Part of the site index “${site.name}” could not be loaded, so some matches may be missing: ${moments.problems[0]}${moments.problems.length > 1 ? ` (and ${moments.problems.length - 1} more)` : ''}`, 'warning');
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

export function dropSites() {
  for (const site of [...state.sites]) dropSite(site);
}

// playSiteVideo plays a site index's video from a file: one added to the
// page with the same name, or one the person chooses now.
export function playSiteVideo(v, start, end) {
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
