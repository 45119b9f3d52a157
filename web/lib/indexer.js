// indexer.js turns video files into frame features: samplers (on this
// thread, they need a <video> element) feed a bounded queue of RGBA frames,
// and each frame worker takes the next frame when it is free. Events:
// "progress" (detail: job), "done" (detail: job, features complete),
// "failed" (detail: job with .error), "idle", and "checkpoint" (detail:
// job) each time CHECKPOINT_FRAMES more frames from the start are embedded,
// for the page to keep them (job.prefix frames, 0..prefix-1): a job made
// with `resume` (those frames from an earlier visit) samples and embeds
// only the frames after them.

import { Sampler, frameTimes } from './sampler.js';

const WINDOW_MS = 8000; // frames/s is measured over the last 8 s
const CHECKPOINT_FRAMES = 8; // frames embedded between two "checkpoint" events

/** Job is one video being indexed. */
export class Job {
  /**
   * resume, when given, holds the first frames from an earlier visit:
   * {done, total, features: Float32Array (done * embedDim), thumbs}; they
   * are used when the file still samples to total frames at fps.
   */
  constructor(file, key, fps, embedDim, resume = null) {
    this.file = file;
    this.key = key;
    this.name = file.name;
    this.fps = fps;
    this.embedDim = embedDim;
    this.status = 'queued'; // queued, reading, embedding, done, failed, canceled
    this.total = 0;
    this.done = 0;
    this.resume = resume;
    this.start = 0; // the first frame sampled in this visit (resume.done when resumed)
    this.prefix = 0; // frames 0..prefix-1 are embedded
    this.embedded = null; // Uint8Array: frame i embedded
    this.checkpointed = 0; // prefix at the last "checkpoint" event
    this.times = null;
    this.features = null;
    this.thumbs = [];
    this.error = null;
    this.stamps = [];
    this.debugFrames = null;
  }

  /** rate is frames per second over the recent window. */
  rate(now = performance.now()) {
    return rateOf(this.stamps, now);
  }
}

function rateOf(stamps, now) {
  while (stamps.length && now - stamps[0] > WINDOW_MS) stamps.shift();
  if (stamps.length < 2) return 0;
  const span = (now - stamps[0]) / 1000;
  return span > 0 ? stamps.length / span : 0;
}

/** Indexer schedules jobs over a Pool's frame workers. */
export class Indexer extends EventTarget {
  constructor(pool, { concurrentVideos = 2, debug = false, decode = 'auto' } = {}) {
    super();
    this.pool = pool;
    this.jobs = [];
    this.queue = []; // frames waiting for a worker: {job, i, rgba, width, height}
    this.paused = false;
    this.concurrentVideos = concurrentVideos;
    this.debug = debug;
    this.decode = decode; // auto (WebCodecs where it can, told the times), all (WebCodecs decoding every frame) or seek
    this.waiters = [];
    this.stamps = [];
    this.totalDone = 0;
    // Where the time goes: reading frames here (waiting for the decoded
    // or seeked frame, reading its pixels, the thumbnail: the samplers add
    // those), embedding them in workers (round trip, queueing excluded).
    this.timing = { grabs: 0, grabMs: 0, frameMs: 0, pixelsMs: 0, thumbMs: 0, decoded: 0, skipped: 0, dropped: 0, embeds: 0, embedMs: 0 };
  }

  // maxQueue is the frames read ahead: two per worker, or a batch and one
  // more for a worker that takes batches (WebGPU).
  get maxQueue() {
    const ws = this.pool.frames;
    return Math.max(2, ws.reduce((n, w) => n + Math.max(2, (w.batch || 1) + 1), 0));
  }

  /** add queues a file; fps is frames sampled per second; resume as for Job. */
  add(file, key, fps, embedDim, resume = null) {
    const job = new Job(file, key, fps, embedDim, resume);
    if (this.debug) job.debugFrames = [];
    this.jobs.push(job);
    this.emit('progress', job);
    this.pump();
    return job;
  }

  /** active lists jobs not finished. */
  active() {
    return this.jobs.filter((j) => j.status === 'queued' || j.status === 'reading' || j.status === 'embedding');
  }

  get busy() {
    return this.active().length > 0;
  }

  /** stats sums progress over the unfinished jobs and those that just finished. */
  stats() {
    const now = performance.now();
    let done = 0;
    let total = 0;
    for (const j of this.jobs) {
      if (j.status === 'canceled' || j.status === 'failed') continue;
      done += j.done;
      total += j.total;
    }
    const rate = rateOf(this.stamps, now);
    const left = total - done;
    const tm = this.timing;
    const per = (ms, n) => (n ? ms / n : null);
    return {
      done, total, rate, eta: rate > 0 ? left / rate : Infinity, videos: this.active().length, paused: this.paused,
      msPerGrab: per(tm.grabMs, tm.grabs), msPerEmbed: per(tm.embedMs, tm.embeds),
      msPerFrame: per(tm.frameMs, tm.grabs), msPerPixels: per(tm.pixelsMs, tm.grabs), msPerThumb: per(tm.thumbMs, tm.grabs),
      decoded: tm.decoded, skipped: tm.skipped, dropped: tm.dropped,
    };
  }

  pause() {
    this.paused = true;
    this.emit('progress', null);
  }

  resume() {
    this.paused = false;
    this.stamps.length = 0;
    for (const j of this.jobs) j.stamps.length = 0;
    this.wake();
    this.dispatch();
    this.emit('progress', null);
  }

  /** cancel stops one job, or every unfinished job without a key. */
  cancel(key) {
    for (const j of this.active()) {
      if (key === undefined || j.key === key) {
        j.status = 'canceled';
        this.queue = this.queue.filter((f) => f.job !== j);
        this.emit('progress', j);
      }
    }
    this.wake();
    this.pump();
    this.checkIdle();
  }

  /** forget drops finished jobs from the list (their progress no longer counts). */
  forget() {
    this.jobs = this.active();
  }

  emit(type, job) {
    this.dispatchEvent(new CustomEvent(type, { detail: job }));
  }

  wake() {
    const w = this.waiters;
    this.waiters = [];
    for (const r of w) r();
  }

  sleep() {
    return new Promise((r) => this.waiters.push(r));
  }

  // pump starts samplers for queued jobs, a few videos at a time.
  pump() {
    const reading = this.jobs.filter((j) => j.status === 'reading').length;
    let room = this.concurrentVideos - reading;
    for (const j of this.jobs) {
      if (room <= 0) break;
      if (j.status === 'queued') {
        room--;
        j.status = 'reading';
        this.sample(j);
      }
    }
  }

  async sample(job) {
    let s;
    try {
      s = await Sampler.open(job.file, { decode: this.decode, timing: this.timing });
      job.decodeWith = s.decodeWith;
      job.width = s.width;
      job.height = s.height;
      job.duration = s.duration;
      job.times = frameTimes(s.duration, job.fps);
      job.total = job.times.length;
      job.features = new Float32Array(job.total * job.embedDim);
      job.thumbs = new Array(job.total);
      job.embedded = new Uint8Array(job.total);
      const r = job.resume;
      if (r && r.total === job.total && r.done > 0 && r.done < job.total && r.features.length === r.done * job.embedDim) {
        job.features.set(r.features);
        for (let i = 0; i < r.done; i++) job.thumbs[i] = r.thumbs[i];
        job.embedded.fill(1, 0, r.done);
        job.start = job.done = job.prefix = job.checkpointed = r.done;
      }
      job.resume = null;
      if (this.decode !== 'all') s.plan(job.times.subarray(job.start));
      this.emit('progress', job);
      for (let i = job.start; i < job.total; i++) {
        while ((this.paused || this.queue.length >= this.maxQueue) && job.status === 'reading') await this.sleep();
        if (job.status !== 'reading') break;
        const t0 = performance.now();
        const f = await s.grab(job.times[i]);
        this.timing.grabs++;
        this.timing.grabMs += performance.now() - t0;
        if (job.status !== 'reading') break;
        job.decodeWith = s.decodeWith;
        job.thumbs[i] = f.thumb;
        if (job.debugFrames) job.debugFrames[i] = { t: job.times[i], width: f.width, height: f.height, rgba: new Uint8Array(f.rgba) };
        this.queue.push({ job, i, rgba: f.rgba, width: f.width, height: f.height });
        this.dispatch();
      }
      if (job.status === 'reading') job.status = 'embedding';
    } catch (err) {
      this.fail(job, err);
    } finally {
      if (s) s.close();
      this.pump();
      this.checkIdle();
    }
  }

  fail(job, err) {
    if (job.status === 'canceled' || job.status === 'failed') return;
    job.status = 'failed';
    job.error = err;
    this.queue = this.queue.filter((f) => f.job !== job);
    this.emit('failed', job);
    this.wake();
  }

  // dispatch gives queued frames to free workers: one each, or up to a
  // batch to a worker that takes batches (w.batch, WebGPU). A batch waits
  // for no more frames than the queue holds.
  dispatch() {
    if (this.paused) return;
    for (const w of this.pool.frames) {
      if (!this.queue.length) return;
      if (w.busy > 0 || w.dead) continue;
      const tasks = this.queue.splice(0, Math.max(1, w.batch || 1));
      this.wake(); // a sampler may be waiting for room
      this.run(w, tasks);
    }
  }

  async run(w, tasks) {
    try {
      const t0 = performance.now();
      let features;
      if (tasks.length === 1) {
        const { rgba, width, height } = tasks[0];
        features = await w.call('embedFrame', { rgba: rgba.buffer, width, height }, [rgba.buffer]);
      } else {
        const frames = tasks.map(({ rgba, width, height }) => ({ rgba: rgba.buffer, width, height }));
        features = await w.call('embedFrames', { frames }, frames.map((f) => f.rgba));
      }
      this.timing.embeds += tasks.length;
      this.timing.embedMs += performance.now() - t0;
      tasks.forEach((task, k) => this.finish(task, features.subarray(k * task.job.embedDim, (k + 1) * task.job.embedDim)));
    } catch (err) {
      for (const { job } of tasks) this.fail(job, err);
    } finally {
      this.dispatch();
      this.checkIdle();
    }
  }

  // finish records one frame's feature in its job.
  finish({ job, i }, feature) {
    if (job.status === 'canceled' || job.status === 'failed') return;
    job.features.set(feature, i * job.embedDim);
    job.embedded[i] = 1;
    while (job.prefix < job.total && job.embedded[job.prefix]) job.prefix++;
    job.done++;
    const now = performance.now();
    job.stamps.push(now);
    this.stamps.push(now);
    this.totalDone++;
    if (job.done === job.total) {
      job.status = 'done';
      this.emit('done', job);
    } else {
      this.emit('progress', job);
      if (job.prefix - job.checkpointed >= CHECKPOINT_FRAMES) {
        job.checkpointed = job.prefix;
        this.emit('checkpoint', job);
      }
    }
  }

  checkIdle() {
    if (!this.busy) this.emit('idle', null);
  }
}
