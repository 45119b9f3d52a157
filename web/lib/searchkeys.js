// searchkeys.js: the search box's keyboard and address-bar behaviour, and
// the result filters. "/" focuses the search box (unless another field has
// the focus); in the results, arrow keys move between moments and Enter
// plays the one focused (it is a button); the query lives in the address
// as #q=... so that a reload or a shared link searches it again.

/** queryFromHash returns the #q= query of the address, or "". */
export function queryFromHash(hash = location.hash) {
  const m = /^#q=(.*)$/.exec(hash);
  if (!m) return '';
  try {
    return decodeURIComponent(m[1].replace(/\+/g, ' '));
  } catch {
    return '';
  }
}

/** keepQueryInHash writes text to the address (#q=...) without a reload or a history entry. */
export function keepQueryInHash(text) {
  const hash = text.trim() ? `#q=${encodeURIComponent(text)}` : '';
  if (location.hash !== hash) history.replaceState(null, '', location.pathname + location.search + hash);
}

/** bindKeys sets up "/" and the arrow keys over the moment lists. */
export function bindKeys(query, lists) {
  document.addEventListener('keydown', (e) => {
    if (e.key !== '/' || e.ctrlKey || e.metaKey || e.altKey) return;
    const t = e.target;
    if (t && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName))) return;
    if (query.disabled) return;
    e.preventDefault();
    query.focus();
    query.select();
  });
  const buttons = () => lists.flatMap((l) => [...l.querySelectorAll('.moment-button')]).filter((b) => b.getClientRects().length > 0);
  query.addEventListener('keydown', (e) => {
    if (e.key !== 'ArrowDown') return;
    const first = buttons()[0];
    if (first) {
      e.preventDefault();
      first.focus();
    }
  });
  for (const list of lists) {
    list.addEventListener('keydown', (e) => {
      if (!['ArrowDown', 'ArrowUp', 'ArrowRight', 'ArrowLeft', 'Home', 'End'].includes(e.key)) return;
      const all = buttons();
      const i = all.indexOf(document.activeElement);
      if (i < 0) return;
      e.preventDefault();
      const next = e.key === 'Home' ? 0 : e.key === 'End' ? all.length - 1 : i + (e.key === 'ArrowDown' || e.key === 'ArrowRight' ? 1 : -1);
      if (next < 0) query.focus();
      else all[Math.min(next, all.length - 1)].focus();
    });
  }
}

/**
 * filterOf reads the filter fields: a video name must contain name (case
 * does not matter), last between min and max minutes (blank: no bound),
 * and have been added within the last `days` days (blank: any time).
 */
export function filterOf({ name, min, max, days }) {
  const n = name.value.trim().toLowerCase();
  const lo = min.value === '' ? 0 : Number(min.value) * 60;
  const hi = max.value === '' ? Infinity : Number(max.value) * 60;
  const since = days.value === '' ? 0 : Date.now() - Number(days.value) * 86400e3;
  const active = n !== '' || lo > 0 || hi < Infinity || since > 0;
  return {
    active,
    keep: (v) => (!n || v.name.toLowerCase().includes(n)) && (!v.duration || (v.duration >= lo && v.duration <= hi)) && (!since || (v.added || 0) >= since),
  };
}
