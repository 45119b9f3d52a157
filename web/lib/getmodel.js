// getmodel.js is the "Get a real model" part of the page: a short
// catalogue of CLIP checkpoints in Hugging Face layout, the download and
// in-browser conversion in the convert worker (convert-worker.js), its
// progress, cancel and resume, and converting files the person already
// has. The converted model goes back to the page through onResult.

import * as fmt from './format.js';

/** HUB is where checkpoints come from unless ?hub= or the dialog says. */
export const HUB = 'https://huggingface.co';

const DIR = 'clip4clip-convert'; // the convert worker's OPFS directory
const RECORD = 'download.json';

const MB = 1e6;

// CATALOGUE: parameter counts are those of the architecture (ViT-B/32's
// 151,277,313 parameters are 605 MB in f32); converted sizes scale the
// int8 ViT-B/32 file's 153 MB (1.01 bytes a parameter) and f16's 2 bytes a
// parameter, so they are estimates ("about").
export const CATALOGUE = [
  {
    repo: 'openai/clip-vit-base-patch32', suggested: true, name: 'CLIP ViT-B/32 (OpenAI)',
    download: '605 MB', int8: 'about 153 MB', f16: 'about 303 MB',
    good: 'The one to start with: general-purpose, the fastest real CLIP here (50 tokens per frame). 151,277,313 parameters, stored in f32.',
  },
  {
    repo: 'openai/clip-vit-base-patch16', name: 'CLIP ViT-B/16 (OpenAI)',
    download: 'about 599 MB', int8: 'about 151 MB', f16: 'about 299 MB',
    good: 'Finer detail than B/32 (16-pixel patches) for about four times the work per frame (197 tokens instead of 50). 149,620,737 parameters.',
  },
  {
    repo: 'laion/CLIP-ViT-B-32-laion2B-s34B-b79K', name: 'CLIP ViT-B/32 (LAION-2B)',
    download: 'about 605 MB if stored in f32 (not checked)', int8: 'about 153 MB', f16: 'about 303 MB',
    good: 'The B/32 architecture trained by LAION on LAION-2B, which reports higher zero-shot accuracy than OpenAI’s B/32; as fast as B/32.',
  },
  {
    repo: 'Searchium-ai/clip4clip-webvid150k', name: 'CLIP4Clip on WebVid (Searchium)',
    download: 'unknown here (a ViT-B/32: 605 MB in f32)', int8: 'about 153 MB', f16: 'about 303 MB',
    good: 'CLIP ViT-B/32 fine-tuned with CLIP4Clip’s meanP on 150k WebVid videos and captions: made for searching video.',
  },
  {
    repo: 'openai/clip-vit-large-patch14', name: 'CLIP ViT-L/14 (OpenAI), large', large: true,
    download: 'about 1.71 GB', int8: 'about 432 MB', f16: 'about 855 MB',
    good: 'The most accurate here, but large: 427,616,513 parameters, a 1.7 GB download, and about 18 times B/32’s work per frame (24 layers of width 1024 over 257 tokens); each embedding worker holds its 300 MB vision tower in int8. Slow on most machines.',
  },
];

async function opfsDir() {
  if (!navigator.storage || !navigator.storage.getDirectory) return null;
  try {
    return await (await navigator.storage.getDirectory()).getDirectoryHandle(DIR, { create: true });
  } catch {
    return null;
  }
}

/**
 * pending returns the record of an interrupted download with the bytes
 * on disk ({record, have}), or null.
 */
export async function pending() {
  const dir = await opfsDir();
  if (!dir) return null;
  try {
    const record = JSON.parse(await (await (await dir.getFileHandle(RECORD)).getFile()).text());
    let have = 0;
    try {
      have = (await (await dir.getFileHandle(`part-${record.file}`)).getFile()).size;
    } catch { /* no part file yet */ }
    return { record, have };
  } catch {
    return null;
  }
}

/** discard removes an interrupted download's part file and record. */
export async function discard() {
  const dir = await opfsDir();
  if (!dir) return;
  for await (const name of dir.keys()) {
    if (name === RECORD || name.startsWith('part-')) await dir.removeEntry(name).catch(() => {});
  }
}

/** output returns the converted model file the worker left in OPFS. */
export async function output(name) {
  const dir = await opfsDir();
  return (await dir.getFileHandle(name)).getFile();
}

/** dropOutput removes the converted model file from OPFS. */
export async function dropOutput(name) {
  const dir = await opfsDir();
  if (dir) await dir.removeEntry(name).catch(() => {});
}

/** isCheckpointFile tells the files of a checkpoint from videos and models. */
export function isCheckpointFile(f) {
  return /\.(safetensors|pt|pth|bin|txt\.gz)$/i.test(f.name) || /^(config\.json|vocab\.json|merges\.txt|tokenizer\.json|tokenizer_config\.json|special_tokens_map\.json|preprocessor_config\.json)$/i.test(f.name);
}

/**
 * Getter runs downloads and conversions, one at a time, each in a fresh
 * convert worker (its memory goes with it once the model is built), and
 * renders their progress in the model panel.
 */
export class Getter {
  constructor({ say, onResult, retries }) {
    this.say = say;
    this.onResult = onResult;
    this.retries = retries;
    this.worker = null;
    this.job = null;
    this.progress = null;
    this.lastError = null;
    this.speed = { at: 0, have: 0, bps: 0 };
  }

  get running() {
    return !!this.worker;
  }

  /** state is what the debug hook reports. */
  state() {
    return { running: this.running, job: this.job && { ...this.job, files: undefined }, progress: this.progress, error: this.lastError };
  }

  /**
   * download starts {hub, repo, revision, dtype} (or {resume: true}); a
   * second one while one runs is refused with a message.
   */
  download(job) {
    if (this.running) {
      this.say('A download is already running: wait for it, or cancel it first.', 'warning', { timeout: 5000 });
      return false;
    }
    if (!job.resume) {
      if (!/^[\w.-]+(\/[\w.-]+)?$/.test(job.repo || '')) {
        this.say(`“${job.repo || ''}” is not a Hugging Face repository id: it looks like owner/name, e.g. openai/clip-vit-base-patch32.`, 'error');
        return false;
      }
      if (!/^https?:\/\//.test(job.hub || '')) {
        this.say(`The hub “${job.hub}” is not an http(s) URL.`, 'error');
        return false;
      }
    }
    this.run('download', { ...job, retries: this.retries });
    return true;
  }

  /** files converts checkpoint files the person has. */
  files(files, dtype) {
    if (this.running) {
      this.say('A conversion is already running: wait for it, or cancel it first.', 'warning', { timeout: 5000 });
      return false;
    }
    this.run('files', { files: [...files], dtype });
    return true;
  }

  cancel() {
    if (this.worker) this.worker.postMessage({ op: 'cancel' });
  }

  run(op, job) {
    this.job = { op, ...job };
    this.lastError = null;
    this.progress = null;
    this.speed = { at: performance.now(), have: 0, bps: 0, start: performance.now(), from: null };
    this.worker = new Worker('convert-worker.js', { type: 'module', name: 'convert' });
    this.worker.onmessage = (e) => this.onMessage(e.data);
    this.worker.onerror = (e) => {
      e.preventDefault();
      this.fail({ kind: 'worker', message: `the convert worker failed: ${e.message || 'unknown error'} (is clip4clip.wasm built? run ./build.sh)` });
    };
    const title = op === 'files'
      ? `Converting ${fmt.plural(job.files.length, 'file')} to ${job.dtype}`
      : job.resume ? 'Resuming the download' : `Downloading ${job.repo} (${job.revision}) from ${job.hub}, converting to ${job.dtype}`;
    document.querySelector('#convert-resume').hidden = true;
    this.render(title, 'Starting…');
    this.worker.postMessage({ op, job });
  }

  stop() {
    if (this.worker) this.worker.terminate();
    this.worker = null;
    document.querySelector('#convert').hidden = true;
  }

  render(title, stats, value) {
    document.querySelector('#convert').hidden = false;
    if (title) document.querySelector('#convert-title').textContent = title;
    if (stats !== undefined) document.querySelector('#convert-stats').textContent = stats;
    const bar = document.querySelector('#convert-bar');
    if (value === undefined) bar.removeAttribute('value');
    else bar.value = value;
  }

  async onMessage(m) {
    switch (m.type) {
      case 'status':
        this.render(null, m.text);
        break;
      case 'record':
        this.job = { ...this.job, ...m.record, resume: this.job.resume };
        this.render(`Downloading ${m.record.repo} (${m.record.revision}), ${m.record.file}${m.record.size ? `, ${fmt.bytes(m.record.size)}` : ''}, converting to ${m.record.dtype}`);
        break;
      case 'progress':
        this.onProgress(m);
        break;
      case 'done': {
        const r = m.result;
        this.stop();
        try {
          await this.onResult(r, this.job);
        } finally {
          dropOutput(r.out);
        }
        break;
      }
      case 'canceled':
        this.stop();
        this.say('The download was canceled. What was downloaded is kept: resume it later from the model panel, or discard it.', 'info');
        this.offerResume();
        break;
      case 'error':
        this.fail(m);
        break;
      default:
    }
  }

  onProgress(m) {
    this.progress = m;
    const now = performance.now();
    const s = this.speed;
    if (m.phase === 'download') {
      if (s.from === null) {
        s.from = m.have;
        s.start = now;
      }
      // Speed over the whole network part of this run: steady, and simple.
      const dt = (now - s.start) / 1000;
      if (dt > 0.5) s.bps = (m.have - s.from) / dt;
    }
    const parts = [];
    const of = m.total ? ` of ${fmt.bytes(m.total)}` : '';
    if (m.phase === 'disk') parts.push(`${fmt.bytes(m.have)}${of}: reading the part already downloaded from disk`);
    else if (m.phase === 'read') parts.push(`${fmt.bytes(m.have)}${of} read`);
    else {
      parts.push(`${fmt.bytes(m.have)}${of}`);
      if (s.bps > 0) {
        parts.push(`${fmt.bytes(s.bps)}/s`);
        if (m.total) parts.push(`${duration((m.total - m.have) / s.bps)} left`);
      }
      if (m.fromDisk) parts.push(`${fmt.bytes(m.fromDisk)} from an earlier visit`);
    }
    if (m.tensorsTotal) parts.push(`${m.tensors} of ${m.tensorsTotal} tensors converted`);
    this.render(null, parts.join(' · '), m.total ? m.have / m.total : undefined);
  }

  fail(m) {
    const job = this.job || {};
    this.stop();
    this.lastError = { kind: m.kind, message: m.message };
    const repo = job.repo ? `“${job.repo}”` : 'the model';
    const kept = ' The model in use and your video index are unchanged.';
    const text = {
      network: `Could not reach the hub (${job.hub}): ${m.message}. Check the connection, or the hub address in the dialog.`,
      notfound: `${repo} was not found on ${job.hub} (${m.message}). Check the repository id and the revision.`,
      gated: `${repo} is gated or private (${m.message}): this page downloads without an account. Accept its terms or download it on huggingface.co while logged in, then drop its files on this page.`,
      notclip: `Not converted: ${m.message}.`,
      cutoff: `The download was cut off: ${m.message}. What arrived is kept: resume it from the model panel.`,
      mismatch: `The download failed its check and was not used: ${m.message}.`,
      quota: `Storage is full: ${m.message}. Free some space (remove videos from the index, or other sites' data) and try again.`,
      busy: 'A download is already running.',
      files: `These files cannot be converted: ${m.message}.`,
      format: `The checkpoint could not be converted: ${m.message}.`,
      noconverter: `This page cannot convert yet: ${m.message}.`,
    }[m.kind] || `The conversion failed: ${m.message}.`;
    this.say(text + kept, 'error');
    if (m.kind === 'cutoff' || m.kind === 'network' || m.kind === 'worker') this.offerResume();
  }

  /** offerResume shows "Resume" when an interrupted download is on disk. */
  async offerResume() {
    const p = await pending();
    const box = document.querySelector('#convert-resume');
    if (!p || this.running) {
      box.hidden = true;
      return null;
    }
    const r = p.record;
    document.querySelector('#convert-resume-text').textContent = `A download of ${r.repo} (${r.revision}, ${r.dtype}) stopped at ${fmt.bytes(p.have)}${r.size ? ` of ${fmt.bytes(r.size)}` : ''}. Resume it to go on from there; the bytes already here are not downloaded again.`;
    box.hidden = false;
    return p;
  }
}

function duration(s) {
  if (!Number.isFinite(s) || s < 0) return '?';
  if (s < 60) return `${Math.ceil(s)} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
  return `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min`;
}

/** renderCatalogue fills the dialog's list of checkpoints. */
export function renderCatalogue(root) {
  root.textContent = '';
  for (const c of CATALOGUE) {
    const label = document.createElement('label');
    label.className = `entry${c.large ? ' large' : ''}`;
    const input = document.createElement('input');
    input.type = 'radio';
    input.name = 'repo';
    input.value = c.repo;
    input.checked = !!c.suggested;
    const body = document.createElement('span');
    body.className = 'entry-body';
    const name = document.createElement('span');
    name.className = 'entry-name';
    name.textContent = c.name;
    if (c.suggested) {
      const tag = document.createElement('span');
      tag.className = 'tag';
      tag.textContent = 'suggested';
      name.append(' ', tag);
    }
    if (c.large) {
      const tag = document.createElement('span');
      tag.className = 'tag warn';
      tag.textContent = 'large and slow';
      name.append(' ', tag);
    }
    const repo = document.createElement('code');
    repo.className = 'entry-repo';
    repo.textContent = c.repo;
    const sizes = document.createElement('span');
    sizes.className = 'entry-sizes';
    sizes.textContent = `download ${c.download} · converted: int8 ${c.int8}, f16 ${c.f16}`;
    const note = document.createElement('span');
    note.className = 'entry-note';
    note.textContent = c.good;
    body.append(name, repo, sizes, note);
    label.append(input, body);
    root.append(label);
  }
}
