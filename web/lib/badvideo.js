// badvideo.js says why a file the browser could not play is no use, in
// words that tell what to do: empty, cut short, not a video at all, or a
// codec this browser cannot decode. It reads the browser's MediaError
// (its code and Chromium's PipelineStatus text) and what the demuxer
// (demux.js) learns of the file's container and codec.

import { openDemuxer } from './demux.js';
import * as fmt from './format.js';

// CODECS names the codecs a browser may not decode, by MP4 sample entry or
// Matroska CodecID, with a WebCodecs codec string to ask the decoder about.
const CODECS = [
  [/^(hvc1|hev1|V_MPEGH\/ISO\/HEVC)$/, 'HEVC (H.265)', 'hvc1.1.6.L93.B0'],
  [/^(mp4v|V_MPEG4\/ISO\/.*|V_MS\/VFW\/FOURCC)$/, 'MPEG-4 Part 2 (DivX, Xvid)', ''],
  [/^(ap4h|ap4x|apch|apcn|apcs|apco|V_PRORES)$/, 'Apple ProRes', ''],
  [/^(mjpa|mjpb|jpeg|V_MJPEG)$/, 'Motion JPEG', ''],
  [/^(V_MPEG2|mp2v|xdvd|V_MPEG1)$/, 'MPEG-2', ''],
  [/^(V_THEORA)$/, 'Theora', ''],
  [/^(dvh1|dvhe)$/, 'Dolby Vision', ''],
];

/** codecName is a codec's name in words, or the code itself. */
function codecName(code) {
  for (const [re, name, webcodecs] of CODECS) if (re.test(code)) return { name, webcodecs };
  return { name: code, webcodecs: '' };
}

// CONVERT is the command that makes a file any browser plays.
const CONVERT = 'convert it to H.264, for example with “ffmpeg -i in.mkv -c:v libx264 -pix_fmt yuv420p out.mp4”, and add that file';

// SIGNATURES are the first bytes of files people mistake for videos, and
// of video containers this page's demuxer does not read.
const SIGNATURES = [
  [[0x89, 0x50, 0x4e, 0x47], 'a PNG image'],
  [[0xff, 0xd8, 0xff], 'a JPEG image'],
  [[0x47, 0x49, 0x46, 0x38], 'a GIF image'],
  [[0x25, 0x50, 0x44, 0x46], 'a PDF document'],
  [[0x50, 0x4b, 0x03, 0x04], 'a ZIP archive'],
  [[0x1f, 0x8b], 'a gzip archive'],
  [[0x49, 0x44, 0x33], 'an MP3 audio file'],
  [[0x66, 0x4c, 0x61, 0x43], 'a FLAC audio file'],
  [[0x43, 0x34, 0x43], 'a clip4clip file (a model or an index: give it its own name, .c4c or .c4ci, and drop it on the page)'],
];
// VIDEO_SIGNATURES are containers of video the demuxer does not read:
// the browser's own player may.
const VIDEO_SIGNATURES = [
  [[0x4f, 0x67, 0x67, 0x53], 'Ogg'],
  [[0x52, 0x49, 0x46, 0x46], 'RIFF (AVI)'],
  [[0x46, 0x4c, 0x56], 'Flash video (FLV)'],
  [[0x00, 0x00, 0x01, 0xba], 'MPEG program stream'],
  [[0x30, 0x26, 0xb2, 0x75], 'Windows Media (ASF)'],
];

function startsWith(b, sig) {
  return sig.every((x, i) => b[i] === x);
}

// isTransportStream tells an MPEG-TS file by its sync byte, every 188 bytes.
function isTransportStream(b) {
  return b.length > 376 && b[0] === 0x47 && b[188] === 0x47 && b[376] === 0x47;
}

// looksLikeText tells whether bytes are printable UTF-8 text.
function looksLikeText(b) {
  if (!b.length) return false;
  let text;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(b.length > 1020 ? b.subarray(0, 1020) : b);
  } catch {
    return false; // not UTF-8 (a cut multi-byte character at the end aside, rare enough)
  }
  const odd = [...text].filter((c) => c < ' ' && c !== '\n' && c !== '\r' && c !== '\t').length;
  return odd === 0;
}

/**
 * explain returns why file cannot be indexed, as the end of the sentence
 * "Could not index “name”: …" (no final stop), or '' when it learns
 * nothing more than media (the MediaError: {code, message}, or null) says.
 */
export async function explain(file, media) {
  if (file.size === 0) return 'the file is empty (0 bytes): its copy or download did not finish. Copy it again from where it came from';
  const head = new Uint8Array(await file.slice(0, 1024).arrayBuffer());
  let d = null;
  try {
    d = await openDemuxer(file);
  } catch {
    d = null; // the reasons below do without it
  }
  const msg = (media && media.message) || '';
  if (d && d.end > file.size) {
    return `the file is cut short: it ends after ${fmt.bytes(file.size)}, but its ${d.container === 'webm' ? 'WebM' : 'MP4'} structure says it holds ${fmt.bytes(d.end)} (a download or copy that did not finish, or a recording that was not closed). Copy it again, or export it again from the program that made it`;
  }
  if (d && d.codec) {
    const { name, webcodecs } = codecName(d.codec);
    let decoder = '';
    if (webcodecs && typeof VideoDecoder !== 'undefined') {
      try {
        decoder = (await VideoDecoder.isConfigSupported({ codec: webcodecs })).supported ? '' : ' (neither its player nor its WebCodecs decoder reads it)';
      } catch { /* not asked */ }
    }
    return `this browser cannot decode ${name} video here${decoder}: ${CONVERT}`;
  }
  if (!d || !d.container) {
    for (const [sig, what] of SIGNATURES) if (startsWith(head, sig)) return `this is not a video: it is ${what}. Pick the video file itself`;
    const video = isTransportStream(head) ? [null, 'MPEG transport stream'] : VIDEO_SIGNATURES.find(([sig]) => startsWith(head, sig));
    if (video) {
      if (/NO_SUPPORTED_STREAMS/.test(msg) || (media && media.code === 4)) return `this browser cannot play this ${video[1]} file (its format or codec): ${CONVERT}`;
      return '';
    }
    if (looksLikeText(head)) return 'this is not a video: the file holds text (a document renamed to a video’s name?). Pick the video file itself';
    if (/COULD_NOT_OPEN|Format error/.test(msg) || (media && media.code === 4)) return 'this is not a video: its bytes are no video format a browser knows (a file of another kind renamed, or one damaged from its start). Pick the video file itself';
    return '';
  }
  if (/NO_SUPPORTED_STREAMS/.test(msg)) return `this browser cannot decode the video in this ${d.container === 'webm' ? 'WebM' : 'MP4'} file: ${CONVERT}`;
  if (media && media.code === 3) return `the video is damaged: the browser’s decoder stopped on broken data (${msg || 'a decode error'}). Copy it again, or export it again from the program that made it`;
  return '';
}
