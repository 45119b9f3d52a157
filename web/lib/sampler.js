// sampler.js reads frames out of a video file with an HTML <video>
// element: seek, wait for the frame, draw it to a canvas at the video's
// native size and take its RGBA bytes. Resizing for the model happens in
// Go (PIL-exact); the canvas only copies pixels. A small JPEG thumbnail is
// drawn from the same frame for display.

/** VideoError is a file the browser cannot read as a video. */
export class VideoError extends Error {
  constructor(message) {
    super(message);
    this.name = 'VideoError';
  }
}

const SEEK_TIMEOUT = 15000;

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
    const onBad = () => { cleanup(); reject(new VideoError(mediaErrorReason(target.error))); };
    target.addEventListener(ok, onOk);
    for (const b of bad) target.addEventListener(b, onBad);
    timer = setTimeout(() => { cleanup(); reject(new VideoError(`${what} took longer than ${ms / 1000} s; the file may be truncated or broken`)); }, ms);
  });
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
  /** open loads the file's metadata; it throws VideoError for a file it cannot use. */
  static async open(file, { thumbWidth = 160 } = {}) {
    if (file.size === 0) throw new VideoError('the file is empty (0 bytes)');
    const s = new Sampler();
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
      throw err;
    }
    s.width = v.videoWidth;
    s.height = v.videoHeight;
    s.duration = v.duration;
    s.canvas = new OffscreenCanvas(s.width, s.height);
    s.ctx = s.canvas.getContext('2d', { willReadFrequently: true, alpha: false });
    const tw = Math.min(thumbWidth, s.width);
    const th = Math.max(1, Math.round((tw * s.height) / s.width));
    s.thumb = new OffscreenCanvas(tw, th);
    s.thumbCtx = s.thumb.getContext('2d', { alpha: false });
    return s;
  }

  /**
   * grab seeks to t seconds and returns {rgba: Uint8ClampedArray,
   * width, height, thumb: ArrayBuffer (JPEG)}.
   */
  async grab(t) {
    const v = this.video;
    const seeked = waitEvent(v, 'seeked', ['error'], SEEK_TIMEOUT, `seeking to ${t.toFixed(2)} s`);
    v.currentTime = t;
    await seeked;
    if (v.readyState < 2) await waitEvent(v, 'loadeddata', ['error'], SEEK_TIMEOUT, `decoding the frame at ${t.toFixed(2)} s`);
    this.ctx.drawImage(v, 0, 0, this.width, this.height);
    const img = this.ctx.getImageData(0, 0, this.width, this.height, { colorSpace: 'srgb' });
    this.thumbCtx.drawImage(v, 0, 0, this.thumb.width, this.thumb.height);
    const blob = await this.thumb.convertToBlob({ type: 'image/jpeg', quality: 0.7 });
    return { rgba: img.data, width: this.width, height: this.height, thumb: await blob.arrayBuffer() };
  }

  close() {
    if (this.video) {
      this.video.removeAttribute('src');
      this.video.load();
    }
    if (this.url) URL.revokeObjectURL(this.url);
    this.video = null;
    this.url = null;
  }
}
