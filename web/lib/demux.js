// demux.js reads the video track of an MP4 (ISO BMFF, also .mov and .m4v)
// or WebM (Matroska) file into the encoded frames a WebCodecs
// VideoDecoder takes, so that indexing can decode a video once from start
// to end instead of seeking the <video> element once per sampled frame
// (each seek decodes again from the previous keyframe).
//
// It reads what the indexer needs and nothing more: one video track, its
// decoder configuration, and each frame's bytes, presentation time and
// keyframe flag in decode order. Anything it does not understand
// (fragmented MP4, rotated tracks, several edits, laced blocks, codecs
// without a WebCodecs name here) makes openDemuxer return null, and the
// sampler seeks as before: a file is never refused because of this module.

/**
 * Unsupported is a file this module cannot read; the caller seeks instead.
 * codec names the track's codec when that is the reason (an MP4 sample
 * entry's four-character code or a Matroska CodecID).
 */
class Unsupported extends Error {
  constructor(message, codec = '') {
    super(message);
    this.codec = codec;
  }
}

const WINDOW = 1 << 20; // bytes read from the file at a time

/** Reader reads a Blob's bytes at offsets, a window at a time. */
class Reader {
  constructor(blob) {
    this.blob = blob;
    this.size = blob.size;
    this.start = 0;
    this.buf = new Uint8Array(0);
    this.container = ''; // 'mp4' or 'webm' once its signature is read
    this.end = 0; // bytes the file's structure says it holds, when more than size (a cut file)
  }

  /** goesTo notes that the file's structure says it holds end bytes. */
  goesTo(end) {
    if (end > this.size && end > this.end) this.end = end;
  }

  /** bytes returns len bytes at off (a view, valid until the next call). */
  async bytes(off, len) {
    if (off < 0 || off + len > this.size) throw new Unsupported(`read past the end (${off}+${len} of ${this.size})`);
    if (off < this.start || off + len > this.start + this.buf.length) {
      const end = Math.min(this.size, off + Math.max(len, WINDOW));
      this.buf = new Uint8Array(await this.blob.slice(off, end).arrayBuffer());
      this.start = off;
    }
    return this.buf.subarray(off - this.start, off - this.start + len);
  }
}

const hex2 = (n) => n.toString(16).padStart(2, '0');
const dec2 = (n) => String(n).padStart(2, '0');

/**
 * av1Codec is the WebCodecs codec string of an AV1 stream from its
 * AV1CodecConfigurationRecord (av1C).
 */
function av1Codec(c) {
  if (c.length < 4) throw new Unsupported('short av1C');
  const profile = c[1] >> 5;
  const level = c[1] & 31;
  const tier = c[2] >> 7 ? 'H' : 'M';
  const high = (c[2] >> 6) & 1;
  const twelve = (c[2] >> 5) & 1;
  const depth = high ? (twelve ? 12 : 10) : 8;
  return `av01.${profile}.${dec2(level)}${tier}.${dec2(depth)}`;
}

// ---- MP4 ----

function u32(b, i) { return ((b[i] << 24) | (b[i + 1] << 16) | (b[i + 2] << 8) | b[i + 3]) >>> 0; }
function u64(b, i) { return u32(b, i) * 2 ** 32 + u32(b, i + 4); }
function i32(b, i) { return u32(b, i) | 0; }
function fourcc(b, i) { return String.fromCharCode(b[i], b[i + 1], b[i + 2], b[i + 3]); }

/** boxes lists the child boxes of b[from:to] as {type, start, end} (payload offsets). */
function boxes(b, from = 0, to = b.length) {
  const out = [];
  for (let i = from; i + 8 <= to;) {
    let size = u32(b, i);
    const type = fourcc(b, i + 4);
    let head = 8;
    if (size === 1) {
      if (i + 16 > to) break;
      size = u64(b, i + 8);
      head = 16;
    } else if (size === 0) {
      size = to - i;
    }
    if (size < head || i + size > to) throw new Unsupported(`box ${type} runs past its parent`);
    out.push({ type, start: i + head, end: i + size });
    i += size;
  }
  return out;
}

function child(b, box, type) {
  return boxes(b, box.start, box.end).find((x) => x.type === type);
}

function path(b, box, ...types) {
  for (const t of types) {
    box = box && child(b, box, t);
  }
  return box;
}

/** findMoov walks the file's top-level boxes for moov; fragmented files are refused. */
async function findMoov(r) {
  let moov = null;
  for (let off = 0; off + 8 <= r.size;) {
    const h = await r.bytes(off, Math.min(16, r.size - off));
    let size = u32(h, 0);
    const type = fourcc(h, 4);
    if (off === 0 && type !== 'ftyp') throw new Unsupported('not an MP4 file');
    if (size === 1) size = u64(h, 8);
    else if (size === 0) size = r.size - off;
    if (size < 8) throw new Unsupported('bad box size');
    r.goesTo(off + size);
    if (type === 'moof') throw new Unsupported('fragmented MP4');
    if (type === 'moov') {
      if (size > 256 << 20) throw new Unsupported('moov over 256 MB');
      moov = new Uint8Array(await r.blob.slice(off, off + size).arrayBuffer());
    }
    off += size;
  }
  if (!moov) throw new Unsupported('no moov box');
  return moov;
}

function fullBox(b, box) {
  return { version: b[box.start], at: box.start + 4 };
}

/** mp4Track reads the first video track's sample table. */
function mp4Track(m) {
  const moov = boxes(m)[0];
  const mvhd = child(m, moov, 'mvhd');
  const movieScale = mvhd ? (fullBox(m, mvhd).version === 1 ? u32(m, mvhd.start + 4 + 16) : u32(m, mvhd.start + 4 + 8)) : 0;
  for (const trak of boxes(m, moov.start, moov.end).filter((x) => x.type === 'trak')) {
    const hdlr = path(m, trak, 'mdia', 'hdlr');
    if (!hdlr || fourcc(m, hdlr.start + 8) !== 'vide') continue;
    const tkhd = child(m, trak, 'tkhd');
    if (tkhd) {
      const { version, at } = fullBox(m, tkhd);
      const mat = at + (version === 1 ? 32 : 20) + 16; // after times, track ID, duration; reserved, layer, group, volume
      const a = i32(m, mat), bb = i32(m, mat + 4), c = i32(m, mat + 12), d = i32(m, mat + 16);
      if (a !== 0x10000 || bb !== 0 || c !== 0 || d !== 0x10000) throw new Unsupported('rotated or flipped track');
    }
    const mdhd = path(m, trak, 'mdia', 'mdhd');
    const { version, at } = fullBox(m, mdhd);
    const scale = u32(m, at + (version === 1 ? 16 : 8));
    const stbl = path(m, trak, 'mdia', 'minf', 'stbl');
    if (!stbl || !scale) throw new Unsupported('no sample table');
    const get = (t) => child(m, stbl, t);

    // Decoder configuration.
    const stsd = get('stsd');
    const entry = boxes(m, stsd.start + 8, stsd.end)[0];
    if (!entry) throw new Unsupported('no sample description');
    const width = (m[entry.start + 24] << 8) | m[entry.start + 25];
    const height = (m[entry.start + 26] << 8) | m[entry.start + 27];
    const inner = boxes(m, entry.start + 78, entry.end);
    const conf = (t) => {
      const x = inner.find((y) => y.type === t);
      if (!x) throw new Unsupported(`${entry.type} without ${t}`);
      return m.slice(x.start, x.end);
    };
    let codec;
    let description;
    switch (entry.type) {
      case 'avc1':
      case 'avc3':
        description = conf('avcC');
        codec = `${entry.type}.${hex2(description[1])}${hex2(description[2])}${hex2(description[3])}`;
        break;
      case 'vp09': {
        const c = conf('vpcC'); // FullBox: version and flags, then profile, level, bit depth
        codec = `vp09.${dec2(c[4])}.${dec2(c[5])}.${dec2(c[6] >> 4)}`;
        break;
      }
      case 'av01':
        description = conf('av1C');
        codec = av1Codec(description);
        break;
      default:
        throw new Unsupported(`codec ${entry.type}`, entry.type);
    }

    // Sample times, sizes, places and keyframes.
    const stts = get('stts');
    const n = (box) => u32(m, box.start + 4);
    const sizes = [];
    const stsz = get('stsz');
    if (!stsz) throw new Unsupported('no stsz');
    const fixed = u32(m, stsz.start + 4);
    const count = u32(m, stsz.start + 8);
    for (let i = 0; i < count; i++) sizes.push(fixed || u32(m, stsz.start + 12 + 4 * i));
    const dts = new Float64Array(count);
    for (let e = 0, k = 0, t = 0; e < n(stts); e++) {
      const c = u32(m, stts.start + 8 + 8 * e);
      const d = u32(m, stts.start + 12 + 8 * e);
      for (let j = 0; j < c && k < count; j++, k++, t += d) dts[k] = t;
    }
    const cts = new Float64Array(dts);
    const ctts = get('ctts');
    if (ctts) {
      const v1 = fullBox(m, ctts).version === 1;
      for (let e = 0, k = 0; e < n(ctts); e++) {
        const c = u32(m, ctts.start + 8 + 8 * e);
        const o = v1 ? i32(m, ctts.start + 12 + 8 * e) : u32(m, ctts.start + 12 + 8 * e);
        for (let j = 0; j < c && k < count; j++, k++) cts[k] += o;
      }
    }
    const stss = get('stss');
    let key = null;
    if (stss) {
      key = new Uint8Array(count);
      for (let e = 0; e < n(stss); e++) key[u32(m, stss.start + 8 + 4 * e) - 1] = 1;
    }
    const stco = get('stco');
    const co64 = get('co64');
    const chunks = [];
    if (stco) for (let e = 0; e < n(stco); e++) chunks.push(u32(m, stco.start + 8 + 4 * e));
    else if (co64) for (let e = 0; e < n(co64); e++) chunks.push(u64(m, co64.start + 8 + 8 * e));
    else throw new Unsupported('no chunk offsets');
    const stsc = get('stsc');
    const offsets = new Float64Array(count);
    for (let e = 0, k = 0; e < n(stsc); e++) {
      const first = u32(m, stsc.start + 8 + 12 * e) - 1;
      const per = u32(m, stsc.start + 12 + 12 * e);
      const last = e + 1 < n(stsc) ? u32(m, stsc.start + 8 + 12 * (e + 1)) - 1 : chunks.length;
      for (let ch = first; ch < last && k < count; ch++) {
        let off = chunks[ch];
        for (let j = 0; j < per && k < count; j++, k++) {
          offsets[k] = off;
          off += sizes[k];
        }
      }
    }

    // The edit list shifts presentation times as the browser's demuxer does:
    // an empty edit delays, one media edit starts the track at its time.
    let shift = 0;
    const elst = path(m, trak, 'edts', 'elst');
    if (elst) {
      const { version: v, at: a } = fullBox(m, elst);
      const entries = u32(m, a);
      let media = 0;
      for (let e = 0, p = a + 4; e < entries; e++, p += v === 1 ? 20 : 12) {
        const dur = v === 1 ? u64(m, p) : u32(m, p);
        const mt = v === 1 ? u64(m, p + 8) : i32(m, p + 4);
        const isEmpty = v === 1 ? u32(m, p + 8) === 0xffffffff : mt === -1;
        if (isEmpty) {
          if (media) throw new Unsupported('an empty edit after a media edit');
          shift += movieScale ? (dur / movieScale) * scale : 0;
        } else if (media++) {
          throw new Unsupported('several edits');
        } else {
          shift -= mt;
        }
      }
    }
    const samples = new Array(count);
    for (let k = 0; k < count; k++) {
      samples[k] = { offset: offsets[k], size: sizes[k], key: key ? key[k] === 1 : true, timestamp: Math.round(((cts[k] + shift) * 1e6) / scale) };
    }
    return { codec, description, width, height, samples };
  }
  throw new Unsupported('no video track');
}

/**
 * avcDisposable reports whether an H.264 access unit (NAL units, each
 * after a lenSize-byte length, as MP4 stores them) is a picture no other
 * picture refers to: every slice has nal_ref_idc 0 (ITU-T H.264 7.4.1),
 * so a decoder may skip it and decode the rest to the same pixels.
 */
function avcDisposable(b, lenSize) {
  let slices = 0;
  for (let i = 0; i + lenSize < b.length;) {
    let len = 0;
    for (let k = 0; k < lenSize; k++) len = len * 256 + b[i + k];
    const h = b[i + lenSize];
    const type = h & 31;
    if (type === 1 || type === 5) {
      if (h & 0x60) return false;
      slices++;
    }
    i += lenSize + len;
  }
  return slices > 0;
}

async function openMP4(r) {
  const track = mp4Track(await findMoov(r));
  for (const s of track.samples) r.goesTo(s.offset + s.size);
  // until: the next presentation time, up to which a frame is shown.
  const order = track.samples.map((s) => s.timestamp).sort((a, b) => a - b);
  const next = new Map();
  for (let k = 0; k < order.length; k++) next.set(order[k], k + 1 < order.length ? order[k + 1] : Infinity);
  const avc = track.codec.startsWith('avc') && track.description && track.description.length > 4;
  const lenSize = avc ? (track.description[4] & 3) + 1 : 0;
  return {
    container: 'mp4',
    config: { codec: track.codec, codedWidth: track.width, codedHeight: track.height, ...(track.description ? { description: track.description } : {}) },
    async *frames() {
      for (const s of track.samples) {
        const data = (await r.bytes(s.offset, s.size)).slice();
        yield { type: s.key ? 'key' : 'delta', timestamp: s.timestamp, data, until: next.get(s.timestamp), disposable: avc && !s.key && avcDisposable(data, lenSize) };
      }
    },
  };
}

// ---- WebM ----

const ID = {
  EBML: 0x1a45dfa3, Segment: 0x18538067, Info: 0x1549a966, TimecodeScale: 0x2ad7b1,
  Tracks: 0x1654ae6b, TrackEntry: 0xae, TrackNumber: 0xd7, TrackType: 0x83, CodecID: 0x86, CodecPrivate: 0x63a2,
  Video: 0xe0, PixelWidth: 0xb0, PixelHeight: 0xba, ContentEncodings: 0x6d80,
  Cluster: 0x1f43b675, Timecode: 0xe7, SimpleBlock: 0xa3, BlockGroup: 0xa0, Block: 0xa1, ReferenceBlock: 0xfb,
};
// Elements that may end a Cluster of unknown size (MediaRecorder writes those).
const LEVEL1 = new Set([ID.Cluster, 0x1c53bb6b, ID.Info, ID.Tracks, 0x1254c367, 0x1941a469, 0x114d9b74, 0x1043a770]);

/** vint reads an EBML variable-length integer at b[i]: {value, len}, value -1 for "unknown". */
function vint(b, i, keepMarker) {
  const first = b[i];
  if (first === undefined) throw new Unsupported('truncated element header');
  let len = 1;
  while (len <= 8 && !(first & (0x80 >> (len - 1)))) len++;
  if (len > 8) throw new Unsupported('bad EBML number');
  let value = keepMarker ? first : first & (0xff >> len);
  let allOnes = value === (0xff >> len);
  for (let k = 1; k < len; k++) {
    value = value * 256 + b[i + k];
    if (b[i + k] !== 0xff) allOnes = false;
  }
  return { value: !keepMarker && allOnes ? -1 : value, len };
}

function uint(b) {
  let v = 0;
  for (const x of b) v = v * 256 + x;
  return v;
}

/** header reads an element's ID and size at off: {id, size (-1 unknown), data (offset)}. */
async function header(r, off) {
  const h = await r.bytes(off, Math.min(12, r.size - off));
  const id = vint(h, 0, true);
  const size = vint(h, id.len, false);
  return { id: id.value, size: size.value, data: off + id.len + size.len };
}

async function openWebM(r) {
  const first = await header(r, 0);
  if (first.id !== ID.EBML) throw new Unsupported('not a WebM file');
  let seg = await header(r, first.data + first.size);
  if (seg.id !== ID.Segment) throw new Unsupported('no Segment');
  if (seg.size >= 0) r.goesTo(seg.data + seg.size);
  const segEnd = seg.size < 0 ? r.size : Math.min(r.size, seg.data + seg.size);
  let scale = 1e6; // ns per timecode unit
  let track = null;
  let off = seg.data;
  // Header elements, up to the first Cluster.
  while (off < segEnd) {
    const e = await header(r, off);
    if (e.id === ID.Cluster) break;
    if (e.size < 0) throw new Unsupported('a header element of unknown size');
    if (e.id === ID.Info || e.id === ID.Tracks) {
      const b = (await r.bytes(e.data, e.size)).slice();
      const kids = (b0, from, to) => {
        const out = [];
        for (let i = from; i < to;) {
          const id = vint(b0, i, true);
          const sz = vint(b0, i + id.len, false);
          const d = i + id.len + sz.len;
          if (sz.value < 0 || d + sz.value > to) throw new Unsupported('bad element');
          out.push({ id: id.value, start: d, end: d + sz.value });
          i = d + sz.value;
        }
        return out;
      };
      if (e.id === ID.Info) {
        const ts = kids(b, 0, b.length).find((k) => k.id === ID.TimecodeScale);
        if (ts) scale = uint(b.subarray(ts.start, ts.end));
      } else {
        for (const te of kids(b, 0, b.length).filter((k) => k.id === ID.TrackEntry)) {
          const f = kids(b, te.start, te.end);
          const val = (id) => f.find((k) => k.id === id);
          const type = val(ID.TrackType);
          if (!type || uint(b.subarray(type.start, type.end)) !== 1 || track) continue;
          if (val(ID.ContentEncodings)) throw new Unsupported('encoded (compressed or encrypted) track');
          const cid = val(ID.CodecID);
          const codecID = cid ? new TextDecoder().decode(b.subarray(cid.start, cid.end)).replace(/\0+$/, '') : '';
          const priv = val(ID.CodecPrivate);
          const video = val(ID.Video);
          let width = 0;
          let height = 0;
          if (video) {
            for (const k of kids(b, video.start, video.end)) {
              if (k.id === ID.PixelWidth) width = uint(b.subarray(k.start, k.end));
              if (k.id === ID.PixelHeight) height = uint(b.subarray(k.start, k.end));
            }
          }
          let codec;
          let description;
          if (codecID === 'V_VP8') codec = 'vp8';
          else if (codecID === 'V_VP9') codec = 'vp09.00.10.08'; // profile 0, 8-bit; the decoder reads the rest from the stream
          else if (codecID === 'V_AV1' && priv) {
            description = b.slice(priv.start, priv.end);
            codec = av1Codec(description);
          } else throw new Unsupported(`codec ${codecID}`, codecID);
          const num = val(ID.TrackNumber);
          track = { number: uint(b.subarray(num.start, num.end)), codec, description, width, height };
        }
      }
    }
    off = e.data + e.size;
  }
  if (!track) throw new Unsupported('no video track');
  const usPer = scale / 1000;
  return {
    container: 'webm',
    config: { codec: track.codec, codedWidth: track.width, codedHeight: track.height, ...(track.description ? { description: track.description } : {}) },
    async *frames() {
      let cluster = 0;
      let clusterEnd = segEnd;
      let p = off;
      const block = async (e, key) => {
        const b = (await r.bytes(e.data, e.size)).slice();
        const num = vint(b, 0, false);
        if (num.value !== track.number) return null;
        const rel = ((b[num.len] << 8) | b[num.len + 1]) << 16 >> 16;
        const flags = b[num.len + 2];
        if (flags & 0x06) throw new Unsupported('laced blocks');
        if (key === undefined) key = !!(flags & 0x80);
        return { type: key ? 'key' : 'delta', timestamp: Math.round((cluster + rel) * usPer), data: b.subarray(num.len + 3) };
      };
      while (p < segEnd) {
        const e = await header(r, p);
        if (e.id === ID.Cluster) {
          clusterEnd = e.size < 0 ? segEnd : e.data + e.size;
          p = e.data;
          continue;
        }
        if (p >= clusterEnd || (LEVEL1.has(e.id) && e.id !== ID.Cluster)) {
          if (e.size < 0) throw new Unsupported('an element of unknown size');
          p = e.data + e.size; // Cues, Tags and the like
          continue;
        }
        if (e.size < 0) throw new Unsupported('an element of unknown size');
        if (e.data + e.size > r.size) break; // a truncated last block
        if (e.id === ID.Timecode) {
          cluster = uint(await r.bytes(e.data, e.size));
        } else if (e.id === ID.SimpleBlock) {
          const f = await block(e);
          if (f) yield f;
        } else if (e.id === ID.BlockGroup) {
          const g = (await r.bytes(e.data, e.size)).slice();
          let blk = null;
          let ref = false;
          for (let i = 0; i < g.length;) {
            const id = vint(g, i, true);
            const sz = vint(g, i + id.len, false);
            const d = i + id.len + sz.len;
            if (id.value === ID.Block) blk = { data: e.data + d, size: sz.value };
            if (id.value === ID.ReferenceBlock) ref = true;
            i = d + sz.value;
          }
          if (blk) {
            const f = await block(blk, !ref);
            if (f) yield f;
          }
        }
        p = e.data + e.size;
      }
    },
  };
}

/**
 * openDemuxer returns {container, config, frames()} for the video track
 * of an MP4 or WebM file, frames() yielding {type, timestamp (µs), data}
 * in decode order (from an MP4 also until, the µs up to which the frame is
 * shown, and disposable, whether no other frame refers to it); or, for anything else, {reason} and what was learnt on
 * the way: container ('mp4' or 'webm' when its signature was read) and
 * codec (when the track's codec is the reason). Either way, end is the
 * bytes the file's structure says it holds when that is more than its
 * size (a file cut short), else 0.
 */
export async function openDemuxer(file) {
  const r = new Reader(file);
  if (r.size < 16) return { reason: 'too short', container: '', codec: '', end: 0 };
  const head = await r.bytes(0, 12);
  if (fourcc(head, 4) === 'ftyp') r.container = 'mp4';
  else if (u32(head, 0) === ID.EBML) r.container = 'webm';
  try {
    if (r.container === 'mp4') return { ...(await openMP4(r)), end: r.end };
    if (r.container === 'webm') return { ...(await openWebM(r)), end: r.end };
    return { reason: 'neither MP4 nor WebM', container: '', codec: '', end: 0 };
  } catch (err) {
    if (err instanceof Unsupported) return { reason: err.message, container: r.container, codec: err.codec, end: r.end };
    throw err;
  }
}
