// format.js turns numbers into the words the page shows.

/** fileKey identifies a file across visits without reading it. */
export function fileKey(file) {
  return `${file.name}|${file.size}|${file.lastModified}`;
}

/** time formats seconds as m:ss or h:mm:ss. */
export function time(s) {
  if (!Number.isFinite(s)) return '–';
  s = Math.max(0, Math.floor(s + 1e-6));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, '0');
  return h ? `${h}:${String(m).padStart(2, '0')}:${sec}` : `${m}:${sec}`;
}

/** range formats a time range, e.g. 0:04–0:08. */
export function range(a, b) {
  return `${time(a)}–${time(b)}`;
}

/** spokenTime says a time in words for screen readers. */
export function spokenTime(s) {
  s = Math.max(0, Math.floor(s + 1e-6));
  const m = Math.floor(s / 60);
  const sec = s % 60;
  return m ? `${m} min ${sec} s` : `${sec} s`;
}

/** bytes formats a size in B, kB, MB or GB. */
export function bytes(n) {
  if (!Number.isFinite(n)) return '–';
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) {
    n /= 1000;
    i++;
  }
  return `${i ? n.toFixed(n < 10 ? 1 : 0) : n} ${units[i]}`;
}

/** eta formats seconds left, or '' when unknown. */
export function eta(s) {
  if (!Number.isFinite(s)) return '';
  if (s < 1) return 'less than a second left';
  if (s < 90) return `${Math.round(s)} s left`;
  if (s < 5400) return `${Math.round(s / 60)} min left`;
  return `${(s / 3600).toFixed(1)} h left`;
}

/** rate formats frames per second. */
export function rate(r) {
  if (!(r > 0)) return '';
  return `${r < 10 ? r.toFixed(1) : Math.round(r)} frames/s`;
}

/** plural picks a word form: plural(3, 'video') is "3 videos". */
export function plural(n, word, many = word + 's') {
  return `${n} ${n === 1 ? word : many}`;
}

/** base64 encodes bytes (for the debug hook). */
export function base64(u8) {
  let s = '';
  for (let i = 0; i < u8.length; i += 0x8000) s += String.fromCharCode.apply(null, u8.subarray(i, i + 0x8000));
  return btoa(s);
}

/** unbase64 decodes base64 to bytes. */
export function unbase64(s) {
  const bin = atob(s);
  const u8 = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) u8[i] = bin.charCodeAt(i);
  return u8;
}
