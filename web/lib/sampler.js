// sampler.js reads frames out of a video file: it decodes the file once
// from start to end with WebCodecs where it can (decoder.js), and seeks an
// HTML <video> element per frame otherwise; either way it draws the frame
// to a canvas at the video's native size and takes its RGBA bytes. Resizing for the model happens in
// Go (PIL-exact); the canvas only copies pixels. A small JPEG thumbnail is
// drawn from the same frame for display.

import { explain } from './badvideo.js';
import { FrameDecoder } from './decoder.js';

/**
 * VideoError is a file the browser cannot read as a video; media holds
 * the <video> element's MediaError ({code, message}) when it gave one.
 */
export class VideoError extends Error {
  constructor(message, media = null) {
    super(message);
    this.name = 'VideoError';
    this.media = media && { code: media.code, message: media.message || '' };
  }
}

// explained returns err, a VideoError, with the reason lib/badvideo.js
// finds in the file (cut short, not a video, a codec not decoded here),
// the engine's wording kept in err.detail.
async function explained(file, err) {
  if (!(err instanceof VideoError) || err.explained) return err;
  let why = '';
  try {
    why = await explain(file, err.media);
  } catch (e) {
    console.warn('clip4clip: looking into a bad video failed', e);
  }
  const out = why ? new VideoError(why, err.media) : err;
  out.explained = true;
  out.detail = why ? [err.message, err.media && err.media.message].filter(Boolean).join('; ') : '';
  return out;
}

const SEEK_TIMEOUT = 15000;
const SEEK_SETTLE_MS = 10; // after a seek, before the frame is drawn (see seek)

/** mediaErrorReason explains a MediaError in words. */
export function mediaErrorReason(err) {
  if (!err) return 'the browser could not read it';
  switch (err.code) {
    case 1: return 'reading it was aborted';
    case 2: return 'a read error occurred';
    case 3: return 'it is damaged or uses an encoding this browser cannot decode';
    case 4: return 'this browser cannot play this kind of file (unsupported format or codec)';
    default: return err.message || 'the browser could not read it';
  }
}

function waitEvent(target, ok, bad, ms, what) {
  return new Promise((resolve, reject) => {
    let timer;
    const cleanup = () => {
      clearTimeout(timer);
      target.removeEventListener(ok, onOk);
      for (const b of bad) target.removeEventListener(b, onBad);
    };
    const onOk = () => { cleanup(); resolve(); };
    const onBad = () => { cleanup(); reject(new VideoError(mediaErrorReason(target.error), target.error)); };
    target.addEventListener(ok, onOk);
    for (const b of bad) target.addEventListener(b, onBad);
    timer = setTimeout(() => { cleanup(); reject(new VideoError(`${what} took longer than ${ms / 1000} s; the file may be truncated or broken`)); }, ms);
  });
}

// COLOR_SPACES are the readings of untagged video tried, after the
// decoder's own, to match the <video> element's colours.
const COLOR_SPACES = [
  { primaries: 'smpte170m', transfer: 'smpte170m', matrix: 'smpte170m', fullRange: false },
  { primaries: 'bt709', transfer: 'bt709', matrix: 'bt709', fullRange: false },
  { primaries: 'smpte170m', transfer: 'smpte170m', matrix: 'smpte170m', fullRange: true },
  { primaries: 'bt709', transfer: 'bt709', matrix: 'bt709', fullRange: true },
];

function maxDiff(a, b) {
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    if ((i & 3) === 3) continue;
    const d = Math.abs(a[i] - b[i]);
    if (d > m) m = d;
  }
  return m;
}

/** frameTimes returns the times sampled at fps over duration: i/fps < duration. */
export function frameTimes(duration, fps) {
  const n = Math.max(1, Math.ceil(duration * fps - 1e-6));
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = i / fps;
  return out;
}

/** Sampler reads frames of one video file. */
export class Sampler {
  // Where a grab's time goes, in ms summed over grabs: waiting for the
  // frame (decoding or seeking), drawing it and reading its pixels, making
  // the thumbnail; and the frames WebCodecs decoded, skipped (not decoded)
  // and dropped (decoded, not wanted), added when the sampler closes.
  // open's timing option shares one object between samplers.
  timing = { frameMs: 0, pixelsMs: 0, thumbMs: 0, decoded: 0, skipped: 0, dropped: 0 };

  /**
   * open loads the file's metadata; it throws VideoError for a file it
   * cannot use. decode is 'auto' (WebCodecs where it can, else seeking) or
   * 'seek'; the sampler's decodeWith says which it uses and why.
   */
  static async open(file, { thumbWidth = 160, decode = 'auto', timing = null } = {}) {
    if (file.size === 0) throw await explained(file, new VideoError('the file is empty (0 bytes)'));
    const s = new Sampler();
    if (timing) s.timing = timing;
    const v = document.createElement('video');
    v.muted = true;
    v.playsInline = true;
    v.preload = 'auto';
    s.url = URL.createObjectURL(file);
    s.video = v;
    try {
      const meta = waitEvent(v, 'loadedmetadata', ['error'], SEEK_TIMEOUT, 'reading the header');
      v.src = s.url;
      await meta;
      if (!Number.isFinite(v.duration)) {
        // Streams recorded in the browser often have no duration in the
        // header; seeking past the end makes the browser find it.
        const seeked = waitEvent(v, 'seeked', ['error'], SEEK_TIMEOUT, 'finding the duration');
        v.currentTime = 1e101;
        await seeked;
      }
      if (!v.videoWidth || !v.videoHeight) throw new VideoError('it has no video track (audio only?)');
      if (!(v.duration > 0) || !Number.isFinite(v.duration)) throw new VideoError('it has no playable length (zero-length or broken video)');
    } catch (err) {
      s.close();
      throw await explained(file, err);
    }
    s.file = file;
    s.width = v.videoWidth;
    s.height = v.videoHeight;
    s.duration = v.duration;
    s.canvas = new OffscreenCanvas(s.width, s.height);
    s.ctx = s.canvas.getContext('2d', { willReadFrequently: true, alpha: false });
    const tw = Math.min(thumbWidth, s.width);
    const th = Math.max(1, Math.round((tw * s.height) / s.width));
    s.thumb = new OffscreenCanvas(tw, th);
    s.thumbCtx = s.thumb.getContext('2d', { alpha: false });
    s.decodeWith = 'seeking the <video> element';
    if (decode !== 'seek') await s.openDecoder(file);
    return s;
  }

  // openDecoder sets up WebCodecs decoding if it reads the same pixels as
  // the <video> element: the two may turn an untagged stream's YUV into
  // RGB with different matrices (a VideoDecoder assumes BT.709, the
  // element BT.601 for standard definition), so the first frame is read
  // both ways and the colour handling that gives the element's pixels is
  // kept; if none does, the sampler seeks.
  async openDecoder(file) {
    let ref;
    const pixels = async (src) => {
      this.ctx.drawImage(src, 0, 0, this.width, this.height);
      return this.ctx.getImageData(0, 0, this.width, this.height, { colorSpace: 'srgb' }).data;
    };
    let worst = -1;
    for (const colorSpace of [undefined, ...COLOR_SPACES]) {
      let d;
      try {
        d = await FrameDecoder.open(file, { colorSpace });
        if (!(d instanceof FrameDecoder)) {
          this.decodeWith += ` (no WebCodecs: ${d.reason})`;
          return;
        }
        const f = await d.frameAt(0);
        if (f.displayWidth !== this.width || f.displayHeight !== this.height) {
          this.decodeWith += ` (no WebCodecs: decoded frames are ${f.displayWidth}x${f.displayHeight}, the video plays at ${this.width}x${this.height})`;
          d.close();
          return;
        }
        const got = await pixels(f);
        if (!ref) ref = await this.seekPixels(0, pixels);
        const diff = maxDiff(got, ref);
        if (diff <= 1) {
          this.decoder = d;
          this.decodeWith = `WebCodecs (${d.container}, ${d.codec}${colorSpace ? `, untagged colours read as ${colorSpace.matrix}${colorSpace.fullRange ? ' full range' : ''}` : ''})`;
          return;
        }
        worst = worst < 0 ? diff : Math.min(worst, diff);
      } catch (err) {
        this.decodeWith += ` (no WebCodecs: ${err.message})`;
        if (d instanceof FrameDecoder) d.close();
        return;
      }
      d.close();
    }
    this.decodeWith += ` (no WebCodecs: its colours differ from the <video> element's by up to ${worst} of 255)`;
  }

  async seekPixels(t, pixels) {
    await this.seek(t);
    return pixels(this.video);
  }

  // seek shows the frame at t seconds in the <video> element.
  async seek(t) {
    const v = this.video;
    const seeked = waitEvent(v, 'seeked', ['error'], SEEK_TIMEOUT, `seeking to ${t.toFixed(2)} s`);
    v.currentTime = t;
    await seeked;
    if (v.readyState < 2) await waitEvent(v, 'loadeddata', ['error'], SEEK_TIMEOUT, `decoding the frame at ${t.toFixed(2)} s`);
    // Chromium fires 'seeked' before the element's current frame is always
    // the new one: drawn at once, 2 of 720 seeks gave the frame before
    // (two draws at once agree, so it cannot be caught by reading twice);
    // drawn 5 ms or 30 ms later, none did. requestVideoFrameCallback would
    // say when, but it does not fire for an element that is not on screen.
    await new Promise((r) => setTimeout(r, SEEK_SETTLE_MS));
  }

  /**
   * plan says the times (seconds, increasing) grab will be asked for, so
   * that WebCodecs decodes only what they need, and ahead.
   */
  plan(times) {
    if (this.decoder) this.decoder.plan(times);
  }

  /**
   * grab reads the frame shown at t seconds (times increasing) and returns {rgba: Uint8ClampedArray,
   * width, height, thumb: ArrayBuffer (JPEG)}.
   */
  async grab(t) {
    const t0 = performance.now();
    if (this.decoder) {
      try {
        const f = await this.decoder.frameAt(t);
        if (f.displayWidth !== this.width || f.displayHeight !== this.height) {
          throw new Error(`decoded frames are ${f.displayWidth}x${f.displayHeight}, the video plays at ${this.width}x${this.height}`);
        }
        this.timing.frameMs += performance.now() - t0;
        return await this.read(f);
      } catch (err) {
        // Seek from here on: the file still indexes, only slower.
        this.decodeWith = `seeking the <video> element (WebCodecs stopped at ${t.toFixed(2)} s: ${err.message})`;
        this.closeDecoder();
      }
    }
    try {
      await this.seek(t);
    } catch (err) {
      throw await explained(this.file, err);
    }
    this.timing.frameMs += performance.now() - t0;
    return this.read(this.video);
  }

  // read draws a frame (the <video> element or a VideoFrame) and takes its
  // pixels and a thumbnail.
  async read(v) {
    const t0 = performance.now();
    this.ctx.drawImage(v, 0, 0, this.width, this.height);
    const img = this.ctx.getImageData(0, 0, this.width, this.height, { colorSpace: 'srgb' });
    const t1 = performance.now();
    this.thumbCtx.drawImage(v, 0, 0, this.thumb.width, this.thumb.height);
    const blob = await this.thumb.convertToBlob({ type: 'image/jpeg', quality: 0.7 });
    const thumb = await blob.arrayBuffer();
    this.timing.pixelsMs += t1 - t0;
    this.timing.thumbMs += performance.now() - t1;
    return { rgba: img.data, width: this.width, height: this.height, thumb };
  }

  closeDecoder() {
    const d = this.decoder;
    if (!d) return;
    d.close();
    this.timing.decoded += d.decoded;
    this.timing.skipped += d.skipped;
    this.timing.dropped += d.dropped;
    this.decoder = null;
  }

  close() {
    this.closeDecoder();
    if (this.video) {
      this.video.removeAttribute('src');
      this.video.load();
    }
    if (this.url) URL.revokeObjectURL(this.url);
    this.video = null;
    this.url = null;
  }
}
