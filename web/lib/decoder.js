// decoder.js decodes a video file once from start to end with WebCodecs
// (demux.js reads the frames out of the file) and answers, for increasing
// times, the frame a <video> element seeked to that time would show: the
// last frame whose presentation time is at or before it. Seeking the
// element instead decodes again from the previous keyframe for every
// sampled frame, which for a 1080p H.264 file with a keyframe every 10 s
// is about a hundred decoded frames per sampled one.
//
// Given the times it will be asked for (plan), it decodes less and ahead:
// an H.264 frame no other frame refers to is not decoded unless it is
// shown at one of those times (a third of the frames of x264's default
// stream), a decoded frame shown at none of them is let go at once, and
// between calls the decoder goes on filling up to AHEAD wanted frames.

import { openDemuxer } from './demux.js';

const AHEAD = 8; // decoded frames held at most (with a plan: wanted frames)
const QUEUE = 6; // encoded frames waiting in the decoder at most
const STALL_MS = 15000; // no output for this long: give up (the sampler seeks)

/** FrameDecoder decodes one file's video track in order. */
export class FrameDecoder {
  /**
   * open returns a FrameDecoder for file, or {reason} when this browser or
   * this module cannot decode it (the caller seeks instead). colorSpace
   * (a VideoColorSpaceInit) says how to read the colours of frames whose
   * stream does not say.
   */
  static async open(file, { colorSpace } = {}) {
    if (typeof VideoDecoder === 'undefined' || typeof EncodedVideoChunk === 'undefined') return { reason: 'this browser has no WebCodecs VideoDecoder' };
    const d = await openDemuxer(file);
    if (!d.config) return { reason: `${d.reason}` };
    if (colorSpace) d.config.colorSpace = colorSpace;
    let support;
    try {
      support = await VideoDecoder.isConfigSupported(d.config);
    } catch (err) {
      return { reason: `decoder configuration ${d.config.codec}: ${err.message}` };
    }
    if (!support.supported) return { reason: `this browser's VideoDecoder does not decode ${d.config.codec}` };
    return new FrameDecoder(d);
  }

  constructor(d) {
    this.container = d.container;
    this.codec = d.config.codec;
    this.colorSpace = d.config.colorSpace || null;
    this.ready = []; // decoded frames, in presentation order
    this.cur = null; // the frame shown at the last time asked
    this.last = -Infinity; // the last time asked, µs
    this.error = null;
    this.events = 0;
    this.wake = null;
    this.fed = false; // every encoded frame sent, flush asked
    this.flushed = false;
    this.started = false; // the first keyframe sent
    this.decoded = 0;
    this.skipped = 0; // frames not decoded: disposable and not wanted
    this.dropped = 0; // frames decoded and let go at once: not wanted
    this.targets = null; // with a plan: the µs times asked for, increasing
    this.untilOf = new Map(); // timestamp -> until, of frames sent
    this.curUntil = -Infinity;
    this.filling = null;
    this.decoder = new VideoDecoder({
      output: (f) => {
        this.decoded++;
        if (this.closed) f.close();
        else if (this.targets && !this.wanted(f.timestamp, this.untilOf.get(f.timestamp))) {
          this.untilOf.delete(f.timestamp);
          this.dropped++;
          f.close();
        } else this.ready.push(f);
        this.poke();
      },
      error: (e) => {
        this.error = this.error || e;
        this.poke();
      },
    });
    this.decoder.configure(d.config);
    this.decoder.addEventListener('dequeue', () => {
      this.poke();
      if (this.targets) this.fill();
    });
    this.frames = d.frames()[Symbol.asyncIterator]();
  }

  /**
   * plan says the times (seconds, increasing) frameAt will be asked for
   * from now on; asked for another, it throws.
   */
  plan(times) {
    this.targets = Float64Array.from(times, (t) => Math.round(t * 1e6) + 1).filter((t) => t >= this.last);
    this.fill();
  }

  // wanted reports whether a frame shown from ts up to until (µs; unknown:
  // to the end) is shown at a planned time, or whether there is no plan.
  wanted(ts, until = Infinity) {
    const a = this.targets;
    if (!a) return true;
    let lo = 0;
    let hi = a.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (a[mid] < ts) lo = mid + 1;
      else hi = mid;
    }
    return lo < a.length && a[lo] < until;
  }

  poke() {
    this.events++;
    const w = this.wake;
    this.wake = null;
    if (w) w();
  }

  /**
   * frameAt returns the frame shown at t seconds (owned by the decoder:
   * valid until the next call or close). Times must not decrease.
   */
  async frameAt(t) {
    const target = Math.round(t * 1e6) + 1; // µs; the demuxer rounds times to whole µs
    if (target < this.last) throw new Error('times must increase');
    if (this.targets && !this.wanted(target, target + 1)) throw new Error(`${t} s is not a time planned`);
    this.last = target;
    for (;;) {
      if (this.error) throw this.error;
      while (this.ready.length && (!this.cur || this.ready[0].timestamp <= target)) {
        if (this.cur) this.cur.close();
        this.cur = this.ready.shift();
        this.curUntil = this.untilOf.get(this.cur.timestamp) ?? Infinity;
        this.untilOf.delete(this.cur.timestamp);
      }
      // A later frame is waiting, there are no more, or the demuxer said
      // that the next one starts after t: cur is shown at t.
      if (this.cur && (this.ready.length || this.flushed || (this.targets && this.curUntil < Infinity && target < this.curUntil))) {
        if (this.targets) this.fill();
        return this.cur;
      }
      if (this.flushed) throw new Error('the video track decoded to no frames');
      await this.feed();
    }
  }

  // fill keeps the decoder's queue a few frames deep, one filler at a time
  // (frames must reach the decoder in order).
  fill() {
    if (!this.filling) {
      this.filling = this.fillOnce().catch((e) => {
        this.error = this.error || e;
        this.poke();
      }).finally(() => { this.filling = null; });
    }
    return this.filling;
  }

  async fillOnce() {
    while (!this.fed && !this.closed && !this.error && this.decoder.decodeQueueSize < QUEUE && this.ready.length < AHEAD) {
      const { value, done } = await this.frames.next();
      if (this.closed) return;
      if (done) {
        this.fed = true;
        this.decoder.flush().then(
          () => { this.flushed = true; this.poke(); },
          (e) => { this.error = this.error || e; this.poke(); },
        );
        break;
      }
      if (!this.started && value.type !== 'key') continue; // decoding starts at a keyframe
      if (value.disposable && this.targets && !this.wanted(value.timestamp, value.until)) {
        this.skipped++;
        continue;
      }
      this.started = true;
      if (value.until !== undefined) this.untilOf.set(value.timestamp, value.until);
      this.decoder.decode(new EncodedVideoChunk(value));
    }
  }

  // feed fills the decoder's queue, then waits for it to output, take a
  // frame, finish flushing or fail.
  async feed() {
    const seen = this.events;
    await this.fill();
    if (this.closed) return;
    if (this.events !== seen || this.flushed || this.error) return;
    await new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.wake = null;
        reject(new Error(`the decoder gave no frame for ${STALL_MS / 1000} s`));
      }, STALL_MS);
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  close() {
    this.closed = true;
    if (this.cur) this.cur.close();
    for (const f of this.ready) f.close();
    this.cur = null;
    this.ready = [];
    if (this.decoder.state !== 'closed') this.decoder.close();
    if (this.frames.return) this.frames.return().catch(() => {});
  }
}
