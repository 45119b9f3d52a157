// match.js: what the model's calibration (wasm/engine/calibrate.go: how
// high its cosines run for a caption and the clip it describes, against a
// clip it does not) says of a search's results. Moments below its
// threshold fold under "Weaker matches"; when the best result is below
// it, the page says that nothing matches well, and for a model of the
// demo world, when it is far below, that the query looks outside it.
// Each result says how well it matches in words (grades, describe), its
// score (the engine's units) in a tooltip.

const KEPT = 'clip4clip.calibration.'; // + the model file's SHA-256, in localStorage

/**
 * calibrate returns the pool's model's calibration (info.calibration): the
 * model file's, else one this browser measured before for the same file,
 * else measured now (a frame worker draws and embeds the probe clips, the
 * query worker scores them: about a second for the default model) and
 * kept. null for a text-only file without one: it has no vision tower to
 * measure with.
 */
export async function calibrate(pool, id, info) {
  if (info.calibration) return info.calibration;
  if (info.textOnly || !pool.frames.length) return null;
  let kept = null;
  try {
    kept = localStorage.getItem(KEPT + id);
  } catch {
    // no storage: measure
  }
  if (kept) {
    try {
      return await pool.query.call('setCalibration', { json: kept });
    } catch (err) {
      console.warn('clip4clip: the calibration kept for this model is unusable; measuring again', err);
      localStorage.removeItem(KEPT + id);
    }
  }
  const { set, features } = await pool.frames[0].call('calibrationSet');
  const cal = await pool.query.call('calibrate', { set, features }, [features.buffer]);
  try {
    localStorage.setItem(KEPT + id, JSON.stringify(cal.calibration));
  } catch {
    // storage full or off: measured again next visit
  }
  return cal;
}

/**
 * verdict says what cal makes of results whose best score (the engine's
 * units: logitScale x cosine) is best: {weak, outside}, or null when
 * there is no calibration or it cannot tell (cal.tells false).
 */
export function verdict(cal, best) {
  if (!cal || !cal.tells || !Number.isFinite(best)) return null;
  const weak = best < cal.thresholdScore;
  return { weak, outside: weak && cal.outsideScore !== null && best < cal.outsideScore };
}

/** isWeak tells whether a result of score is a weak match under cal. */
export function isWeak(cal, score) {
  return !!(cal && cal.tells && score < cal.thresholdScore);
}

// WORDS name the grades of a result, best first.
const WORDS = { strong: 'Strong match', good: 'Good match', weak: 'Weak match', poor: 'Poor match' };

/**
 * grades returns the edges, in the engine's units (scale x cosine, scale =
 * thresholdScore / threshold), that cal grades results by: strong from the
 * median matched pair (a caption and the clip it describes), good from the
 * threshold, weak down to the median unmatched pair (a caption and a clip
 * it does not describe; cal.outsideScore for a model of its own world),
 * poor below; low and high, the 5% unmatched and 95% matched quantiles,
 * end the bar. null without a calibration, with one that cannot tell
 * (cal.tells false), or with quantiles out of order.
 */
export function grades(cal) {
  if (!cal || !cal.tells || !cal.calibration || !Number.isFinite(cal.thresholdScore) || !(Math.abs(cal.threshold) > 1e-6)) return null;
  const { levels = [], heads = {} } = cal.calibration;
  const h = heads[cal.head];
  if (!h) return null;
  const scale = cal.thresholdScore / cal.threshold;
  const at = (qs, level) => {
    const i = levels.indexOf(level);
    return qs && i >= 0 && Number.isFinite(qs[i]) ? scale * qs[i] : NaN;
  };
  const g = {
    low: at(h.unmatched, 0.05), poor: at(h.unmatched, 0.5), good: cal.thresholdScore,
    strong: at(h.matched, 0.5), high: at(h.matched, 0.95),
  };
  const edges = [g.low, g.poor, g.good, g.strong, g.high];
  for (let i = 1; i < edges.length; i++) if (!(edges[i] > edges[i - 1])) return null; // NaN fails too
  return g;
}

// barOf places score on a bar of [0, 1] through the grades' edges: a
// median unmatched pair at a quarter, the threshold at a half, a median
// matched pair at four fifths.
function barOf(g, score) {
  const at = [[g.low, 0.05], [g.poor, 0.25], [g.good, 0.5], [g.strong, 0.8], [g.high, 1]];
  if (score <= at[0][0]) return at[0][1];
  for (let i = 1; i < at.length; i++) {
    const [x1, y1] = at[i];
    if (score <= x1) {
      const [x0, y0] = at[i - 1];
      return y0 + ((score - x0) / (x1 - x0)) * (y1 - y0);
    }
  }
  return 1;
}

/**
 * describe says how well a result of score (the engine's units) matches.
 * With grades (from grades()): {level: "strong" | "good" | "weak" |
 * "poor", word ("Strong match", ...), frac (the bar, 0 to 1), title (the
 * words with the number)}. Without (null): level and word "relative", the
 * bar relative to this search's scores lo to hi, and why in the title.
 */
export function describe(g, score, lo, hi, why) {
  const num = score.toFixed(1);
  if (g) {
    const level = score >= g.strong ? 'strong' : score >= g.good ? 'good' : score >= g.poor ? 'weak' : 'poor';
    return {
      level, word: WORDS[level], frac: barOf(g, score),
      title: `${WORDS[level]}: score ${num}. For this model matches begin at ${g.good.toFixed(1)}; its captions score ${g.strong.toFixed(1)} on the clips they describe, ${g.poor.toFixed(1)} on others (medians).`,
    };
  }
  const frac = hi > lo ? Math.min(1, Math.max(0, (score - lo) / (hi - lo))) : 1;
  return {
    level: 'relative', word: 'relative', frac,
    title: `Score ${num}, relative: ${why}, so the bar runs from this search's lowest score (${lo.toFixed(1)}) to its best (${hi.toFixed(1)}).`,
  };
}

/**
 * show folds the weak moment cards (cards: [{li, score}] in the order of
 * #moments) into the "Weaker matches" disclosure and says, in #no-match,
 * when the best result (best) is weak. model is state.model (its name,
 * source and info.calibration), query the text searched.
 */
export function show(cards, best, model, query) {
  const cal = model && model.info.calibration;
  const note = document.querySelector('#no-match');
  const weaker = document.querySelector('#weaker');
  const list = document.querySelector('#weaker-moments');
  list.textContent = '';
  let folded = 0;
  for (const { li, score } of cards) {
    if (!isWeak(cal, score)) continue;
    li.classList.add('weak');
    list.append(li);
    folded++;
  }
  weaker.hidden = folded === 0;
  weaker.querySelector('summary').textContent = `Weaker matches (${folded})`;
  const v = verdict(cal, best);
  note.hidden = !(v && v.weak);
  if (note.hidden) {
    note.textContent = '';
    return;
  }
  note.title = `The best result scores ${best.toFixed(1)}; matches begin at ${cal.thresholdScore.toFixed(1)} for this model.`;
  if (!v.outside) {
    note.textContent = `Nothing matches “${query}” well: even the best result is a weak match for this model.`;
    return;
  }
  const who = model.source === 'default' || model.source === 'default-cache' ? 'the default model' : 'this model';
  note.textContent = `Nothing matches “${query}” well: even the best result is a poor match. The query looks outside the demo world, the only one ${who} knows (coloured shapes that move, grow, spin and change colour). To search real scenes, load a real CLIP: “Get a real model”.`;
}
